//! The syntax tree of an LCC model: what the author wrote, with a [`Span`] on
//! every node so that the checker and the interpreter can point at the exact
//! spot in the source.
//!
//! This is the *parsed* form. It keeps everything needed to print the model
//! back ([`crate::pretty`]) and nothing the interpreter computes; the
//! interpreter compiles it into its own representation.
//!
//! Equality: `PartialEq` compares spans too. To ask "do these two trees say
//! the same thing?" (the round-trip property `parse(print(ast)) == ast`),
//! compare them with [`Model::same_as`], which ignores spans.

use std::fmt;

/// A byte range `start..end` in the source text of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end),
        }
    }

    /// The smallest span that covers both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A whole interaction model: one `.lcc` file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// OpenKnowledge role declarations `r(name, kind[, Min[, Max]])`, in order.
    pub roles: Vec<RoleDecl>,
    /// The components (named constraints) the model expects peers to provide.
    pub components: Vec<ComponentDecl>,
    /// The clauses `a(Type, Id) :: Def`, in order.
    pub clauses: Vec<Clause>,
    pub span: Span,
}

/// `r(name, kind[, Min[, Max]])`: who may take part, and how many of them.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleDecl {
    pub name: String,
    pub kind: RoleKind,
    /// Fewest peers that must play the role (OpenKnowledge default 1).
    pub min: Option<u32>,
    /// Most peers that may play the role (OpenKnowledge default 1).
    pub max: Option<u32>,
    pub span: Span,
}

/// The kinds of role OpenKnowledge knows (seed 002 section 4.2.3; LiJ adds
/// `cyclic` and `uncommitted`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleKind {
    /// Starts the interaction; must send first. At most one per model.
    Initial,
    /// Required for the interaction to begin.
    Necessary,
    /// May take part; not needed to begin.
    Optional,
    /// Reached only by role change, never subscribed to directly.
    Auxiliary,
    /// LiJ: a role a peer may re-enter.
    Cyclic,
    /// LiJ: a role whose players do not commit to the whole interaction.
    Uncommitted,
}

/// How a component uses one of its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `+`: must be bound when the component is called.
    In,
    /// `-`: bound by the component.
    Out,
    /// `?`: either.
    Any,
}

/// One argument of a component declaration: its mode and a name for people.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub mode: Mode,
    pub name: String,
    pub span: Span,
}

/// A component the model expects a peer to provide: its name and arity, and
/// which arguments are inputs. Zero arguments is allowed.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentDecl {
    pub name: String,
    pub params: Vec<Param>,
    pub span: Span,
}

/// `a(Type, Id) :: Def`: what a peer playing the role does.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub head: RoleRef,
    pub body: Def,
    pub span: Span,
}

/// `a(Type, Id)`. `Type` is an atom (`buyer`) or a compound term carrying the
/// role's parameters (`manager(Bundle, Peers)`); `Id` is a variable or a
/// constant naming the peer.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRef {
    pub role: Term,
    pub id: Term,
    pub span: Span,
}

impl RoleRef {
    /// The role's name: the functor of its type term (`manager` for
    /// `a(manager(B, Ps), M)`), or `None` when the type is not an atom or
    /// compound (a variable, say).
    pub fn name(&self) -> Option<&str> {
        self.role.functor()
    }
}

/// A deadline on a receive. When it passes before a matching message
/// arrives, the receive fails (so the enclosing `or` may take its other
/// branch).
#[derive(Debug, Clone, PartialEq)]
pub enum Deadline {
    /// `within E`: E milliseconds after the receive is first tried.
    Within(Term),
    /// `until E`: at the absolute time E, in the clock `now/1` reads.
    Until(Term),
}

