//! Agility (seed 001, policy 2): "maintain an even loading across the
//! physical machines", so that any host can absorb a burst.
//!
//! A host cannot see the cluster's mean, so the policy declares the share
//! it aims at. The host measures its dominant share of *measured use* (an
//! idle VM does not load its host). The utility is
//! `-weight * (s - target)^2`: concave, so moving load from a fuller host to
//! an emptier one raises the sum of their utilities, which spreads load.

use serde::{Deserialize, Serialize};

use super::power_saving::share;
use super::{Classification, HostState, PolicyError, non_negative};

/// `[policy.agility]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgilitySpec {
    /// The dominant share of measured use the host aims at.
    pub target_share: f64,
    /// How far from the target still counts as satisfied.
    pub tolerance: f64,
    /// Credits lost at a distance of 1 (a full host aiming at empty). Default 10.
    #[serde(default)]
    pub weight: Option<f64>,
}

/// Checked agility term.
#[derive(Debug, Clone, PartialEq)]
pub struct Agility {
    target_share: f64,
    tolerance: f64,
    weight: f64,
}

impl Agility {
    /// Checks the target is a share and the tolerance not negative.
    pub fn from_spec(spec: &AgilitySpec, path: &str) -> Result<Agility, PolicyError> {
        Ok(Agility {
            target_share: share(&format!("{path}.target_share"), spec.target_share)?,
            tolerance: non_negative(&format!("{path}.tolerance"), spec.tolerance, "a tolerance")?,
            weight: match spec.weight {
                Some(w) => non_negative(&format!("{path}.weight"), w, "a weight")?,
                None => 10.0,
            },
        })
    }

    fn load(state: &HostState<'_>) -> f64 {
        state.metrics.used.dominant_share(&state.usable)
    }

    /// Concave around the target.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        let d = Self::load(state) - self.target_share;
        -self.weight * d * d
    }

    /// Above the band: overloaded; below: underloaded.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        let s = Self::load(state);
        if s > self.target_share + self.tolerance {
            Some(Classification::Overloaded)
        } else if s < self.target_share - self.tolerance {
            Some(Classification::Underloaded)
        } else {
            None
        }
    }
}
