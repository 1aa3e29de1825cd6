//! Minimum utilisation: the VM using the smallest share of its CPU now, so
//! the host sheds as little work as it can per move (CloudSim's
//! `PowerVmSelectionPolicyMinimumUtilization`).

use super::{Datacenter, migratable};

/// The migratable VM of `host` whose demand is the least share of its
/// MIPS, the first in list order among equals.
pub fn select(dc: &Datacenter, host: usize) -> Option<usize> {
    let mut best = None;
    let mut least = f64::MAX;
    for v in migratable(dc, host) {
        let vm = &dc.vms[v];
        let share = vm.requested / vm.kind.mips;
        if share < least {
            least = share;
            best = Some(v);
        }
    }
    best
}
