//! Clearing a double-auction round of 10,000 and 100,000 orders, side by
//! side with first-fit-decreasing packing of the same VMs onto the same
//! hosts (the centralised baseline) and with a pairs-only clearing (the
//! seed 002 push: no packages); and valuations per second.
//!
//! Run: `cargo bench -p market --bench economics`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use market::baseline::{Item, bounds, ffd};
use market::credits::Credits;
use market::host::{Host, HostId};
use market::mechanism::double_auction::clear;
use market::mechanism::{ClearingRules, HostSlot, Order, OrderKind, Pricing, Round, VmSlot};
use market::policy::Policy;
use market::resources::Resources;
use market::valuation::Valuer;
use market::vm::{Vm, VmId};

/// splitmix64: a fixed stream, so every run measures the same round.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A round of `orders` orders over `orders / 10` hosts with three VMs
/// each: 10% asks, 70% bids, 20% packages, limits within +-5 credits.
fn synthetic_round(orders: usize) -> Round {
    let hosts = (orders / 10).max(2);
    let mut s = Stream(orders as u64);
    let capacity = Resources::new(32_000, 131_072, 10_000);
    let mut round = Round::default();
    for h in 0..hosts {
        let mut reserved = Resources::ZERO;
        for k in 0..3 {
            let vm = Resources::new(
                500 + s.below(7_500),
                512 + s.below(32_768),
                10 + s.below(2_000),
            );
            reserved = reserved.saturating_add(&vm);
            round.vms.push(VmSlot {
                id: VmId((h * 3 + k) as u64),
                host: HostId(h as u32),
                reserved: vm,
            });
        }
        round.hosts.push(HostSlot {
            id: HostId(h as u32),
            capacity,
            reserved,
        });
    }
    let vm_count = round.vms.len() as u64;
    let limit = |s: &mut Stream| Credits(s.below(10_000_000) as i64 - 5_000_000);
    for i in 0..orders {
        let host = s.below(hosts as u64) as usize;
        let own = VmId((host * 3) as u64 + s.below(3));
        let other = loop {
            let v = VmId(s.below(vm_count));
            if round.vms[v.0 as usize].host != HostId(host as u32) {
                break v;
            }
        };
        let id = i as u64;
        let h = HostId(host as u32);
        round.orders.push(match s.below(10) {
            0 => Order::ask(id, h, own, limit(&mut s)),
            1 | 2 => Order::package(id, h, own, other, limit(&mut s)),
            _ => Order::bid(id, h, other, limit(&mut s)),
        });
    }
    round
}

fn clearing(c: &mut Criterion) {
    let mut group = c.benchmark_group("clear");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for orders in [10_000usize, 100_000] {
        let round = synthetic_round(orders);
        let pushes = Round {
            orders: round
                .orders
                .iter()
                .filter(|o| o.kind() != OrderKind::Package)
                .cloned()
                .collect(),
            ..round.clone()
        };
        let items: Vec<Item> = round.vms.iter().map(|v| (v.id, v.reserved)).collect();
        let capacities: Vec<Resources> = round.hosts.iter().map(|h| h.capacity).collect();
        report_quality(orders, &round, &pushes, &items, &capacities);
        group.throughput(Throughput::Elements(orders as u64));
        for (name, rules) in [
            ("equal_split", ClearingRules::default()),
            (
                "trade_reduction",
                ClearingRules {
                    pricing: Pricing::TradeReduction,
                    ..Default::default()
                },
            ),
            (
                "greedy_only",
                ClearingRules {
                    improvement_passes: 0,
                    ..Default::default()
                },
            ),
        ] {
            group.bench_with_input(BenchmarkId::new(name, orders), &round, |b, r| {
                b.iter(|| clear(black_box(r), &rules).map(|c| c.trades.len()))
            });
        }
        group.bench_with_input(
            BenchmarkId::new("baseline_pairs_only", orders),
            &pushes,
            |b, r| {
                b.iter(|| clear(black_box(r), &ClearingRules::default()).map(|c| c.trades.len()))
            },
        );
        group.bench_with_input(
            BenchmarkId::new("baseline_ffd_same_vms", orders),
            &items,
            |b, it| b.iter(|| ffd::pack(black_box(it), &capacities).hosts_used()),
        );
    }
    group.finish();
}

