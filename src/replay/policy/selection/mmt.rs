//! Minimum migration time: the VM quickest to copy, the one with the least
//! memory (CloudSim's `PowerVmSelectionPolicyMinimumMigrationTime`).

use super::{Datacenter, migratable};

/// The migratable VM of `host` with the least memory, the first in list
/// order among equals.
pub fn select(dc: &Datacenter, host: usize) -> Option<usize> {
    let mut best: Option<usize> = None;
    for v in migratable(dc, host) {
        if best.is_none_or(|b| dc.vms[v].kind.ram_mb < dc.vms[b].kind.ram_mb) {
            best = Some(v);
        }
    }
    best
}
