//! A host's state, published every trading period.

use serde::{Deserialize, Serialize};

use crate::bus::subject::{HostName, Token};
use crate::policy::Classification;
use crate::resources::Resources;

/// What a host looks like to itself at the end of a sample: what an
/// operator needs to see which hosts are overloaded now and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostStatus {
    /// The host; equal to the envelope's sender and the subject's token.
    pub host: HostName,
    /// Its zone, so JSON lines from several zones can be told apart.
    pub zone: Token,
    /// How its policy classifies it now.
    pub class: Classification,
    /// True while a new state has not yet held for the policy's
    /// `hold_observations` samples: the host does not act on it yet.
    pub holding: bool,
    /// One-minute load average.
    pub load_one: f64,
    /// Sum of its VMs' reserved bundles.
    pub reserved: Resources,
    /// Sum of its VMs' measured use.
    pub used: Resources,
    /// What its hardware offers to VMs.
    pub capacity: Resources,
    /// VMs running.
    pub vm_count: u32,
    /// Its policy's utility of the host as it is, in credits.
    pub utility: f64,
    /// The protocols it plays, in the order it tries them as manager.
    pub protocols: Vec<Token>,
    /// The bidder's version (its crate version): hosts of a zone are
    /// upgraded together, and a straggler shows here.
    pub version: String,
    /// Its trading period: an observer marks the host silent when it has
    /// not heard from it for several periods.
    pub period_ms: u64,
    /// When the status was taken, on the host's clock (milliseconds since
    /// the Unix epoch on a real host; the simulated clock in simulations).
    pub at_ms: i64,
}
