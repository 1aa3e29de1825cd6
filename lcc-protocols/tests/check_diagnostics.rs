//! One model per diagnostic the checker gives: each must be found, at the
//! right spot, and clean models must give nothing.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use lcc::check::{check, check_source, missing_components};
use lcc::component::Components;
use lcc::diagnostic::{Code, Diagnostic, Severity};
use lcc::syntax::parse;

/// The diagnostics of `source`, each as (code, the source text it points at).
fn found(source: &str) -> Vec<(Code, String)> {
    check_source(source)
        .into_iter()
        .map(|d| (d.code, text(source, &d)))
        .collect()
}

fn text(source: &str, d: &Diagnostic) -> String {
    source[d.span.start as usize..d.span.end as usize].to_string()
}

fn codes(source: &str) -> Vec<Code> {
    found(source).into_iter().map(|(c, _)| c).collect()
}

const SHOP: &str = "
component afford(+Item, +Price)
component in_stock(+Item, -Price)

a(buyer, B) ::
  ask(X) => a(shopkeeper, S) <- X = book then
  price(X, P) <= a(shopkeeper, S) then
  buy(X, P) => a(shopkeeper, S) <- afford(X, P) then
  sold(X, P) <= a(shopkeeper, S)

a(shopkeeper, S) ::
  ask(X) <= a(buyer, B) then
  price(X, P) => a(buyer, B) <- in_stock(X, P) then
  buy(X, P) <= a(buyer, B) then
  sold(X, P) => a(buyer, B)
";

#[test]
fn a_clean_model_has_nothing_to_say() {
    assert_eq!(found(SHOP), vec![]);
}

#[test]
fn syntax_errors_are_diagnostics() {
    let d = &check_source("a(r, X) ::\n  m(X) => a(s, Y) then\n  null <- X <= 3\n")[0];
    assert_eq!(d.code, Code::UnexpectedToken);
    assert_eq!(d.severity, Severity::Error);
    let rendered = d.render(
        "m.lcc",
        "a(r, X) ::\n  m(X) => a(s, Y) then\n  null <- X <= 3\n",
    );
    assert!(rendered.contains("--> m.lcc:3:13"), "{rendered}");
    assert!(rendered.contains("write `=<`"), "{rendered}");
}

#[test]
fn message_to_a_role_without_clause() {
    let source = "a(r, X) :: m => a(nobody, Y)";
    assert_eq!(
        found(source),
        vec![(Code::NoClauseForRole, "a(nobody, Y)".into())]
    );
}

