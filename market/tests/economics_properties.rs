//! Properties of the double auction over random clusters and orders:
//! no cleared round overcommits a host in any dimension; every filled
//! order pays at most its limit; every trade's payments sum to zero; the
//! result depends only on the round's contents; no host ends worse off by
//! its own valuation; greedy selection stays within its proven bound.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod economics_support;

use std::collections::BTreeMap;

use economics_support::{policy, truthful_round};
use market::credits::Credits;
use market::host::{Host, HostId};
use market::mechanism::double_auction::clear;
use market::mechanism::{Clearing, ClearingRules, Order, OrderId, Pricing, Round};
use market::policy::Policy;
use market::resources::Resources;
use market::valuation::Valuer;
use market::vm::{GroupRule, PlacementGroup, Vm, VmId};
use proptest::prelude::*;

const POLICIES: [&str; 11] = [
    "seed002-scenario1",
    "seed002-scenario2",
    "seed002-scenario3",
    "seed002-scenario3-shutdown",
    "seed002-scenario4-high-load",
    "seed002-scenario4-high-memory",
    "seed002-scenario4-shutdown",
    "seed001-power-saving",
    "seed001-agility",
    "seed004-power-budget",
    "seed004-maintenance",
];

/// A VM: reserved bundle, measured cpu (millicores), placement group
/// (number, apart?).
type VmSpec = (Resources, u64, Option<(u8, bool)>);
/// A host: capacity, VMs, index of its policy in [`POLICIES`].
type HostSpec = (Resources, Vec<VmSpec>, usize);

fn vm_strategy() -> impl Strategy<Value = VmSpec> {
    (
        (250u64..4000, 256u64..8192, 10u64..1000).prop_map(|(c, m, n)| Resources::new(c, m, n)),
        0u64..2000,
        proptest::option::weighted(0.3, (0u8..3, any::<bool>())),
    )
}

fn host_strategy() -> impl Strategy<Value = HostSpec> {
    (
        (4000u64..32000, 4096u64..65536, 1000u64..10000)
            .prop_map(|(c, m, n)| Resources::new(c, m, n)),
        proptest::collection::vec(vm_strategy(), 0..5),
        0..POLICIES.len(),
    )
}

/// A random cluster: hosts whose VMs fit, each with one of the shipped policies.
fn cluster() -> impl Strategy<Value = (Vec<Host>, Vec<usize>)> {
    proptest::collection::vec(host_strategy(), 2..7).prop_map(|specs| {
        let mut hosts = Vec::new();
        let mut policies = Vec::new();
        let mut next_vm = 1;
        for (i, (capacity, vms, p)) in specs.into_iter().enumerate() {
            let mut host = Host {
                id: HostId(i as u32 + 1),
                name: format!("h{}", i + 1),
                capacity,
                vms: Vec::new(),
                load_one: 0.0,
            };
            for (reserved, cpu_used, group) in vms {
                let fits = host
                    .metrics()
                    .unwrap()
                    .reserved
                    .saturating_add(&reserved)
                    .fits_within(&capacity);
                if !fits {
                    continue;
                }
                let used = Resources::new(
                    cpu_used.min(reserved.cpu_millicores),
                    reserved.memory_mib / 2,
                    reserved.network_mbps / 4,
                );
                host.load_one += used.cpu_cores();
                host.vms.push(Vm {
                    id: VmId(next_vm),
                    name: format!("vm{next_vm}"),
                    reserved,
                    used,
                    group: group.map(|(g, apart)| PlacementGroup {
                        name: format!("g{g}"),
                        rule: if apart {
                            GroupRule::Apart
                        } else {
                            GroupRule::Together
                        },
                    }),
                });
                next_vm += 1;
            }
            hosts.push(host);
            policies.push(p);
        }
        (hosts, policies)
    })
}

fn loaded_policies() -> Vec<Policy> {
    POLICIES.iter().map(|p| policy(p)).collect()
}

/// Orders with arbitrary limits, hosts and VMs, valid or not.
fn noise(round: &Round, picks: &[(u8, u8, u8, i64)]) -> Vec<Order> {
    let hosts: Vec<HostId> = round.hosts.iter().map(|h| h.id).collect();
    let vms: Vec<VmId> = round.vms.iter().map(|v| v.id).collect();
    picks
        .iter()
        .enumerate()
        .map(|(i, &(h, g, t, limit))| {
            let pick = |k: u8| {
                (!vms.is_empty() && !k.is_multiple_of(4)).then(|| vms[k as usize % vms.len()])
            };
            Order {
                id: OrderId(1_000_000 + i as u64),
                host: hosts[h as usize % hosts.len()],
                gives: pick(g),
                takes: pick(t),
                limit: Credits(limit),
            }
        })
        .collect()
}

