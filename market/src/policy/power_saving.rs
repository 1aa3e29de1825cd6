//! Power saving (seed 001, policy 1): "pack VMs onto the minimum number of
//! physical machines".
//!
//! A host measures how full it is by its dominant share (the largest
//! fraction of its capacity reserved in any dimension), or, with
//! `fill = "cpu_used"`, by the share of its cores its VMs were measured to
//! use: the measure for VMs that reserve far more than they use, on hosts
//! that overcommit (`[policy.overcommit]`), where reservations say little
//! about how busy, and how worth switching off, a host is. A lightly used host
//! wants to empty itself so it can be switched off, a half-full one wants to
//! fill up, a full or an empty one is content. The utility is zero when
//! empty or full (`s >= full_above`) and lowest, `-weight`, at `shed_below`,
//! the fill where shedding and filling are equally far from content:
//!
//! - below `shed_below`, with `x = s / shed_below`: `-weight * x * (2 - x)`,
//!   falling as the host fills, so a host there gains by giving VMs away;
//! - from `shed_below` to `full_above`, with
//!   `y = (s - shed_below) / (full_above - shed_below)`:
//!   `-weight * (1 - y^2)`, rising as the host fills, so a host there gains
//!   by taking VMs, and the fuller it is the more it gains.
//!
//! So the valuation agrees with the classification (an overloaded host pays
//! to give, an underloaded one pays to take, a content one must be paid to
//! change). Both pieces are convex and meet with slope zero, so up to
//! `full_above` moving load from a less full host to a fuller one raises
//! the sum of the two hosts' utilities: that is what makes trades pack. (An
//! earlier `-weight * 4 * s * (1 - s)` was convex too but made a host
//! between `shed_below` and one half, classified as wanting VMs, ask to be
//! paid for one, and a full host pay more for a VM than a half-full one.)

use serde::{Deserialize, Serialize};

use super::{Classification, HostState, PolicyError, non_negative};
use crate::resources::Resources;

/// `[policy.power_saving]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerSavingSpec {
    /// Below this dominant share the host wants to empty itself
    /// (overloaded: it gives VMs away).
    pub shed_below: f64,
    /// At or above this dominant share the host is full and content.
    pub full_above: f64,
    /// Credits the utility loses at `shed_below`, its lowest. Default 1.
    #[serde(default)]
    pub weight: Option<f64>,
    /// What "full" measures: `reserved` (default) or `cpu_used`.
    #[serde(default)]
    pub fill: Fill,
}

/// What a host's fill is a share of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fill {
    /// The dominant share of the VMs' reservations in the capacity offered
    /// to them.
    #[default]
    Reserved,
    /// The VMs' measured cpu use in the host's cores less headroom.
    CpuUsed,
}

/// Checked power-saving term.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerSaving {
    shed_below: f64,
    full_above: f64,
    weight: f64,
    fill: Fill,
}

impl PowerSaving {
    /// Checks the shares are fractions in order.
    pub fn from_spec(spec: &PowerSavingSpec, path: &str) -> Result<PowerSaving, PolicyError> {
        let shed_below = share(&format!("{path}.shed_below"), spec.shed_below)?;
        let full_above = share(&format!("{path}.full_above"), spec.full_above)?;
        if shed_below >= full_above {
            return Err(PolicyError::invalid(
                format!("{path}.full_above"),
                format!("must be above shed_below ({shed_below}), or no host ever fills up"),
            ));
        }
        let weight = match spec.weight {
            Some(w) => non_negative(&format!("{path}.weight"), w, "a weight")?,
            None => 1.0,
        };
        Ok(PowerSaving {
            shed_below,
            full_above,
            weight,
            fill: spec.fill,
        })
    }

    fn fill(&self, state: &HostState<'_>) -> f64 {
        let share = match self.fill {
            Fill::Reserved => state.metrics.reserved.dominant_share(&state.capacity),
            Fill::CpuUsed => Resources::new(state.metrics.used.cpu_millicores, 0, 0)
                .dominant_share(&state.usable),
        };
        share.min(1.0)
    }

    /// Lowest at `shed_below`, zero when empty or full: see the module doc.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        let s = self.fill(state);
        if s >= self.full_above {
            0.0
        } else if s < self.shed_below {
            let x = s / self.shed_below;
            -self.weight * x * (2.0 - x)
        } else {
            let y = (s - self.shed_below) / (self.full_above - self.shed_below);
            -self.weight * (1.0 - y * y)
        }
    }

    /// Empty or full: content; lightly used: overloaded; otherwise
    /// underloaded.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        if state.metrics.vm_count == 0 {
            return None;
        }
        let s = self.fill(state);
        if s < self.shed_below {
            Some(Classification::Overloaded)
        } else if s < self.full_above {
            Some(Classification::Underloaded)
        } else {
            None
        }
    }
}

/// A fraction between 0 and 1.
pub(crate) fn share(path: &str, value: f64) -> Result<f64, PolicyError> {
    let v = non_negative(path, value, "a share of capacity")?;
    if v > 1.0 {
        Err(PolicyError::invalid(
            path,
            format!("a share of capacity is at most 1 (got {v})"),
        ))
    } else {
        Ok(v)
    }
}
