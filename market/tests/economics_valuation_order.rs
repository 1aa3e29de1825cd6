//! Every shipped policy's valuation has the sign and order its
//! classification promises: a host that wants a VM (underloaded) pays to
//! take one, a host that is content (satisfied) asks more to take it, a host
//! that wants to be rid of a VM (overloaded) pays to give it away and a
//! content host must be paid to give one. Plus the settings that are not
//! terms: placement groups, headroom and the migration cost.

#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

mod economics_support;

use economics_support::{hp, okvm, policy};
use market::credits::Credits;
use market::host::Host;
use market::policy::Classification::{self, *};
use market::policy::Policy;
use market::resources::Resources;
use market::valuation::{Refusal, Valuer};
use market::vm::{GroupRule, PlacementGroup, Vm, VmId};

/// The most `host` pays to take `vm` (negative: the least it must be paid).
fn take(p: &Policy, host: &Host, vm: &Vm) -> Credits {
    Valuer::new(p, host)
        .unwrap()
        .value_of_taking(vm)
        .unwrap_or_else(|e| panic!("{}: {} refuses {}: {e}", p.name, host.name, vm.name))
}

/// The least `host` accepts to give `vm` (negative: the most it pays).
fn give(p: &Policy, host: &Host, vm: u64) -> Credits {
    Valuer::new(p, host)
        .unwrap()
        .ask_for_giving(VmId(vm))
        .unwrap_or_else(|e| panic!("{}: {} refuses to give vm{vm}: {e}", p.name, host.name))
}

fn class(p: &Policy, host: &Host) -> Classification {
    p.classify_host(host).unwrap()
}

/// A VM of `cpu` reserved millicores (all of them busy) and `memory_mib`.
fn sized(n: u64, cpu: u64, memory_mib: u64) -> Vm {
    Vm {
        id: VmId(n),
        name: format!("vm{n}"),
        reserved: Resources::new(cpu, memory_mib, 100),
        used: Resources::new(cpu, memory_mib / 2, 5),
        group: None,
    }
}

/// The checks every policy with all three states must pass.
fn three_states(p: &Policy, under: &Host, satisfied: &Host, over: &Host, incoming: &Vm) {
    assert_eq!(class(p, under), Underloaded, "{}", p.name);
    assert_eq!(class(p, satisfied), Satisfied, "{}", p.name);
    assert_eq!(class(p, over), Overloaded, "{}", p.name);
    let (under_pays, satisfied_pays) = (take(p, under, incoming), take(p, satisfied, incoming));
    assert!(
        under_pays > Credits::ZERO,
        "{}: an underloaded host pays to take a VM: {under_pays}",
        p.name
    );
    assert!(
        satisfied_pays < under_pays,
        "{}: a satisfied host asks more to take it: {satisfied_pays} vs {under_pays}",
        p.name
    );
    let over_ask = give(p, over, over.vms[0].id.0);
    let satisfied_ask = give(p, satisfied, satisfied.vms[0].id.0);
    assert!(
        over_ask < Credits::ZERO,
        "{}: an overloaded host pays to be rid of a VM: {over_ask}",
        p.name
    );
    assert!(
        satisfied_ask > over_ask,
        "{}: a satisfied host asks more to give one: {satisfied_ask} vs {over_ask}",
        p.name
    );
}

#[test]
fn seed002_scenario2_vm_memory() {
    let p = policy("seed002-scenario2");
    let vm = |n| okvm(n, 512, false);
    three_states(
        &p,
        &hp(1, vec![]),
        &hp(2, vec![vm(1)]),
        &hp(3, vec![vm(2), vm(3)]),
        &vm(9),
    );
    // Content: giving its only VM makes it underloaded, so it must be paid.
    assert!(give(&p, &hp(2, vec![vm(1)]), 1) > Credits::ZERO);
}