#[test]
fn message_nobody_receives_and_receive_nobody_sends() {
    let source = "
a(buyer, B) ::
  ask(X) => a(shop, S) <- X = 1 then
  price(P) <= a(shop, S)
a(shop, S) ::
  ask(X, Y) <= a(buyer, B) then
  cost(P) => a(buyer, B) <- P = 3";
    let found = found(source);
    assert!(
        found.contains(&(Code::NeverReceived, "ask(X)".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(Code::NeverSent, "price(P)".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(Code::NeverSent, "ask(X, Y)".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(Code::NeverReceived, "cost(P)".into())),
        "{found:?}"
    );
    assert_eq!(found.len(), 4, "{found:?}");
}

#[test]
fn roles_linked_by_role_change_count_as_one_peer() {
    // The manager changes into `caller`, which sends; the contractor names
    // the manager as the sender. A variable message matches anything.
    let source = "
a(manager, M) :: a(caller([c1, c2]), M)
a(caller(Ps), M) ::
  null <- Ps = [] or
  (null <- Ps = [P | Rest] then cfp => a(contractor, P) then a(caller(Rest), M))
a(contractor, C) :: cfp <= a(manager, M) then Any => a(collector, M)
a(collector, M) :: reply(X) <= a(contractor, C)";
    assert_eq!(found(source), vec![]);
}

#[test]
fn role_change_to_an_unknown_role_suggests_the_close_one() {
    let source = "a(idle, I) :: a(overload(S), I)\na(overloaded(N), I) :: null";
    let diagnostics = check_source(source);
    assert_eq!(diagnostics.len(), 1);
    let d = &diagnostics[0];
    assert_eq!(d.code, Code::RoleChangeToUnknownRole);
    assert_eq!(text(source, d), "overload(S)");
    assert_eq!(d.hint.as_deref(), Some("did you mean `overloaded`?"));
}

#[test]
fn seed_001_as_printed_names_the_typo() {
    // The slide's spelling: `overload`/`underload` for the clauses
    // `overloaded`/`underloaded` (tests/seeds/ has it corrected).
    let source = "
a(idle, ID1) :: (null <- overloaded(Status) then a(overload(Status), ID1))
  or (null <- underloaded(Status) then a(underload(Status), ID1)) or (a(idle, ID1))
a(overloaded(Need), ID2) :: null then a(idle, ID2)
a(underloaded(Capacity), ID3) :: null then a(idle, ID3)";
    let errors: Vec<_> = check_source(source)
        .into_iter()
        .filter(Diagnostic::is_error)
        .collect();
    let hints: Vec<_> = errors.iter().map(|d| d.hint.clone().unwrap()).collect();
    assert_eq!(
        hints,
        ["did you mean `overloaded`?", "did you mean `underloaded`?"]
    );
}

#[test]
fn declarations_against_clauses() {
    let source = "
r(seller, initial)
r(buyer, necessary)
r(ghost, optional)
a(seller, S) :: offer => a(buyer, B)
a(buyer, B) :: offer <= a(seller, S)
a(stranger, X) :: null";
    assert_eq!(
        found(source),
        vec![
            (Code::DeclaredRoleWithoutClause, "r(ghost, optional)".into()),
            (Code::UndeclaredRole, "a(stranger, X)".into()),
        ]
    );
}

#[test]
fn one_initial_role_that_sends_first() {
    let two =
        "r(a1, initial)\nr(b1, initial)\na(a1, X) :: m => a(b1, Y)\na(b1, Y) :: m <= a(a1, X)";
    let found_two = found(two);
    assert!(
        found_two.contains(&(Code::SeveralInitialRoles, "r(b1, initial)".into())),
        "{found_two:?}"
    );
    let none = "r(a1, necessary)\na(a1, X) :: null";
    assert_eq!(codes(none), vec![Code::NoInitialRole]);
    let receives_first = "r(a1, necessary)\nr(b1, initial)\n\
                          a(a1, X) :: m => a(b1, Y)\na(b1, Y) :: null then m <= a(a1, X)";
    assert_eq!(
        found(receives_first),
        vec![(Code::InitialRoleReceivesFirst, "m <= a(a1, X)".into())]
    );
    // Through a role change: the initial role goes on as `wait`, which
    // receives first.
    let through = "r(a1, necessary)\nr(b1, initial)\nr(wait, auxiliary)\n\
                   a(a1, X) :: m => a(b1, Y)\na(b1, Y) :: a(wait, Y)\n\
                   a(wait, Y) :: m <= a(a1, X)";
    assert_eq!(
        found(through),
        vec![(Code::InitialRoleReceivesFirst, "m <= a(a1, X)".into())]
    );
    // One branch that can send first is enough (the other is, say, the
    // empty-list case of a loop over peers).
    let may_send = "r(a1, necessary)\nr(b1, initial)\n\
                    a(a1, X) :: m <= a(b1, Y) then m => a(b1, Y)\n\
                    a(b1, Y) :: (null <- p or m => a(a1, X)) then m <= a(a1, X)";
    assert_eq!(codes(may_send), vec![Code::UndeclaredComponent]);
}

#[test]
fn auxiliary_roles_are_reached_by_role_change() {
    let source = "r(main, initial)\nr(loop, auxiliary)\nr(lost, auxiliary)\n\
                  a(main, X) :: null then a(loop(3), X)\n\
                  a(loop(N), X) :: null <- N =< 0 or a(loop(M), X) <- M is N - 1\n\
                  a(lost, X) :: a(lost, X)";
    assert_eq!(
        found(source),
        vec![(Code::AuxiliaryEntryPoint, "r(lost, auxiliary)".into())]
    );
}

#[test]
fn duplicate_declarations() {
    let source = "r(x, initial)\nr(x, necessary)\ncomponent f(+A)\ncomponent f(-B)\n\
                  component member(+X, +L)\na(x, I) :: null <- f(I)";
    assert_eq!(
        codes(source),
        vec![
            Code::DuplicateDeclaration,
            Code::DuplicateDeclaration,
            Code::RedeclaredBuiltin
        ]
    );
}

#[test]
fn undeclared_components_warn_once_and_wrong_arity_errs() {
    let source = "a(x, I) :: null <- quote(I, P) then null <- quote(I, Q) then null <- member(I)";
    let diagnostics = check_source(source);
    let summary: Vec<_> = diagnostics
        .iter()
        .map(|d| (d.code, d.severity, text(source, d)))
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                Code::UndeclaredComponent,
                Severity::Warning,
                "quote(I, P)".into()
            ),
            (Code::WrongArity, Severity::Error, "member(I)".into()),
        ]
    );
    assert!(
        diagnostics[0]
            .hint
            .as_ref()
            .unwrap()
            .contains("component quote(?A1, ?A2)")
    );
}

