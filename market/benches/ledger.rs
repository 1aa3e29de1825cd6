//! Agreed-plus-settled trades per second on a real ledger file.
//!
//! One trade = `record_agreed` + `settle`: two durable transactions, the
//! minimum a trade costs a bidder. Measured at `synchronous=FULL` (what
//! bidders run) side by side with `synchronous=NORMAL` (the baseline: same
//! work, no fsync at commit) in the same run.
//!
//! Run: `cargo bench -p market --bench ledger`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use market::credits::Credits;
use market::ledger::{Durability, Ledger, LedgerOptions, ProtocolRef, TradeId, TradeTerms, VmRef};
use market::resources::Resources;

/// Trade ids must be unique across every iteration of a run.
static NEXT_TRADE: AtomicU64 = AtomicU64::new(0);

fn next_terms() -> TradeTerms {
    let n = NEXT_TRADE.fetch_add(1, Ordering::Relaxed);
    TradeTerms {
        trade_id: TradeId::new(format!("bench-{n:012}")).expect("valid id"),
        kind: market::ledger::TradeKind::Migration,
        interaction_id: format!("interaction-{n}"),
        protocol: ProtocolRef {
            name: "contract-net".to_string(),
            hash: "b3:5e1f0c".to_string(),
        },
        seller: "host-a".to_string(),
        buyer: "host-b".to_string(),
        vms: vec![VmRef {
            uuid: format!("00000000-0000-4000-8000-{n:012}"),
            name: format!("vm-{n}"),
        }],
        resources: Resources {
            cpu_millicores: 2000,
            memory_mib: 4096,
            network_mbps: 100,
        },
        price: Credits(1_250_000),
    }
}

fn agreed_plus_settled(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("ledger/agreed_plus_settled");
    group
        .throughput(Throughput::Elements(1))
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    for (name, durability) in [
        ("synchronous_full", Durability::Full),
        ("synchronous_normal_baseline", Durability::Normal),
    ] {
        let options = LedgerOptions {
            durability,
            ..LedgerOptions::default()
        };
        let path = dir.path().join(format!("{name}.ledger"));
        let ledger = runtime
            .block_on(Ledger::open(&path, "host-a", &options))
            .expect("open ledger");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let terms = next_terms();
                        ledger.record_agreed(&terms).await.expect("record");
                        ledger.settle(&terms.trade_id).await.expect("settle");
                    }
                    start.elapsed()
                })
            });
        });
        runtime.block_on(ledger.close());
    }
    group.finish();
}

criterion_group!(benches, agreed_plus_settled);
criterion_main!(benches);
