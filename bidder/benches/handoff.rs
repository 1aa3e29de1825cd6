//! Hand-off trades per second: the whole migration workflow of one trade
//! (both ledgers recorded agreed and migrating, the domain handed off, both
//! ledgers settled) between two hosts in one process, ledgers at
//! `synchronous=FULL`.
//!
//! Side by side in the same run:
//! - `ledger_steps_only_baseline`: the same six ledger transactions with no
//!   hypervisor and no workflow: the floor the workflow adds to;
//! - `simulated_hosts`: the workflow between simulated hosts held in memory
//!   (what a simulation of many hosts runs);
//! - `libvirt_test_driver`: the workflow between two libvirt `test:///`
//!   hosts (real libvirt calls, no guest);
//! - `simulated_hosts_over_memory_bus`, `simulated_hosts_over_nats`: the
//!   simulated hosts with the destination reached over the bus, as between
//!   two daemons (`migration::BusPeer` and `DestinationService`: four
//!   request/reply round trips per trade), in-process and through a local
//!   `nats-server`.
//!
//! One VM goes back and forth: trade n moves it a -> b, trade n+1 b -> a.
//!
//! Run: `cargo bench -p bidder --bench handoff`

use std::sync::Arc;
use std::time::Duration;

use bidder::hypervisor::libvirt::LibvirtHypervisor;
use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use bidder::migration::{
    BusPeer, CallPolicy, Destination, DestinationService, Executor, Method, Outcome, Peer, PeerLink,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcc::interp::TokioClock;
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, LocalNatsServer, MemoryBus, NatsBus, NatsConfig};
use market::credits::Credits;
use market::ledger::{
    Ledger, LedgerOptions, MigrationMethod, ProtocolRef, TradeId, TradeTerms, VmRef,
};
use market::resources::Resources;
use market::runtime::{Endpoint, InteractionIds};
use market::wire::WireLimits;

const NODE_XML: &str = "<node><cpu><mhz>2000</mhz><model>x86_64</model><active>4</active>\
    <total>4</total><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>\
    <memory>16777216</memory></node>";

fn guest() -> DomainSpec {
    DomainSpec {
        uuid: DomainUuid::parse("be4c0000-0000-4000-8000-000000000001").expect("uuid"),
        name: "bench-vm".into(),
        vcpus: 1,
        memory_kib: 256 * 1024,
        interfaces: vec!["tap0".into()],
        group: None,
    }
}

fn terms(n: u64, from: &str, to: &str) -> TradeTerms {
    let vm = guest();
    TradeTerms {
        trade_id: TradeId::new(format!("bench-{n:012}")).expect("valid id"),
        kind: market::ledger::TradeKind::Migration,
        interaction_id: format!("interaction-{n}"),
        protocol: ProtocolRef {
            name: "contract-net".into(),
            hash: "bench".into(),
        },
        seller: from.into(),
        buyer: to.into(),
        vms: vec![VmRef {
            uuid: vm.uuid.to_string(),
            name: vm.name,
        }],
        resources: Resources {
            cpu_millicores: 1000,
            memory_mib: 256,
            network_mbps: 10,
        },
        price: Credits(1_000_000),
    }
}

/// Both directions' executors over the same two hosts and ledgers.
struct Pair<P> {
    forth: Executor<P>,
    back: Executor<P>,
    ledgers: [Ledger; 2],
    /// Keeps the destinations' services answering (bus variants).
    _services: Vec<tokio::sync::watch::Sender<bool>>,
}

async fn ledgers(dir: &std::path::Path, label: &str) -> [Ledger; 2] {
    let open = |host: &str| {
        let path = dir.join(format!("{label}-{host}.ledger"));
        let host = host.to_string();
        async move {
            Ledger::open(path, &host, &LedgerOptions::default())
                .await
                .expect("ledger")
        }
    };
    [open("a").await, open("b").await]
}

/// Two simulated hosts, each answering migration requests on `bus` (one
/// endpoint per host, as two daemons have) and reaching the other over it.
async fn over_bus(
    dir: &std::path::Path,
    label: &str,
    endpoints: [Arc<dyn Bus>; 2],
    capacity: Capacity,
) -> Pair<PeerLink> {
    let [la, lb] = ledgers(dir, label).await;
    let a: Arc<dyn Hypervisor> = Arc::new(SimulatedHypervisor::in_memory("a", capacity));
    let b: Arc<dyn Hypervisor> = Arc::new(SimulatedHypervisor::in_memory("b", capacity));
    a.define(&guest().to_xml("test")).expect("define");
    a.start(&guest().uuid).expect("start");
    let [bus_a, bus_b] = endpoints;
    let endpoint = |bus: Arc<dyn Bus>, me: &str| Endpoint {
        bus,
        space: SubjectSpace::in_zone(Token::new("bench").expect("token")),
        me: Token::new(me).expect("token"),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    };
    let (ea, eb) = (endpoint(bus_a, "a"), endpoint(bus_b, "b"));
    let mut services = Vec::new();
    for (e, ledger, hv) in [(&ea, &la, &a), (&eb, &lb, &b)] {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        services.push(stop);
        DestinationService::new(
            e.clone(),
            Destination::new(ledger.clone(), hv.clone()),
            ledger.clone(),
        )
        .start(stopped)
        .await
        .expect("service");
    }
    let link = |e: &Endpoint, to: &str| {
        PeerLink::Bus(BusPeer::new(
            e.clone(),
            Token::new(to).expect("token"),
            CallPolicy::default(),
        ))
    };
    Pair {
        forth: Executor::new(la.clone(), a, link(&ea, "b"), Method::Handoff),
        back: Executor::new(lb.clone(), b, link(&eb, "a"), Method::Handoff),
        ledgers: [la, lb],
        _services: services,
    }
}

