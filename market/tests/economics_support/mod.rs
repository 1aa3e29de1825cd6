//! Shared builders for the economics tests: the seed 002 hosts and VMs.
#![allow(dead_code)] // each test crate uses a different part

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
