//! The interpreter: runs one peer's part of an interaction.
//!
//! A [`RoleInstance`] is one peer playing one role of a compiled model
//! ([`crate::compile::Program`]). Its whole state is a [`RoleState`]: the
//! expanded clause with closed marks ([`Node`]), the variable bindings
//! ([`Bindings`]) and the mailbox of messages not yet consumed. The state is
//! plain serde data, so it can be inspected ([`RoleState::render`]), stored
//! and resumed ([`RoleInstance::resume`]).
//!
//! [`RoleInstance::run`] rewrites the state one step at a time
//! (the rules: `interp/machine.rs`, and docs/lcc.md), and when no rewrite is possible waits for
//! the next message on its [`Channel`] or the next deadline on its
//! [`Clock`], whichever comes first. It ends when the clause is closed, or
//! with a [`RoleFailure`] that says which constraint, deadline or message
//! failed and where it is in the model.
//!
//! [`Interaction`] runs every peer of an interaction in-process, one tokio
//! task each, over a [`crate::channel::Hub`].

mod clock;
mod interaction;
mod machine;
mod state;

use std::sync::Arc;

pub use clock::{Clock, Sleep, TokioClock};
pub use interaction::{Interaction, PeerOutcome};
pub use state::{Footprint, Node, RoleNode, RoleState};

use crate::ast::Span;
use crate::channel::{Channel, PeerId};
use crate::compile::Program;
use crate::component::Components;
use crate::term::{Bindings, Term};
use machine::{Fault, Machine, Step};

/// How often a running instance lets other tasks run, in rewrite steps: a
/// role that loops without waiting must not starve its neighbours.
const YIELD_EVERY: u64 = 256;

/// One peer playing one role.
pub struct RoleInstance<C: Channel> {
    program: Arc<Program>,
    root: RoleNode,
    machine: Machine<C>,
    /// The timer of the deadline last waited for, kept while that deadline
    /// stays the next one (a collection loop waits for the same deadline
    /// once per answer: one timer, not one per answer).
    timer: Option<(i64, Sleep)>,
}

/// A role instance that ended without closing its clause.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("peer `{peer}` failed in `{role}`: {reason}")]
pub struct RoleFailure {
    pub peer: String,
    /// The role the instance was playing, `a(Type, Id)` with its values.
    pub role: String,
    pub reason: String,
    /// Where in the model: the constraint, receive or send that failed.
    pub span: Span,
}

impl RoleFailure {
    /// 1-based line and column of the failure in the model's source text.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        let at = (self.span.start as usize).min(source.len());
        let before = source.get(..at).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }
}

/// A role instance that closed its clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Rewrite steps it took.
    pub steps: u64,
}

/// What one call of [`RoleInstance::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// One rewrite.
    Stepped,
    /// Waiting for a message or a deadline.
    Waiting,
    /// The clause is closed.
    Finished,
}

impl<C: Channel> RoleInstance<C> {
    /// Peer `me` starts playing `role` (a ground term such as
    /// `manager(task1, [c1, c2], 500)`): the clause whose head unifies with
    /// `a(role, me)` is expanded.
    pub fn start(
        program: Arc<Program>,
        role: Term,
        me: PeerId,
        components: &Components,
        clock: Arc<dyn Clock>,
        channel: C,
    ) -> Result<Self, RoleFailure> {
        let mut machine = Machine {
            me: me.clone(),
            table: component_table(&program, components),
            clock,
            channel,
            store: Bindings::default(),
            mailbox: Default::default(),
            steps: 0,
            next_deadline: None,
        };
        let id = Term::Atom(me.clone());
        let (clause, frame) = machine
            .enter(&program, &role, &id, 0, Span::default())
            .map_err(|fault| RoleFailure {
                peer: me.to_string(),
                role: format!("a({role}, {me})"),
                reason: fault.reason,
                span: fault.span,
            })?;
        machine.store.settle();
        let root = RoleNode {
            clause,
            start: 0,
            frame,
            via: None,
            body: Node::Todo(program.clauses[clause as usize].body),
        };
        Ok(RoleInstance {
            program,
            root,
            machine,
            timer: None,
        })
    }

