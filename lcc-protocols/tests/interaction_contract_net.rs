//! models/contract-net.lcc run in-process: one manager, several
//! contractors, real deadlines on tokio's paused clock.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod interaction_support;

use std::time::Duration;

use interaction_support::{Log, atom, atoms, clock, f, model_file, program};
use lcc::ast::Mode;
use lcc::component::{Components, Failure};
use lcc::interp::{Interaction, PeerOutcome};
use lcc::term::Term;

const WINDOW_MS: i64 = 200;
const GRACE_MS: i64 = 100;

/// How a contractor answers a call for proposals.
#[derive(Clone, Copy)]
enum Answer {
    /// Offers to pay this much for the task.
    Price(i64),
    Refuse,
}

/// The least the manager accepts: offers below it are not awarded.
const RESERVE: i64 = 0;

/// The manager's award: the highest offer, if it reaches the reserve (a
/// bidder awards through `market::mechanism::contract_net`; this is the
/// first-price rule written out).
fn award(args: &[Term]) -> Result<Vec<Term>, Failure> {
    let best = args[1]
        .as_list()
        .unwrap()
        .into_iter()
        .map(|bid| (bid.args()[0].clone(), bid.args()[1].clone()))
        .filter(|(_, pays)| matches!(pays, Term::Int(p) if *p >= RESERVE))
        .max_by_key(|(_, pays)| match pays {
            Term::Int(p) => *p,
            _ => i64::MIN,
        });
    match best {
        Some((winner, pays)) => Ok(vec![args[0].clone(), args[1].clone(), winner, pays]),
        None => Err(Failure::no("no offer reaches the reserve")),
    }
}

fn manager_components(log: &Log) -> Components {
    let mut components = Components::new();
    components.register_fn("award", &[Mode::In, Mode::In, Mode::Out, Mode::Out], award);
    let log = log.clone();
    components.register_fn("outcome", &[Mode::In; 4], move |args| {
        log.push(format!(
            "outcome {} {} {} {}",
            args[0], args[1], args[2], args[3]
        ));
        Ok(vec![])
    });
    components
}

fn contractor_components(
    name: &'static str,
    answer: Answer,
    can_perform: bool,
    log: &Log,
) -> Components {
    let mut components = Components::new();
    components.register_fn(
        "offer",
        &[Mode::In, Mode::In, Mode::Out],
        move |args| match answer {
            Answer::Price(p) => Ok(vec![args[0].clone(), args[1].clone(), Term::Int(p)]),
            Answer::Refuse => Err(Failure::no("no room for it")),
        },
    );
    let performed = log.clone();
    components.register_fn("perform", &[Mode::In, Mode::In], move |_| {
        performed.push(format!("{name} performs"));
        if can_perform {
            Ok(vec![])
        } else {
            Err(Failure::no("the migration failed"))
        }
    });
    let released = log.clone();
    components.register_fn("release", &[Mode::In, Mode::In], move |args| {
        released.push(format!("{name} released {}", args[1]));
        Ok(vec![])
    });
    components
}

fn manager_role(contractors: &[&str]) -> Term {
    f(
        "manager",
        vec![
            f("task", vec![atom("vm42")]),
            atoms(contractors),
            Term::Int(WINDOW_MS),
            Term::Int(GRACE_MS),
        ],
    )
}

/// Runs the model with manager `m`, the running contractors, and the
/// silent ones; returns outcomes and the (virtual) time it took.
async fn round(
    running: &[(&'static str, Answer, bool)],
    silent: &[&str],
    log: &Log,
) -> (Vec<PeerOutcome>, Duration) {
    let mut all: Vec<&str> = running.iter().map(|(name, _, _)| *name).collect();
    all.extend_from_slice(silent);
    let mut interaction = Interaction::new(program(model_file("contract-net")), clock()).peer(
        "m",
        manager_role(&all),
        manager_components(log),
    );
    for (name, answer, can_perform) in running {
        interaction = interaction.peer(
            name,
            atom("contractor"),
            contractor_components(name, *answer, *can_perform, log),
        );
    }
    for name in silent {
        interaction = interaction.silent_peer(name);
    }
    let started = tokio::time::Instant::now();
    let outcomes = interaction.run().await;
    (outcomes, started.elapsed())
}

fn all_completed(outcomes: &[PeerOutcome]) {
    for outcome in outcomes {
        assert!(
            outcome.result.is_ok(),
            "{}: {:?}",
            outcome.peer,
            outcome.result
        );
    }
}

#[tokio::test(start_paused = true)]
async fn five_contractors_one_silent_the_best_offer_wins_after_the_deadline() {
    let log = Log::default();
    let (outcomes, took) = round(
        &[
            ("c1", Answer::Price(20), true),
            ("c2", Answer::Price(30), true),
            ("c3", Answer::Price(25), true),
            ("c4", Answer::Refuse, true),
        ],
        &["c5"],
        &log,
    )
    .await;
    all_completed(&outcomes);
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "c1 released rejected",
            "c2 performs",
            "c3 released rejected",
            "outcome task(vm42) c2 30 done",
        ]
    );
    // Collection waited for the silent contractor until the deadline, no longer.
    assert!(took >= Duration::from_millis(WINDOW_MS as u64), "{took:?}");
    assert!(
        took < Duration::from_millis((WINDOW_MS + GRACE_MS) as u64),
        "{took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn when_everyone_answers_collection_ends_before_the_deadline() {
    let log = Log::default();
    let (outcomes, took) = round(
        &[
            ("c1", Answer::Price(11), true),
            ("c2", Answer::Price(12), true),
        ],
        &[],
        &log,
    )
    .await;
    all_completed(&outcomes);
    assert!(
        log.entries()
            .contains(&"outcome task(vm42) c2 12 done".to_owned())
    );
    assert!(took < Duration::from_millis(WINDOW_MS as u64), "{took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_winner_that_cannot_perform_reports_failure() {
    let log = Log::default();
    let (outcomes, _) = round(
        &[
            ("c1", Answer::Price(10), false),
            ("c2", Answer::Refuse, true),
        ],
        &[],
        &log,
    )
    .await;
    all_completed(&outcomes);
    assert!(
        log.entries()
            .contains(&"outcome task(vm42) c1 10 failed(could_not_perform)".to_owned()),
        "{:?}",
        log.entries()
    );
}

#[tokio::test(start_paused = true)]
async fn no_proposals_ends_the_round_with_nothing_awarded() {
    let log = Log::default();
    let (outcomes, _) = round(&[("c1", Answer::Refuse, true)], &["c2"], &log).await;
    all_completed(&outcomes);
    assert_eq!(log.entries(), ["outcome task(vm42) none 0 no_proposals"]);
}

#[tokio::test(start_paused = true)]
async fn offers_below_the_reserve_are_all_rejected_and_nothing_is_awarded() {
    let log = Log::default();
    let (outcomes, _) = round(
        &[
            ("c1", Answer::Price(-5), true),
            ("c2", Answer::Price(-1), true),
        ],
        &[],
        &log,
    )
    .await;
    all_completed(&outcomes);
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "c1 released rejected",
            "c2 released rejected",
            "outcome task(vm42) none 0 no_award",
        ]
    );
}