/// Checks the properties every clearing must have.
fn check_clearing(round: &Round, clearing: &Clearing) -> Result<(), TestCaseError> {
    let orders: BTreeMap<OrderId, &Order> = round.orders.iter().map(|o| (o.id, o)).collect();
    let mut reserved: BTreeMap<HostId, Resources> =
        round.hosts.iter().map(|h| (h.id, h.reserved)).collect();
    let capacity: BTreeMap<HostId, Resources> =
        round.hosts.iter().map(|h| (h.id, h.capacity)).collect();
    let size: BTreeMap<VmId, (HostId, Resources)> = round
        .vms
        .iter()
        .map(|v| (v.id, (v.host, v.reserved)))
        .collect();
    let mut filled_hosts = BTreeMap::new();
    let mut moved = BTreeMap::new();
    let rejected: BTreeMap<OrderId, _> = clearing.rejected.iter().cloned().collect();
    let mut total = 0i64;
    for trade in &clearing.trades {
        // Budget balance.
        prop_assert_eq!(trade.payments.iter().map(|p| p.price.0).sum::<i64>(), 0);
        prop_assert!(trade.surplus.0 > 0);
        total += trade.surplus.0;
        let mut limits = 0;
        for p in &trade.payments {
            let order = orders[&p.order];
            prop_assert!(
                !rejected.contains_key(&p.order),
                "{:?} was rejected but filled",
                p.order
            );
            // Individual rationality.
            prop_assert!(
                p.price <= order.limit,
                "{:?} pays {} over its limit {}",
                p.order,
                p.price,
                order.limit
            );
            prop_assert_eq!(p.host, order.host);
            // One order per host per round.
            prop_assert!(
                filled_hosts.insert(p.host, p.order).is_none(),
                "{} fills twice",
                p.host
            );
            limits += order.limit.0;
        }
        prop_assert_eq!(limits, trade.surplus.0);
        for m in &trade.moves {
            let (owner, bundle) = size[&m.vm];
            prop_assert_eq!(owner, m.from);
            prop_assert!(moved.insert(m.vm, m.to).is_none(), "{} moves twice", m.vm);
            let from = reserved.get_mut(&m.from).unwrap();
            *from = from.checked_sub(&bundle).unwrap();
            let to = reserved.get_mut(&m.to).unwrap();
            *to = to.checked_add(&bundle).unwrap();
            // Feasibility on the way: moved in the listed order, every leg
            // lands within its destination's capacity.
            prop_assert!(
                to.fits_within(&capacity[&m.to]),
                "{} overcommitted on the way by {}: {:?}",
                m.to,
                m.vm,
                trade.moves
            );
        }
        // Each host's legs add up to what its order pays.
        for p in &trade.payments {
            prop_assert_eq!(
                economics_support::leg_net(trade, p.host),
                p.price.0,
                "{:?}",
                trade
            );
        }
    }
    prop_assert_eq!(total, clearing.total_surplus.0);
    // No host that took a VM exceeds its capacity in any dimension.
    for trade in &clearing.trades {
        for m in &trade.moves {
            prop_assert!(
                reserved[&m.to].fits_within(&capacity[&m.to]),
                "{} overcommitted: {:?} > {:?}",
                m.to,
                reserved[&m.to],
                capacity[&m.to]
            );
        }
    }
    Ok(())
}