async fn pair(
    dir: &std::path::Path,
    label: &str,
    hosts: [Arc<dyn Hypervisor>; 2],
) -> Pair<Destination> {
    let [la, lb] = ledgers(dir, label).await;
    let [a, b] = hosts;
    a.define(&guest().to_xml("test")).expect("define");
    a.start(&guest().uuid).expect("start");
    Pair {
        forth: Executor::new(
            la.clone(),
            a.clone(),
            Destination::new(lb.clone(), b.clone()),
            Method::Handoff,
        ),
        back: Executor::new(
            lb.clone(),
            b,
            Destination::new(la.clone(), a),
            Method::Handoff,
        ),
        ledgers: [la, lb],
        _services: Vec::new(),
    }
}

fn handoff(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 4096,
    };
    let libvirt = |host: &str| -> Arc<dyn Hypervisor> {
        let node = dir.path().join(format!("{host}.node.xml"));
        std::fs::write(&node, NODE_XML).expect("node file");
        Arc::new(
            LibvirtHypervisor::connect(host, &format!("test://{}", node.display()))
                .expect("test:///"),
        )
    };
    let simulated = runtime.block_on(pair(
        dir.path(),
        "sim",
        [
            Arc::new(SimulatedHypervisor::in_memory("a", capacity)),
            Arc::new(SimulatedHypervisor::in_memory("b", capacity)),
        ],
    ));
    let test_driver = runtime.block_on(pair(dir.path(), "virt", [libvirt("a"), libvirt("b")]));
    let baseline = runtime.block_on(pair(
        dir.path(),
        "base",
        [
            Arc::new(SimulatedHypervisor::in_memory("a", capacity)),
            Arc::new(SimulatedHypervisor::in_memory("b", capacity)),
        ],
    ));

    let mut group = c.benchmark_group("handoff/trade");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut n = 0u64;
    group.bench_function("ledger_steps_only_baseline", |b| {
        b.iter(|| {
            n += 1;
            let [la, lb] = &baseline.ledgers;
            let trade = terms(n, "a", "b");
            runtime.block_on(async {
                for ledger in [la, lb] {
                    ledger.record_agreed(&trade).await.expect("agreed");
                }
                for ledger in [la, lb] {
                    ledger
                        .start_migration(&trade.trade_id, 1, MigrationMethod::Handoff)
                        .await
                        .expect("migrating");
                }
                for ledger in [lb, la] {
                    ledger.settle(&trade.trade_id).await.expect("settled");
                }
            });
        })
    });
    for (name, hosts) in [
        ("simulated_hosts", &simulated),
        ("libvirt_test_driver", &test_driver),
    ] {
        trades(&mut group, &runtime, name, hosts);
    }
    let memory = MemoryBus::new();
    let over_memory = runtime.block_on(over_bus(
        dir.path(),
        "mem",
        [Arc::new(memory.clone()), Arc::new(memory)],
        capacity,
    ));
    trades(
        &mut group,
        &runtime,
        "simulated_hosts_over_memory_bus",
        &over_memory,
    );
    let server = LocalNatsServer::start().expect("nats-server");
    let nats = |me: &str| {
        let config = NatsConfig::new([server.url()], me);
        async move { Arc::new(NatsBus::connect(&config).await.expect("connect")) as Arc<dyn Bus> }
    };
    let over_nats = runtime.block_on(async {
        let endpoints = [nats("a").await, nats("b").await];
        over_bus(dir.path(), "nats", endpoints, capacity).await
    });
    trades(
        &mut group,
        &runtime,
        "simulated_hosts_over_nats",
        &over_nats,
    );
    group.finish();
}

/// One trade per iteration, the VM going back and forth.
fn trades<P: Peer>(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    hosts: &Pair<P>,
) {
    let mut n = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            n += 1;
            let (executor, from, to) = if n % 2 == 1 {
                (&hosts.forth, "a", "b")
            } else {
                (&hosts.back, "b", "a")
            };
            let outcome = runtime
                .block_on(executor.execute(&terms(n, from, to)))
                .expect("trade");
            assert_eq!(outcome, Outcome::Settled);
        })
    });
}

criterion_group!(benches, handoff);
criterion_main!(benches);