/// The body of a clause.
#[derive(Debug, Clone, PartialEq)]
pub struct Def {
    pub kind: DefKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefKind {
    /// `a(T, Id)` or `a(T, Id) <- C`: become that role (expand its clause
    /// here); how loops and recursion are written.
    RoleChange {
        role: RoleRef,
        guard: Option<Constraint>,
    },
    /// `M => a(T, Id)` or `M => a(T, Id) <- C`: solve C, then send M.
    Send {
        message: Term,
        to: RoleRef,
        guard: Option<Constraint>,
    },
    /// `M <= a(T, Id)` or `C <- M <= a(T, Id)`, optionally with a deadline:
    /// wait for a message that unifies with M, then C must hold.
    Receive {
        message: Term,
        from: RoleRef,
        guard: Option<Constraint>,
        deadline: Option<Deadline>,
    },
    /// `null <- C`: no message, only the constraint (`null` alone is
    /// `null <- true`, kept as `None` so it prints as written).
    Null { guard: Option<Constraint> },
    /// `A then B`
    Then(Box<Def>, Box<Def>),
    /// `A or B` (committed choice)
    Or(Box<Def>, Box<Def>),
    /// `A par B`
    Par(Box<Def>, Box<Def>),
}

/// A constraint: a call of a component (or of the standard library),
/// combined with `and`, `or`, `not`.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraint {
    pub kind: ConstraintKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConstraintKind {
    /// A call: an atom `true`, a compound `price(B, P)`, or an operator
    /// term `X is A + B`, `X < Y` (a compound whose functor is the operator).
    Call(Term),
    Not(Box<Constraint>),
    And(Box<Constraint>, Box<Constraint>),
    Or(Box<Constraint>, Box<Constraint>),
}

/// A term, with its span.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub kind: TermKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TermKind {
    /// Starts with an upper-case letter or `_`; `_` alone is anonymous.
    Var(String),
    /// Starts with a lower-case letter, or is quoted `'like this'`.
    Atom(String),
    Int(i64),
    Float(f64),
    /// `"a string"`
    Str(String),
    /// `[a, b | T]`: the items and an optional tail.
    List(Vec<Term>, Option<Box<Term>>),
    /// `f(a, b)`, and infix operator terms `A + B` as `+(A, B)`.
    Compound(String, Vec<Term>),
}

impl Term {
    /// The name of an atom or the functor of a compound.
    pub fn functor(&self) -> Option<&str> {
        match &self.kind {
            TermKind::Atom(name) | TermKind::Compound(name, _) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for RoleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RoleKind::Initial => "initial",
            RoleKind::Necessary => "necessary",
            RoleKind::Optional => "optional",
            RoleKind::Auxiliary => "auxiliary",
            RoleKind::Cyclic => "cyclic",
            RoleKind::Uncommitted => "uncommitted",
        })
    }
}

impl Model {
    /// Do the two models say the same thing? Like `==`, but blind to spans
    /// (so a model and its pretty-printed, re-parsed form compare equal).
    pub fn same_as(&self, other: &Model) -> bool {
        let (mut a, mut b) = (self.clone(), other.clone());
        a.erase_spans();
        b.erase_spans();
        a == b
    }

    fn erase_spans(&mut self) {
        self.span = Span::default();
        for role in &mut self.roles {
            role.span = Span::default();
        }
        for component in &mut self.components {
            component.span = Span::default();
            for param in &mut component.params {
                param.span = Span::default();
            }
        }
        for clause in &mut self.clauses {
            clause.span = Span::default();
            clause.head.erase_spans();
            clause.body.erase_spans();
        }
    }
}

impl RoleRef {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        self.role.erase_spans();
        self.id.erase_spans();
    }
}

impl Def {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        let erase_guard = |guard: &mut Option<Constraint>| {
            if let Some(c) = guard {
                c.erase_spans();
            }
        };
        match &mut self.kind {
            DefKind::RoleChange { role, guard } => {
                role.erase_spans();
                erase_guard(guard);
            }
            DefKind::Send { message, to, guard } => {
                message.erase_spans();
                to.erase_spans();
                erase_guard(guard);
            }
            DefKind::Receive {
                message,
                from,
                guard,
                deadline,
            } => {
                message.erase_spans();
                from.erase_spans();
                erase_guard(guard);
                if let Some(Deadline::Within(t) | Deadline::Until(t)) = deadline {
                    t.erase_spans();
                }
            }
            DefKind::Null { guard } => erase_guard(guard),
            DefKind::Then(a, b) | DefKind::Or(a, b) | DefKind::Par(a, b) => {
                a.erase_spans();
                b.erase_spans();
            }
        }
    }
}

impl Constraint {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            ConstraintKind::Call(t) => t.erase_spans(),
            ConstraintKind::Not(c) => c.erase_spans(),
            ConstraintKind::And(a, b) | ConstraintKind::Or(a, b) => {
                a.erase_spans();
                b.erase_spans();
            }
        }
    }
}

impl Term {
    fn erase_spans(&mut self) {
        self.span = Span::default();
        match &mut self.kind {
            TermKind::List(items, tail) => {
                items.iter_mut().for_each(Term::erase_spans);
                if let Some(t) = tail {
                    t.erase_spans();
                }
            }
            TermKind::Compound(_, args) => args.iter_mut().for_each(Term::erase_spans),
            TermKind::Var(_)
            | TermKind::Atom(_)
            | TermKind::Int(_)
            | TermKind::Float(_)
            | TermKind::Str(_) => {}
        }
    }
}
