//! `models/contract-net.lcc` and `models/double-auction.lcc` with every
//! peer on its own bus endpoint (its own NATS connection, for the NATS
//! runs): the outcome is the one the in-process run over `lcc`'s `Hub`
//! reaches, also when the bus duplicates and reorders messages, and a peer
//! killed mid-interaction does not stop the others: they complete at the
//! deadlines.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod bus_support;
mod lcc_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bus_support::{Cluster, MemoryCluster, NatsCluster};
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use lcc::component::Components;
use lcc::interp::RoleInstance;
use lcc::term::{Symbol, Term};
use lcc_support::{Log, SCENARIOS, Scenario, Timing, clock, in_process, settle};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, BusError, Message, Subscription};
use market::runtime::BusChannel;
use market::wire::{Interaction, InteractionId, ModelHash, WireLimits};
use tokio::time::Instant;

/// Real time (the NATS runs do real I/O): long enough for loopback, short
/// enough for a quick test.
const TIMING: Timing = Timing {
    window_ms: 300,
    grace_ms: 300,
};

/// Every peer with its role and components, the initiator first; the
/// initiator's list names the absent peer too, so the round waits for its
/// deadline. `victim`'s components hang where they can.
fn peers(
    scenario: Scenario,
    log: &Log,
    victim: Option<&str>,
) -> Vec<(&'static str, Term, Components)> {
    let mut names: Vec<Term> = scenario
        .responders()
        .iter()
        .map(|r| Term::atom(r))
        .collect();
    names.push(Term::atom(scenario.absent()));
    let mut peers = vec![(
        scenario.initiator(),
        scenario.initiator_role(names, TIMING),
        scenario.initiator_components(log),
    )];
    for name in scenario.responders() {
        peers.push((
            *name,
            Term::atom(scenario.responder_role()),
            scenario.responder_components(name, victim == Some(*name), log),
        ));
    }
    peers
}

/// The reference, with the absent peer (and any other `silent` ones)
/// addressable but silent.
async fn reference(scenario: Scenario, silent: &[&str]) -> Vec<String> {
    let mut silent = silent.to_vec();
    silent.push(scenario.absent());
    in_process(scenario, TIMING, &silent).await
}

/// The interaction with every peer on its own endpoint of `cluster`
/// (wrapped by `wrap`), each in its own task; `victim` names a peer whose
/// components hang where they can (see `Scenario::responder_components`)
/// and whose task is aborted once its log says it hangs there: killed at
/// that step, seen, whatever the timing.
async fn over_bus(
    scenario: Scenario,
    cluster: &impl Cluster,
    wrap: fn(Arc<dyn Bus>) -> Arc<dyn Bus>,
    victim: Option<&str>,
) -> Vec<String> {
    let log = Log::default();
    let program = scenario.program();
    let space = SubjectSpace::in_zone(Token::new("test").unwrap());
    let interaction = Interaction {
        id: InteractionId::random().unwrap(),
        model: ModelHash::of(scenario.source()),
    };
    // Everyone listens before anyone speaks.
    let mut opened = Vec::new();
    for (name, role, components) in peers(scenario, &log, victim) {
        let bus = wrap(cluster.endpoint().await);
        let me = Token::new(name).unwrap();
        let channel = BusChannel::open(bus, space.clone(), me, interaction, WireLimits::default())
            .await
            .unwrap();
        opened.push((name, role, components, channel));
    }
    let mut tasks = Vec::new();
    for (name, role, components, channel) in opened {
        let program = Arc::clone(&program);
        let task = tokio::spawn(async move {
            let mut instance = RoleInstance::start(
                program,
                role,
                Symbol::new(name),
                &components,
                clock(),
                channel,
            )
            .unwrap();
            instance.run().await
        });
        tasks.push((name, task));
    }
    if let Some(victim) = victim {
        let hangs = format!("{victim} hangs");
        let seen = settle(|| log.sorted(), |entries| entries.contains(&hangs)).await;
        assert!(
            seen.contains(&hangs),
            "{victim} never reached its step: {seen:?}"
        );
        let (_, task) = tasks.iter().find(|(name, _)| *name == victim).unwrap();
        task.abort();
    }
    for (name, task) in tasks {
        match task.await {
            Ok(result) => assert!(result.is_ok(), "{name}: {result:?}"),
            Err(e) => assert!(e.is_cancelled() && victim == Some(name), "{name}: {e}"),
        }
    }
    log.sorted()
}

