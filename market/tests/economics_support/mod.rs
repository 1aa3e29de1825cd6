//! Shared builders for the economics tests: the seed 002 hosts and VMs.
#![allow(dead_code)] // each test crate uses a different part
#![allow(clippy::unwrap_used)] // test helpers: a panic is the failure report

use market::host::{Host, HostId};
use market::policy::Policy;
use market::resources::Resources;
use market::vm::{Vm, VmId};

/// Loads a policy file from `scenarios/policies/`.
pub fn policy(name: &str) -> Policy {
    let path = format!(
        "{}/../scenarios/policies/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Policy::from_toml(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// An okvm: `memory_mib` reserved, spinning (`while true`) or idle.
pub fn okvm(n: u64, memory_mib: u64, spinning: bool) -> Vm {
    let cpu_used = if spinning { 1000 } else { 20 };
    Vm {
        id: VmId(n),
        name: format!("okvm{n}"),
        reserved: Resources::new(1000, memory_mib, 100),
        used: Resources::new(cpu_used, memory_mib / 2, 5),
        group: None,
    }
}

/// An HP cluster host `hp{n}` with the given VMs; its load average is the
/// sum of the VMs' cpu use in cores (the model the crate documents).
pub fn hp(n: u32, vms: Vec<Vm>) -> Host {
    let load_one = vms.iter().map(|vm| vm.used.cpu_cores()).sum();
    Host {
        id: HostId(n),
        name: format!("hp{n}"),
        capacity: Resources::new(8000, 16384, 1000),
        vms,
        load_one,
    }
}

use market::mechanism::{HostSlot, Order, Round, Trade, VmSlot};

/// The round of a cluster: every host's slot, every VM's slot, and the
/// orders every host posts at its true valuation for every other host's VMs.
pub fn truthful_round(hosts: &[Host], policies: &[&Policy]) -> Round {
    let mut round = Round::default();
    let mut next_id = 1;
    for (host, policy) in hosts.iter().zip(policies) {
        round.hosts.push(HostSlot::of(host, policy).unwrap());
        round
            .vms
            .extend(host.vms.iter().map(|vm| VmSlot::of(host, vm)));
        let wanted: Vec<&Vm> = hosts
            .iter()
            .filter(|h| h.id != host.id)
            .flat_map(|h| &h.vms)
            .collect();
        let valuer = market::valuation::Valuer::new(policy, host).unwrap();
        round.orders.extend(valuer.orders(&mut next_id, &wanted));
    }
    round
}

/// Moves the VMs of `trades` between `hosts`; a host's load average follows
/// the crate's model (each VM adds its measured cpu use in cores).
pub fn apply(hosts: &mut [Host], trades: &[Trade]) {
    let moves: Vec<_> = trades
        .iter()
        .flat_map(|t| t.moves.iter().copied())
        .collect();
    let mut moving = Vec::new();
    for m in &moves {
        let from = hosts.iter_mut().find(|h| h.id == m.from).unwrap();
        let at = from.vms.iter().position(|vm| vm.id == m.vm).unwrap();
        let vm = from.vms.remove(at);
        from.load_one = (from.load_one - vm.used.cpu_cores()).max(0.0);
        moving.push((m.to, vm));
    }
    for (to, vm) in moving {
        let host = hosts.iter_mut().find(|h| h.id == to).unwrap();
        host.load_one += vm.used.cpu_cores();
        host.vms.push(vm);
    }
}

/// Only the orders of the given kinds.
pub fn only(round: &Round, keep: impl Fn(&Order) -> bool) -> Round {
    Round {
        orders: round.orders.iter().filter(|o| keep(o)).cloned().collect(),
        ..round.clone()
    }
}

/// What `host` pays over the legs of `trade`: the prices of the legs into
/// it less those of the legs out of it (equal to its order's payment).
pub fn leg_net(trade: &market::mechanism::Trade, host: market::host::HostId) -> i64 {
    trade
        .moves
        .iter()
        .map(|m| match (m.to == host, m.from == host) {
            (true, _) => m.price.0,
            (_, true) => -m.price.0,
            _ => 0,
        })
        .sum()
}
