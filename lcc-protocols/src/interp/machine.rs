//! The rewriting machine: one call of [`Machine::advance_root`] performs at
//! most one rewrite of the role instance's state (Robertson 2004), or says
//! why it cannot (waiting for a message) or that the clause is closed.
//!
//! The rules, as implemented here:
//!
//! - `A then B`: rewrite A until it is closed, then B; closed when both are.
//! - `A or B`: committed choice, preferring A. If A rewrites, the choice
//!   commits to A (B is dropped). If A fails (a constraint does not hold, a
//!   deadline passes), the `or` becomes B. If A is waiting for a message, B
//!   may commit only by *receiving* a message now; B's sends, `null`s and role
//!   changes wait until A has failed. So `(M <= a(r, X) within 100) or
//!   Fallback` runs Fallback only after the deadline, and two receives in an
//!   `or` take whichever message comes first.
//! - `A par B`: either side rewrites, taking turns; closed when both are.
//! - `null <- C`, `M => a(R, I) <- C`: C is solved, then (for a send) M is
//!   resolved, must be ground, and is sent to the peer I.
//! - `C <- M <= a(R, I)`: the oldest message in the mailbox that unifies with
//!   M, from a sender that unifies with I, for which C then holds, is
//!   consumed. None: the receive waits; past its deadline, it fails.
//! - a role change `a(R, I) <- C`: C is solved, then the first clause whose
//!   head unifies with `a(R, I)` is expanded in place with fresh variables.
//!   In tail position (nothing else left to do in the current clause) it
//!   *replaces* the current clause instead, and the bindings only the old
//!   clause could see are dropped: loops run in constant memory.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;

use super::Clock;
use super::state::{Node, RoleNode};
use crate::ast::{Mode, Span};
use crate::channel::{Channel, Envelope, PeerId};
use crate::compile::{
    ClauseId, ConstraintCode, ConstraintId, DeadlineCode, DefCode, DefId, Program,
};
use crate::component::{Failure, FailureKind, Registered, Reply};
use crate::stdlib::evaluate;
use crate::term::{Bindings, Number, Term};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What one attempt to rewrite a node did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// One rewrite happened.
    Progressed,
    /// Nothing can happen until a message arrives or a deadline passes.
    Blocked,
    /// The node is closed: nothing left to do.
    Closed,
    /// A role change in tail position: the enclosing role node replaces its
    /// clause (handled in [`Machine::advance_role`]).
    Tail(DefId),
}

/// Why a definition failed, and where in the model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fault {
    /// Why, for people; may be empty when `failed` says it all.
    pub reason: String,
    pub span: Span,
    /// The constraint that did not hold and the frame it ran in. Rendering
    /// it with its variables' values is left until a failure ends the role:
    /// most failures are expected (an `or` tries its next branch) and must
    /// cost no formatting.
    pub failed: Option<(ConstraintId, u32)>,
}

/// How a node is being advanced.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    /// Nothing else remains in the enclosing clause after this node.
    tail: bool,
    /// No live `par` branch shares the store above this role's slots, so a
    /// tail role change may cut the store back.
    may_cut: bool,
    /// Only a receive may rewrite (the right branch of an `or` whose left
    /// branch is waiting).
    receive_only: bool,
}

/// The working parts of a role instance (everything but the state tree and
/// the compiled model, which are passed in so they can be borrowed apart).
pub(crate) struct Machine<C> {
    pub me: PeerId,
    /// Components, indexed like [`Program::components`].
    pub table: Vec<Option<Registered>>,
    pub clock: std::sync::Arc<dyn Clock>,
    pub channel: C,
    pub store: Bindings,
    pub mailbox: VecDeque<Envelope>,
    pub steps: u64,
    /// Earliest deadline among the receives found waiting in this attempt.
    pub next_deadline: Option<i64>,
}

fn take(node: &mut Node) -> Node {
    std::mem::replace(node, Node::Todo(0))
}

