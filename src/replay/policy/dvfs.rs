//! DVFS only: each VM on the first host with room, no migration ever.
//! Energy falls only because idle CPUs draw less (the power curves).

use super::{Consolidation, ConsolidationError, Datacenter, Migration};

/// CloudSim's `PowerVmAllocationPolicySimple`.
pub struct Dvfs;

impl Consolidation for Dvfs {
    fn place(
        &mut self,
        dc: &mut Datacenter,
        vm: usize,
    ) -> Result<Option<usize>, ConsolidationError> {
        Ok((0..dc.hosts.len()).find(|&h| dc.fits(h, vm)))
    }

    fn plan(&mut self, _dc: &mut Datacenter) -> Result<Vec<Migration>, ConsolidationError> {
        Ok(Vec::new())
    }
}
