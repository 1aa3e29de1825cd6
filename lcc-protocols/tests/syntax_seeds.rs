//! The complete LCC models printed in the seeds parse, as transcribed in
//! `tests/seeds/` (each file's header says what, if anything, was fixed).

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use lcc::ast::{DefKind, Model, RoleKind};
use lcc::syntax::parse;

fn seed(name: &str) -> Model {
    let path = format!("{}/tests/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    parse(&source).unwrap_or_else(|d| panic!("{}", d.render(&path, &source)))
}

fn role_names(model: &Model) -> Vec<&str> {
    model
        .clauses
        .iter()
        .map(|c| c.head.name().unwrap())
        .collect()
}

#[test]
fn buyer_and_shopkeeper() {
    let model = seed("buyer-shopkeeper.lcc");
    assert_eq!(role_names(&model), ["buyer", "shopkeeper"]);
    // `buy(X,P) => a(shopkeeper, S) ← afford(X, P) then ...`: the guard
    // belongs to the send, and `then` goes on after it.
    let DefKind::Then(_, rest) = &model.clauses[0].body.kind else {
        panic!()
    };
    let DefKind::Then(_, rest) = &rest.kind else {
        panic!()
    };
    let DefKind::Then(buy, _) = &rest.kind else {
        panic!()
    };
    assert!(matches!(&buy.kind, DefKind::Send { guard: Some(_), .. }));
}

#[test]
fn idle_overloaded_underloaded() {
    let model = seed("idle-overloaded-underloaded.lcc");
    assert_eq!(role_names(&model), ["idle", "overloaded", "underloaded"]);
    // Three branches: `(...) or (...) or (...)`.
    let DefKind::Or(first, rest) = &model.clauses[0].body.kind else {
        panic!()
    };
    assert!(matches!(first.kind, DefKind::Then(..)));
    assert!(matches!(rest.kind, DefKind::Or(..)));
}

#[test]
fn figure_2_1() {
    let model = seed("fig-2-1.lcc");
    assert_eq!(role_names(&model), ["requester", "informer"]);
}

#[test]
fn figure_4_7_with_role_declarations() {
    let model = seed("fig-4-7-with-role-declarations.lcc");
    assert_eq!(role_names(&model), ["underloaded", "overloaded"]);
    assert_eq!(model.roles.len(), 2);
    assert_eq!(model.roles[0].kind, RoleKind::Initial);
}

#[test]
fn figure_4_2_as_printed() {
    let model = parse("r(peerGreeter, initial)\nr(peerResponder, necessary, 1)\n").unwrap();
    let roles: Vec<_> = model
        .roles
        .iter()
        .map(|r| (r.name.as_str(), r.kind, r.min, r.max))
        .collect();
    assert_eq!(
        roles,
        [
            ("peerGreeter", RoleKind::Initial, None, None),
            ("peerResponder", RoleKind::Necessary, Some(1), None)
        ]
    );
}