impl<C: Channel> Machine<C> {
    /// Tries one rewrite of the instance's top clause.
    pub async fn advance_root(&mut self, p: &Program, root: &mut RoleNode) -> Result<Step, Fault> {
        self.next_deadline = None;
        let ctx = Ctx {
            tail: true,
            may_cut: true,
            receive_only: false,
        };
        let step = self.advance_role(p, root, ctx).await;
        self.store.settle();
        match step? {
            Step::Blocked if root.body.is_closed() => Ok(Step::Closed),
            step => Ok(step),
        }
    }

    /// Expands the clause for `a(role, id)` (relative to `base`): the first
    /// clause whose head unifies, with fresh variables. Returns the clause
    /// and its frame.
    pub fn enter(
        &mut self,
        p: &Program,
        role: &Term,
        id: &Term,
        base: u32,
        span: Span,
    ) -> Result<(ClauseId, u32), Fault> {
        let Some((name, arity)) = self.store.shape(role, base) else {
            return Err(Fault {
                reason: format!(
                    "the role to change to is not known: `{}` is unbound",
                    self.store.resolve(role, base)
                ),
                span,
                failed: None,
            });
        };
        for &clause in p.clauses_for(&name, arity) {
            let code = &p.clauses[clause as usize];
            let mark = self.store.mark();
            let frame = self.store.alloc(code.vars);
            if self.store.unify(&code.role, frame, role, base)
                && self.store.unify(&code.id, frame, id, base)
            {
                return Ok((clause, frame));
            }
            self.store.undo(mark);
            self.store.release(frame);
        }
        Err(Fault {
            reason: format!(
                "no clause of role `{name}/{arity}` matches `a({}, {})`",
                self.store.resolve(role, base),
                self.store.resolve(id, base)
            ),
            span,
            failed: None,
        })
    }

    async fn advance_role(
        &mut self,
        p: &Program,
        role: &mut RoleNode,
        ctx: Ctx,
    ) -> Result<Step, Fault> {
        let saved = self.store.set_floor(role.start);
        let inner = Ctx { tail: true, ..ctx };
        let result = match self.advance(p, &mut role.body, role.frame, inner).await {
            Ok(Step::Tail(def)) => self
                .tail_call(p, role, def, ctx.may_cut)
                .map(|()| Step::Progressed),
            other => other,
        };
        self.store.set_floor(saved);
        result
    }

    /// Replaces the clause of `role` by the one `def` (a role change in tail
    /// position) names, cutting the store back when that is allowed.
    fn tail_call(
        &mut self,
        p: &Program,
        role: &mut RoleNode,
        def: DefId,
        may_cut: bool,
    ) -> Result<(), Fault> {
        let located = &p.defs[def as usize];
        let DefCode::RoleChange {
            role: target, id, ..
        } = &located.code
        else {
            return Err(Fault {
                reason: "internal: a tail call from something that is not a role change".into(),
                span: located.span,
                failed: None,
            });
        };
        let start = if may_cut {
            role.start
        } else {
            u32::try_from(self.store.len()).unwrap_or(u32::MAX)
        };
        let (args, cut) = self.store.restart(&[target, id], role.frame, start);
        self.store.set_floor(cut);
        let (clause, frame) = self.enter(p, &args[0], &args[1], 0, located.span)?;
        role.clause = clause;
        role.start = cut;
        role.frame = frame;
        role.body = Node::Todo(p.clauses[clause as usize].body);
        Ok(())
    }

