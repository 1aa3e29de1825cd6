//! The resource vector every VM bundle and every host capacity is made of.
//!
//! Seed 001 ("in practice, machine load is multi-dimensional") and seed 002
//! section 6.1 ("virtual machines have unique specifications") are why a
//! bundle is a vector and not a count: a move is feasible only when the
//! receiving host has room in *every* dimension.
//!
//! Units are integers so that sums are exact and comparisons never depend on
//! rounding: cpu in millicores (1000 = one core), memory in MiB, network in
//! Mbit/s.

use serde::{Deserialize, Serialize};

/// The three dimensions a host can run out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Processor time, in millicores.
    Cpu,
    /// Memory, in MiB.
    Memory,
    /// Network bandwidth, in Mbit/s.
    Network,
}

impl Dimension {
    /// Every dimension, in a fixed order (used wherever a check must cover all).
    pub const ALL: [Dimension; 3] = [Dimension::Cpu, Dimension::Memory, Dimension::Network];
}

impl std::fmt::Display for Dimension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dimension::Cpu => "cpu",
            Dimension::Memory => "memory",
            Dimension::Network => "network",
        })
    }
}

/// An amount of cpu, memory and network: a VM's reserved size, its measured
/// use, a host's capacity or the headroom it keeps free.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Resources {
    /// Processor, in millicores (1000 = one core busy all the time).
    pub cpu_millicores: u64,
    /// Memory, in MiB.
    pub memory_mib: u64,
    /// Network bandwidth, in Mbit/s.
    pub network_mbps: u64,
}

/// Arithmetic on resource vectors that would leave the valid range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceError {
    /// A sum does not fit in 64 bits.
    #[error("{dimension} overflows when adding {right} to {left}")]
    Overflow {
        dimension: Dimension,
        left: u64,
        right: u64,
    },
    /// Taking away more than there is.
    #[error("{dimension} would go below zero: {left} minus {right}")]
    Underflow {
        dimension: Dimension,
        left: u64,
        right: u64,
    },
}

impl Resources {
    /// Nothing in any dimension.
    pub const ZERO: Resources = Resources {
        cpu_millicores: 0,
        memory_mib: 0,
        network_mbps: 0,
    };

    /// A vector from its three components.
    pub const fn new(cpu_millicores: u64, memory_mib: u64, network_mbps: u64) -> Self {
        Resources {
            cpu_millicores,
            memory_mib,
            network_mbps,
        }
    }

    /// The component in one dimension.
    pub const fn get(&self, dimension: Dimension) -> u64 {
        match dimension {
            Dimension::Cpu => self.cpu_millicores,
            Dimension::Memory => self.memory_mib,
            Dimension::Network => self.network_mbps,
        }
    }

    fn from_fn(
        mut f: impl FnMut(Dimension) -> Result<u64, ResourceError>,
    ) -> Result<Self, ResourceError> {
        Ok(Resources {
            cpu_millicores: f(Dimension::Cpu)?,
            memory_mib: f(Dimension::Memory)?,
            network_mbps: f(Dimension::Network)?,
        })
    }

    /// `self + other`, or which dimension overflowed.
    pub fn checked_add(&self, other: &Resources) -> Result<Resources, ResourceError> {
        Self::from_fn(|d| {
            let (left, right) = (self.get(d), other.get(d));
            left.checked_add(right).ok_or(ResourceError::Overflow {
                dimension: d,
                left,
                right,
            })
        })
    }

    /// `self - other`, or which dimension would go below zero.
    pub fn checked_sub(&self, other: &Resources) -> Result<Resources, ResourceError> {
        Self::from_fn(|d| {
            let (left, right) = (self.get(d), other.get(d));
            left.checked_sub(right).ok_or(ResourceError::Underflow {
                dimension: d,
                left,
                right,
            })
        })
    }

