//! Roles: declarations against clauses, and role changes.
//!
//! OpenKnowledge's rules (seed 002, section 4.2.3): exactly one `initial`
//! role, which must be the first to send; auxiliary roles are reached only
//! by role change, so peers never subscribe to them. When a model declares
//! roles at all, every clause's role must be declared and every declared
//! role must have a clause. A role change must name a role some clause
//! defines, whether or not the model declares roles.

use std::collections::{HashMap, HashSet};

use crate::ast::{Def, DefKind, Model, RoleDecl, RoleKind, Span};
use crate::diagnostic::{Code, Diagnostic};

use super::{did_you_mean, steps};

pub fn check(model: &Model, out: &mut Vec<Diagnostic>) {
    role_changes(model, out);
    if !model.roles.is_empty() {
        declarations(model, out);
    }
}

/// The first clause of each role, by name.
fn clause_heads(model: &Model) -> HashMap<&str, Span> {
    let mut heads = HashMap::new();
    for clause in &model.clauses {
        if let Some(name) = clause.head.name() {
            heads.entry(name).or_insert(clause.head.span);
        }
    }
    heads
}

fn role_changes(model: &Model, out: &mut Vec<Diagnostic>) {
    let heads = clause_heads(model);
    for clause in &model.clauses {
        for step in steps(&clause.body) {
            let DefKind::RoleChange { role, .. } = &step.kind else {
                continue;
            };
            let Some(name) = role.name() else { continue };
            if heads.contains_key(name) {
                continue;
            }
            let mut d = Diagnostic::new(
                Code::RoleChangeToUnknownRole,
                format!("role change to `{name}`, but no clause defines that role"),
                role.role.span,
            )
            .with_label(format!("no clause `a({name}, ...) :: ...`"));
            let close = did_you_mean(name, heads.keys().copied())
                .and_then(|close| heads.get(close).map(|span| (close, *span)));
            d = match close {
                Some((close, span)) => d
                    .with_hint(format!("did you mean `{close}`?"))
                    .with_secondary(span, format!("`{close}` is defined here")),
                None => d.with_hint(format!("add a clause `a({name}, Id) :: ...`")),
            };
            out.push(d);
        }
    }
}

fn declarations(model: &Model, out: &mut Vec<Diagnostic>) {
    let heads = clause_heads(model);
    let mut declared: HashMap<&str, &RoleDecl> = HashMap::new();
    for decl in &model.roles {
        if let Some(first) = declared.get(decl.name.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::DuplicateDeclaration,
                    format!("role `{}` is declared twice", decl.name),
                    decl.span,
                )
                .with_secondary(first.span, "first declared here")
                .with_hint("keep one declaration per role"),
            );
            continue;
        }
        declared.insert(&decl.name, decl);
        if !heads.contains_key(decl.name.as_str()) {
            let mut d = Diagnostic::new(
                Code::DeclaredRoleWithoutClause,
                format!("role `{}` is declared but no clause defines it", decl.name),
                decl.span,
            );
            d = match did_you_mean(&decl.name, heads.keys().copied()) {
                Some(close) => d.with_hint(format!("did you mean `{close}`?")),
                None => d.with_hint(format!(
                    "add a clause `a({}, Id) :: ...` or remove the declaration",
                    decl.name
                )),
            };
            out.push(d);
        }
    }
    let mut reported = HashSet::new();
    for clause in &model.clauses {
        let Some(name) = clause.head.name() else {
            continue;
        };
        if !declared.contains_key(name) && reported.insert(name) {
            out.push(
                Diagnostic::new(
                    Code::UndeclaredRole,
                    format!("role `{name}` has a clause but no declaration"),
                    clause.head.span,
                )
                .with_label("not declared")
                .with_hint(format!(
                    "this model declares its roles, so declare this one too: \
                     `r({name}, necessary)` (or initial, optional, auxiliary)"
                )),
            );
        }
    }
    initial_role(model, out);
    auxiliary_roles(model, &declared, out);
}

