//! A virtual machine as the market sees it: what it reserves, what it really
//! uses, and the placement group operators put it in.

use serde::{Deserialize, Serialize};

use crate::resources::Resources;

/// A VM's identity on the market (and on the wire): stable across migrations,
/// unlike the hypervisor's domain id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VmId(pub u64);

impl std::fmt::Display for VmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vm#{}", self.0)
    }
}

/// How the VMs of one placement group want to be placed relative to each
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupRule {
    /// Affinity: members prefer sharing a host (chatty tiers of one service).
    Together,
    /// Anti-affinity: no two members on one host (replicas that must not
    /// fail together). A hard rule: a host refuses a VM that would break it.
    Apart,
}

impl GroupRule {
    /// The rule's name in files and on the wire: `together` or `apart`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRule::Together => "together",
            GroupRule::Apart => "apart",
        }
    }

    /// The rule called `name`.
    pub fn parse(name: &str) -> Result<GroupRule, GroupError> {
        match name {
            "together" => Ok(GroupRule::Together),
            "apart" => Ok(GroupRule::Apart),
            other => Err(GroupError::Rule {
                rule: other.to_string(),
            }),
        }
    }
}

/// A named group of VMs with an affinity or anti-affinity rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PlacementGroup {
    /// The group's name, shared by all its members.
    pub name: String,
    /// Whether members want to be together or apart.
    pub rule: GroupRule,
}

/// Why a placement group was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The name is empty, too long, or has a character outside the set.
    #[error(
        "placement group name {name:?} is not valid: 1 to {} letters, digits, `-` or `_`",
        PlacementGroup::MAX_NAME
    )]
    Name {
        /// The name as given.
        name: String,
    },
    /// Not `together` nor `apart`.
    #[error("placement rule {rule:?} is not valid: `together` or `apart`")]
    Rule {
        /// The rule as given.
        rule: String,
    },
}

impl PlacementGroup {
    /// The longest name accepted.
    pub const MAX_NAME: usize = 64;

    /// A group, if `name` is a valid group name. Names travel in LCC terms,
    /// ledgers and domain metadata, so they keep to a set every one of
    /// them carries unchanged.
    pub fn new(name: &str, rule: GroupRule) -> Result<PlacementGroup, GroupError> {
        let valid = !name.is_empty()
            && name.len() <= Self::MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(GroupError::Name {
                name: name.to_string(),
            });
        }
        Ok(PlacementGroup {
            name: name.to_string(),
            rule,
        })
    }
}

/// A virtual machine: the bundle a trade moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vm {
    /// Market identity.
    pub id: VmId,
    /// The hypervisor's domain name (`okvm1` in seed 002).
    pub name: String,
    /// What the VM is guaranteed: capacity checks add these up, so a host
    /// never promises more than it has.
    pub reserved: Resources,
    /// What the VM was last measured to use. Load-based policies look at
    /// this, because a VM that reserves four cores but idles does not load
    /// its host (seed 002 scenario 1 loads VMs with `while true` loops).
    pub used: Resources,
    /// The placement group, if an operator put the VM in one.
    pub group: Option<PlacementGroup>,
}

impl Vm {
    /// The memory a migration must copy, which is what makes a migration
    /// costly (seed 004: "VM migration is a costly operation"): a live
    /// migration copies the whole guest memory at least once, so this is the
    /// reserved memory, not the measured use.
    pub fn migration_memory_mib(&self) -> u64 {
        self.reserved.memory_mib
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_keep_to_the_token_set() {
        assert!(PlacementGroup::new("web-tier_2", GroupRule::Apart).is_ok());
        for bad in ["", "a b", "web.tier", "é", &"x".repeat(65)] {
            assert!(
                matches!(
                    PlacementGroup::new(bad, GroupRule::Together),
                    Err(GroupError::Name { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(GroupRule::parse("apart"), Ok(GroupRule::Apart));
        assert!(GroupRule::parse("near").is_err());
    }
}
