//! Whole LCC interactions over the bus: one contract-net round with 100
//! contractors, one double-auction round with 1,000 traders, over loopback
//! NATS and over the in-process `MemoryBus`, every peer with its own
//! `BusChannel` (its own subscription, envelopes, strict decoding), beside
//! the same rounds over `lcc`'s in-process `Hub` (the baseline: the
//! interpreter alone, no envelopes, no bus).
//!
//! Timed: from the initiator's first step to its last (the channels are
//! opened before, as recruitment does). Nobody is silent, so the rounds end
//! when the last answer arrives, not at a deadline: the figures are the
//! cost beyond the collection deadline a real round would add.
//!
//! `cargo bench -p market --bench interactions` (figures in
//! docs/benchmarks.md, section "Bus").
#![allow(clippy::unwrap_used)] // benchmark fixtures: a failure here is a failed run

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use futures::future::BoxFuture;
use lcc::ast::Mode;
use lcc::channel::{Channel, Hub};
use lcc::component::Components;
use lcc::interp::{Clock, RoleInstance, TokioClock};
use lcc::term::{Symbol, Term};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{
    Bus, BusError, LocalNatsServer, MemoryBus, Message, NatsBus, NatsConfig, Subscription,
};
use market::runtime::{BusChannel, Model};
use market::wire::{Interaction, InteractionId, WireLimits};

const CONTRACTORS: usize = 100;
const TRADERS: usize = 1_000;
/// Peers share NATS connections, as many role instances of one host do
/// (and one process cannot comfortably hold a thousand connections).
const NATS_CONNECTIONS: usize = 20;
/// Never reached: every peer answers.
const WINDOW_MS: i64 = 10_000;

fn model(name: &str) -> Model {
    let path = format!(
        "{}/../lcc-protocols/models/{name}.lcc",
        env!("CARGO_MANIFEST_DIR")
    );
    Model::load(
        Token::new(name).unwrap(),
        &std::fs::read_to_string(path).unwrap(),
    )
    .unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::system())
}

/// Counts what goes over the bus, for "messages per round".
struct Counting {
    inner: Arc<dyn Bus>,
    published: Arc<AtomicU64>,
}

impl Bus for Counting {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.inner.publish(subject, payload)
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
        deadline: tokio::time::Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>> {
        self.inner.request(subject, payload, deadline)
    }
    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        self.inner.sync()
    }
}

/// The endpoints of one bus (peer `i` uses `endpoints[i % len]`), or
/// none: the baseline, `lcc`'s in-process `Hub` (no envelopes, no bus).
struct Transport {
    endpoints: Option<Vec<Arc<dyn Bus>>>,
    published: Arc<AtomicU64>,
}

impl Transport {
    fn new(endpoints: Vec<Arc<dyn Bus>>) -> Self {
        let published = Arc::new(AtomicU64::new(0));
        let endpoints = endpoints
            .into_iter()
            .map(|inner| {
                Arc::new(Counting {
                    inner,
                    published: Arc::clone(&published),
                }) as Arc<dyn Bus>
            })
            .collect();
        Self {
            endpoints: Some(endpoints),
            published,
        }
    }

    fn hub() -> Self {
        Self {
            endpoints: None,
            published: Arc::new(AtomicU64::new(0)),
        }
    }

