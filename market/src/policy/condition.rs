//! Threshold conditions: seed 002's policies, one metric and a band.
//!
//! Every policy of seed 002 chapter 5 is a chain of these: "underloaded when
//! the one-minute load average is below 0.50, overloaded when above 1.50"
//! (scenario 1), "... memory of the hosted VMs below 512 MB / above 768 MB"
//! (scenario 2), "aim at hosting exactly three VMs" (scenario 3, `target`),
//! "overloaded when the VM count is greater than zero" (the shutdown peers).
//! Comparisons are strict, as in the Java (`cpuLoad > 150`): a value on a
//! threshold is content.
//!
//! The utility is minus the distance outside the band times a weight, so it
//! is zero inside the band and every step towards the band is worth
//! something: an underloaded host gains by taking a VM, a satisfied host
//! gains nothing and may lose.

use serde::{Deserialize, Serialize};

use super::{Classification, HostState, PolicyError, non_negative};

/// The host numbers a condition can look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// One-minute load average (seed 002 `getCpuLoadOne`).
    LoadOne,
    /// Number of VMs hosted (seed 002 `getLocalVMCount`).
    VmCount,
    /// Memory reserved by the hosted VMs, MiB (seed 002 `getTotalVMMemory`).
    VmMemoryMib,
    /// Memory the hosted VMs were measured to use, MiB.
    MemoryUsedMib,
    /// Cpu reserved by the hosted VMs, cores.
    CpuReservedCores,
    /// Cpu the hosted VMs were measured to use, cores.
    CpuUsedCores,
    /// Cpu the hosted VMs were measured to use, as a share of the host's
    /// cores less headroom (0.8: four fifths busy), so one condition reads
    /// the same on hosts of different sizes.
    CpuUsedShare,
    /// Network the hosted VMs were measured to use, Mbit/s.
    NetworkUsedMbps,
}

impl Metric {
    /// The metric's value in a host state.
    pub fn value(self, state: &HostState<'_>) -> f64 {
        let m = &state.metrics;
        match self {
            Metric::LoadOne => m.load_one,
            Metric::VmCount => m.vm_count as f64,
            Metric::VmMemoryMib => m.reserved.memory_mib as f64,
            Metric::MemoryUsedMib => m.used.memory_mib as f64,
            Metric::CpuReservedCores => m.reserved.cpu_cores(),
            Metric::CpuUsedCores => m.used.cpu_cores(),
            Metric::CpuUsedShare => share_of(m.used.cpu_millicores, state.usable.cpu_millicores),
            Metric::NetworkUsedMbps => m.used.network_mbps as f64,
        }
    }

    /// Credits per unit of distance outside the band when the file gives no
    /// `weight`: one credit per unit of load, per VM, per core, per GiB and
    /// per Gbit/s, so that one typical VM's worth of distance is about one
    /// credit whatever the metric; ten per whole host for a share (a
    /// tenth of a host, about a VM, is a credit).
    pub fn default_weight(self) -> f64 {
        match self {
            Metric::LoadOne | Metric::VmCount | Metric::CpuReservedCores | Metric::CpuUsedCores => {
                1.0
            }
            Metric::VmMemoryMib | Metric::MemoryUsedMib => 1.0 / 1024.0,
            Metric::NetworkUsedMbps => 1.0 / 1000.0,
            Metric::CpuUsedShare => 10.0,
        }
    }
}

/// `amount` as a share of `capacity`: a host with no capacity is full as
/// soon as anything is asked of it.
fn share_of(amount: u64, capacity: u64) -> f64 {
    match (amount, capacity) {
        (0, _) => 0.0,
        (_, 0) => f64::INFINITY,
        (a, c) => a as f64 / c as f64,
    }
}

/// A condition as written in `[[policy.condition]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionSpec {
    /// What is measured.
    pub metric: Metric,
    /// Underloaded when the metric is strictly below this.
    #[serde(default)]
    pub underloaded_below: Option<f64>,
    /// Overloaded when the metric is strictly above this.
    #[serde(default)]
    pub overloaded_above: Option<f64>,
    /// Shorthand for an exact target: underloaded below it, overloaded above
    /// it (seed 002 scenario 3: `target = 3`).
    #[serde(default)]
    pub target: Option<f64>,
    /// Credits per unit of distance outside the band; see
    /// [`Metric::default_weight`].
    #[serde(default)]
    pub weight: Option<f64>,
}

/// A checked condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    metric: Metric,
    underloaded_below: Option<f64>,
    overloaded_above: Option<f64>,
    weight: f64,
}

impl Condition {
    /// Checks a condition; `path` is its key path for errors.
    pub fn from_spec(spec: &ConditionSpec, path: &str) -> Result<Condition, PolicyError> {
        let threshold = |key: &str, value: Option<f64>| -> Result<Option<f64>, PolicyError> {
            let key_path = format!("{path}.{key}");
            value
                // Every metric is an amount (a load, a count, MiB...).
                .map(|v| non_negative(&key_path, v, "a threshold on an amount"))
                .transpose()
        };
        let under = threshold("underloaded_below", spec.underloaded_below)?;
        let over = threshold("overloaded_above", spec.overloaded_above)?;
        let target = threshold("target", spec.target)?;
        let (under, over) = match (target, under, over) {
            (Some(t), None, None) => (Some(t), Some(t)),
            (Some(_), _, _) => {
                return Err(PolicyError::invalid(
                    format!("{path}.target"),
                    "`target` replaces `underloaded_below` and `overloaded_above`; write one or the other",
                ));
            }
            (None, None, None) => {
                return Err(PolicyError::invalid(
                    path,
                    "a condition needs `underloaded_below`, `overloaded_above` or `target`",
                ));
            }
            (None, under, over) => (under, over),
        };
        if let (Some(u), Some(o), None) = (under, over, target)
            && u >= o
        {
            return Err(PolicyError::invalid(
                format!("{path}.overloaded_above"),
                format!(
                    "the overloaded threshold ({o}) must be above the underloaded threshold ({u}), \
                     or no state is satisfied; for an exact target write `target = {u}`"
                ),
            ));
        }
        let weight = match spec.weight {
            Some(w) => non_negative(&format!("{path}.weight"), w, "a weight")?,
            None => spec.metric.default_weight(),
        };
        Ok(Condition {
            metric: spec.metric,
            underloaded_below: under,
            overloaded_above: over,
            weight,
        })
    }

    /// Minus the weighted distance outside the band.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        let v = self.metric.value(state);
        let below = self.underloaded_below.map_or(0.0, |u| (u - v).max(0.0));
        let above = self.overloaded_above.map_or(0.0, |o| (v - o).max(0.0));
        -self.weight * (below + above)
    }

    /// Overloaded above the upper threshold, underloaded below the lower.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        let v = self.metric.value(state);
        if self.overloaded_above.is_some_and(|o| v > o) {
            Some(Classification::Overloaded)
        } else if self.underloaded_below.is_some_and(|u| v < u) {
            Some(Classification::Underloaded)
        } else {
            None
        }
    }
}
