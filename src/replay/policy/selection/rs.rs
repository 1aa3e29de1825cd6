//! Random selection: any migratable VM, each as likely (CloudSim's
//! `PowerVmSelectionPolicyRandomSelection`). CloudSim draws from an
//! unseeded `java.util.Random`, so its runs differ; here the draws come
//! from the run's seed (`crate::rng`), so the same seed gives the same run.

use super::{Datacenter, migratable};
use crate::rng::Rng;

/// A migratable VM of `host` drawn from `stream`.
pub fn select(dc: &Datacenter, host: usize, stream: &mut Rng) -> Option<usize> {
    let vms = migratable(dc, host);
    if vms.is_empty() {
        return None;
    }
    vms.get(stream.below(vms.len())).copied()
}