fn as_is(bus: Arc<dyn Bus>) -> Arc<dyn Bus> {
    bus
}

fn unruly(bus: Arc<dyn Bus>) -> Arc<dyn Bus> {
    Arc::new(Unruly {
        inner: bus,
        published: AtomicU64::new(0),
    })
}

/// A bus that delivers every message twice, each copy after its own
/// pseudo-random delay of up to 40 ms, so messages overtake each other.
struct Unruly {
    inner: Arc<dyn Bus>,
    published: AtomicU64,
}

impl Unruly {
    fn delay(&self) -> Duration {
        let n = self.published.fetch_add(1, Ordering::Relaxed);
        // A multiplicative hash spreads consecutive messages over 0..40 ms.
        Duration::from_millis(n.wrapping_mul(2_654_435_761) % 41)
    }
}

impl Bus for Unruly {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        for _ in 0..2 {
            let (inner, subject, payload) =
                (Arc::clone(&self.inner), subject.to_owned(), payload.clone());
            let delay = self.delay();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = inner.publish(&subject, payload).await;
            });
        }
        async { Ok(()) }.boxed()
    }

    fn subscribe<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe(pattern)
    }

    fn queue_subscribe<'a>(
        &'a self,
        pattern: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.queue_subscribe(pattern, group)
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>> {
        self.inner.request(subject, payload, deadline)
    }

    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        self.inner.sync()
    }
}

#[tokio::test]
async fn the_in_process_reference() {
    for scenario in SCENARIOS {
        assert_eq!(
            reference(scenario, &[]).await,
            scenario.expected(),
            "{scenario:?}"
        );
    }
}

#[tokio::test]
async fn over_memory_bus_the_outcome_is_the_in_process_one() {
    for scenario in SCENARIOS {
        let outcome = over_bus(scenario, &MemoryCluster::new(), as_is, None).await;
        assert_eq!(outcome, reference(scenario, &[]).await, "{scenario:?}");
    }
}

#[tokio::test]
async fn over_nats_the_outcome_is_the_in_process_one() {
    for scenario in SCENARIOS {
        let outcome = over_bus(scenario, &NatsCluster::start(), as_is, None).await;
        assert_eq!(outcome, reference(scenario, &[]).await, "{scenario:?}");
    }
}

#[tokio::test]
async fn duplicated_and_reordered_messages_change_nothing_in_memory() {
    for scenario in SCENARIOS {
        let outcome = over_bus(scenario, &MemoryCluster::new(), unruly, None).await;
        assert_eq!(outcome, scenario.expected(), "{scenario:?}");
    }
}

#[tokio::test]
async fn duplicated_and_reordered_messages_change_nothing_over_nats() {
    for scenario in SCENARIOS {
        let outcome = over_bus(scenario, &NatsCluster::start(), unruly, None).await;
        assert_eq!(outcome, scenario.expected(), "{scenario:?}");
    }
}

/// The winning contractor dies while it performs, after the award: it
/// never reports, and the manager closes the round as `silent` at the
/// grace deadline; the others are rejected as usual.
#[tokio::test]
async fn a_contractor_killed_mid_interaction_does_not_stop_the_others() {
    let net = Scenario::ContractNet;
    let outcome = over_bus(net, &NatsCluster::start(), as_is, Some(net.victim())).await;
    assert_eq!(
        outcome,
        [
            "c1 released rejected",
            "c2 hangs",
            "c2 performs",
            "c3 released rejected",
            "outcome task(vm42) c2 30 silent",
        ]
    );
}