#[test]
fn seed002_scenario3_vm_count() {
    let p = policy("seed002-scenario3");
    let vm = |n| okvm(n, 512, false);
    three_states(
        &p,
        &hp(1, vec![vm(1), vm(2)]),
        &hp(2, vec![vm(3), vm(4), vm(5)]),
        &hp(3, vec![vm(6), vm(7), vm(8), vm(9)]),
        &vm(10),
    );
}

#[test]
fn seed002_shutdown_hosts_pay_to_empty_and_ask_to_fill() {
    for name in ["seed002-scenario3-shutdown", "seed002-scenario4-shutdown"] {
        let p = policy(name);
        let full = hp(1, vec![okvm(1, 512, false), okvm(2, 512, false)]);
        let empty = hp(2, vec![]);
        assert_eq!(class(&p, &full), Overloaded);
        assert_eq!(class(&p, &empty), Satisfied);
        assert!(give(&p, &full, 1) < Credits::ZERO, "{name}");
        assert!(
            take(&p, &empty, &okvm(3, 512, false)) < Credits::ZERO,
            "{name}"
        );
    }
}

#[test]
fn seed002_scenario4_high_load_host() {
    let p = policy("seed002-scenario4-high-load");
    let busy = |n| okvm(n, 512, true);
    three_states(
        &p,
        &hp(1, vec![busy(1)]),
        &hp(2, vec![busy(2), busy(3)]),
        &hp(3, vec![okvm(4, 1536, false)]),
        &busy(9),
    );
}

#[test]
fn seed002_scenario4_high_memory_host() {
    let p = policy("seed002-scenario4-high-memory");
    let big = |n| okvm(n, 1536, false);
    three_states(
        &p,
        &hp(1, vec![big(1)]),
        &hp(2, vec![big(2), big(3)]),
        &hp(3, vec![okvm(4, 512, true), big(5), big(6)]),
        &big(9),
    );
}

#[test]
fn seed001_power_saving_fills_hosts_and_empties_light_ones() {
    // Capacity after the file's headroom: 7 cores, 14 GiB. One-core VMs.
    let p = policy("seed001-power-saving");
    let vm = |n| sized(n, 1000, 1024);
    let under = hp(1, (1..=3).map(vm).collect()); // 3/7 full
    let satisfied = hp(2, (11..=6 + 10).map(vm).collect()); // 6/7 full
    let over = hp(3, vec![vm(21)]); // 1/7: below shed_below
    three_states(&p, &under, &satisfied, &over, &vm(99));
    // The fuller of two underloaded hosts pays more: it is nearer full.
    let fuller = hp(4, (31..=35).map(vm).collect()); // 5/7
    assert_eq!(class(&p, &fuller), Underloaded);
    assert!(take(&p, &fuller, &vm(99)) > take(&p, &under, &vm(99)));
    // An empty host is content and must be paid to wake up for a VM.
    let empty = hp(5, vec![]);
    assert_eq!(class(&p, &empty), Satisfied);
    assert!(take(&p, &empty, &vm(99)) < Credits::ZERO);
}

#[test]
fn seed001_agility_evens_the_load() {
    // Target: half of capacity in use, tolerance 0.15; spinning VMs use a core.
    let p = policy("seed001-agility");
    let busy = |n| okvm(n, 512, true);
    three_states(
        &p,
        &hp(1, vec![busy(1)]),
        &hp(2, (2..=5).map(busy).collect()),
        &hp(3, (6..=11).map(busy).collect()),
        &busy(99),
    );
}

