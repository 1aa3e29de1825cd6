//! The interpreter's rewriting rules, one behaviour per test: committed
//! choice, par, deadlines, message matching, components, failures, constant
//! memory, and storing and resuming a role's state.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod interaction_support;

use std::sync::Arc;

use interaction_support::{Log, atom, atoms, clock, f, program};
use lcc::ast::Mode;
use lcc::channel::{Channel, Hub};
use lcc::component::{Components, Failure};
use lcc::interp::{Interaction, PeerOutcome, Progress, RoleInstance, RoleState};
use lcc::term::{Symbol, Term};

/// Components that write what they are given to `log`: `note(+What)` and
/// the zero-argument `ping`.
fn noting(log: &Log) -> Components {
    let mut components = Components::new();
    let notes = log.clone();
    components.register_fn("note", &[Mode::In], move |args| {
        notes.push(args[0].to_string());
        Ok(vec![])
    });
    let pings = log.clone();
    components.register_fn("ping", &[], move |_| {
        pings.push("ping");
        Ok(vec![])
    });
    components
}

async fn run_alone(source: &str, role: Term, log: &Log) -> PeerOutcome {
    let outcomes = Interaction::new(program(source), clock())
        .peer("solo", role, noting(log))
        .run()
        .await;
    outcomes.into_iter().next().unwrap()
}

#[tokio::test(start_paused = true)]
async fn or_takes_the_right_branch_when_the_left_fails_before_acting() {
    let log = Log::default();
    let model =
        "a(chooser, X) :: ( null <- fail then null <- note(first) ) or null <- note(second)";
    let outcome = run_alone(model, atom("chooser"), &log).await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(log.entries(), ["second"]);
}

#[tokio::test(start_paused = true)]
async fn or_is_committed_once_a_branch_has_acted() {
    let log = Log::default();
    let model =
        "a(chooser, X) :: ( null <- note(first) then null <- fail ) or null <- note(second)";
    let outcome = run_alone(model, atom("chooser"), &log).await;
    let failure = outcome.result.unwrap_err();
    assert!(failure.reason.contains("fail"), "{failure}");
    assert_eq!(
        log.entries(),
        ["first"],
        "the right branch must not run after the left acted"
    );
}

#[tokio::test(start_paused = true)]
async fn or_of_two_receives_takes_whichever_message_comes() {
    let log = Log::default();
    let model = "
        a(listener, X) :: ( left <= a(talker, T) then null <- note(left) )
                          or ( right <= a(talker, T) then null <- note(right) )
        a(talker, T) :: right => a(listener, L) <- L = l";
    let outcomes = Interaction::new(program(model), clock())
        .peer("l", atom("listener"), noting(&log))
        .peer("t", atom("talker"), noting(&log))
        .run()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    assert_eq!(log.entries(), ["right"]);
}

#[tokio::test(start_paused = true)]
async fn par_lets_a_role_send_while_it_waits() {
    // Sequentially p would wait for m1 while q waits for m2: a deadlock.
    let model = "
        a(p, X) :: m1 <= a(q, Q) par m2 => a(q, q1)
        a(q, X) :: m2 <= a(p, P) then m1 => a(p, P)";
    let log = Log::default();
    let outcomes = Interaction::new(program(model), clock())
        .peer("p1", atom("p"), noting(&log))
        .peer("q1", atom("q"), noting(&log))
        .run()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
}