fn initial_role(model: &Model, out: &mut Vec<Diagnostic>) {
    let initial: Vec<&RoleDecl> = model
        .roles
        .iter()
        .filter(|r| r.kind == RoleKind::Initial)
        .collect();
    match initial.as_slice() {
        [] => out.push(
            Diagnostic::new(
                Code::NoInitialRole,
                "no role is declared `initial`",
                model.roles[0].span,
            )
            .with_hint("declare the role that starts the interaction as `r(name, initial)`"),
        ),
        [first, others @ ..] => {
            for other in others {
                out.push(
                    Diagnostic::new(
                        Code::SeveralInitialRoles,
                        format!(
                            "`{}` is declared initial, but `{}` already is",
                            other.name, first.name
                        ),
                        other.span,
                    )
                    .with_secondary(first.span, "the initial role")
                    .with_hint("an interaction has one initial role; make the others necessary"),
                );
            }
            for clause in &model.clauses {
                if clause.head.name() == Some(first.name.as_str())
                    && let Some(receive) = first_receive(model, &clause.body)
                {
                    out.push(
                        Diagnostic::new(
                            Code::InitialRoleReceivesFirst,
                            format!(
                                "`{}` is the initial role, but it receives before it can send",
                                first.name
                            ),
                            receive.span,
                        )
                        .with_label("receives first")
                        .with_secondary(first.span, "declared initial here")
                        .with_hint(
                            "the initial role starts the interaction, so its first \
                             message step must be a send; declare as initial the role \
                             that sends first",
                        ),
                    );
                }
            }
        }
    }
}

/// How a definition begins, as far as messages go.
#[derive(Clone, Copy)]
enum Opening<'m> {
    /// It can begin by sending.
    Sends,
    /// Whatever path it takes, its first message step is a receive (this
    /// one, say).
    Receives(&'m Def),
    /// It may end without any message step (`null`s only).
    Passes,
}

/// The receive an initial role must wait for before it can send anything,
/// if every way its definition can begin starts with one. `null` steps send
/// nothing, so what follows them counts; a role change goes on with the
/// role it changes into; of `or` and `par`, one branch able to send is
/// enough (an edge case such as an empty list of peers, which skips the
/// sends, is not an error).
fn first_receive<'m>(model: &'m Model, def: &'m Def) -> Option<&'m Def> {
    fn opening<'m>(model: &'m Model, def: &'m Def, entered: &mut HashSet<&'m str>) -> Opening<'m> {
        match &def.kind {
            DefKind::Receive { .. } => Opening::Receives(def),
            DefKind::Send { .. } => Opening::Sends,
            DefKind::Null { .. } => Opening::Passes,
            DefKind::RoleChange { role, .. } => {
                // An unknown role, or one already being entered: give the
                // benefit of the doubt.
                let Some(name) = role.name().filter(|n| entered.insert(n)) else {
                    return Opening::Sends;
                };
                model
                    .clauses
                    .iter()
                    .filter(|c| c.head.name() == Some(name))
                    .map(|c| opening(model, &c.body, entered))
                    .reduce(either)
                    .unwrap_or(Opening::Sends)
            }
            DefKind::Then(a, b) => match opening(model, a, entered) {
                Opening::Passes => opening(model, b, entered),
                other => other,
            },
            DefKind::Or(a, b) | DefKind::Par(a, b) => {
                let left = opening(model, a, entered);
                either(left, opening(model, b, entered))
            }
        }
    }
    fn either<'m>(a: Opening<'m>, b: Opening<'m>) -> Opening<'m> {
        match (a, b) {
            (Opening::Sends, _) | (_, Opening::Sends) => Opening::Sends,
            (Opening::Receives(r), _) | (_, Opening::Receives(r)) => Opening::Receives(r),
            _ => Opening::Passes,
        }
    }
    match opening(model, def, &mut HashSet::new()) {
        Opening::Receives(receive) => Some(receive),
        _ => None,
    }
}

/// An auxiliary role must be reached by a role change from another role:
/// peers cannot subscribe to it, so otherwise nobody ever plays it.
fn auxiliary_roles(model: &Model, declared: &HashMap<&str, &RoleDecl>, out: &mut Vec<Diagnostic>) {
    let mut reached = HashSet::new();
    for clause in &model.clauses {
        let from = clause.head.name();
        for step in steps(&clause.body) {
            if let DefKind::RoleChange { role, .. } = &step.kind
                && let Some(to) = role.name()
                && Some(to) != from
            {
                reached.insert(to);
            }
        }
    }
    for decl in model.roles.iter().filter(|r| r.kind == RoleKind::Auxiliary) {
        let is_first = declared
            .get(decl.name.as_str())
            .is_some_and(|d| std::ptr::eq(*d, decl));
        if is_first && !reached.contains(decl.name.as_str()) {
            out.push(
                Diagnostic::new(
                    Code::AuxiliaryEntryPoint,
                    format!(
                        "auxiliary role `{}` is never reached by a role change from another role",
                        decl.name
                    ),
                    decl.span,
                )
                .with_label("only an entry point could start it")
                .with_hint(
                    "peers cannot subscribe to an auxiliary role; change to it from \
                     another role (`a(...) :: ... then a(name, Id)`) or declare it \
                     necessary or optional",
                ),
            );
        }
    }
}
