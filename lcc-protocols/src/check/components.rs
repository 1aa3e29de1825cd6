//! Components: every constraint a model calls is either in the standard
//! library ([`crate::stdlib::signatures`], the one table the interpreter
//! uses too) or declared by the model with `component name(+In, -Out)`.
//!
//! An undeclared constraint is a warning from `check`: the model may still
//! run on peers that happen to provide it, and the seeds' models declare
//! nothing. When a peer is about to run a model, [`missing_components`]
//! turns every component the peer does not provide into an error.

use std::collections::{HashMap, HashSet};

use crate::ast::{Mode, Model, Span, Term};
use crate::component::Components;
use crate::diagnostic::{Code, Diagnostic};
use crate::stdlib;

use super::{calls, did_you_mean, guard, name_and_arity, steps};

/// What is known about the constraints a model may call: name and arity to
/// argument modes.
pub struct Signatures {
    known: HashMap<(String, usize), Vec<Mode>>,
    builtins: HashSet<(String, usize)>,
}

/// What [`Signatures::lookup`] finds for a call.
pub enum Lookup<'s> {
    /// Known, with one mode per argument.
    Known(&'s [Mode]),
    /// The name is known, with other arities (sorted).
    WrongArity(Vec<usize>),
    Undeclared,
}

impl Signatures {
    /// The standard library plus the model's declarations; reports
    /// declarations that clash (twice the same, or a built-in redefined).
    pub fn of(model: &Model, out: &mut Vec<Diagnostic>) -> Self {
        let mut known = HashMap::new();
        let mut builtins = HashSet::new();
        for builtin in stdlib::signatures() {
            let key = (builtin.name.to_string(), builtin.modes.len());
            known.insert(key.clone(), builtin.modes.to_vec());
            builtins.insert(key);
        }
        let builtin_names: HashSet<&str> = stdlib::signatures().map(|s| s.name).collect();
        let mut declared_at: HashMap<(String, usize), Span> = HashMap::new();
        for decl in &model.components {
            let key = (decl.name.clone(), decl.params.len());
            if builtin_names.contains(decl.name.as_str()) {
                out.push(
                    Diagnostic::new(
                        Code::RedeclaredBuiltin,
                        format!("`{}` is a standard-library constraint", decl.name),
                        decl.span,
                    )
                    .with_label("cannot be redeclared")
                    .with_hint(
                        "every peer has the standard library; give the component another name",
                    ),
                );
                continue;
            }
            if let Some(first) = declared_at.get(&key) {
                out.push(
                    Diagnostic::new(
                        Code::DuplicateDeclaration,
                        format!("component `{}/{}` is declared twice", key.0, key.1),
                        decl.span,
                    )
                    .with_secondary(*first, "first declared here")
                    .with_hint("keep one declaration"),
                );
                continue;
            }
            declared_at.insert(key.clone(), decl.span);
            known.insert(key, decl.params.iter().map(|p| p.mode).collect());
        }
        Signatures { known, builtins }
    }

    pub fn lookup(&self, name: &str, arity: usize) -> Lookup<'_> {
        if let Some(modes) = self.known.get(&(name.to_string(), arity)) {
            return Lookup::Known(modes);
        }
        let mut arities: Vec<usize> = self
            .known
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .collect();
        if arities.is_empty() {
            Lookup::Undeclared
        } else {
            arities.sort_unstable();
            Lookup::WrongArity(arities)
        }
    }

    pub fn is_builtin(&self, name: &str, arity: usize) -> bool {
        self.builtins.contains(&(name.to_string(), arity))
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.known.keys().map(|(n, _)| n.as_str())
    }
}

/// Every constraint call of the model, in source order.
fn all_calls(model: &Model) -> Vec<&Term> {
    model
        .clauses
        .iter()
        .flat_map(|clause| steps(&clause.body))
        .filter_map(guard)
        .flat_map(calls)
        .collect()
}