    /// Continues a stored state, with the same model it was started with.
    /// The state is checked first (it may come from a file or another
    /// host): every index must point into this model, the bindings must be
    /// finite, and the mailbox must hold ground messages.
    pub fn resume(
        program: Arc<Program>,
        state: RoleState,
        components: &Components,
        clock: Arc<dyn Clock>,
        channel: C,
    ) -> Result<Self, RoleFailure> {
        if let Err(reason) = validate(&program, &state) {
            return Err(RoleFailure {
                peer: state.me.to_string(),
                role: String::new(),
                reason: format!("the stored state does not fit this model: {reason}"),
                span: Span::default(),
            });
        }
        let machine = Machine {
            me: state.me,
            table: component_table(&program, components),
            clock,
            channel,
            store: state.bindings,
            mailbox: state.mailbox,
            steps: state.steps,
            next_deadline: None,
        };
        Ok(RoleInstance {
            program,
            root: state.root,
            machine,
            timer: None,
        })
    }

    /// A copy of the whole state.
    pub fn state(&self) -> RoleState {
        RoleState {
            me: self.machine.me.clone(),
            root: self.root.clone(),
            bindings: self.machine.store.clone(),
            mailbox: self.machine.mailbox.clone(),
            steps: self.machine.steps,
        }
    }

    /// How much memory the state holds (cheaper than [`Self::state`]).
    pub fn footprint(&self) -> Footprint {
        Footprint {
            nodes: 1 + self.root.body.size(),
            slots: self.machine.store.len(),
            mailbox: self.machine.mailbox.len(),
        }
    }

    /// The state in LCC syntax, with `c(...)` around what is done.
    pub fn render(&self) -> String {
        self.state().render(&self.program)
    }

    /// Rewrite steps taken so far.
    pub fn steps(&self) -> u64 {
        self.machine.steps
    }

    /// One rewrite, if one is possible now. Does not wait.
    pub async fn step(&mut self) -> Result<Progress, RoleFailure> {
        match self
            .machine
            .advance_root(&self.program, &mut self.root)
            .await
        {
            Ok(Step::Progressed | Step::Tail(_)) => {
                self.machine.steps += 1;
                if self.root.body.is_closed() {
                    Ok(Progress::Finished)
                } else {
                    Ok(Progress::Stepped)
                }
            }
            Ok(Step::Closed) => Ok(Progress::Finished),
            Ok(Step::Blocked) => Ok(Progress::Waiting),
            Err(fault) => Err(self.failure(fault)),
        }
    }

    /// Runs until the clause is closed or fails, waiting for messages and
    /// deadlines as needed.
    pub async fn run(&mut self) -> Result<Completion, RoleFailure> {
        let steps_before = self.machine.steps;
        let ended = self.run_to_end().await;
        metrics::counter!("lcc_steps_total").increment(self.machine.steps - steps_before);
        match &ended {
            Ok(done) => tracing::debug!(peer = %self.machine.me, steps = done.steps, "role closed"),
            Err(failure) => tracing::debug!(peer = %self.machine.me, %failure, "role failed"),
        }
        ended
    }

    async fn run_to_end(&mut self) -> Result<Completion, RoleFailure> {
        loop {
            match self.step().await? {
                Progress::Finished => {
                    return Ok(Completion {
                        steps: self.machine.steps,
                    });
                }
                Progress::Stepped => {
                    if self.machine.steps.is_multiple_of(YIELD_EVERY) {
                        tokio::task::yield_now().await;
                    }
                }
                Progress::Waiting => self.wait().await?,
            }
        }
    }

