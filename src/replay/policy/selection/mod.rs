//! VM selection: which VM an overloaded host sheds next (CloudSim's
//! `PowerVmSelectionPolicy*`). One policy a file:
//!
//! - [`mmt`]: minimum migration time, the VM with the least memory;
//! - [`mc`]: maximum correlation, the VM whose history the others' explain
//!   best (MMT while the histories are too short to regress on);
//! - [`rs`]: random selection, from a seeded stream;
//! - [`mu`]: minimum utilisation, the VM using the least of its CPU.
//!
//! Each picks among the host's VMs not already migrating, in the host's
//! list order, and returns `None` when there is none.

pub mod mc;
pub mod mmt;
pub mod mu;
pub mod rs;

use super::Datacenter;
use crate::rng::Rng;

/// A VM selection policy, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// `mmt`
    MinimumMigrationTime,
    /// `mc`
    MaximumCorrelation,
    /// `rs`
    RandomSelection,
    /// `mu`
    MinimumUtilisation,
}

impl Selection {
    /// Every policy, with its name on the command line.
    pub const ALL: [(Selection, &'static str); 4] = [
        (Selection::MinimumMigrationTime, "mmt"),
        (Selection::MaximumCorrelation, "mc"),
        (Selection::RandomSelection, "rs"),
        (Selection::MinimumUtilisation, "mu"),
    ];

    /// The policy named `code` (`mmt`, `mc`, `rs`, `mu`).
    pub fn from_code(code: &str) -> Option<Selection> {
        Self::ALL.iter().find(|(_, c)| *c == code).map(|(s, _)| *s)
    }

    /// Its name on the command line.
    pub fn code(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("mmt", |(_, c)| c)
    }

    /// The VM `host` should shed next (`stream` feeds random selection).
    pub fn pick(self, dc: &Datacenter, host: usize, stream: &mut Rng) -> Option<usize> {
        match self {
            Selection::MinimumMigrationTime => mmt::select(dc, host),
            Selection::MaximumCorrelation => mc::select(dc, host),
            Selection::RandomSelection => rs::select(dc, host, stream),
            Selection::MinimumUtilisation => mu::select(dc, host),
        }
    }
}

/// The VMs of `host` that may move: not migrating, in list order
/// (CloudSim's `getMigratableVms`).
fn migratable(dc: &Datacenter, host: usize) -> Vec<usize> {
    dc.hosts[host]
        .vms
        .iter()
        .copied()
        .filter(|&v| !dc.vms[v].in_migration)
        .collect()
}