#[tokio::test(start_paused = true)]
async fn a_passed_deadline_fails_the_receive_and_the_or_runs_its_other_branch() {
    let log = Log::default();
    let model = "
        a(waiter, X) :: ( hello <= a(nobody, N) within 100 then null <- note(hello) )
                        or null <- now(T) and note(T)";
    let outcome = run_alone(model, atom("waiter"), &log).await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(
        log.entries(),
        ["100"],
        "the fallback runs exactly at the deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn until_is_an_absolute_time_on_the_clock_now_reads() {
    let log = Log::default();
    let model = "
        a(waiter, X) :: null <- now(T) and D is T + 50
            then ( hello <= a(nobody, N) until D or null <- now(T2) and note(T2) )";
    let outcome = run_alone(model, atom("waiter"), &log).await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(log.entries(), ["50"]);
}

#[tokio::test(start_paused = true)]
async fn a_deadline_with_no_alternative_fails_the_role_and_says_where() {
    let log = Log::default();
    let model =
        "a(waiter, X) ::\n    null <- note(start)\n    then hello <= a(nobody, N) within 250";
    let outcome = run_alone(model, atom("waiter"), &log).await;
    let failure = outcome.result.unwrap_err();
    assert!(failure.reason.contains("deadline passed"), "{failure}");
    assert!(failure.reason.contains("hello"), "{failure}");
    assert_eq!(failure.line_col(model), (3, 10));
    assert_eq!(failure.peer, "solo");
}

#[tokio::test(start_paused = true)]
async fn messages_that_arrive_early_wait_in_the_mailbox() {
    let log = Log::default();
    let model = "
        a(reader, X) :: second(B) <= a(writer, W) then first(A) <= a(writer, W)
                        then null <- note(A) and note(B)
        a(writer, X) :: first(1) => a(reader, r) then second(2) => a(reader, r)";
    let outcomes = Interaction::new(program(model), clock())
        .peer("r", atom("reader"), noting(&log))
        .peer("w", atom("writer"), noting(&log))
        .run()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    assert_eq!(log.entries(), ["1", "2"]);
}

#[tokio::test(start_paused = true)]
async fn a_receive_takes_the_first_message_that_unifies_and_satisfies_its_constraint() {
    let log = Log::default();
    let model = "
        a(reader, X) :: offer(item(Name, [First|Rest]), Name) <= a(writer, W)
                        then P > 5 <- bid(P) <= a(writer, W)
                        then null <- note(First) and note(Rest) and note(Name) and note(P)
        a(writer, X) :: offer(item(vm8, [z]), other) => a(reader, r)
                        then bid(3) => a(reader, r)
                        then offer(item(vm7, [a, b, c]), vm7) => a(reader, r)
                        then bid(9) => a(reader, r)";
    let outcomes = Interaction::new(program(model), clock())
        .peer("r", atom("reader"), noting(&log))
        .peer("w", atom("writer"), noting(&log))
        .run()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    assert_eq!(log.entries(), ["a", "[b, c]", "vm7", "9"]);
}

#[tokio::test(start_paused = true)]
async fn a_component_with_no_arguments_works_with_and_without_parentheses() {
    let log = Log::default();
    let model = "component ping\na(solo, X) :: null <- ping then null <- ping()";
    let outcome = run_alone(model, atom("solo"), &log).await;
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(log.count("ping"), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_component_fails_the_role_with_its_name() {
    let log = Log::default();
    let model = "a(solo, X) :: null <- mystery(X)";
    let program = program(model);
    assert_eq!(program.missing_components(&noting(&log)), ["mystery/1"]);
    let outcome = run_alone(model, atom("solo"), &log).await;
    let failure = outcome.result.unwrap_err();
    assert!(
        failure.reason.contains("no component `mystery/1`"),
        "{failure}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_component_input_that_is_unbound_is_refused_before_the_call() {
    let log = Log::default();
    let model = "a(solo, X) :: null <- note(Y)";
    let outcome = run_alone(model, atom("solo"), &log).await;
    let failure = outcome.result.unwrap_err();
    assert!(
        failure.reason.contains("needs argument 1 bound"),
        "{failure}"
    );
    assert!(log.entries().is_empty());
}

#[tokio::test(start_paused = true)]
async fn components_bind_outputs_and_may_answer_later() {
    let log = Log::default();
    let mut components = noting(&log);
    components.register_async("slow_double", &[Mode::In, Mode::Out], |args| async move {
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        match &args[0] {
            Term::Int(n) => Ok(vec![args[0].clone(), Term::Int(n * 2)]),
            other => Err(Failure::broken(format!("not a number: {other}"))),
        }
    });
    components.register_fn("refuse", &[], |_| Err(Failure::no("the peer says no")));
    let model = "a(solo, X) :: null <- slow_double(21, D) and now(T) and note(D) and note(T)
                 then ( null <- refuse or null <- note(refused) )";
    let outcomes = Interaction::new(program(model), clock())
        .peer("solo", atom("solo"), components)
        .run()
        .await;
    assert!(outcomes[0].result.is_ok(), "{:?}", outcomes[0].result);
    assert_eq!(log.entries(), ["42", "30", "refused"]);
}

#[tokio::test(start_paused = true)]
async fn not_is_negation_as_failure_and_binds_nothing() {
    let log = Log::default();
    let model = "a(solo, X) :: null <- not member(z, [a, b]) and not Y = 3 or null <- note(wrong)
                 then null <- not fail and Y = 4 and note(Y)";
    let outcome = run_alone(model, atom("solo"), &log).await;
    // `not Y = 3` fails (Y = 3 holds), so the right branch runs.
    assert!(outcome.result.is_ok(), "{:?}", outcome.result);
    assert_eq!(log.entries(), ["wrong", "4"]);
}

#[tokio::test(start_paused = true)]
async fn a_message_with_unbound_variables_is_not_sent() {
    // Seed 001's buyer as printed: nothing binds X or S before the first send.
    let model = "a(buyer, B) :: ask(X) => a(shopkeeper, S) then price(X, P) <= a(shopkeeper, S)";
    let log = Log::default();
    let outcome = run_alone(model, atom("buyer"), &log).await;
    let failure = outcome.result.unwrap_err();
    assert!(failure.reason.contains("unbound variables"), "{failure}");
}

#[tokio::test(start_paused = true)]
async fn no_matching_clause_is_a_clear_failure() {
    let model = "a(solo, X) :: a(elsewhere(1), X)";
    let outcome = run_alone(model, atom("solo"), &Log::default()).await;
    let failure = outcome.result.unwrap_err();
    assert!(
        failure.reason.contains("no clause of role `elsewhere/1`"),
        "{failure}"
    );
}

/// Runs `instance` step by step to its end, returning the largest
/// footprint seen (checked every `every` steps).
async fn step_to_end<C: Channel>(instance: &mut RoleInstance<C>, every: u64) -> (usize, usize) {
    let (mut nodes, mut slots) = (0, 0);
    loop {
        match instance.step().await.unwrap() {
            Progress::Finished => return (nodes, slots),
            Progress::Waiting => panic!("a loop with no messages should never wait"),
            Progress::Stepped => {
                if instance.steps().is_multiple_of(every) {
                    let footprint = instance.footprint();
                    nodes = nodes.max(footprint.nodes);
                    slots = slots.max(footprint.slots);
                }
            }
        }
    }
}

#[tokio::test]
async fn a_role_that_loops_a_million_times_runs_in_constant_memory() {
    let model =
        "a(loop(N), X) :: null <- N = 0 or ( null <- N > 0 and M is N - 1 then a(loop(M), X) )";
    let hub = Hub::new();
    let me = Symbol::new("looper");
    let mut instance = RoleInstance::start(
        program(model),
        f("loop", vec![Term::Int(1_000_000)]),
        me.clone(),
        &Components::new(),
        clock(),
        hub.join(me),
    )
    .unwrap();
    let (nodes, slots) = step_to_end(&mut instance, 10_000).await;
    assert_eq!(
        instance.steps(),
        2_000_001,
        "two rewrites per iteration, and the last"
    );
    assert!(nodes <= 6, "the state tree grew to {nodes} nodes");
    assert!(slots <= 4, "the binding store grew to {slots} slots");
}

#[tokio::test]
async fn a_loop_nested_under_a_caller_runs_in_constant_memory_and_returns_its_result() {
    let model = "
        a(main(N), X) :: a(count(N, 0, Total), X) then null <- note(Total)
        a(count(N, Acc, Total), X) ::
            null <- N = 0 and Total = Acc
            or ( null <- N > 0 and M is N - 1 and Next is Acc + 2 then a(count(M, Next, Total), X) )";
    let log = Log::default();
    let hub = Hub::new();
    let me = Symbol::new("counter");
    let mut instance = RoleInstance::start(
        program(model),
        f("main", vec![Term::Int(20_000)]),
        me.clone(),
        &noting(&log),
        clock(),
        hub.join(me),
    )
    .unwrap();
    let (nodes, slots) = step_to_end(&mut instance, 1_000).await;
    assert_eq!(log.entries(), ["40000"]);
    assert!(nodes <= 10, "the state tree grew to {nodes} nodes");
    assert!(slots <= 16, "the binding store grew to {slots} slots");
}

#[tokio::test(start_paused = true)]
async fn a_role_state_can_be_stored_and_resumed() {
    let model = "
        a(adder, X) :: null <- Y = 5 then n(V) <= a(sender, S) then null <- Z is V + Y and note(Z)";
    let program = program(model);
    let log = Log::default();
    let hub = Hub::new();
    let me = Symbol::new("adder1");
    let mut instance = RoleInstance::start(
        Arc::clone(&program),
        atom("adder"),
        me.clone(),
        &noting(&log),
        clock(),
        hub.join(me.clone()),
    )
    .unwrap();
    assert_eq!(instance.step().await.unwrap(), Progress::Stepped);
    assert_eq!(instance.step().await.unwrap(), Progress::Waiting);
    assert_eq!(
        instance.render(),
        "a(adder, adder1) :: (c(null) then (n(_G2) <= a(sender, _G3) then null))"
    );
    let stored = serde_json::to_string(&instance.state()).unwrap();
    drop(instance);

    let state: RoleState = serde_json::from_str(&stored).unwrap();
    let mut resumed =
        RoleInstance::resume(program, state, &noting(&log), clock(), hub.join(me)).unwrap();
    let sender = hub.join(Symbol::new("s"));
    sender
        .send(&Symbol::new("adder1"), f("n", vec![Term::Int(10)]))
        .await
        .unwrap();
    resumed.run().await.unwrap();
    assert_eq!(log.entries(), ["15"]);
}

#[tokio::test(start_paused = true)]
async fn seed_001_buyer_and_shopkeeper_trade_to_completion() {
    // Seed 001's model; the buyer's head carries the item and the shop,
    // which the seed leaves to a discovery service.
    let model = "
        a(buyer(X, S), B) ::
            ask(X) => a(shopkeeper, S) then
            price(X,P) <= a(shopkeeper, S) then
            buy(X,P) => a(shopkeeper, S) ← afford(X, P) then
            sold(X,P) <= a(shopkeeper, S)

        a(shopkeeper, S) ::
            ask(X) <= a(buyer, B) then
            price(X, P) => a(buyer, B) ← in_stock(X, P) then
            buy(X,P) <= a(buyer, B) then
            sold(X, P) => a(buyer, B)";
    let log = Log::default();
    let mut buyer = noting(&log);
    let bought = log.clone();
    buyer.register_fn("afford", &[Mode::In, Mode::In], move |args| {
        bought.push(format!("afford {} {}", args[0], args[1]));
        match args[1] {
            Term::Int(p) if p <= 100 => Ok(vec![]),
            _ => Err(Failure::no("too dear")),
        }
    });
    let mut shop = noting(&log);
    shop.register_fn("in_stock", &[Mode::In, Mode::Out], |args| match &args[0] {
        Term::Atom(item) if item.as_str() == "vm_slot" => Ok(vec![args[0].clone(), Term::Int(80)]),
        _ => Err(Failure::no("not in stock")),
    });
    let outcomes = Interaction::new(program(model), clock())
        .peer("b", f("buyer", vec![atom("vm_slot"), atom("s")]), buyer)
        .peer("s", atom("shopkeeper"), shop)
        .run()
        .await;
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    assert_eq!(log.entries(), ["afford vm_slot 80"]);
    let _ = atoms(&[]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_constraint_is_named_with_its_values() {
    let model = "a(solo, X) :: null <- Y = 3 then null <- Y > 5 and note(Y)";
    let outcome = run_alone(model, atom("solo"), &Log::default()).await;
    let failure = outcome.result.unwrap_err();
    assert_eq!(failure.reason, "`3 > 5` does not hold");
    assert_eq!(failure.line_col(model), (1, 42));
    assert_eq!(failure.role, "a(solo, solo)");
}

#[tokio::test(start_paused = true)]
async fn a_stored_state_from_another_model_is_refused_not_run() {
    let big = program("a(solo, X) :: null then null then null then null <- true");
    let small = program("a(solo, X) :: null");
    let hub = Hub::new();
    let me = Symbol::new("solo");
    let mut instance = RoleInstance::start(
        big,
        atom("solo"),
        me.clone(),
        &Components::new(),
        clock(),
        hub.join(me.clone()),
    )
    .unwrap();
    instance.step().await.unwrap();
    let stored = serde_json::to_string(&instance.state()).unwrap();
    let state: RoleState = serde_json::from_str(&stored).unwrap();
    let refused = RoleInstance::resume(small, state, &Components::new(), clock(), hub.join(me));
    let failure = refused
        .err()
        .expect("a state that does not fit must be refused");
    assert!(
        failure.reason.contains("does not fit this model"),
        "{failure}"
    );
}