#[test]
fn inputs_must_be_bound_before() {
    let cases: &[(&str, &[&str])] = &[
        // head parameters and received messages bind
        ("a(r(N), I) :: m(X) <= a(s, J) then null <- Y is N + X", &[]),
        // nothing binds B
        ("a(r, I) :: null <- Y is B + 1", &["B"]),
        // a component's + argument
        (
            "component price(+Bundle, -P)\na(r, I) :: null <- price(B, P)",
            &["B"],
        ),
        // outputs bind for what follows
        (
            "component price(+Bundle, -P)\na(r, I) :: null <- B = [cpu] , price(B, P), P > 3",
            &[],
        ),
        // only what both branches of an `or` bind counts after it
        (
            "a(r, I) :: (null <- X = 1 or null <- Y = 2) then null <- Z is X + 1",
            &["X"],
        ),
        (
            "a(r, I) :: (null <- X = 1 or null <- X = 2) then null <- Z is X + 1",
            &[],
        ),
        // the other side of a `par` does not count
        ("a(r, I) :: null <- X = 1 par null <- X > 0", &["X"]),
        // `not` binds nothing
        ("a(r, I) :: null <- not X = 1 then null <- X > 0", &["X"]),
        // a receive's constraint sees the message; a send's constraint runs before it
        ("a(r, I) :: X > 0 <- m(X) <= a(s, J)", &[]),
        ("a(r, I) :: m(X) => a(s, J) <- X > 0", &["X"]),
        // a deadline must be computable when the receive starts
        ("a(r, I) :: m <= a(s, J) within T", &["T"]),
        (
            "a(r, I) :: null <- now(T0) then m <= a(s, J) until T0 + 500",
            &[],
        ),
        // `_` is never bound
        ("a(r, I) :: null <- length(_, N)", &["_"]),
        // a role change binds its role's parameters (the clause unifies them)
        (
            "a(r, I) :: a(collect([], Bids), I) then null <- length(Bids, N)",
            &[],
        ),
        // undeclared components are assumed to bind what they are given
        ("a(r, I) :: null <- sense(X) then null <- X > 1", &[]),
    ];
    for (source, unbound) in cases {
        let model = parse(source).unwrap();
        let got: Vec<String> = check(&model)
            .into_iter()
            .filter(|d| d.code == Code::UnboundInput)
            .map(|d| text(source, &d))
            .collect();
        assert_eq!(&got, unbound, "{source}");
    }
}

#[test]
fn a_peer_must_provide_the_components_of_the_roles_it_plays() {
    let model = parse(
        "component price(+B, -P)\n\
         a(seller, S) :: null <- price(b, P) then a(closing, S)\n\
         a(closing, S) :: null <- ship(x)\n\
         a(buyer, B) :: null <- budget(M) and M > 3",
    )
    .unwrap();
    let mut components = Components::new();
    components.register_fn("prices", &[lcc::ast::Mode::In, lcc::ast::Mode::Out], |_| {
        Ok(vec![])
    });
    let missing = |roles: &[&str]| -> Vec<String> {
        missing_components(&model, &components, roles)
            .into_iter()
            .map(|d| {
                assert_eq!(d.code, Code::MissingComponent);
                assert!(d.is_error());
                d.message
            })
            .collect()
    };
    assert_eq!(
        missing(&["seller"]),
        [
            "role `seller` needs component `price/2`, which this peer does not provide",
            "role `closing` needs component `ship/1`, which this peer does not provide",
        ]
    );
    assert_eq!(missing(&["buyer"]).len(), 1);
    assert_eq!(missing(&[]).len(), 3);
    let suggestion = missing_components(&model, &components, &["seller"])[0]
        .hint
        .clone()
        .unwrap();
    assert!(suggestion.contains("provides `prices`"), "{suggestion}");
}

#[test]
fn a_peer_component_must_not_need_what_the_model_leaves_unbound() {
    use lcc::ast::Mode::{In, Out};
    let model = parse("component price(+B, -P)\na(seller, S) :: null <- price(b, P)").unwrap();
    let mut components = Components::new();
    components.register_fn("price", &[In, Out], |_| Ok(vec![]));
    assert!(missing_components(&model, &components, &[]).is_empty());
    components.register_fn("price", &[In, In], |_| Ok(vec![]));
    let found = missing_components(&model, &components, &[]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].code, Code::ComponentModeMismatch);
    assert!(
        found[0].message.contains("argument 2"),
        "{}",
        found[0].message
    );
}

#[test]
fn unused_component_declarations_warn() {
    let source = "component price(+B, -P)\ncomponent ready()\na(r, I) :: null <- ready";
    assert_eq!(
        found(source),
        vec![(Code::UnusedComponent, "component price(+B, -P)".into())]
    );
}
