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
//! Before timing, one round of each model is run the way hosts run it
//! over NATS (every responder a `Participant` answering the invitation,
//! the initiator recruiting with `recruit`), and the messages published
//! and the trades agreed are counted: messages per trade, recruitment
//! included.
//!
//! `cargo bench -p market --bench interactions` (figures in
//! docs/benchmarks.md, section "Bus").
#![allow(clippy::unwrap_used)] // benchmark fixtures: a failure here is a failed run

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use lcc::ast::Mode;
use lcc::channel::{Channel, Hub};
use lcc::component::Components;
use lcc::interp::{Clock, RoleInstance, TokioClock};
use lcc::term::{Symbol, Term};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, CountingBus, LocalNatsServer, MemoryBus, NatsBus, NatsConfig, Traffic};
use market::credits::Credits;
use market::mechanism::contract_net::{AwardRule, answer_award};
use market::runtime::{
    BusChannel, Endpoint, InteractionIds, Model, Offer, Participant, Recruitment, recruit,
};
use market::wire::{Interaction, InteractionId, WireLimits};

const CONTRACTORS: usize = 100;
const TRADERS: usize = 1_000;
/// Peers share NATS connections, as many role instances of one host do
/// (and one process cannot comfortably hold a thousand connections).
const NATS_CONNECTIONS: usize = 20;
/// Never reached: every peer answers.
const WINDOW_MS: i64 = 10_000;
/// Never reached in the double auction (it stops at its maximum of 1,000
/// traders); the contract net, whose maximum is 1,000, waits for it.
const RECRUIT_MS: i64 = 2_000;

fn model(name: &str) -> Model {
    let shipped = lcc::models::find(name).unwrap();
    Model::load(Token::new(name).unwrap(), shipped.source).unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::system())
}

/// The endpoints of one bus (peer `i` uses `endpoints[i % len]`), or
/// none: the baseline, `lcc`'s in-process `Hub` (no envelopes, no bus).
struct Transport {
    endpoints: Option<Vec<Arc<dyn Bus>>>,
    /// Messages published through the endpoints so far.
    published: Arc<Traffic>,
    /// Trades agreed in the rounds run so far.
    trades: Arc<AtomicU64>,
}

impl Transport {
    fn new(endpoints: Vec<Arc<dyn Bus>>) -> Self {
        let published = Arc::new(Traffic::default());
        let endpoints = endpoints
            .into_iter()
            .map(|inner| Arc::new(CountingBus::new(inner, Arc::clone(&published))) as Arc<dyn Bus>)
            .collect();
        Self {
            endpoints: Some(endpoints),
            published,
            trades: Arc::default(),
        }
    }