/// The only seller that could trade dies before it orders: the
/// auctioneer clears the others' orders at the collection deadline and
/// tells them; the outcome is the in-process one with that trader silent.
#[tokio::test]
async fn a_trader_killed_mid_interaction_does_not_stop_the_others() {
    let auction = Scenario::DoubleAuction;
    let outcome = over_bus(
        auction,
        &NatsCluster::start(),
        as_is,
        Some(auction.victim()),
    )
    .await;
    assert_eq!(
        outcome,
        [
            "a cleared 2 orders",
            "t1 settles unmatched",
            "t2 hangs",
            "t3 settles unmatched",
        ]
    );
    let survivors: Vec<String> = outcome
        .into_iter()
        .filter(|l| !l.starts_with("t2 "))
        .collect();
    assert_eq!(survivors, reference(Scenario::DoubleAuction, &["t2"]).await);
}

mod recruitment {
    //! The same rounds with nobody told who plays: the initiator invites
    //! players, hosts that run the model join. One host has another text of
    //! the model under the same name: it must not join.

    use super::*;
    use market::runtime::{
        Endpoint, InitiateError, InteractionIds, Model, Offer, Participant, Recruitment, recruit,
    };

    const RECRUIT_MS: i64 = 150;

    fn peer(bus: Arc<dyn Bus>, me: &str) -> Endpoint {
        Endpoint {
            bus,
            space: SubjectSpace::in_zone(Token::new("test").unwrap()),
            me: Token::new(me).unwrap(),
            clock: clock(),
            limits: WireLimits::default(),
            ids: InteractionIds::Random,
        }
    }

    async fn round(
        scenario: Scenario,
        cluster: &impl Cluster,
        wrap: fn(Arc<dyn Bus>) -> Arc<dyn Bus>,
    ) -> (Vec<String>, Vec<String>) {
        let log = Log::default();
        let source = scenario.source();
        let role = scenario.responder_role();
        for name in scenario.responders() {
            let offer = Offer {
                model: scenario.model(),
                role: role.into(),
                components: scenario.responder_components(name, false, &log),
            };
            let participant = Participant::new(
                peer(wrap(cluster.endpoint().await), name),
                vec![offer],
                Duration::from_secs(5),
            );
            participant.start().await.unwrap();
        }
        // Same name, another text: another model. It would trade (it plays
        // as the first responder does) if it joined.
        let edited = format!("{source}\n// edited\n");
        let stranger = Offer {
            model: scenario.model_from(&edited),
            role: role.into(),
            components: scenario.responder_components(scenario.responders()[0], false, &log),
        };
        Participant::new(
            peer(wrap(cluster.endpoint().await), scenario.absent()),
            vec![stranger],
            Duration::from_secs(5),
        )
        .start()
        .await
        .unwrap();

        let initiator = peer(wrap(cluster.endpoint().await), scenario.initiator());
        let model = scenario.model();
        let recruitment = Recruitment {
            role: role.into(),
            within_ms: RECRUIT_MS,
            reach: None,
        };
        let recruited = recruit(&initiator, &model, &recruitment).await.unwrap();
        let mut players: Vec<String> = recruited.players.iter().map(|p| p.to_string()).collect();
        players.sort();
        recruited
            .run(
                &initiator,
                &model,
                |players| scenario.initiator_role(players, TIMING),
                &scenario.initiator_components(&log),
            )
            .await
            .unwrap();
        let lines = scenario.expected().len();
        let outcome = settle(|| log.sorted(), |entries| entries.len() >= lines).await;
        (players, outcome)
    }

    #[tokio::test]
    async fn over_memory_bus_hosts_running_the_model_join_and_the_round_completes() {
        for scenario in SCENARIOS {
            let (players, outcome) = round(scenario, &MemoryCluster::new(), as_is).await;
            assert_eq!(players, scenario.responders(), "{scenario:?}");
            assert_eq!(outcome, scenario.expected(), "{scenario:?}");
        }
    }