    fn advance<'a>(
        &'a mut self,
        p: &'a Program,
        node: &'a mut Node,
        frame: u32,
        ctx: Ctx,
    ) -> BoxFuture<'a, Result<Step, Fault>> {
        Box::pin(async move {
            loop {
                match node {
                    Node::Closed(_) => return Ok(Step::Closed),
                    Node::Todo(def) => {
                        let def = *def;
                        match &p.defs[def as usize].code {
                            DefCode::Then(a, b) => {
                                *node = Node::Then {
                                    def,
                                    first: Box::new(Node::Todo(*a)),
                                    second: Box::new(Node::Todo(*b)),
                                };
                            }
                            DefCode::Or(a, b) => {
                                *node = Node::Or {
                                    first: Box::new(Node::Todo(*a)),
                                    second: Box::new(Node::Todo(*b)),
                                };
                            }
                            DefCode::Par(a, b) => {
                                *node = Node::Par {
                                    def,
                                    left: Box::new(Node::Todo(*a)),
                                    right: Box::new(Node::Todo(*b)),
                                    right_first: false,
                                };
                            }
                            DefCode::Receive { deadline, .. } => {
                                let deadline = self.deadline(
                                    deadline.as_ref(),
                                    frame,
                                    p.defs[def as usize].span,
                                )?;
                                *node = Node::Waiting { def, deadline };
                            }
                            _ => return self.act(p, node, def, frame, ctx).await,
                        }
                    }
                    Node::Waiting { def, deadline } => {
                        let (def, deadline) = (*def, *deadline);
                        return self.receive(p, node, def, deadline, frame).await;
                    }
                    Node::Then { def, first, second } => {
                        if !first.is_closed() {
                            let sub = Ctx { tail: false, ..ctx };
                            return self.advance(p, first, frame, sub).await;
                        }
                        let def = *def;
                        let step = self.advance(p, second, frame, ctx).await?;
                        if second.is_closed() {
                            *node = Node::Closed(def);
                        }
                        return Ok(step);
                    }
                    Node::Or { first, second } => {
                        match self.advance(p, first, frame, ctx).await {
                            Ok(Step::Blocked) => {}
                            Ok(Step::Progressed | Step::Closed) => {
                                *node = take(first);
                                return Ok(Step::Progressed);
                            }
                            Ok(Step::Tail(def)) => return Ok(Step::Tail(def)),
                            Err(fault) => {
                                tracing::trace!(reason = %fault.reason, "or: left branch failed, taking the right");
                                *node = take(second);
                                continue;
                            }
                        }
                        let sub = Ctx {
                            receive_only: true,
                            ..ctx
                        };
                        return match self.advance(p, second, frame, sub).await {
                            Ok(Step::Blocked) => Ok(Step::Blocked),
                            Ok(Step::Progressed | Step::Closed) => {
                                *node = take(second);
                                Ok(Step::Progressed)
                            }
                            Ok(Step::Tail(def)) => Ok(Step::Tail(def)),
                            Err(fault) => {
                                tracing::trace!(reason = %fault.reason, "or: right branch failed while the left waits");
                                *node = take(first);
                                Ok(Step::Blocked)
                            }
                        };
                    }
                    Node::Par {
                        def,
                        left,
                        right,
                        right_first,
                    } => {
                        let def = *def;
                        for right_side in [*right_first, !*right_first] {
                            let (this, other) = if right_side {
                                (&mut **right, &**left)
                            } else {
                                (&mut **left, &**right)
                            };
                            if this.is_closed() {
                                continue;
                            }
                            let alone = other.is_closed();
                            let sub = Ctx {
                                tail: ctx.tail && alone,
                                may_cut: ctx.may_cut && alone,
                                receive_only: ctx.receive_only,
                            };
                            match self.advance(p, this, frame, sub).await? {
                                Step::Progressed => {
                                    *right_first = !right_side;
                                    if left.is_closed() && right.is_closed() {
                                        *node = Node::Closed(def);
                                    }
                                    return Ok(Step::Progressed);
                                }
                                Step::Tail(d) => return Ok(Step::Tail(d)),
                                Step::Blocked | Step::Closed => {}
                            }
                        }
                        if left.is_closed() && right.is_closed() {
                            *node = Node::Closed(def);
                            return Ok(Step::Progressed);
                        }
                        return Ok(Step::Blocked);
                    }
                    Node::Role(role) => {
                        let step = self.advance_role(p, role, ctx).await?;
                        if role.body.is_closed() {
                            *node = Node::Closed(role.via.unwrap_or_default());
                        }
                        return Ok(step);
                    }
                }
            }
        })
    }

    /// Rewrites a `null`, a send or a role change.
    async fn act(
        &mut self,
        p: &Program,
        node: &mut Node,
        def: DefId,
        frame: u32,
        ctx: Ctx,
    ) -> Result<Step, Fault> {
        if ctx.receive_only {
            return Ok(Step::Blocked);
        }
        let located = &p.defs[def as usize];
        let mark = self.store.mark();
        let result = match &located.code {
            DefCode::Null { guard } => self
                .guard(p, *guard, frame)
                .await
                .map(|()| Step::Progressed),
            DefCode::Send {
                message, to, guard, ..
            } => match self.guard(p, *guard, frame).await {
                Ok(()) => self.send(message, to, frame, located.span).await,
                Err(fault) => Err(fault),
            },
            DefCode::RoleChange { role, id, guard } => match self.guard(p, *guard, frame).await {
                Ok(()) if ctx.tail => return Ok(Step::Tail(def)),
                Ok(()) => self.expand(p, node, def, role, id, frame, located.span),
                Err(fault) => Err(fault),
            },
            _ => Err(Fault {
                reason: "internal: not a simple definition".into(),
                span: located.span,
                failed: None,
            }),
        };
        match result {
            Ok(Step::Progressed) => {
                if !matches!(node, Node::Role(_)) {
                    *node = Node::Closed(def);
                }
                Ok(Step::Progressed)
            }
            Ok(step) => Ok(step),
            Err(fault) => {
                self.store.undo(mark);
                Err(fault)
            }
        }
    }

    /// A role change not in tail position: the new clause runs in place.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        p: &Program,
        node: &mut Node,
        def: DefId,
        role: &Term,
        id: &Term,
        frame: u32,
        span: Span,
    ) -> Result<Step, Fault> {
        let start = u32::try_from(self.store.len()).unwrap_or(u32::MAX);
        let saved = self.store.set_floor(start);
        let entered = self.enter(p, role, id, frame, span);
        self.store.set_floor(saved);
        let (clause, new_frame) = entered?;
        *node = Node::Role(Box::new(RoleNode {
            clause,
            start,
            frame: new_frame,
            via: Some(def),
            body: Node::Todo(p.clauses[clause as usize].body),
        }));
        Ok(Step::Progressed)
    }

    async fn send(
        &mut self,
        message: &Term,
        to: &Term,
        frame: u32,
        span: Span,
    ) -> Result<Step, Fault> {
        let message = self.store.resolve(message, frame);
        if !message.is_ground() {
            return Err(Fault {
                reason: format!(
                    "the message `{message}` still has unbound variables when it is sent; \
                     bind them first (in the send's `<-` constraint, or earlier)"
                ),
                span,
                failed: None,
            });
        }
        let to = self.peer(to, frame, span)?;
        self.channel
            .send(&to, message.clone())
            .await
            .map_err(|e| Fault {
                reason: format!("sending `{message}` to `{to}` failed: {e}"),
                span,
                failed: None,
            })?;
        tracing::trace!(peer = %self.me, %to, %message, "sent");
        metrics::counter!("lcc_messages_sent_total").increment(1);
        Ok(Step::Progressed)
    }

    /// The peer a role reference names: its id must be bound to an atom.
    fn peer(&self, id: &Term, frame: u32, span: Span) -> Result<PeerId, Fault> {
        match self.store.resolve(id, frame) {
            Term::Atom(name) | Term::Str(name) => Ok(name),
            Term::Var(_) => Err(Fault {
                reason:
                    "the peer to send to is unbound: bind its id (a role parameter, a received \
                         message, or a constraint) before sending"
                        .into(),
                span,
                failed: None,
            }),
            other => Err(Fault {
                reason: format!("a peer id must be an atom, got `{other}`"),
                span,
                failed: None,
            }),
        }
    }

    /// The time a receive stops waiting, fixed when it is first tried.
    fn deadline(
        &self,
        deadline: Option<&DeadlineCode>,
        frame: u32,
        span: Span,
    ) -> Result<Option<i64>, Fault> {
        let millis = |expr: &Term| -> Result<i64, Fault> {
            let value = self.store.resolve(expr, frame);
            match evaluate(&value) {
                Ok(Number::Int(ms)) => Ok(ms),
                Ok(Number::Float(ms)) => Ok(ms.round() as i64),
                Err(failure) => Err(Fault {
                    reason: format!(
                        "the deadline `{value}` is not a number of milliseconds: {failure}"
                    ),
                    span,
                    failed: None,
                }),
            }
        };
        Ok(match deadline {
            None => None,
            Some(DeadlineCode::Within(ms)) => Some(self.clock.now_ms().saturating_add(millis(ms)?)),
            Some(DeadlineCode::Until(at)) => Some(millis(at)?),
        })
    }

    /// A waiting receive: takes the first acceptable message from the
    /// mailbox, or keeps waiting, or fails when its deadline has passed.
    async fn receive(
        &mut self,
        p: &Program,
        node: &mut Node,
        def: DefId,
        deadline: Option<i64>,
        frame: u32,
    ) -> Result<Step, Fault> {
        let located = &p.defs[def as usize];
        let DefCode::Receive {
            message,
            from,
            guard,
            ..
        } = &located.code
        else {
            return Err(Fault {
                reason: "internal: waiting on something that is not a receive".into(),
                span: located.span,
                failed: None,
            });
        };
        let mut i = 0;
        while i < self.mailbox.len() {
            let mark = self.store.mark();
            let envelope = &self.mailbox[i];
            let matches = self
                .store
                .unify(from, frame, &Term::Atom(envelope.from.clone()), 0)
                && self.store.unify(message, frame, &envelope.message, 0);
            if matches {
                match self.solve_guard(p, *guard, frame).await {
                    Ok(()) => {
                        if let Some(envelope) = self.mailbox.remove(i) {
                            tracing::trace!(peer = %self.me, from = %envelope.from, message = %envelope.message, "received");
                        }
                        metrics::counter!("lcc_messages_received_total").increment(1);
                        *node = Node::Closed(def);
                        return Ok(Step::Progressed);
                    }
                    // Another receive may want this message: leave it.
                    Err((failure, _)) if failure.kind == FailureKind::DoesNotHold => {}
                    Err((failure, at)) => {
                        self.store.undo(mark);
                        return Err(self.fault(p, failure, at, frame));
                    }
                }
            }
            self.store.undo(mark);
            i += 1;
        }
        if let Some(at) = deadline {
            let now = self.clock.now_ms();
            if now >= at {
                tracing::debug!(peer = %self.me, deadline = at, "a receive's deadline passed");
                metrics::counter!("lcc_deadlines_passed_total").increment(1);
                return Err(Fault {
                    reason: format!(
                        "deadline passed: no message `{}` from `{}` arrived by {at} ms (now {now} ms)",
                        self.store.resolve(message, frame),
                        self.store.resolve(from, frame)
                    ),
                    span: located.span,
                    failed: None,
                });
            }
            self.next_deadline = Some(self.next_deadline.map_or(at, |d| d.min(at)));
        }
        Ok(Step::Blocked)
    }

    /// Solves an optional guard, turning its failure into a fault that
    /// points at the constraint that failed.
    async fn guard(
        &mut self,
        p: &Program,
        guard: Option<ConstraintId>,
        frame: u32,
    ) -> Result<(), Fault> {
        self.solve_guard(p, guard, frame)
            .await
            .map_err(|(failure, at)| self.fault(p, failure, at, frame))
    }

    async fn solve_guard(
        &mut self,
        p: &Program,
        guard: Option<ConstraintId>,
        frame: u32,
    ) -> Result<(), (Failure, ConstraintId)> {
        match guard {
            None => Ok(()),
            Some(c) => {
                let mark = self.store.mark();
                let solved = self.solve(p, c, frame).await;
                if solved.is_err() {
                    self.store.undo(mark);
                }
                solved
            }
        }
    }

    fn fault(&self, p: &Program, failure: Failure, at: ConstraintId, frame: u32) -> Fault {
        Fault {
            reason: failure.reason,
            span: p.constraints[at as usize].span,
            failed: Some((at, frame)),
        }
    }

    /// Solves a constraint (first solution only). On failure, says which
    /// constraint failed; bindings made are left for the caller to undo.
    fn solve<'a>(
        &'a mut self,
        p: &'a Program,
        c: ConstraintId,
        frame: u32,
    ) -> BoxFuture<'a, Result<(), (Failure, ConstraintId)>> {
        Box::pin(async move {
            match &p.constraints[c as usize].code {
                ConstraintCode::Builtin(builtin, args) => {
                    let clock = &self.clock;
                    builtin
                        .solve(args, frame, &mut self.store, || clock.now_ms())
                        .map_err(|f| (f, c))
                }
                ConstraintCode::Component(slot, args) => self
                    .call_component(p, *slot, args, frame)
                    .await
                    .map_err(|f| (f, c)),
                ConstraintCode::Not(inner) => {
                    let mark = self.store.mark();
                    let solved = self.solve(p, *inner, frame).await;
                    self.store.undo(mark);
                    match solved {
                        Ok(()) => Err((
                            Failure::no("`not` does not hold: the negated constraint holds"),
                            c,
                        )),
                        Err((failure, _)) if failure.kind == FailureKind::DoesNotHold => Ok(()),
                        Err(broken) => Err(broken),
                    }
                }
                ConstraintCode::And(a, b) => {
                    self.solve(p, *a, frame).await?;
                    self.solve(p, *b, frame).await
                }
                ConstraintCode::Or(a, b) => {
                    let mark = self.store.mark();
                    match self.solve(p, *a, frame).await {
                        Ok(()) => Ok(()),
                        Err((failure, _)) if failure.kind == FailureKind::DoesNotHold => {
                            self.store.undo(mark);
                            self.solve(p, *b, frame).await
                        }
                        Err(broken) => Err(broken),
                    }
                }
            }
        })
    }

    async fn call_component(
        &mut self,
        p: &Program,
        slot: u32,
        args: &[Term],
        frame: u32,
    ) -> Result<(), Failure> {
        let (name, arity) = &p.components[slot as usize];
        let Some(registered) = self.table.get(slot as usize).and_then(Option::as_ref) else {
            return Err(Failure::broken(format!(
                "peer `{}` has no component `{name}/{arity}`: register it in the peer's Components \
                 (and declare it in the model with `component {name}(...)`)",
                self.me
            )));
        };
        let resolved: Vec<Term> = args.iter().map(|a| self.store.resolve(a, frame)).collect();
        for (i, (mode, value)) in registered.modes.iter().zip(&resolved).enumerate() {
            if *mode == Mode::In && matches!(value, Term::Var(_)) {
                return Err(Failure::broken(format!(
                    "component `{name}/{arity}` needs argument {} bound, but it is unbound",
                    i + 1
                )));
            }
        }
        let solution = match registered.component.call(&resolved) {
            Reply::Ready(answer) => answer?,
            Reply::Pending(answer) => answer.await?,
        };
        if solution.is_empty() {
            return Ok(());
        }
        if solution.len() != args.len() {
            return Err(Failure::broken(format!(
                "component `{name}/{arity}` answered {} values; it must answer none or one per argument",
                solution.len()
            )));
        }
        for (i, (arg, value)) in args.iter().zip(&solution).enumerate() {
            if !self.store.unify(arg, frame, value, 0) {
                return Err(Failure::no(format!(
                    "component `{name}/{arity}` answered `{value}` for argument {}, which does not unify with `{}`",
                    i + 1,
                    self.store.resolve(arg, frame)
                )));
            }
        }
        Ok(())
    }
}
