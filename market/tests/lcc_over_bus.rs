//! `models/contract-net.lcc` with every peer on its own bus endpoint (its
//! own NATS connection, for the NATS runs): the outcome is the one the
//! in-process run over `lcc`'s `Hub` reaches, also when the bus duplicates
//! and reorders messages, and a contractor killed mid-interaction does not
//! stop the others.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod bus_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bus_support::{Cluster, MemoryCluster, NatsCluster};
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt};
use lcc::ast::Mode;
use lcc::compile::Program;
use lcc::component::{Components, Failure};
use lcc::interp::{Clock, Interaction as InProcess, RoleInstance, TokioClock};
use lcc::term::{Symbol, Term};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, BusError, Message, Subscription};
use market::runtime::BusChannel;
use market::wire::{Interaction, InteractionId, ModelHash, WireLimits};
use tokio::time::Instant;

/// Real time (the NATS runs do real I/O): long enough for loopback, short
/// enough for a quick test.
const WINDOW_MS: i64 = 300;
const GRACE_MS: i64 = 300;

fn source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lcc-protocols/models/contract-net.lcc"
    );
    std::fs::read_to_string(path).unwrap()
}

fn program(source: &str) -> Arc<Program> {
    let model = lcc::syntax::parse(source).unwrap();
    Arc::new(Program::compile(&model).unwrap())
}

/// What components did, for comparing runs.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, entry: String) {
        self.0.lock().unwrap().push(entry);
    }

    fn sorted(&self) -> Vec<String> {
        let mut entries = self.0.lock().unwrap().clone();
        entries.sort();
        entries
    }
}

/// A contractor: its price (none: it refuses).
#[derive(Clone, Copy)]
struct Contractor {
    name: &'static str,
    price: Option<i64>,
}

const CONTRACTORS: [Contractor; 4] = [
    Contractor {
        name: "c1",
        price: Some(30),
    },
    Contractor {
        name: "c2",
        price: Some(20),
    },
    Contractor {
        name: "c3",
        price: Some(25),
    },
    Contractor {
        name: "c4",
        price: None,
    },
];
/// Named in the call for proposals, never answers: a host that is gone.
const SILENT: &str = "c5";

fn manager_role() -> Term {
    let mut names: Vec<Term> = CONTRACTORS.iter().map(|c| Term::atom(c.name)).collect();
    names.push(Term::atom(SILENT));
    Term::apply(
        "manager",
        vec![
            Term::apply("task", vec![Term::atom("vm42")]),
            Term::list(names),
            Term::Int(WINDOW_MS),
            Term::Int(GRACE_MS),
        ],
    )
}

fn manager_components(log: &Log) -> Components {
    let mut components = Components::new();
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

fn contractor_components(contractor: Contractor, log: &Log) -> Components {
    let mut components = Components::new();
    components.register_fn(
        "price",
        &[Mode::In, Mode::Out],
        move |args| match contractor.price {
            Some(p) => Ok(vec![args[0].clone(), Term::Int(p)]),
            None => Err(Failure::no("no room for it")),
        },
    );
    let performed = log.clone();
    components.register_fn("perform", &[Mode::In], move |_| {
        performed.push(format!("{} performs", contractor.name));
        Ok(vec![])
    });
    let released = log.clone();
    components.register_fn("release", &[Mode::In, Mode::In], move |args| {
        released.push(format!("{} released {}", contractor.name, args[1]));
        Ok(vec![])
    });
    components
}

/// Every peer with its role and components; the manager first.
fn peers(log: &Log) -> Vec<(&'static str, Term, Components)> {
    let mut peers = vec![("m", manager_role(), manager_components(log))];
    for c in CONTRACTORS {
        peers.push((
            c.name,
            Term::atom("contractor"),
            contractor_components(c, log),
        ));
    }
    peers
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::system())
}

/// The reference: the same interaction in one process over `lcc`'s Hub.
async fn in_process() -> Vec<String> {
    let log = Log::default();
    let source = source();
    let mut interaction = InProcess::new(program(&source), clock()).silent_peer(SILENT);
    for (name, role, components) in peers(&log) {
        interaction = interaction.peer(name, role, components);
    }
    for outcome in interaction.run().await {
        assert!(outcome.result.is_ok(), "{outcome:?}");
    }
    log.sorted()
}

