//! Overcommit: reservations may add up to more than the hardware, as
//! operators allow for CPU (OpenStack's `cpu_allocation_ratio`, 16 by
//! default) and sometimes memory (ballooning, KSM). A VM reserves its full
//! size, but most VMs use a fraction of it most of the time; a host that
//! only admits what it could carry at full size stays mostly idle.
//!
//! The ratio scales what reservations are checked against (the fit check
//! of every valuation, a reverse call's room, the double auction's slots);
//! measured use is still compared with the hardware, so a policy that
//! watches use ([`super::condition::Metric::CpuUsedShare`], agility, power
//! saving with `fill = "cpu_used"`) sees the host as it really is.

use serde::{Deserialize, Serialize};

use super::{PolicyError, finite};
use crate::resources::Resources;

/// `[policy.overcommit]` as written; each ratio defaults to 1 (none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OvercommitSpec {
    /// Reserved cores per core of hardware.
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Reserved MiB per MiB of hardware.
    #[serde(default)]
    pub memory: Option<f64>,
}

/// Checked ratios.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Overcommit {
    cpu: f64,
    memory: f64,
}

impl Overcommit {
    /// No overcommit: reservations add up to the hardware at most.
    pub const NONE: Overcommit = Overcommit {
        cpu: 1.0,
        memory: 1.0,
    };

    /// Checks the ratios are finite and at least one.
    pub fn from_spec(spec: Option<&OvercommitSpec>, path: &str) -> Result<Overcommit, PolicyError> {
        let ratio = |key: &str, value: Option<f64>| -> Result<f64, PolicyError> {
            let Some(v) = value else { return Ok(1.0) };
            let key_path = format!("{path}.{key}");
            let v = finite(&key_path, v)?;
            if v < 1.0 {
                return Err(PolicyError::invalid(
                    key_path,
                    format!(
                        "a ratio below 1 ({v}) would offer less than the hardware; \
                         keep capacity free with [policy.headroom] instead"
                    ),
                ));
            }
            Ok(v)
        };
        let spec = spec.cloned().unwrap_or_default();
        Ok(Overcommit {
            cpu: ratio("cpu", spec.cpu)?,
            memory: ratio("memory", spec.memory)?,
        })
    }

    /// What reservations may add up to on `hardware`.
    pub fn scale(&self, hardware: &Resources) -> Resources {
        // Saturating float-to-int conversion; capacities are far below 2^64.
        let times = |amount: u64, ratio: f64| (amount as f64 * ratio).floor() as u64;
        Resources::new(
            times(hardware.cpu_millicores, self.cpu),
            times(hardware.memory_mib, self.memory),
            hardware.network_mbps,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_scale_cpu_and_memory_but_not_the_network() {
        let spec = OvercommitSpec {
            cpu: Some(4.0),
            memory: Some(1.5),
        };
        let o = Overcommit::from_spec(Some(&spec), "policy.overcommit").unwrap();
        assert_eq!(
            o.scale(&Resources::new(2000, 4096, 1000)),
            Resources::new(8000, 6144, 1000)
        );
        assert_eq!(Overcommit::from_spec(None, "p").unwrap(), Overcommit::NONE);
    }

    #[test]
    fn a_ratio_below_one_is_refused_with_its_key() {
        let spec = OvercommitSpec {
            cpu: Some(0.5),
            memory: None,
        };
        let e = Overcommit::from_spec(Some(&spec), "policy.overcommit").unwrap_err();
        assert_eq!(e.path(), "policy.overcommit.cpu");
        assert!(e.to_string().contains("headroom"), "{e}");
    }
}
