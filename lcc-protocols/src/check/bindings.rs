//! Bindings: an argument a constraint needs bound (`+` in its declaration,
//! or in the standard library's table: the right side of `is`, both sides of
//! `<`) must be bound by something before it in the clause.
//!
//! What binds, in the order a clause runs:
//! - the clause's head: the role's parameters and the peer's id;
//! - a receive: the variables of the message and of the sender's role, then
//!   its constraint runs (`C <- M <= a(R, I)`: C sees M's variables);
//! - a send: its constraint runs first (`M => a(R, I) <- C`: C binds what M
//!   needs); after the send, the receiver's id;
//! - a constraint: every variable in its call, once the call is solved
//!   (outputs get values; an undeclared component may bind any argument);
//! - a role change, once the role it changes into has run: the variables of
//!   `a(Type, Id)`, since the role's clause unifies with them (this is how a
//!   loop over peers hands back what it collected:
//!   `a(gather(Peers, [], Bids), M) then null <- best(Bids, B)`).
//!
//! `A then B`: B sees what A bound. `A or B`: afterwards, only what *both*
//! branches bind counts. `A par B`: neither side may count on the other.
//! `not C` binds nothing. A deadline's expression must be bound when the
//! receive starts waiting.

use std::collections::BTreeSet;

use crate::ast::{Constraint, ConstraintKind, Deadline, Def, DefKind, Mode, Model, Term};
use crate::diagnostic::{Code, Diagnostic};

use super::components::{Lookup, Signatures};
use super::{name_and_arity, variables};

type Bound<'m> = BTreeSet<&'m str>;

pub fn check(model: &Model, signatures: &Signatures, out: &mut Vec<Diagnostic>) {
    for clause in &model.clauses {
        let mut bound = Bound::new();
        bind(&mut bound, &clause.head.role);
        bind(&mut bound, &clause.head.id);
        let mut walker = Walker { signatures, out };
        walker.def(&clause.body, &mut bound);
    }
}

fn bind<'m>(bound: &mut Bound<'m>, term: &'m Term) {
    bound.extend(variables(term).into_iter().map(|(name, _)| name));
}

struct Walker<'a> {
    signatures: &'a Signatures,
    out: &'a mut Vec<Diagnostic>,
}

impl Walker<'_> {
    fn def<'m>(&mut self, def: &'m Def, bound: &mut Bound<'m>) {
        match &def.kind {
            DefKind::Then(a, b) => {
                self.def(a, bound);
                self.def(b, bound);
            }
            DefKind::Or(a, b) => {
                let (mut left, mut right) = (bound.clone(), bound.clone());
                self.def(a, &mut left);
                self.def(b, &mut right);
                *bound = left.intersection(&right).copied().collect();
            }
            DefKind::Par(a, b) => {
                let (mut left, mut right) = (bound.clone(), bound.clone());
                self.def(a, &mut left);
                self.def(b, &mut right);
                bound.extend(left);
                bound.extend(right);
            }
            DefKind::Send { to, guard, .. } => {
                self.guard(guard.as_ref(), bound);
                bind(bound, &to.id);
            }
            DefKind::Receive {
                message,
                from,
                guard,
                deadline,
            } => {
                if let Some(Deadline::Within(t) | Deadline::Until(t)) = deadline {
                    self.require(
                        t,
                        bound,
                        "the deadline",
                        "a deadline is computed when the receive starts waiting",
                    );
                }
                bind(bound, message);
                bind(bound, &from.role);
                bind(bound, &from.id);
                self.guard(guard.as_ref(), bound);
            }
            DefKind::Null { guard } => self.guard(guard.as_ref(), bound),
            DefKind::RoleChange { role, guard } => {
                self.guard(guard.as_ref(), bound);
                bind(bound, &role.role);
                bind(bound, &role.id);
            }
        }
    }

    fn guard<'m>(&mut self, guard: Option<&'m Constraint>, bound: &mut Bound<'m>) {
        if let Some(c) = guard {
            self.constraint(c, bound);
        }
    }

    fn constraint<'m>(&mut self, c: &'m Constraint, bound: &mut Bound<'m>) {
        match &c.kind {
            ConstraintKind::Call(term) => self.call(term, bound),
            ConstraintKind::Not(inner) => {
                let mut scratch = bound.clone();
                self.constraint(inner, &mut scratch);
            }
            ConstraintKind::And(a, b) => {
                self.constraint(a, bound);
                self.constraint(b, bound);
            }
            ConstraintKind::Or(a, b) => {
                let (mut left, mut right) = (bound.clone(), bound.clone());
                self.constraint(a, &mut left);
                self.constraint(b, &mut right);
                *bound = left.intersection(&right).copied().collect();
            }
        }
    }

    fn call<'m>(&mut self, term: &'m Term, bound: &mut Bound<'m>) {
        if let (Some((name, arity)), crate::ast::TermKind::Compound(_, args)) =
            (name_and_arity(term), &term.kind)
            && let Lookup::Known(modes) = self.signatures.lookup(name, arity)
        {
            for (arg, mode) in args.iter().zip(modes) {
                if *mode == Mode::In {
                    let what = format!("`{name}/{arity}`");
                    self.require(arg, bound, &what, "this argument is an input (`+`)");
                }
            }
        }
        bind(bound, term);
    }

    /// Reports each variable of `term` that is not bound, once per term.
    fn require(&mut self, term: &Term, bound: &Bound, user: &str, why: &str) {
        let mut reported = BTreeSet::new();
        if matches!(&term.kind, crate::ast::TermKind::Var(name) if name == "_") {
            self.out.push(
                Diagnostic::new(
                    Code::UnboundInput,
                    format!("{user} needs this argument bound, but `_` is never bound"),
                    term.span,
                )
                .with_label("anonymous variable")
                .with_hint(why.to_string()),
            );
            return;
        }
        for (name, var) in variables(term) {
            if bound.contains(name) || !reported.insert(name) {
                continue;
            }
            self.out.push(
                Diagnostic::new(
                    Code::UnboundInput,
                    format!("{user} needs `{name}` bound, but nothing binds it before"),
                    var.span,
                )
                .with_label(format!("`{name}` is unbound here"))
                .with_hint(format!(
                    "{why}; bind `{name}` earlier in the clause: as a parameter of the \
                     role `a(role({name}), Id)`, in a message received before, or as an \
                     output of an earlier constraint (in an `or`, every branch must bind it)"
                )),
            );
        }
    }
}