    fn hub() -> Self {
        Self {
            endpoints: None,
            published: Arc::default(),
            trades: Arc::default(),
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
    components.register_fn("offer", &[Mode::In, Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), args[1].clone(), Term::Int(price)])
    });
    components.register_fn("perform", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components.register_fn("release", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

/// The manager counts a trade when the winner reports it done.
fn manager_components(trades: &Arc<AtomicU64>) -> Components {
    let trades = Arc::clone(trades);
    let mut components = Components::new();
    components.register_fn(
        "award",
        &[Mode::In, Mode::In, Mode::Out, Mode::Out],
        |args| answer_award(args, Credits(i64::MIN), AwardRule::FirstPrice),
    );
    components.register_fn("outcome", &[Mode::In; 4], move |args| {
        if args[3] == Term::atom("done") {
            trades.fetch_add(1, Ordering::Relaxed);
        }
        Ok(vec![])
    });
    components
}

/// Trader `i` buys (even `i`) at up to 1,000 + `i` or sells (odd `i`) at
/// `i` or more: every buy covers every sell, so every order can fill.
fn trader_components(i: usize) -> Components {
    let mut components = Components::new();
    components.register_fn("order_for", &[Mode::In, Mode::Out], move |args| {
        let order = if i.is_multiple_of(2) {
            Term::apply("buy", vec![Term::Int(1_000 + i as i64)])
        } else {
            Term::apply("sell", vec![Term::Int(i as i64)])
        };
        Ok(vec![args[0].clone(), order])
    });
    components.register_fn("settle", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

/// The auctioneer's clearing, reduced to a plain call market (the
/// economics of clearing are benchmarked on their own): the highest buy
/// meets the lowest sell, the next highest the next lowest, while the buy
/// covers the sell; each pair is one trade.
fn auctioneer_components(trades: &Arc<AtomicU64>) -> Components {
    let trades = Arc::clone(trades);
    let mut components = Components::new();
    components.register_fn("clear", &[Mode::In, Mode::Out], move |args| {
        let orders = args[0].as_list().unwrap_or_default();
        let side = |order: &Term| -> Option<(Term, String, i64)> {
            let (trader, order) = (order.args().first()?, order.args().get(1)?);
            match order.args().first()? {
                Term::Int(limit) => Some((trader.clone(), order.functor()?.to_string(), *limit)),
                _ => None,
            }
        };
        let parsed: Vec<_> = orders.into_iter().filter_map(side).collect();
        let mut buys: Vec<_> = parsed.iter().filter(|o| o.1 == "buy").collect();
        let mut sells: Vec<_> = parsed.iter().filter(|o| o.1 == "sell").collect();
        buys.sort_by_key(|o| std::cmp::Reverse(o.2));
        sells.sort_by_key(|o| o.2);
        let matched = buys
            .iter()
            .zip(&sells)
            .take_while(|(b, s)| b.2 >= s.2)
            .count();
        let result =
            |trader: &Term, outcome: Term| Term::apply("result", vec![trader.clone(), outcome]);
        let mut results = Vec::with_capacity(parsed.len());
        for (b, s) in buys.iter().zip(&sells).take(matched) {
            results.push(result(&b.0, Term::apply("bought_from", vec![s.0.clone()])));
            results.push(result(&s.0, Term::apply("sold_to", vec![b.0.clone()])));
        }
        for unmatched in buys.iter().skip(matched).chain(sells.iter().skip(matched)) {
            results.push(result(&unmatched.0, Term::atom("unmatched")));
        }
        trades.fetch_add(matched as u64, Ordering::Relaxed);
        Ok(vec![args[0].clone(), Term::list(results)])
    });
    components
}

/// One round of a model: the initiator (its name, its role built from the
/// responders' names, its components), the role the responders play, and
/// the responders with their components.
struct Setup {
    initiator: &'static str,
    initiator_role: fn(Vec<Term>) -> Term,
    initiator_components: Components,
    responder_role: &'static str,
    responders: Vec<(String, Components)>,
}

fn contract_net_setup(trades: &Arc<AtomicU64>) -> Setup {
    Setup {
        initiator: "m",
        initiator_role: |contractors| {
            Term::apply(
                "manager",
                vec![
                    Term::apply("task", vec![Term::atom("vm42")]),
                    Term::list(contractors),
                    Term::Int(WINDOW_MS),
                    Term::Int(WINDOW_MS),
                ],
            )
        },
        initiator_components: manager_components(trades),
        responder_role: "contractor",
        responders: names("c", CONTRACTORS)
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, contractor_components(10 + i as i64)))
            .collect(),
    }
}

fn double_auction_setup(trades: &Arc<AtomicU64>) -> Setup {
    Setup {
        initiator: "a",
        initiator_role: |traders| {
            Term::apply(
                "auctioneer",
                vec![
                    Term::atom("round1"),
                    Term::list(traders),
                    Term::Int(WINDOW_MS),
                    Term::Int(WINDOW_MS),
                ],
            )
        },
        initiator_components: auctioneer_components(trades),
        responder_role: "trader",
        responders: names("t", TRADERS)
            .into_iter()
            .enumerate()
            .map(|(i, name)| (name, trader_components(i)))
            .collect(),
    }
}

/// One round the way hosts run it: every responder a `Participant` on its
/// endpoint, the initiator recruiting them (until all joined or
/// `RECRUIT_MS`), then playing its role. The participants stop after it.
async fn recruited_round(transport: &Transport, model: &Model, setup: Setup) {
    let space = SubjectSpace::in_zone(Token::new("bench").unwrap());
    let peer = |i: usize, name: &str| Endpoint {
        bus: transport.endpoint(i),
        space: space.clone(),
        me: Token::new(name).unwrap(),
        clock: clock(),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    };
    let expected = setup.responders.len();
    let mut serving = Vec::with_capacity(expected);
    for (i, (name, components)) in setup.responders.into_iter().enumerate() {
        let offer = Offer {
            model: model.clone(),
            role: setup.responder_role.to_owned(),
            components,
        };
        let participant =
            Participant::new(peer(i + 1, &name), vec![offer], Duration::from_secs(60));
        serving.push(participant.start().await.unwrap());
    }
    let initiator = peer(0, setup.initiator);
    let recruitment = Recruitment {
        role: setup.responder_role.to_owned(),
        within_ms: RECRUIT_MS,
        reach: None,
    };
    let recruited = recruit(&initiator, model, &recruitment).await.unwrap();
    assert_eq!(recruited.players.len(), expected, "everyone joins");
    recruited
        .run(
            &initiator,
            model,
            setup.initiator_role,
            &setup.initiator_components,
        )
        .await
        .unwrap();
    for participant in serving {
        participant.abort();
    }
}

/// One round over `transport`: opens every channel, starts the
/// responders, then times the initiator from its first step to its last.
async fn round(transport: &Transport, model: &Model, setup: Setup) -> Duration {
    let names = setup
        .responders
        .iter()
        .map(|(n, _)| Term::atom(n))
        .collect();
    let initiator = (
        setup.initiator,
        (setup.initiator_role)(names),
        setup.initiator_components,
    );
    let role = Term::atom(setup.responder_role);
    let responders = setup
        .responders
        .into_iter()
        .map(|(name, components)| (name, role.clone(), components))
        .collect();
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
    round(transport, model, contract_net_setup(&transport.trades)).await
}

async fn double_auction(transport: &Transport, model: &Model) -> Duration {
    round(transport, model, double_auction_setup(&transport.trades)).await
}

/// Runs a recruited round of `setup` over `transport` and prints the
/// messages it published per trade it agreed.
fn messages_per_trade(
    rt: &tokio::runtime::Runtime,
    transport: &Transport,
    model: &Model,
    setup: fn(&Arc<AtomicU64>) -> Setup,
    label: &str,
) {
    let (published, trades) = (
        transport.published.read().messages,
        transport.trades.load(Ordering::Relaxed),
    );
    rt.block_on(recruited_round(transport, model, setup(&transport.trades)));
    let published = transport.published.read().messages - published;
    let trades = transport.trades.load(Ordering::Relaxed) - trades;
    eprintln!(
        "NATS, {label}, recruited: {published} messages, {trades} trades, {:.2} messages per trade",
        published as f64 / trades as f64
    );
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

    // Messages per trade, counted in one recruited round of each model.
    messages_per_trade(
        &rt,
        &nats,
        &net,
        contract_net_setup,
        &format!("contract net ({CONTRACTORS} contractors)"),
    );
    messages_per_trade(
        &rt,
        &nats,
        &auction,
        double_auction_setup,
        &format!("double auction ({TRADERS} traders)"),
    );

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