/// Each host's net change, valued by its own policy, is worth at least
/// what it paid.
fn check_nobody_worse_off(
    hosts: &[Host],
    policies: &[&Policy],
    clearing: &Clearing,
) -> Result<(), TestCaseError> {
    for (host, policy) in hosts.iter().zip(policies) {
        let gives: Vec<VmId> = clearing
            .trades
            .iter()
            .flat_map(|t| &t.moves)
            .filter(|m| m.from == host.id)
            .map(|m| m.vm)
            .collect();
        let takes: Vec<VmId> = clearing
            .trades
            .iter()
            .flat_map(|t| &t.moves)
            .filter(|m| m.to == host.id)
            .map(|m| m.vm)
            .collect();
        let paid: i64 = clearing
            .trades
            .iter()
            .flat_map(|t| &t.payments)
            .filter(|p| p.host == host.id)
            .map(|p| p.price.0)
            .sum();
        if gives.is_empty() && takes.is_empty() {
            prop_assert_eq!(paid, 0);
            continue;
        }
        prop_assert!(gives.len() <= 1 && takes.len() <= 1);
        let incoming = takes.first().map(|id| {
            hosts
                .iter()
                .flat_map(|h| &h.vms)
                .find(|vm| vm.id == *id)
                .unwrap()
        });
        let value = Valuer::new(policy, host)
            .unwrap()
            .package(gives.first().copied(), incoming)
            .unwrap();
        prop_assert!(
            value.0 >= paid,
            "{} paid {} for a change worth {}",
            host.id,
            paid,
            value
        );
    }
    Ok(())
}

fn all_rules() -> [ClearingRules; 4] {
    let greedy = ClearingRules {
        exact_up_to: 0,
        ..Default::default()
    };
    [
        ClearingRules::default(),
        greedy.clone(),
        ClearingRules {
            pricing: Pricing::TradeReduction,
            ..Default::default()
        },
        ClearingRules {
            pricing: Pricing::TradeReduction,
            ..greedy
        },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn truthful_rounds_are_feasible_rational_balanced_and_leave_nobody_worse_off((hosts, picks) in cluster()) {
        let all = loaded_policies();
        let policies: Vec<&Policy> = picks.iter().map(|&p| &all[p]).collect();
        let round = truthful_round(&hosts, &policies);
        for rules in all_rules() {
            let clearing = clear(&round, &rules).unwrap();
            check_clearing(&round, &clearing)?;
            check_nobody_worse_off(&hosts, &policies, &clearing)?;
        }
    }

    #[test]
    fn noisy_rounds_are_feasible_rational_balanced_and_deterministic(
        (hosts, picks) in cluster(),
        extra in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), -2_000_000i64..2_000_000), 0..60),
        seed in any::<u64>(),
    ) {
        let all = loaded_policies();
        let policies: Vec<&Policy> = picks.iter().map(|&p| &all[p]).collect();
        let mut round = truthful_round(&hosts, &policies);
        let more = noise(&round, &extra);
        // Worse copies of some orders: superseded, never filled.
        let copies: Vec<Order> = round
            .orders
            .iter()
            .step_by(3)
            .enumerate()
            .map(|(k, o)| Order { id: OrderId(2_000_000 + k as u64), limit: Credits(o.limit.0 - 1), ..o.clone() })
            .collect();
        round.orders.extend(more);
        round.orders.extend(copies);
        let mut shuffled = round.clone();
        shuffle(&mut shuffled.orders, seed);
        shuffle(&mut shuffled.hosts, seed ^ 1);
        shuffle(&mut shuffled.vms, seed ^ 2);
        for rules in all_rules() {
            let clearing = clear(&round, &rules).unwrap();
            check_clearing(&round, &clearing)?;
            prop_assert_eq!(&clearing, &clear(&shuffled, &rules).unwrap());
        }
    }

    #[test]
    fn greedy_is_within_a_third_of_the_exact_optimum(
        (hosts, picks) in cluster(),
        extra in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), -1_000i64..1_000_000), 0..30),
    ) {
        let all = loaded_policies();
        let policies: Vec<&Policy> = picks.iter().map(|&p| &all[p]).collect();
        let mut round = truthful_round(&hosts, &policies);
        let more = noise(&round, &extra);
        round.orders = more;
        let exact = clear(&round, &ClearingRules { exact_up_to: 22, ..Default::default() }).unwrap();
        if exact.exact {
            for passes in [0, 2] {
                let greedy = clear(&round, &ClearingRules { exact_up_to: 0, improvement_passes: passes, ..Default::default() }).unwrap();
                prop_assert!(greedy.total_surplus <= exact.total_surplus);
                prop_assert!(3 * greedy.total_surplus.0 >= exact.total_surplus.0, "greedy {} exact {}", greedy.total_surplus, exact.total_surplus);
            }
        }
    }
}

/// A deterministic shuffle (Fisher-Yates with a splitmix64 stream).
fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        items.swap(i, (z % (i as u64 + 1)) as usize);
    }
}
