//! Placement rules operators expect: affinity and anti-affinity groups.
//!
//! The rule belongs to the group (a [`crate::vm::PlacementGroup`] on each
//! VM), so every host enforces it whatever its own goal; the policy only
//! sets the weights, which is why this term is always present.
//!
//! - Affinity (`together`): each pair of members on one host is worth
//!   `affinity_weight` credits, so a host pays more for a VM whose partners
//!   it already runs and asks more to let one go.
//! - Anti-affinity (`apart`): a hard rule. A host refuses a VM whose group
//!   already has a member on it; a host that finds two members on itself
//!   (placed before the rule existed) is overloaded and loses
//!   `anti_affinity_weight` credits per offending pair until it sheds one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Classification, HostState, PolicyError, non_negative};
use crate::vm::GroupRule;

/// `[policy.placement]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementSpec {
    /// Credits per pair of affinity-group members on this host. Default 0.1.
    #[serde(default)]
    pub affinity_weight: Option<f64>,
    /// Credits lost per pair of anti-affinity-group members on this host.
    /// Default 10.
    #[serde(default)]
    pub anti_affinity_weight: Option<f64>,
}

/// Checked placement term.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    affinity_weight: f64,
    anti_affinity_weight: f64,
}

impl Placement {
    /// Checks the weights; no table means the defaults.
    pub fn from_spec(spec: Option<&PlacementSpec>, path: &str) -> Result<Placement, PolicyError> {
        let weight = |key: &str, value: Option<f64>, default: f64| match value {
            Some(w) => non_negative(&format!("{path}.{key}"), w, "a weight"),
            None => Ok(default),
        };
        Ok(Placement {
            affinity_weight: weight("affinity_weight", spec.and_then(|s| s.affinity_weight), 0.1)?,
            anti_affinity_weight: weight(
                "anti_affinity_weight",
                spec.and_then(|s| s.anti_affinity_weight),
                10.0,
            )?,
        })
    }

    /// Pairs of members per rule in the state: (together pairs, apart pairs).
    fn pairs(state: &HostState<'_>) -> (u64, u64) {
        let mut members: BTreeMap<(&str, bool), u64> = BTreeMap::new();
        for vm in state.vms() {
            if let Some(group) = &vm.group {
                *members
                    .entry((group.name.as_str(), group.rule == GroupRule::Apart))
                    .or_default() += 1;
            }
        }
        members
            .iter()
            .fold((0, 0), |(together, apart), (&(_, is_apart), &n)| {
                let pairs = n * n.saturating_sub(1) / 2;
                if is_apart {
                    (together, apart + pairs)
                } else {
                    (together + pairs, apart)
                }
            })
    }

    /// Bonus for affinity pairs, penalty for anti-affinity pairs.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        let (together, apart) = Self::pairs(state);
        self.affinity_weight * together as f64 - self.anti_affinity_weight * apart as f64
    }

    /// Overloaded while two members of an anti-affinity group share the host.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        (Self::pairs(state).1 > 0).then_some(Classification::Overloaded)
    }

    /// Refuses a VM whose anti-affinity group already has a member here.
    pub fn refusal(&self, state: &HostState<'_>) -> Option<String> {
        let incoming = state.takes?;
        let group = incoming
            .group
            .as_ref()
            .filter(|g| g.rule == GroupRule::Apart)?;
        let gives = state.gives.map(|vm| vm.id);
        state
            .host
            .vms
            .iter()
            .filter(|vm| Some(vm.id) != gives)
            .any(|vm| vm.group.as_ref() == Some(group))
            .then(|| {
                format!(
                    "anti-affinity group `{}` already has a member on this host",
                    group.name
                )
            })
    }
}