pub fn check(model: &Model, signatures: &Signatures, out: &mut Vec<Diagnostic>) {
    let mut warned = HashSet::new();
    let mut called = HashSet::new();
    for call in all_calls(model) {
        let Some((name, arity)) = name_and_arity(call) else {
            continue;
        };
        called.insert((name, arity));
        match signatures.lookup(name, arity) {
            Lookup::Known(_) => {}
            Lookup::WrongArity(arities) => out.push(
                Diagnostic::new(
                    Code::WrongArity,
                    format!("`{name}` is called with {arity} argument(s)"),
                    call.span,
                )
                .with_label(format!("`{name}/{arity}`"))
                .with_hint(format!(
                    "`{name}` takes {} argument(s)",
                    arities
                        .iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            ),
            Lookup::Undeclared => {
                if warned.insert((name, arity)) {
                    out.push(undeclared(name, arity, call.span, signatures));
                }
            }
        }
    }
    for decl in &model.components {
        // A declaration of a built-in is already an error (E0113).
        let builtin = stdlib::signatures().any(|s| s.name == decl.name);
        if !builtin && !called.contains(&(decl.name.as_str(), decl.params.len())) {
            out.push(
                Diagnostic::new(
                    Code::UnusedComponent,
                    format!(
                        "component `{}/{}` is declared but never called",
                        decl.name,
                        decl.params.len()
                    ),
                    decl.span,
                )
                .with_label("unused")
                .with_hint(
                    "peers read the declarations to know what to provide; remove it, \
                     or check the name and number of arguments of the call",
                ),
            );
        }
    }
}

fn undeclared(name: &str, arity: usize, span: Span, signatures: &Signatures) -> Diagnostic {
    let params = (1..=arity)
        .map(|i| format!("?A{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let modes = if arity == 0 {
        ""
    } else {
        " (+ input, - output, ? either)"
    };
    let d = Diagnostic::new(
        Code::UndeclaredComponent,
        format!("`{name}/{arity}` is neither in the standard library nor declared"),
        span,
    )
    .with_label("undeclared component");
    match did_you_mean(name, signatures.names()) {
        Some(close) => d.with_hint(format!(
            "did you mean `{close}`? If not, declare the component peers must provide: \
             `component {name}({params})`{modes}"
        )),
        None => d.with_hint(format!(
            "declare the component peers must provide: `component {name}({params})`{modes}"
        )),
    }
}

/// What a peer lacks to play `roles` in `model` (all roles when `roles` is
/// empty, and the roles they change into), one error per component at its
/// first call: a component it does not provide at all (E0112), or one it
/// registered as needing an argument bound (`+`) that the model's
/// declaration lets be unbound (E0116), which would fail at run time.
pub fn missing_components(model: &Model, provided: &Components, roles: &[&str]) -> Vec<Diagnostic> {
    let signatures = Signatures::of(model, &mut Vec::new());
    let playing = reachable_roles(model, roles);
    let mut out = Vec::new();
    let mut reported = HashSet::new();
    for clause in &model.clauses {
        if !roles.is_empty() && !clause.head.name().is_some_and(|n| playing.contains(n)) {
            continue;
        }
        let role = clause.head.name().unwrap_or("?");
        for call in steps(&clause.body)
            .into_iter()
            .filter_map(guard)
            .flat_map(calls)
        {
            let Some((name, arity)) = name_and_arity(call) else {
                continue;
            };
            if signatures.is_builtin(name, arity) || !reported.insert((name, arity)) {
                continue;
            }
            match provided.get(name, arity) {
                None => out.push(not_provided(role, name, arity, call.span, provided)),
                Some(registered) => {
                    if let Lookup::Known(declared) = signatures.lookup(name, arity)
                        && let Some(at) = declared
                            .iter()
                            .zip(&registered.modes)
                            .position(|(d, r)| *r == Mode::In && *d != Mode::In)
                    {
                        out.push(
                            Diagnostic::new(
                                Code::ComponentModeMismatch,
                                format!(
                                    "this peer's `{name}/{arity}` needs argument {} bound, \
                                     but the model declares it may be unbound",
                                    at + 1
                                ),
                                call.span,
                            )
                            .with_label("called here")
                            .with_hint(
                                "make the peer's component bind that argument itself \
                                 (register it as - or ?), or declare it + in the model \
                                 and bind it before every call",
                            ),
                        );
                    }
                }
            }
        }
    }
    out
}

fn not_provided(
    role: &str,
    name: &str,
    arity: usize,
    span: Span,
    provided: &Components,
) -> Diagnostic {
    let d = Diagnostic::new(
        Code::MissingComponent,
        format!("role `{role}` needs component `{name}/{arity}`, which this peer does not provide"),
        span,
    )
    .with_label("needed here");
    // The registry lists `name/arity`; suggest by name.
    let listed = provided.names();
    let names = listed
        .iter()
        .map(|n| n.rsplit_once('/').map_or(n.as_str(), |(name, _)| name));
    match did_you_mean(name, names) {
        Some(close) => d.with_hint(format!(
            "the peer provides `{close}`: a typo in the model or in the peer's registry?"
        )),
        None => d.with_hint(format!(
            "register a component `{name}` with {arity} argument(s) in the peer's \
             Components, or do not run this role on this peer"
        )),
    }
}

/// `roles` and every role reachable from them by role change.
fn reachable_roles<'m>(model: &'m Model, roles: &[&'m str]) -> HashSet<&'m str> {
    let mut seen: HashSet<&str> = roles.iter().copied().collect();
    let mut todo: Vec<&str> = roles.to_vec();
    while let Some(role) = todo.pop() {
        for clause in model.clauses.iter().filter(|c| c.head.name() == Some(role)) {
            for step in steps(&clause.body) {
                if let crate::ast::DefKind::RoleChange { role: next, .. } = &step.kind
                    && let Some(next) = next.name()
                    && seen.insert(next)
                {
                    todo.push(next);
                }
            }
        }
    }
    seen
}
