//! What a run records round by round: the hosts, the trades and the
//! placements each round made, and why the run stopped.

use bidder::agent::TradeReport;
use bidder::protocol::placement::{CallReport, Ended};
use market::policy::Classification;
use serde::Serialize;

/// One host at the end of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPoint {
    /// Host name.
    pub name: String,
    /// The VMs it runs, by domain name.
    pub vms: Vec<String>,
    /// Its one-minute load average.
    pub load: f64,
    /// Memory its VMs reserve, MiB.
    pub memory_mib: u64,
    /// How its policy classifies it.
    pub class: Classification,
}

/// One trade and the round it was made in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrade {
    /// The round (1 for the first).
    pub round: u32,
    /// Bus messages published from the interaction's start to the trade's
    /// end (all hosts).
    pub messages: u64,
    /// The trade as its manager saw it end.
    pub trade: TradeReport,
}

/// One arriving VM's placement call and the round it was made in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementRecord {
    /// The round (1 for the first).
    pub round: u32,
    /// Bus messages published during the call (all hosts).
    pub messages: u64,
    /// The call as the operator saw it end.
    #[serde(flatten)]
    pub call: CallReport,
}

impl PlacementRecord {
    /// The host that started the VM, if one did.
    pub fn placed_at(&self) -> Option<&str> {
        match &self.call.ended {
            Ended::Started { host, .. } => Some(host),
            _ => None,
        }
    }
}

/// What the rounds made: trades, and placements of arriving VMs.
pub(crate) struct Made {
    /// Every trade, in order.
    pub trades: Vec<RoundTrade>,
    /// Every placement call, in order.
    pub placements: Vec<PlacementRecord>,
}

/// The state of the cluster after one round (round 0: before any trade).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRecord {
    /// Round number.
    pub round: u32,
    /// Every host, in scenario order.
    pub hosts: Vec<HostPoint>,
    /// Trades made in the round.
    pub trades: Vec<RoundTrade>,
    /// Bus messages published in the round.
    pub messages: u64,
    /// Their payloads' bytes: what the round cost on the wire.
    pub bytes: u64,
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// A round made no trade (two in a row, where a call market trades)
    /// and no host is overloaded: nothing would change.
    Quiescent,
    /// A round made no trade (two in a row, where a call market trades)
    /// although some host is overloaded: no peer would take what it
    /// offers.
    Stuck,
    /// The scenario's `rounds` ran out while hosts were still trading.
    RoundLimit,
}
