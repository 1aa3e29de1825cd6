//! The rules every policy of a run, and the lower bound beside them, are
//! held to. One set per run, so the figures printed side by side are
//! comparable: a bound that counts memory the policies ignore is no bound
//! on them.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// When a host's memory limits the VMs it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Memory {
    /// CloudSim's rule: memory is reserved when the VMs are created and
    /// never again. Its PlanetLab VMs declare no memory use once started
    /// (`UtilizationModelNull`), so migrations are bound by CPU alone.
    /// Needed to reproduce CloudSim's figures.
    #[default]
    Cloudsim,
    /// A host holds at most its own memory of VMs' declared memory, at the
    /// start and at every migration (a VM being copied counts on both
    /// hosts), for every policy.
    Enforced,
}

impl Memory {
    /// Whether memory binds after the VMs were created.
    pub fn enforced(self) -> bool {
        self == Memory::Enforced
    }
}

/// A memory rule the replay does not know.
#[derive(Debug, Error, PartialEq)]
#[error("unknown memory rule `{0}`: expected cloudsim or enforced")]
pub struct UnknownMemoryRule(pub String);

impl FromStr for Memory {
    type Err = UnknownMemoryRule;

    fn from_str(text: &str) -> Result<Memory, UnknownMemoryRule> {
        match text {
            "cloudsim" => Ok(Memory::Cloudsim),
            "enforced" => Ok(Memory::Enforced),
            _ => Err(UnknownMemoryRule(text.to_string())),
        }
    }
}

impl fmt::Display for Memory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Memory::Cloudsim => "cloudsim",
            Memory::Enforced => "enforced",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in ["cloudsim", "enforced"] {
            let rule: Result<Memory, _> = name.parse();
            assert_eq!(rule.map(|r| r.to_string()), Ok(name.to_string()));
        }
        assert_eq!(
            "strict".parse::<Memory>(),
            Err(UnknownMemoryRule("strict".into()))
        );
    }
}
