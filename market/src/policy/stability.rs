//! Stability (seed 004): "VM migration is a costly operation, any solution
//! must implement methods to reduce the number of migrations", and "it may
//! not be suitable to migrate VMs in the face of some transient ...
//! violations".
//!
//! Two settings answer the two sentences:
//! - a migration cost that grows with the VM's memory, which every
//!   valuation subtracts, so a move must gain more than it costs and a VM
//!   does not ping-pong between two hosts for a gain smaller than two moves;
//! - hysteresis: a classification must hold for `hold_observations`
//!   consecutive observations before the host acts on it ([`Hysteresis`]).

use serde::{Deserialize, Serialize};

use super::{Classification, PolicyError, non_negative};
use crate::vm::Vm;

/// `[policy.stability]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StabilitySpec {
    /// Consecutive observations a state must hold before acting. Default 1
    /// (act at once, as seed 002 did).
    #[serde(default)]
    pub hold_observations: Option<u32>,
    /// Fixed cost of any migration, credits. Default 0.01.
    #[serde(default)]
    pub migration_base_credits: Option<f64>,
    /// Cost per GiB of VM memory copied, credits. Default 0.01.
    #[serde(default)]
    pub migration_credits_per_gib: Option<f64>,
}

/// Checked stability settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    /// Observations a state must hold before acting (at least 1).
    pub hold_observations: u32,
    migration_base_credits: f64,
    migration_credits_per_gib: f64,
}

impl Stability {
    /// Checks the settings; no table means the defaults.
    pub fn from_spec(spec: Option<&StabilitySpec>, path: &str) -> Result<Stability, PolicyError> {
        let hold = spec.and_then(|s| s.hold_observations).unwrap_or(1);
        if hold == 0 {
            return Err(PolicyError::invalid(
                format!("{path}.hold_observations"),
                "must be at least 1 (1 acts on the first observation)",
            ));
        }
        let cost = |key: &str, value: Option<f64>| match value {
            Some(v) => non_negative(&format!("{path}.{key}"), v, "a cost"),
            None => Ok(0.01),
        };
        Ok(Stability {
            hold_observations: hold,
            migration_base_credits: cost(
                "migration_base_credits",
                spec.and_then(|s| s.migration_base_credits),
            )?,
            migration_credits_per_gib: cost(
                "migration_credits_per_gib",
                spec.and_then(|s| s.migration_credits_per_gib),
            )?,
        })
    }

    /// The cost of migrating `vm`, credits: base plus per GiB of memory.
    pub fn migration_cost(&self, vm: &Vm) -> f64 {
        self.migration_base_credits
            + self.migration_credits_per_gib * vm.migration_memory_mib() as f64 / 1024.0
    }

    /// A fresh hysteresis filter for these settings.
    pub fn hysteresis(&self) -> Hysteresis {
        Hysteresis::new(self.hold_observations)
    }
}

/// Turns a stream of observed classifications into the one to act on: a
/// new state is acted on only after it was observed `hold` times in a row.
/// Pure: the caller feeds observations, the filter keeps no clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hysteresis {
    hold: u32,
    acting: Classification,
    candidate: Classification,
    streak: u32,
}

impl Hysteresis {
    /// Starts satisfied (a host that just started does not act at once).
    pub fn new(hold: u32) -> Self {
        Hysteresis {
            hold: hold.max(1),
            acting: Classification::Satisfied,
            candidate: Classification::Satisfied,
            streak: 0,
        }
    }

    /// Records one observation and returns the state to act on.
    pub fn observe(&mut self, observed: Classification) -> Classification {
        if observed == self.candidate {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.candidate = observed;
            self.streak = 1;
        }
        if self.streak >= self.hold {
            self.acting = self.candidate;
        }
        self.acting
    }

    /// The state acted on now.
    pub fn acting(&self) -> Classification {
        self.acting
    }

    /// A state observed but not yet acted on, and how many observations in
    /// a row saw it; `None` when the last observation is the acting state.
    pub fn pending(&self) -> Option<(Classification, u32)> {
        (self.candidate != self.acting).then_some((self.candidate, self.streak))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Classification::*;

    #[test]
    fn a_transient_spike_does_not_change_the_acting_state() {
        let mut h = Hysteresis::new(3);
        assert_eq!(h.observe(Overloaded), Satisfied);
        assert_eq!(h.observe(Satisfied), Satisfied);
        assert_eq!(h.observe(Overloaded), Satisfied);
        assert_eq!(h.pending(), Some((Overloaded, 1)));
        assert_eq!(h.observe(Overloaded), Satisfied);
        assert_eq!(h.pending(), Some((Overloaded, 2)));
        assert_eq!(h.observe(Overloaded), Overloaded);
        assert_eq!(h.pending(), None);
        assert_eq!(h.observe(Underloaded), Overloaded);
    }

    #[test]
    fn hold_of_one_acts_at_once() {
        let mut h = Hysteresis::new(1);
        assert_eq!(h.observe(Underloaded), Underloaded);
        assert_eq!(h.observe(Overloaded), Overloaded);
    }
}