#[test]
fn seed004_power_budget_is_only_ever_exceeded() {
    // 120 W idle + 30 W per busy core, budget 300 W: six busy cores.
    let p = policy("seed004-power-budget");
    let busy = |n| okvm(n, 512, true);
    let light = hp(1, vec![busy(1), busy(2)]);
    let at_budget = hp(2, (3..=8).map(busy).collect());
    let over = hp(3, (11..=17).map(busy).collect());
    assert_eq!(class(&p, &light), Satisfied);
    assert_eq!(class(&p, &at_budget), Satisfied);
    assert_eq!(class(&p, &over), Overloaded);
    assert!(give(&p, &over, 11) < Credits::ZERO);
    // Taking a busy VM costs the light host only the migration; the host at
    // its budget would go over it, so it asks more.
    let (light_pays, full_pays) = (take(&p, &light, &busy(99)), take(&p, &at_budget, &busy(99)));
    assert!(light_pays <= Credits::ZERO, "{light_pays}");
    assert!(full_pays < light_pays, "{full_pays} vs {light_pays}");
}

#[test]
fn seed004_maintenance_pays_to_evacuate_and_refuses_to_take() {
    let p = policy("seed004-maintenance");
    let host = hp(1, vec![okvm(1, 512, false), okvm(2, 512, false)]);
    assert_eq!(class(&p, &host), Overloaded);
    assert!(give(&p, &host, 1) < Credits::ZERO);
    let refused = Valuer::new(&p, &host)
        .unwrap()
        .value_of_taking(&okvm(3, 512, false));
    assert!(matches!(refused, Err(Refusal::Policy(_))), "{refused:?}");
}

fn in_group(mut vm: Vm, name: &str, rule: GroupRule) -> Vm {
    vm.group = Some(PlacementGroup {
        name: name.into(),
        rule,
    });
    vm
}

#[test]
fn placement_groups_price_and_refuse() {
    // Placement applies under every policy; scenario 2 keeps the rest neutral.
    let p = policy("seed002-scenario2");
    let web = |n| in_group(okvm(n, 256, false), "web", GroupRule::Together);
    let db = |n| in_group(okvm(n, 256, false), "db", GroupRule::Apart);
    // Affinity: a host with a member pays more for another member.
    let with_member = hp(1, vec![web(1)]);
    let without = hp(2, vec![okvm(2, 256, false)]);
    assert!(take(&p, &with_member, &web(9)) > take(&p, &without, &web(9)));
    // Anti-affinity: a second replica is refused, not priced ...
    let replica_here = hp(3, vec![db(3)]);
    let refused = Valuer::new(&p, &replica_here)
        .unwrap()
        .value_of_taking(&db(9));
    assert!(matches!(refused, Err(Refusal::Policy(_))), "{refused:?}");
    // ... and a host that has two anyway is overloaded and pays to split them.
    let two = hp(4, vec![db(4), db(5)]);
    assert_eq!(class(&p, &two), Overloaded);
    assert!(give(&p, &two, 4) < give(&p, &with_member, 1));
}

#[test]
fn headroom_refuses_what_only_raw_capacity_would_hold() {
    // seed001-power-saving keeps 1 core and 2 GiB free of 8 cores, 16 GiB.
    let p = policy("seed001-power-saving");
    let host = hp(1, vec![sized(1, 6000, 1024)]);
    let fits_raw_only = sized(2, 1500, 1024);
    assert!(host.capacity.cpu_millicores >= 6000 + 1500);
    let refused = Valuer::new(&p, &host)
        .unwrap()
        .value_of_taking(&fits_raw_only);
    assert!(matches!(refused, Err(Refusal::NoRoom(_))), "{refused:?}");
}

#[test]
fn a_bigger_vm_costs_more_to_move() {
    // seed001-agility: 0.05 credits a move plus 0.02 per GiB. Two idle VMs
    // that differ only in memory: the utility change is the same (agility
    // looks at cpu), so the bigger one is worth less by its migration cost.
    let p = policy("seed001-agility");
    let host = hp(1, vec![]);
    let small = sized(1, 20, 1024);
    let mut big = sized(2, 20, 8192);
    big.used = small.used;
    let difference = take(&p, &host, &small).0 - take(&p, &host, &big).0;
    // 7 GiB more at 0.02 credits each, in micro-credits (floor rounding: ±1).
    assert!((difference - 140_000).abs() <= 1, "{difference}");
}