    #[tokio::test]
    async fn over_nats_hosts_running_the_model_join_and_the_round_completes() {
        for scenario in SCENARIOS {
            let (players, outcome) = round(scenario, &NatsCluster::start(), as_is).await;
            assert_eq!(players, scenario.responders(), "{scenario:?}");
            assert_eq!(outcome, scenario.expected(), "{scenario:?}");
        }
    }

    /// Invitations and joins duplicated and reordered too: every host
    /// joins once, and the rounds end as usual.
    #[tokio::test]
    async fn over_nats_duplicated_and_reordered_recruitment_changes_nothing() {
        for scenario in SCENARIOS {
            let (players, outcome) = round(scenario, &NatsCluster::start(), unruly).await;
            assert_eq!(players, scenario.responders(), "{scenario:?}");
            assert_eq!(outcome, scenario.expected(), "{scenario:?}");
        }
    }

    /// The double auction needs at least two traders (`r(trader,
    /// necessary, 2, 1000)`); with one, the auctioneer gives up at the
    /// recruiting deadline.
    #[tokio::test]
    async fn too_few_players_by_the_deadline_is_an_error() {
        let cluster = MemoryCluster::new();
        let auction: Model = Scenario::DoubleAuction.model();
        let trader = Offer {
            model: auction.clone(),
            role: "trader".into(),
            components: Components::new(),
        };
        Participant::new(
            peer(cluster.endpoint().await, "t1"),
            vec![trader],
            Duration::from_millis(500),
        )
        .start()
        .await
        .unwrap();
        let recruitment = Recruitment {
            role: "trader".into(),
            within_ms: RECRUIT_MS,
            reach: None,
        };
        let auctioneer = peer(cluster.endpoint().await, "a");
        let error = recruit(&auctioneer, &auction, &recruitment)
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                error,
                InitiateError::NotEnoughPlayers {
                    min: 2,
                    joined: 1,
                    ..
                }
            ),
            "{error}"
        );
    }

    /// Recruitment stops at the role's maximum (`r(worker, necessary, 1,
    /// 2)`): of three hosts that would play, two are taken, as soon as
    /// they joined rather than at the deadline, and the round runs with
    /// them.
    #[tokio::test]
    async fn recruitment_stops_at_the_maximum() {
        const PAIR: &str = "r(boss, initial)\n\
                            r(worker, necessary, 1, 2)\n\
                            a(boss(Workers), B) ::\n    \
                            null <- Workers = []\n    \
                            or ( hello => a(worker, W) <- Workers = [W|Rest]\n         \
                            then a(boss(Rest), B) )\n\
                            a(worker, W) :: hello <= a(boss, B)\n";
        let cluster = MemoryCluster::new();
        let pair = Model::load(Token::new("pair").unwrap(), PAIR).unwrap();
        for name in ["w1", "w2", "w3"] {
            let worker = Offer {
                model: pair.clone(),
                role: "worker".into(),
                components: Components::new(),
            };
            Participant::new(
                peer(cluster.endpoint().await, name),
                vec![worker],
                Duration::from_millis(500),
            )
            .start()
            .await
            .unwrap();
        }
        let boss = peer(cluster.endpoint().await, "b");
        let recruitment = Recruitment {
            role: "worker".into(),
            within_ms: 60_000,
            reach: None,
        };
        let recruited =
            tokio::time::timeout(Duration::from_secs(10), recruit(&boss, &pair, &recruitment))
                .await
                .expect("recruitment ends at the maximum, not at its deadline")
                .unwrap();
        assert_eq!(recruited.players.len(), 2);
        recruited
            .run(
                &boss,
                &pair,
                |workers| Term::apply("boss", vec![Term::list(workers)]),
                &Components::new(),
            )
            .await
            .unwrap();
    }
}
