//! Per-host reserved headroom: capacity an operator keeps free of VMs (for
//! the host's own services, or for bursts). Capacity checks and the shares
//! that power saving and agility compute use capacity minus headroom
//! (reservations after [`super::overcommit`] scales the hardware).

use serde::{Deserialize, Serialize};

use super::{PolicyError, non_negative};
use crate::resources::Resources;

/// `[policy.headroom]` as written; each key defaults to zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadroomSpec {
    /// Cores kept free.
    #[serde(default)]
    pub cpu_cores: f64,
    /// MiB kept free.
    #[serde(default)]
    pub memory_mib: f64,
    /// Mbit/s kept free.
    #[serde(default)]
    pub network_mbps: f64,
}

impl HeadroomSpec {
    /// The headroom as a resource vector; a negative amount is refused (a
    /// negative headroom would promise capacity the host does not have).
    pub fn to_resources(&self, path: &str) -> Result<Resources, PolicyError> {
        let amount = |key: &str, v: f64, scale: f64| -> Result<u64, PolicyError> {
            let v = non_negative(&format!("{path}.{key}"), v, "a capacity")?;
            // Saturating float-to-int conversion; capacities are far below 2^64.
            Ok((v * scale).round() as u64)
        };
        Ok(Resources::new(
            amount("cpu_cores", self.cpu_cores, 1000.0)?,
            amount("memory_mib", self.memory_mib, 1.0)?,
            amount("network_mbps", self.network_mbps, 1.0)?,
        ))
    }
}
