//! Contract-net rounds under a flood of bad input, beside the same rounds
//! in quiet (the baseline), over a real nats-server on loopback: how much
//! the flood slows trading, which the flood tests
//! (`market/tests/bad_input_flood.rs`, `tests/bidder_daemon.rs`) count but
//! do not time.
//!
//! The zone is the flood test's (`tests/flood_support`): a manager and
//! three contractors, each host on its own connection and listening for
//! contract-net invitations all the time. A round: every contractor's and
//! the manager's channel for a fresh interaction are opened (as
//! recruitment leaves them), the contractors' roles run, and the manager's
//! role is timed from its first step to its last; everybody answers, so no
//! deadline is waited for.
//!
//! The flood, from an attacker on its own connection, as the flood test
//! sends it (`flood_support::Attacker`): every 10 ms, 20 bad invitations
//! (random bytes, or a valid invitation cut short) on the subject all four
//! hosts listen to, and as each round starts, 150 bad LCC messages to each
//! host on its subject of the round. After the flooded run the bench
//! prints what was sent and what the hosts dropped, per second.
//!
//! `cargo bench -p market --bench flood` (figures in docs/benchmarks.md,
//! section "Bad input").
#![allow(clippy::unwrap_used)] // benchmark fixtures: a failure here is a failed run

#[path = "../tests/flood_support/mod.rs"]
mod flood_support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use flood_support::{
    Attacker, MANAGER, OUTCOME, TICK, contract_net, contractor_components, dropped,
    manager_components, peer, serve_zone, space,
};
use lcc::interp::{RoleInstance, TokioClock};
use lcc::term::{Symbol, Term};
use market::bus::LocalNatsServer;
use market::runtime::{BusChannel, Endpoint, Model};
use market::wire::{Interaction, InteractionId, WireLimits};
use tokio::sync::watch;

/// Never reached: every contractor answers.
const WINDOW_MS: i64 = 10_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `peer`'s channel in `interaction`.
async fn open(peer: &Endpoint, interaction: Interaction) -> BusChannel {
    BusChannel::open(
        Arc::clone(&peer.bus),
        space(),
        peer.me.clone(),
        interaction,
        WireLimits::default(),
    )
    .await
    .unwrap()
}

/// One round among the zone's hosts (`under_way` tells the attacker
/// which one); the time of the manager's role.
async fn round(
    model: &Model,
    manager_peer: &Endpoint,
    contractors: &[(Endpoint, i64)],
    under_way: &watch::Sender<Option<InteractionId>>,
) -> Duration {
    let interaction = Interaction {
        id: InteractionId::random().unwrap(),
        model: model.hash(),
    };
    let mut tasks = Vec::new();
    for (peer, price) in contractors {
        let channel = open(peer, interaction).await;
        let (program, me, components) = (
            model.program(),
            peer.me.clone(),
            contractor_components(*price),
        );
        tasks.push(tokio::spawn(async move {
            let role = Term::atom("contractor");
            let clock = Arc::new(TokioClock::system());
            let me = Symbol::new(me.as_str());
            let mut instance =
                RoleInstance::start(program, role, me, &components, clock, channel).unwrap();
            instance.run().await.unwrap();
        }));
    }
    let channel = open(manager_peer, interaction).await;
    under_way.send_replace(Some(interaction.id));
    let names = contractors
        .iter()
        .map(|(p, _)| Term::atom(p.me.as_str()))
        .collect();
    let role = Term::apply(
        "manager",
        vec![
            Term::apply("task", vec![Term::atom("vm42")]),
            Term::list(names),
            Term::Int(WINDOW_MS),
            Term::Int(WINDOW_MS),
        ],
    );
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let components = manager_components(&outcomes);
    let started = Instant::now();
    let mut instance = RoleInstance::start(
        model.program(),
        role,
        Symbol::new(MANAGER),
        &components,
        Arc::new(TokioClock::system()),
        channel,
    )
    .unwrap();
    instance.run().await.unwrap();
    let took = started.elapsed();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(*outcomes.lock().unwrap(), [OUTCOME]);
    took
}

/// Floods as the flood test does until `stop` changes: bad invitations
/// every tick and, with `lcc`, a batch of bad LCC messages for each round
/// as it starts.
async fn flood(
    mut attacker: Attacker,
    lcc: bool,
    mut rounds: watch::Receiver<Option<InteractionId>>,
    mut stop: watch::Receiver<bool>,
) -> Attacker {
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = ticks.tick() => attacker.invitations().await,
            Ok(()) = rounds.changed() => {
                let round = *rounds.borrow_and_update();
                if let (true, Some(interaction)) = (lcc, round) {
                    attacker.round(interaction).await;
                }
            }
        }
    }
    attacker.sync().await;
    attacker
}

/// The floods measured beside the quiet rounds: whether each round's
/// subjects get a batch of bad LCC messages besides the invitations.
const FLOODS: [(&str, bool); 2] = [
    ("flooded: bad invitations", false),
    ("flooded: bad invitations and LCC messages", true),
];

fn under_a_flood(c: &mut Criterion) {
    let rt = runtime();
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let drops = || {
        let rendered = metrics.render();
        dropped(&rendered, "invite") + dropped(&rendered, "lcc")
    };
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let (manager_peer, contractors, _listening) = rt.block_on(serve_zone(&url));
    let mut attacker = Attacker::new(rt.block_on(peer(&url, "attacker")));
    let model = contract_net();
    let (under_way, mut rounds) = watch::channel(None);

    let mut group = c.benchmark_group("contract_net_3");
    group.sample_size(30);
    let mut bench = |label: &str| {
        group.bench_function(label, |b| {
            b.iter_custom(|iterations| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += round(&model, &manager_peer, &contractors, &under_way).await;
                    }
                    total
                })
            })
        });
    };
    bench("quiet (baseline)");
    for (label, lcc) in FLOODS {
        // The rounds before are over: the attacker waits for the next.
        rounds.mark_unchanged();
        let (stop, stopped) = watch::channel(false);
        let sent_before = (attacker.invitations_sent, attacker.lcc_sent);
        let attack = rt.spawn(flood(attacker, lcc, rounds.clone(), stopped));
        let (dropped_before, started) = (drops(), Instant::now());
        bench(label);
        stop.send_replace(true);
        attacker = rt.block_on(attack).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        // The last garbage sent may still be on its way to the hosts.
        std::thread::sleep(Duration::from_millis(500));
        let dropped = drops() - dropped_before;
        let invitations = attacker.invitations_sent - sent_before.0;
        let lcc = attacker.lcc_sent - sent_before.1;
        eprintln!(
            "{label}, {seconds:.1} s: {invitations} bad invitations ({:.0}/s) and {lcc} bad \
             LCC messages ({:.0}/s) sent; the hosts dropped {dropped} ({:.0}/s)",
            invitations as f64 / seconds,
            lcc as f64 / seconds,
            dropped as f64 / seconds,
        );
    }
    group.finish();
}

criterion_group!(benches, under_a_flood);
criterion_main!(benches);
