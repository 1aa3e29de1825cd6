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
//!   hosts (real libvirt calls, no guest).
//!
//! One VM goes back and forth: trade n moves it a -> b, trade n+1 b -> a.
//!
//! Run: `cargo bench -p bidder --bench handoff`

use std::sync::Arc;
use std::time::Duration;

use bidder::hypervisor::libvirt::LibvirtHypervisor;
use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use bidder::migration::{Destination, Executor, Method, Outcome};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use market::ledger::{
    Ledger, LedgerOptions, MicroCredits, MigrationMethod, ProtocolRef, Resources, TradeId,
    TradeTerms, VmRef,
};

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
    }
}

fn terms(n: u64, buyer: &str, seller: &str) -> TradeTerms {
    let vm = guest();
    TradeTerms {
        trade_id: TradeId::new(format!("bench-{n:012}")).expect("valid id"),
        interaction_id: format!("interaction-{n}"),
        protocol: ProtocolRef {
            name: "contract-net".into(),
            hash: "bench".into(),
        },
        buyer: buyer.into(),
        seller: seller.into(),
        vms: vec![VmRef {
            uuid: vm.uuid.to_string(),
            name: vm.name,
        }],
        resources: Resources {
            cpu_millicores: 1000,
            memory_mib: 256,
            network_mbps: 10,
        },
        price: MicroCredits(1_000_000),
    }
}

/// Both directions' executors over the same two hosts and ledgers.
struct Pair {
    forth: Executor<Destination>,
    back: Executor<Destination>,
    ledgers: [Ledger; 2],
}

async fn pair(dir: &std::path::Path, label: &str, hosts: [Arc<dyn Hypervisor>; 2]) -> Pair {
    let options = LedgerOptions::default();
    let open = |host: &str| {
        let path = dir.join(format!("{label}-{host}.ledger"));
        let host = host.to_string();
        let options = options.clone();
        async move { Ledger::open(path, &host, &options).await.expect("ledger") }
    };
    let (la, lb) = (open("a").await, open("b").await);
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
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let (executor, buyer, seller) = if n % 2 == 1 {
                    (&hosts.forth, "a", "b")
                } else {
                    (&hosts.back, "b", "a")
                };
                let outcome = runtime
                    .block_on(executor.execute(&terms(n, buyer, seller)))
                    .expect("trade");
                assert_eq!(outcome, Outcome::Settled);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handoff);
criterion_main!(benches);