    fn endpoint(&self, i: usize) -> Arc<dyn Bus> {
        let endpoints = self.endpoints.as_deref().unwrap_or_default();
        Arc::clone(&endpoints[i % endpoints.len()])
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn contractor_components(price: i64) -> Components {
    let mut components = Components::new();
    components.register_fn("price", &[Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), Term::Int(price)])
    });
    components.register_fn("perform", &[Mode::In], |_| Ok(vec![]));
    components.register_fn("release", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

fn trader_components(i: usize) -> Components {
    let mut components = Components::new();
    components.register_fn("order_for", &[Mode::In, Mode::Out], move |args| {
        let side = if i.is_multiple_of(2) { "buy" } else { "sell" };
        Ok(vec![
            args[0].clone(),
            Term::apply(side, vec![Term::Int(i as i64)]),
        ])
    });
    components.register_fn("settle", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

/// The auctioneer's clearing, reduced to its shape: every order gets a
/// result (the economics of clearing are benchmarked on their own).
fn auctioneer_components() -> Components {
    let mut components = Components::new();
    components.register_fn("clear", &[Mode::In, Mode::Out], |args| {
        let results = args[0]
            .as_list()
            .unwrap_or_default()
            .into_iter()
            .map(|order| {
                Term::apply(
                    "result",
                    vec![order.args()[0].clone(), Term::atom("filled")],
                )
            })
            .collect();
        Ok(vec![args[0].clone(), Term::list(results)])
    });
    components
}

/// One round over `transport`: opens every channel, starts the
/// responders, then times the initiator from its first step to its last.
async fn round(
    transport: &Transport,
    model: &Model,
    initiator: (&str, Term, Components),
    responders: Vec<(String, Term, Components)>,
) -> Duration {
    match &transport.endpoints {
        Some(_) => {
            let space = SubjectSpace::in_zone(Token::new("bench").unwrap());
            let interaction = Interaction {
                id: InteractionId::random().unwrap(),
                model: model.hash(),
            };
            let open = |i: usize, name: String| {
                BusChannel::open(
                    transport.endpoint(i),
                    space.clone(),
                    Token::new(&name).unwrap(),
                    interaction,
                    WireLimits::default(),
                )
                .map(Result::unwrap)
            };
            run(open, model, initiator, responders).await
        }
        None => {
            let hub = Hub::new();
            let open = |_: usize, name: String| std::future::ready(hub.join(Symbol::new(&name)));
            run(open, model, initiator, responders).await
        }
    }
}

async fn run<C, Open, Opening>(
    open: Open,
    model: &Model,
    initiator: (&str, Term, Components),
    responders: Vec<(String, Term, Components)>,
) -> Duration
where
    C: Channel + 'static,
    Open: Fn(usize, String) -> Opening,
    Opening: Future<Output = C>,
{
    let mut tasks = Vec::with_capacity(responders.len());
    for (i, (name, role, components)) in responders.into_iter().enumerate() {
        let channel = open(i + 1, name.clone()).await;
        let program = model.program();
        tasks.push(tokio::spawn(async move {
            let mut instance = RoleInstance::start(
                program,
                role,
                Symbol::new(&name),
                &components,
                clock(),
                channel,
            )
            .unwrap();
            instance.run().await.unwrap();
        }));
    }
    let (name, role, components) = initiator;
    let channel = open(0, name.to_owned()).await;
    let started = Instant::now();
    let mut instance = RoleInstance::start(
        model.program(),
        role,
        Symbol::new(name),
        &components,
        clock(),
        channel,
    )
    .unwrap();
    instance.run().await.unwrap();
    let took = started.elapsed();
    for task in tasks {
        task.await.unwrap();
    }
    took
}

async fn contract_net(transport: &Transport, model: &Model) -> Duration {
    let contractors = names("c", CONTRACTORS);
    let manager_role = Term::apply(
        "manager",
        vec![
            Term::apply("task", vec![Term::atom("vm42")]),
            Term::list(contractors.iter().map(|c| Term::atom(c)).collect()),
            Term::Int(WINDOW_MS),
            Term::Int(WINDOW_MS),
        ],
    );
    let mut manager_components = Components::new();
    manager_components.register_fn("outcome", &[Mode::In; 4], |_| Ok(vec![]));
    let responders = contractors
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            (
                name,
                Term::atom("contractor"),
                contractor_components(10 + i as i64),
            )
        })
        .collect();
    round(
        transport,
        model,
        ("m", manager_role, manager_components),
        responders,
    )
    .await
}

async fn double_auction(transport: &Transport, model: &Model) -> Duration {
    let traders = names("t", TRADERS);
    let auctioneer_role = Term::apply(
        "auctioneer",
        vec![
            Term::atom("round1"),
            Term::list(traders.iter().map(|t| Term::atom(t)).collect()),
            Term::Int(WINDOW_MS),
            Term::Int(WINDOW_MS),
        ],
    );
    let responders = traders
        .into_iter()
        .enumerate()
        .map(|(i, name)| (name, Term::atom("trader"), trader_components(i)))
        .collect();
    round(
        transport,
        model,
        ("a", auctioneer_role, auctioneer_components()),
        responders,
    )
    .await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn interactions(c: &mut Criterion) {
    let rt = runtime();
    let server = LocalNatsServer::start().unwrap();
    let config = NatsConfig::new([server.url()], "bench");
    let nats = rt.block_on(async {
        let mut endpoints: Vec<Arc<dyn Bus>> = Vec::new();
        for _ in 0..NATS_CONNECTIONS {
            endpoints.push(Arc::new(NatsBus::connect(&config).await.unwrap()));
        }
        Transport::new(endpoints)
    });
    let memory = Transport::new(vec![Arc::new(MemoryBus::new())]);
    let hub = Transport::hub();
    let (net, auction) = (model("contract-net"), model("double-auction"));

    // Messages per round, counted once per transport.
    for (label, transport) in [("NATS", &nats), ("MemoryBus", &memory)] {
        let before = transport.published.load(Ordering::Relaxed);
        rt.block_on(contract_net(transport, &net));
        let middle = transport.published.load(Ordering::Relaxed);
        rt.block_on(double_auction(transport, &auction));
        let after = transport.published.load(Ordering::Relaxed);
        eprintln!(
            "{label}: {} messages per contract-net round ({CONTRACTORS} contractors), \
             {} per double-auction round ({TRADERS} traders)",
            middle - before,
            after - middle
        );
    }

    let mut group = c.benchmark_group("contract_net_100");
    group.sample_size(30);
    for (label, transport) in [
        ("NATS", &nats),
        ("MemoryBus", &memory),
        ("Hub (baseline)", &hub),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|iterations| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += contract_net(transport, &net).await;
                    }
                    total
                })
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("double_auction_1000");
    group.sample_size(10);
    for (label, transport) in [
        ("NATS", &nats),
        ("MemoryBus", &memory),
        ("Hub (baseline)", &hub),
    ] {
        group.bench_function(label, |b| {
            b.iter_custom(|iterations| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += double_auction(transport, &auction).await;
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, interactions);
criterion_main!(benches);
