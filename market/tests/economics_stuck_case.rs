//! Seed 002 section 6.1: "three peers, two of them being satisfied ... and
//! one of them being overloaded. In this case, none of the peers will
//! interact with the overloaded peer ... However, there might exist a
//! different virtual machine distribution that solves this problem."
//!
//! Here the satisfied hosts are full in memory, so no host can take a VM
//! without giving one back; the overloaded host's load can only fall by
//! exchanging a busy VM for a quiet one. The overloaded host has room for
//! one more VM, so the exchange can be carried out one VM at a time (the
//! quiet VM arrives first); were every host full, the swap would need room
//! nobody has, and the clearing refuses it.

mod economics_support;

use economics_support::{apply, only, policy, truthful_round};
use market::host::{Host, HostId};
use market::mechanism::double_auction::clear;
use market::mechanism::{ClearingRules, OrderKind, Pricing};
use market::policy::Classification;
use market::resources::Resources;
use market::vm::{Vm, VmId};

fn vm(id: u64, cpu_used_millicores: u64) -> Vm {
    Vm {
        id: VmId(id),
        name: format!("vm{id}"),
        reserved: Resources::new(1000, 2048, 100),
        used: Resources::new(cpu_used_millicores, 1024, 10),
        group: None,
    }
}

/// Room for `memory_mib` of VMs.
fn host(id: u32, memory_mib: u64, vms: Vec<Vm>) -> Host {
    Host {
        id: HostId(id),
        name: format!("h{id}"),
        capacity: Resources::new(8000, memory_mib, 1000),
        load_one: vms.iter().map(|v| v.used.cpu_cores()).sum(),
        vms,
    }
}

/// A runs two busy VMs (load 2.0: overloaded); B and C run two quiet VMs
/// each (load 0.6: satisfied) and are full in memory; A has room for a
/// third VM.
fn stuck_cluster() -> Vec<Host> {
    vec![
        host(1, 6144, vec![vm(11, 1000), vm(12, 1000)]),
        host(2, 4096, vec![vm(21, 300), vm(22, 300)]),
        host(3, 4096, vec![vm(31, 300), vm(32, 300)]),
    ]
}

#[test]
fn the_stuck_case_clears_into_a_swap_that_satisfies_everyone() {
    let p = policy("seed002-scenario1");
    let mut hosts = stuck_cluster();
    let before: Vec<_> = hosts.iter().map(|h| p.classify_host(h).unwrap()).collect();
    assert_eq!(
        before,
        [
            Classification::Overloaded,
            Classification::Satisfied,
            Classification::Satisfied
        ]
    );
    let round = truthful_round(&hosts, &[&p, &p, &p]);

    // Pushes alone (the thesis's roles) find nothing: no host has room.
    let pushes = only(&round, |o| o.kind() != OrderKind::Package);
    for rules in [
        ClearingRules::default(),
        ClearingRules {
            pricing: Pricing::TradeReduction,
            ..Default::default()
        },
    ] {
        assert!(clear(&pushes, &rules).unwrap().trades.is_empty());
    }

    let clearing = clear(&round, &ClearingRules::default()).unwrap();
    assert_eq!(clearing.trades.len(), 1, "{clearing:#?}");
    let swap = &clearing.trades[0];
    assert_eq!(swap.moves.len(), 2, "a swap moves two VMs: {swap:#?}");
    assert_eq!(swap.payments.iter().map(|p| p.price.0).sum::<i64>(), 0);
    // A busy VM of host 1 goes to host 2 (the tie with host 3 goes to the
    // smaller order ids), a quiet one comes back.
    assert!(
        swap.moves
            .iter()
            .any(|m| m.from == HostId(1) && m.to == HostId(2))
    );
    assert!(
        swap.moves
            .iter()
            .any(|m| m.from == HostId(2) && m.to == HostId(1))
    );

    apply(&mut hosts, &clearing.trades);
    for h in &hosts {
        assert_eq!(
            p.classify_host(h).unwrap(),
            Classification::Satisfied,
            "{}: load {}",
            h.name,
            h.load_one
        );
        let reserved = h.metrics().unwrap().reserved;
        assert!(
            reserved.fits_within(&h.capacity),
            "{}: {reserved:?}",
            h.name
        );
    }
    // The overloaded host paid for the relief, the other was compensated.
    let price = |host: u32| {
        swap.payments
            .iter()
            .find(|p| p.host == HostId(host))
            .unwrap()
            .price
            .0
    };
    assert!(price(1) > 0 && price(2) < 0, "{swap:#?}");
}

#[test]
fn a_larger_stuck_cluster_clears_greedily_too() {
    // Same situation, but with the exact search switched off.
    let p = policy("seed002-scenario1");
    let mut hosts = stuck_cluster();
    let round = truthful_round(&hosts, &[&p, &p, &p]);
    let rules = ClearingRules {
        exact_up_to: 0,
        ..Default::default()
    };
    let clearing = clear(&round, &rules).unwrap();
    assert!(!clearing.exact);
    apply(&mut hosts, &clearing.trades);
    assert!(
        hosts
            .iter()
            .all(|h| p.classify_host(h).unwrap() == Classification::Satisfied)
    );
}

#[test]
fn hosts_full_in_memory_cannot_swap_and_the_clearing_says_why() {
    let p = policy("seed002-scenario1");
    let mut hosts = stuck_cluster();
    for h in &mut hosts {
        h.capacity.memory_mib = 4096;
    }
    let round = truthful_round(&hosts, &[&p, &p, &p]);
    let clearing = clear(&round, &ClearingRules::default()).unwrap();
    assert!(clearing.trades.is_empty(), "{clearing:#?}");
    assert!(
        clearing.unordered.iter().any(|set| set.len() == 2),
        "the swap is reported as having no feasible order: {:?}",
        clearing.unordered
    );
}

#[test]
fn the_swap_moves_the_vm_whose_destination_has_room_first() {
    let p = policy("seed002-scenario1");
    let mut hosts = stuck_cluster();
    // Host 1 has room for a third VM, host 2 none: the quiet VM must come
    // to host 1 before the busy one leaves it.
    let round = truthful_round(&hosts, &[&p, &p, &p]);
    let clearing = clear(&round, &ClearingRules::default()).unwrap();
    assert_eq!(clearing.trades.len(), 1, "{clearing:#?}");
    let legs = &clearing.trades[0].moves;
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0].to, HostId(1), "{legs:?}");
    assert_eq!(legs[1].from, HostId(1), "{legs:?}");
    // The legs' prices add up, per host, to what its order pays.
    for payment in &clearing.trades[0].payments {
        let net = economics_support::leg_net(&clearing.trades[0], payment.host);
        assert_eq!(net, payment.price.0, "{legs:?} {payment:?}");
    }
    apply(&mut hosts, &clearing.trades);
}