    /// Waits for the next message (into the mailbox) or the next deadline.
    async fn wait(&mut self) -> Result<(), RoleFailure> {
        let received = match self.machine.next_deadline {
            Some(at) => {
                let timer = match self.timer.take() {
                    Some((deadline, timer)) if deadline == at => timer,
                    _ => self.machine.clock.sleep_until(at),
                };
                let timer = &mut self.timer.insert((at, timer)).1;
                tokio::select! {
                    received = self.machine.channel.recv() => Some(received),
                    () = timer => {
                        self.timer = None;
                        None
                    }
                }
            }
            None => Some(self.machine.channel.recv().await),
        };
        match received {
            None => Ok(()),
            Some(Ok(envelope)) => {
                self.machine.mailbox.push_back(envelope);
                Ok(())
            }
            Some(Err(e)) => Err(self.failure(Fault {
                reason: format!("stopped waiting for a message: {e}"),
                span: Span::default(),
                failed: None,
            })),
        }
    }

    fn failure(&self, fault: Fault) -> RoleFailure {
        let clause = &self.program.clauses[self.root.clause as usize];
        let store = &self.machine.store;
        RoleFailure {
            peer: self.machine.me.to_string(),
            role: format!(
                "a({}, {})",
                store.resolve(&clause.role, self.root.frame),
                store.resolve(&clause.id, self.root.frame)
            ),
            reason: describe(&self.program, store, fault.failed, fault.reason),
            span: fault.span,
        }
    }
}

/// The reason a role failed, naming the constraint that did not hold with
/// its variables' values.
fn describe(
    program: &Program,
    store: &Bindings,
    failed: Option<(crate::compile::ConstraintId, u32)>,
    reason: String,
) -> String {
    let Some((constraint, frame)) = failed else {
        return reason;
    };
    let shown = state::render_constraint(program, store, constraint, frame);
    if reason.is_empty() {
        format!("`{shown}` does not hold")
    } else {
        format!("`{shown}` does not hold: {reason}")
    }
}

/// Why a stored state cannot run with `program`, if it cannot.
fn validate(program: &Program, state: &RoleState) -> Result<(), String> {
    state.bindings.validate()?;
    if let Some(envelope) = state.mailbox.iter().find(|e| !e.message.is_ground()) {
        return Err(format!(
            "the message `{}` in the mailbox is not ground",
            envelope.message
        ));
    }
    validate_role(program, &state.root)
}

fn validate_role(program: &Program, role: &RoleNode) -> Result<(), String> {
    if role.clause as usize >= program.clauses.len() {
        return Err(format!("clause {} does not exist", role.clause));
    }
    if role.via.is_some_and(|d| d as usize >= program.defs.len()) {
        return Err("a role change that does not exist".into());
    }
    validate_node(program, &role.body)
}

fn validate_node(program: &Program, node: &Node) -> Result<(), String> {
    let def_exists = |def: &u32| {
        if (*def as usize) < program.defs.len() {
            Ok(())
        } else {
            Err(format!("definition {def} does not exist"))
        }
    };
    match node {
        Node::Todo(def) | Node::Closed(def) | Node::Waiting { def, .. } => def_exists(def),
        Node::Then { def, first, second } => {
            def_exists(def)?;
            validate_node(program, first)?;
            validate_node(program, second)
        }
        Node::Or { first, second } => {
            validate_node(program, first)?;
            validate_node(program, second)
        }
        Node::Par {
            def, left, right, ..
        } => {
            def_exists(def)?;
            validate_node(program, left)?;
            validate_node(program, right)
        }
        Node::Role(role) => validate_role(program, role),
    }
}

/// The peer's components, in the order the program refers to them.
fn component_table(
    program: &Program,
    components: &Components,
) -> Vec<Option<crate::component::Registered>> {
    program
        .components
        .iter()
        .map(|(name, arity)| components.get(name.as_str(), *arity).cloned())
        .collect()
}