    /// `self + other`, stopping at `u64::MAX` in each dimension (a sum that
    /// large fits no real capacity, which is all a feasibility check needs).
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millicores: self.cpu_millicores.saturating_add(other.cpu_millicores),
            memory_mib: self.memory_mib.saturating_add(other.memory_mib),
            network_mbps: self.network_mbps.saturating_add(other.network_mbps),
        }
    }

    /// `self - other`, stopping at zero in each dimension (capacity left
    /// after headroom: a headroom larger than the host leaves nothing).
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millicores: self.cpu_millicores.saturating_sub(other.cpu_millicores),
            memory_mib: self.memory_mib.saturating_sub(other.memory_mib),
            network_mbps: self.network_mbps.saturating_sub(other.network_mbps),
        }
    }

    /// The sum of many vectors, or the first overflow.
    pub fn checked_sum<'a>(
        items: impl IntoIterator<Item = &'a Resources>,
    ) -> Result<Resources, ResourceError> {
        items
            .into_iter()
            .try_fold(Resources::ZERO, |acc, r| acc.checked_add(r))
    }

    /// True when `self` is at most `capacity` in every dimension.
    pub fn fits_within(&self, capacity: &Resources) -> bool {
        Dimension::ALL
            .iter()
            .all(|&d| self.get(d) <= capacity.get(d))
    }

    /// The first dimension in which `self` exceeds `capacity`, if any; says
    /// *why* a move was refused.
    pub fn first_excess(&self, capacity: &Resources) -> Option<Dimension> {
        Dimension::ALL
            .into_iter()
            .find(|&d| self.get(d) > capacity.get(d))
    }

    /// The largest fraction of `capacity` this vector takes in any dimension
    /// (the "dominant share"). A dimension of zero capacity counts as full
    /// when anything is asked of it and as empty otherwise.
    pub fn dominant_share(&self, capacity: &Resources) -> f64 {
        Dimension::ALL
            .iter()
            .map(|&d| share(self.get(d), capacity.get(d)))
            .fold(0.0, f64::max)
    }

    /// The sum of the per-dimension shares of `capacity`: the size used to
    /// sort items in vector packing (first-fit-decreasing and friends).
    pub fn share_sum(&self, capacity: &Resources) -> f64 {
        Dimension::ALL
            .iter()
            .map(|&d| share(self.get(d), capacity.get(d)))
            .sum()
    }

    /// Cpu in cores, the unit of a load average.
    pub fn cpu_cores(&self) -> f64 {
        self.cpu_millicores as f64 / 1000.0
    }
}

fn share(amount: u64, capacity: u64) -> f64 {
    if capacity == 0 {
        if amount == 0 { 0.0 } else { f64::INFINITY }
    } else {
        amount as f64 / capacity as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_sub_are_checked_per_dimension() {
        let a = Resources::new(1000, 512, 100);
        let b = Resources::new(500, 1024, 0);
        assert_eq!(a.checked_add(&b), Ok(Resources::new(1500, 1536, 100)));
        assert_eq!(
            a.checked_sub(&b),
            Err(ResourceError::Underflow {
                dimension: Dimension::Memory,
                left: 512,
                right: 1024
            })
        );
        let max = Resources::new(u64::MAX, 0, 0);
        assert!(matches!(
            max.checked_add(&a),
            Err(ResourceError::Overflow {
                dimension: Dimension::Cpu,
                ..
            })
        ));
    }

    #[test]
    fn fits_within_needs_every_dimension() {
        let cap = Resources::new(4000, 8192, 1000);
        assert!(Resources::new(4000, 8192, 1000).fits_within(&cap));
        assert!(!Resources::new(1, 1, 1001).fits_within(&cap));
        assert_eq!(
            Resources::new(1, 9000, 1001).first_excess(&cap),
            Some(Dimension::Memory)
        );
        assert_eq!(Resources::new(1, 1, 1).first_excess(&cap), None);
    }

    #[test]
    fn dominant_share_is_the_largest_fraction() {
        let cap = Resources::new(4000, 8192, 1000);
        let r = Resources::new(1000, 4096, 100);
        assert!((r.dominant_share(&cap) - 0.5).abs() < 1e-12);
        assert!((r.share_sum(&cap) - 0.85).abs() < 1e-12);
        let no_net = Resources::new(4000, 8192, 0);
        assert_eq!(
            Resources::new(0, 0, 1).dominant_share(&no_net),
            f64::INFINITY
        );
    }
}
