//! The state of a role instance: the expanded clause with its closed marks
//! (Robertson's rewriting state), the variable bindings, and the mailbox.
//!
//! Everything here is plain data with serde, so a role instance can be
//! stored and resumed (with the same compiled model: the tree refers to the
//! model's definitions by index).

use std::collections::VecDeque;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::channel::{Envelope, PeerId};
use crate::compile::{ClauseId, ConstraintCode, ConstraintId, DefCode, DefId, Program};
use crate::term::{Bindings, Term};

/// One node of the rewriting state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Node {
    /// A definition not started yet (expanded lazily, when first reached).
    Todo(DefId),
    /// A receive that has been tried and waits for a message; `deadline` is
    /// fixed when it is first tried.
    Waiting { def: DefId, deadline: Option<i64> },
    /// `c(Def)`: done.
    Closed(DefId),
    Then {
        def: DefId,
        first: Box<Node>,
        second: Box<Node>,
    },
    /// A choice not yet committed: neither branch has done anything.
    Or { first: Box<Node>, second: Box<Node> },
    Par {
        def: DefId,
        left: Box<Node>,
        right: Box<Node>,
        /// Which side is tried first next time, so neither starves.
        right_first: bool,
    },
    /// A role change expanded in place: the clause of the new role runs here
    /// with its own variables.
    Role(Box<RoleNode>),
}

impl Node {
    pub fn is_closed(&self) -> bool {
        matches!(self, Node::Closed(_))
    }

    /// Number of nodes: the size of the rewriting state.
    pub fn size(&self) -> usize {
        match self {
            Node::Todo(_) | Node::Waiting { .. } | Node::Closed(_) => 1,
            Node::Then { first, second, .. } | Node::Or { first, second } => {
                1 + first.size() + second.size()
            }
            Node::Par { left, right, .. } => 1 + left.size() + right.size(),
            Node::Role(role) => 1 + role.body.size(),
        }
    }
}

/// A clause instance: `a(Role, Id) :: Body` with its variables at
/// `frame..frame+vars` in the binding store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleNode {
    pub clause: ClauseId,
    /// First slot this role (and the roles it expands) owns: where the store
    /// is cut back to when it changes role in tail position.
    pub start: u32,
    pub frame: u32,
    /// The role change that expanded it (`None` for the instance's first role).
    pub via: Option<DefId>,
    pub body: Node,
}

/// Everything a role instance is, between two steps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoleState {
    pub me: PeerId,
    pub root: RoleNode,
    pub bindings: Bindings,
    /// Messages received and not yet consumed, oldest first.
    pub mailbox: VecDeque<Envelope>,
    /// Rewrite steps taken so far.
    pub steps: u64,
}

/// How much memory a role instance holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub nodes: usize,
    pub slots: usize,
    pub mailbox: usize,
}

impl RoleState {
    pub fn footprint(&self) -> Footprint {
        Footprint {
            nodes: 1 + self.root.body.size(),
            slots: self.bindings.len(),
            mailbox: self.mailbox.len(),
        }
    }

    /// The state in LCC syntax: the current clause, with `c(...)` around
    /// what is done and the variables' current values substituted.
    pub fn render(&self, program: &Program) -> String {
        let mut out = String::new();
        render_role(&mut out, program, &self.bindings, &self.root);
        out
    }
}

fn render_role(out: &mut String, program: &Program, store: &Bindings, role: &RoleNode) {
    let clause = &program.clauses[role.clause as usize];
    let _ = write!(
        out,
        "a({}, {}) :: ",
        store.resolve(&clause.role, role.frame),
        store.resolve(&clause.id, role.frame)
    );
    render_node(out, program, store, &role.body, role.frame);
}

fn render_node(out: &mut String, program: &Program, store: &Bindings, node: &Node, frame: u32) {
    match node {
        Node::Todo(def) => render_def(out, program, store, *def, frame),
        Node::Waiting { def, .. } => render_def(out, program, store, *def, frame),
        Node::Closed(def) => {
            out.push_str("c(");
            render_def(out, program, store, *def, frame);
            out.push(')');
        }
        Node::Then { first, second, .. } => {
            render_pair(out, program, store, first, "then", second, frame)
        }
        Node::Or { first, second } => render_pair(out, program, store, first, "or", second, frame),
        Node::Par { left, right, .. } => {
            render_pair(out, program, store, left, "par", right, frame)
        }
        Node::Role(role) => {
            out.push('(');
            render_role(out, program, store, role);
            out.push(')');
        }
    }
}

fn render_pair(
    out: &mut String,
    program: &Program,
    store: &Bindings,
    a: &Node,
    op: &str,
    b: &Node,
    frame: u32,
) {
    out.push('(');
    render_node(out, program, store, a, frame);
    let _ = write!(out, " {op} ");
    render_node(out, program, store, b, frame);
    out.push(')');
}

fn render_def(out: &mut String, program: &Program, store: &Bindings, def: DefId, frame: u32) {
    let show = |t: &Term| store.resolve(t, frame);
    match &program.defs[def as usize].code {
        DefCode::RoleChange { role, id, .. } => {
            let _ = write!(out, "a({}, {})", show(role), show(id));
        }
        DefCode::Send {
            message, role, to, ..
        } => {
            let _ = write!(out, "{} => a({}, {})", show(message), show(role), show(to));
        }
        DefCode::Receive {
            message,
            role,
            from,
            ..
        } => {
            let _ = write!(
                out,
                "{} <= a({}, {})",
                show(message),
                show(role),
                show(from)
            );
        }
        DefCode::Null { .. } => out.push_str("null"),
        DefCode::Then(a, b) | DefCode::Or(a, b) | DefCode::Par(a, b) => {
            let op = match &program.defs[def as usize].code {
                DefCode::Then(..) => "then",
                DefCode::Or(..) => "or",
                _ => "par",
            };
            out.push('(');
            render_def(out, program, store, *a, frame);
            let _ = write!(out, " {op} ");
            render_def(out, program, store, *b, frame);
            out.push(')');
        }
    }
}

/// A constraint as written, with its variables' current values.
pub(crate) fn render_constraint(
    program: &Program,
    store: &Bindings,
    constraint: ConstraintId,
    frame: u32,
) -> String {
    let call = |name: &str, args: &[Term]| {
        let args = args.iter().map(|a| store.resolve(a, frame)).collect();
        let text = Term::compound(crate::term::Symbol::new(name), args).to_string();
        // Infix operators print in parentheses; at the top they need none.
        match text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            Some(inner) if !name.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                inner.to_owned()
            }
            _ => text,
        }
    };
    match &program.constraints[constraint as usize].code {
        ConstraintCode::Builtin(builtin, args) => call(builtin.name(), args),
        ConstraintCode::Component(slot, args) => {
            call(program.components[*slot as usize].0.as_str(), args)
        }
        ConstraintCode::Not(c) => format!("not {}", render_constraint(program, store, *c, frame)),
        ConstraintCode::And(a, b) => format!(
            "{} and {}",
            render_constraint(program, store, *a, frame),
            render_constraint(program, store, *b, frame)
        ),
        ConstraintCode::Or(a, b) => format!(
            "({} or {})",
            render_constraint(program, store, *a, frame),
            render_constraint(program, store, *b, frame)
        ),
    }
}
