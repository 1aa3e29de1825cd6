//! DVFS only: each VM on the first host with room, no migration ever.
//! Energy falls only because idle CPUs draw less (the power curves).

use super::{Consolidation, Datacenter, Migration};

/// CloudSim's `PowerVmAllocationPolicySimple`.
pub struct Dvfs;

impl Consolidation for Dvfs {
    fn place(&mut self, dc: &mut Datacenter, vm: usize) -> Option<usize> {
        (0..dc.hosts.len()).find(|&h| dc.fits(h, vm))
    }

    fn plan(&mut self, _dc: &mut Datacenter) -> Vec<Migration> {
        Vec::new()
    }
}