/// Prints what each variant achieves on the instance (once, outside the
/// timings), so docs/benchmarks.md can state quality next to speed.
fn report_quality(
    orders: usize,
    round: &Round,
    pushes: &Round,
    items: &[Item],
    capacities: &[Resources],
) {
    let variants = [
        ("equal_split", round, ClearingRules::default()),
        (
            "greedy_only",
            round,
            ClearingRules {
                improvement_passes: 0,
                ..Default::default()
            },
        ),
        (
            "trade_reduction",
            round,
            ClearingRules {
                pricing: Pricing::TradeReduction,
                ..Default::default()
            },
        ),
        ("baseline_pairs_only", pushes, ClearingRules::default()),
    ];
    for (name, r, rules) in variants {
        match clear(r, &rules) {
            Ok(c) => {
                let moves: usize = c.trades.iter().map(|t| t.moves.len()).sum();
                eprintln!(
                    "quality {name}/{orders}: {} trades, {moves} moves, surplus {}, {} rejected",
                    c.trades.len(),
                    c.total_surplus,
                    c.rejected.len()
                );
            }
            Err(e) => eprintln!("quality {name}/{orders}: {e}"),
        }
    }
    let packed = ffd::pack(items, capacities);
    let bound = capacities
        .first()
        .and_then(|c| bounds::hosts_needed(items, c));
    eprintln!(
        "quality baseline_ffd_same_vms/{orders}: {} VMs on {} of {} hosts (lower bound {bound:?})",
        items.len(),
        packed.hosts_used(),
        capacities.len()
    );
}

fn valuations(c: &mut Criterion) {
    let policies = [
        (
            "seed002_scenario1",
            include_str!("../../scenarios/policies/seed002-scenario1.toml"),
        ),
        (
            "seed002_scenario4_high_memory",
            include_str!("../../scenarios/policies/seed002-scenario4-high-memory.toml"),
        ),
        (
            "seed001_power_saving",
            include_str!("../../scenarios/policies/seed001-power-saving.toml"),
        ),
        (
            "seed004_power_budget",
            include_str!("../../scenarios/policies/seed004-power-budget.toml"),
        ),
    ];
    let vm = |id: u64, cpu: u64, mem: u64| Vm {
        id: VmId(id),
        name: format!("vm{id}"),
        reserved: Resources::new(1000, mem, 100),
        used: Resources::new(cpu, mem / 2, 10),
        group: None,
    };
    let host = Host {
        id: HostId(1),
        name: "h1".into(),
        capacity: Resources::new(16_000, 65_536, 10_000),
        vms: (0..8)
            .map(|i| vm(i, 300 + 100 * i, 1024 + 512 * i))
            .collect(),
        load_one: 6.0,
    };
    let wanted: Vec<Vm> = (100..200)
        .map(|i| vm(i, 200 + 10 * (i - 100), 512 + 64 * (i - 100)))
        .collect();
    let wanted: Vec<&Vm> = wanted.iter().collect();
    let mut group = c.benchmark_group("valuation");
    for (name, text) in policies {
        let policy = match Policy::from_toml(text) {
            Ok(p) => p,
            Err(e) => panic!("{name}: {e}"),
        };
        let valuer = match Valuer::new(&policy, &host) {
            Ok(v) => v,
            Err(e) => panic!("{name}: {e}"),
        };
        // One host's whole order list: 8 asks + 100 bids + 800 packages.
        let per_call = 8 + wanted.len() * 9;
        group.throughput(Throughput::Elements(per_call as u64));
        group.bench_function(BenchmarkId::new("orders_908", name), |b| {
            b.iter(|| {
                let mut next = 0;
                valuer.orders(&mut next, black_box(&wanted)).len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, clearing, valuations);
criterion_main!(benches);