/// The interaction with every peer on its own endpoint of `cluster`
/// (wrapped by `wrap`), each in its own task; `kill` names a peer whose
/// task is aborted after `kill_after`.
async fn over_bus(
    cluster: &impl Cluster,
    wrap: fn(Arc<dyn Bus>) -> Arc<dyn Bus>,
    kill: Option<(&str, Duration)>,
) -> Vec<String> {
    let log = Log::default();
    let source = source();
    let program = program(&source);
    let space = SubjectSpace::in_zone(Token::new("test").unwrap());
    let interaction = Interaction {
        id: InteractionId::random().unwrap(),
        model: ModelHash::of(&source),
    };
    // Everyone listens before anyone speaks.
    let mut opened = Vec::new();
    for (name, role, components) in peers(&log) {
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
    if let Some((victim, after)) = kill {
        tokio::time::sleep(after).await;
        let (_, task) = tasks.iter().find(|(name, _)| *name == victim).unwrap();
        task.abort();
    }
    for (name, task) in tasks {
        match task.await {
            Ok(result) => assert!(result.is_ok(), "{name}: {result:?}"),
            Err(e) => assert!(e.is_cancelled() && kill.is_some_and(|(v, _)| v == name)),
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

fn expected() -> Vec<String> {
    vec![
        "c1 released rejected".to_owned(),
        "c2 performs".to_owned(),
        "c3 released rejected".to_owned(),
        "outcome task(vm42) c2 20 done".to_owned(),
    ]
}

#[tokio::test]
async fn the_in_process_reference() {
    assert_eq!(in_process().await, expected());
}

#[tokio::test]
async fn over_memory_bus_the_outcome_is_the_in_process_one() {
    let outcome = over_bus(&MemoryCluster::new(), as_is, None).await;
    assert_eq!(outcome, in_process().await);
}

#[tokio::test]
async fn over_nats_the_outcome_is_the_in_process_one() {
    let outcome = over_bus(&NatsCluster::start(), as_is, None).await;
    assert_eq!(outcome, in_process().await);
}

#[tokio::test]
async fn duplicated_and_reordered_messages_change_nothing_in_memory() {
    let outcome = over_bus(&MemoryCluster::new(), unruly, None).await;
    assert_eq!(outcome, expected());
}

#[tokio::test]
async fn duplicated_and_reordered_messages_change_nothing_over_nats() {
    let outcome = over_bus(&NatsCluster::start(), unruly, None).await;
    assert_eq!(outcome, expected());
}

/// The cheapest contractor dies after proposing: it wins the award, never
/// reports, and the manager closes the round as `silent` at the grace
/// deadline; the others are rejected as usual.
#[tokio::test]
async fn a_contractor_killed_mid_interaction_does_not_stop_the_others() {
    let kill = Some(("c2", Duration::from_millis(100)));
    let outcome = over_bus(&NatsCluster::start(), as_is, kill).await;
    assert_eq!(
        outcome,
        [
            "c1 released rejected",
            "c3 released rejected",
            "outcome task(vm42) c2 20 silent",
        ]
    );
}

mod recruitment {
    //! The same round with nobody told who plays: the manager invites
    //! contractors, hosts that run contract-net join. One host has another
    //! text of the model under the same name: it must not join.

    use super::*;
    use market::runtime::{InitiateError, Model, Offer, Participant, Peer, Recruitment, recruit};
    use market::wire::WireLimits;

    const RECRUIT_MS: i64 = 150;

    fn peer(bus: Arc<dyn Bus>, me: &str) -> Peer {
        Peer {
            bus,
            space: SubjectSpace::in_zone(Token::new("test").unwrap()),
            me: Token::new(me).unwrap(),
            clock: clock(),
            limits: WireLimits::default(),
        }
    }

    fn model(source: &str) -> Model {
        Model::load(Token::new("contract-net").unwrap(), source).unwrap()
    }

    async fn round(cluster: &impl Cluster) -> (Vec<String>, Vec<String>) {
        let log = Log::default();
        let source = source();
        for contractor in CONTRACTORS {
            let offer = Offer {
                model: model(&source),
                role: "contractor".into(),
                components: contractor_components(contractor, &log),
            };
            let participant = Participant::new(
                peer(cluster.endpoint().await, contractor.name),
                vec![offer],
                Duration::from_secs(5),
            );
            participant.start().await.unwrap();
        }
        // Same name, another text: another model.
        let edited = format!("{source}\n// edited\n");
        let stranger = Offer {
            model: model(&edited),
            role: "contractor".into(),
            components: contractor_components(
                Contractor {
                    name: SILENT,
                    price: Some(1),
                },
                &log,
            ),
        };
        Participant::new(
            peer(cluster.endpoint().await, SILENT),
            vec![stranger],
            Duration::from_secs(5),
        )
        .start()
        .await
        .unwrap();

        let manager = peer(cluster.endpoint().await, "m");
        let contract_net = model(&source);
        let recruitment = Recruitment {
            role: "contractor".into(),
            within_ms: RECRUIT_MS,
        };
        let recruited = recruit(&manager, &contract_net, &recruitment)
            .await
            .unwrap();
        let mut players: Vec<String> = recruited.players.iter().map(|p| p.to_string()).collect();
        players.sort();
        let role = |contractors: Vec<Term>| {
            Term::apply(
                "manager",
                vec![
                    Term::apply("task", vec![Term::atom("vm42")]),
                    Term::list(contractors),
                    Term::Int(WINDOW_MS),
                    Term::Int(GRACE_MS),
                ],
            )
        };
        recruited
            .run(&manager, &contract_net, role, &manager_components(&log))
            .await
            .unwrap();
        // The rejected contractors' last step (release) may come after the
        // manager has ended.
        let started = Instant::now();
        while log.sorted().len() < expected().len() && started.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (players, log.sorted())
    }

    #[tokio::test]
    async fn over_memory_bus_hosts_running_the_model_join_and_the_round_completes() {
        let (players, outcome) = round(&MemoryCluster::new()).await;
        assert_eq!(players, ["c1", "c2", "c3", "c4"]);
        assert_eq!(outcome, expected());
    }

    #[tokio::test]
    async fn over_nats_hosts_running_the_model_join_and_the_round_completes() {
        let (players, outcome) = round(&NatsCluster::start()).await;
        assert_eq!(players, ["c1", "c2", "c3", "c4"]);
        assert_eq!(outcome, expected());
    }

    /// The double auction needs at least two traders (`r(trader,
    /// necessary, 2, 1000)`); with one, the auctioneer gives up at the
    /// recruiting deadline.
    #[tokio::test]
    async fn too_few_players_by_the_deadline_is_an_error() {
        let cluster = MemoryCluster::new();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../lcc-protocols/models/double-auction.lcc"
        );
        let source = std::fs::read_to_string(path).unwrap();
        let auction = Model::load(Token::new("double-auction").unwrap(), &source).unwrap();
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
}
