//! The checker: what is wrong with a model that parses.
//!
//! Each module checks one thing and reports [`Diagnostic`]s:
//! - [`roles`]: role declarations against clauses (one `initial` role that
//!   sends first, auxiliary roles reached by role change, every declared
//!   role defined, every clause declared), and role changes to roles that
//!   exist;
//! - [`messages`]: every message sent is received by some clause of its
//!   receiver, and every message received is sent by some clause of its
//!   sender;
//! - [`components`]: every constraint is in the standard library or
//!   declared (a warning otherwise), with the right arity; and, for a peer
//!   about to run a model, which components it lacks ([`missing_components`]);
//! - [`bindings`]: every argument a constraint needs bound is bound by
//!   something before it.
//!
//! Errors stop a model from running; warnings do not. The checker never
//! panics and reports everything it finds, in source order.

pub mod bindings;
pub mod components;
pub mod messages;
pub mod roles;

use crate::ast::{Constraint, ConstraintKind, Def, DefKind, Model, Term, TermKind};
use crate::diagnostic::Diagnostic;
use crate::syntax::parse;

pub use components::{Signatures, missing_components};

/// Checks a parsed model.
pub fn check(model: &Model) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let signatures = Signatures::of(model, &mut out);
    roles::check(model, &mut out);
    messages::check(model, &mut out);
    components::check(model, &signatures, &mut out);
    bindings::check(model, &signatures, &mut out);
    out.sort_by_key(|d| (d.span.start, d.span.end));
    out
}

/// Parses and checks a model: the syntax error if it does not parse, or
/// what [`check`] finds.
pub fn check_source(source: &str) -> Vec<Diagnostic> {
    match parse(source) {
        Ok(model) => check(&model),
        Err(syntax) => vec![syntax],
    }
}

/// The steps (sends, receives, `null`s, role changes) of a definition, in
/// the order they are written.
pub fn steps(def: &Def) -> Vec<&Def> {
    let mut found = Vec::new();
    let mut stack = vec![def];
    while let Some(def) = stack.pop() {
        match &def.kind {
            DefKind::Then(a, b) | DefKind::Or(a, b) | DefKind::Par(a, b) => {
                stack.push(b);
                stack.push(a);
            }
            _ => found.push(def),
        }
    }
    found
}

/// The constraint attached to a step, if any.
pub fn guard(step: &Def) -> Option<&Constraint> {
    match &step.kind {
        DefKind::Send { guard, .. }
        | DefKind::Receive { guard, .. }
        | DefKind::Null { guard }
        | DefKind::RoleChange { guard, .. } => guard.as_ref(),
        DefKind::Then(..) | DefKind::Or(..) | DefKind::Par(..) => None,
    }
}

/// The calls (atoms, compounds, operator terms) in a constraint, in order.
pub fn calls(constraint: &Constraint) -> Vec<&Term> {
    let mut found = Vec::new();
    let mut stack = vec![constraint];
    while let Some(c) = stack.pop() {
        match &c.kind {
            ConstraintKind::Call(term) => found.push(term),
            ConstraintKind::Not(inner) => stack.push(inner),
            ConstraintKind::And(a, b) | ConstraintKind::Or(a, b) => {
                stack.push(b);
                stack.push(a);
            }
        }
    }
    found
}

/// Name and arity of a call (`price(B, P)` is `price/2`, `ready` is
/// `ready/0`), or `None` for what cannot be called.
pub fn name_and_arity(term: &Term) -> Option<(&str, usize)> {
    match &term.kind {
        TermKind::Atom(name) => Some((name, 0)),
        TermKind::Compound(name, args) => Some((name, args.len())),
        _ => None,
    }
}

/// The named variables of a term (not `_`, which is a fresh variable at
/// each occurrence), each with its span, in order.
pub fn variables(term: &Term) -> Vec<(&str, &Term)> {
    let mut found = Vec::new();
    let mut stack = vec![term];
    while let Some(t) = stack.pop() {
        match &t.kind {
            TermKind::Var(name) if name != "_" => found.push((name.as_str(), t)),
            TermKind::Compound(_, args) => stack.extend(args.iter().rev()),
            TermKind::List(items, tail) => {
                stack.extend(tail.as_deref());
                stack.extend(items.iter().rev());
            }
            _ => {}
        }
    }
    found
}

/// The closest of `candidates` to `name`, if one is close enough to be a
/// likely typo (`overload` for `overloaded`).
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| {
            *d <= 2.max(name.chars().count().min(c.chars().count()) / 4)
                || c.starts_with(name)
                || name.starts_with(c)
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_for_typos() {
        let roles = ["idle", "overloaded", "underloaded"];
        assert_eq!(
            did_you_mean("overload", roles.into_iter()),
            Some("overloaded")
        );
        assert_eq!(
            did_you_mean("underload", roles.into_iter()),
            Some("underloaded")
        );
        assert_eq!(did_you_mean("idel", roles.into_iter()), Some("idle"));
        assert_eq!(did_you_mean("manager", roles.into_iter()), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn variables_in_order_without_anonymous() {
        let model = parse("a(r(A, [B|_]), C) :: null").unwrap();
        let head = &model.clauses[0].head;
        let names: Vec<&str> = variables(&head.role).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(variables(&head.id)[0].0, "C");
    }
}
