//! Maintenance (seed 004) and shutdown (seed 002 scenarios 3 and 4): the host
//! wants no VM at all.
//!
//! While it has VMs it is overloaded and loses `weight` credits per VM, so
//! every VM it gives away is worth that much to it; it refuses to take any
//! VM, whatever it is paid. (Seed 002's shutdown peers are plain conditions
//! `vm_count` above 0 and would take a VM if paid; maintenance is the
//! operator's stronger word.)

use serde::{Deserialize, Serialize};

use super::{Classification, HostState, PolicyError, non_negative};

/// `[policy.maintenance]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// Empty the host now.
    pub evacuate: bool,
    /// Credits lost per VM still on the host. Default 10.
    #[serde(default)]
    pub weight: Option<f64>,
}

/// Checked maintenance term.
#[derive(Debug, Clone, PartialEq)]
pub struct Maintenance {
    evacuate: bool,
    weight: f64,
}

impl Maintenance {
    /// Checks the weight.
    pub fn from_spec(spec: &MaintenanceSpec, path: &str) -> Result<Maintenance, PolicyError> {
        Ok(Maintenance {
            evacuate: spec.evacuate,
            weight: match spec.weight {
                Some(w) => non_negative(&format!("{path}.weight"), w, "a weight")?,
                None => 10.0,
            },
        })
    }

    /// Minus the weight per VM left, when evacuating.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        if self.evacuate {
            -self.weight * state.metrics.vm_count as f64
        } else {
            0.0
        }
    }

    /// Overloaded while any VM is left.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        (self.evacuate && state.metrics.vm_count > 0).then_some(Classification::Overloaded)
    }

    /// Refuses every incoming VM while evacuating.
    pub fn refusal(&self, state: &HostState<'_>) -> Option<String> {
        (self.evacuate && state.takes.is_some())
            .then(|| "the host is being evacuated for maintenance".to_string())
    }
}
