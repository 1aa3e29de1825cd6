//! The faults a campaign injects, and what ends each one.

use std::fmt;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// A bidder SIGKILLed, restarted after a random delay.
    BidderKilled,
    /// A bidder SIGSTOPped for longer than a call window, then SIGCONTed.
    BidderStopped,
    /// A nats-server node SIGKILLed, restarted later.
    NodeKilled,
    /// A bidder's ledger disk filled up, freed later.
    LedgerFull,
    /// A burst of malformed and replayed messages from the rogue peer.
    RoguePeer,
}

impl FaultKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [FaultKind; 5] = [
        FaultKind::BidderKilled,
        FaultKind::BidderStopped,
        FaultKind::NodeKilled,
        FaultKind::LedgerFull,
        FaultKind::RoguePeer,
    ];
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::BidderKilled => "bidder SIGKILLed",
            FaultKind::BidderStopped => "bidder SIGSTOPped",
            FaultKind::NodeKilled => "nats-server node SIGKILLed",
            FaultKind::LedgerFull => "ledger disk full",
            FaultKind::RoguePeer => "rogue peer burst",
        })
    }
}

/// What ends a fault, when its moment comes (indices into the zone's
/// hosts and nodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Start the killed bidder again.
    RestartBidder(usize),
    /// SIGCONT the stopped bidder.
    ContinueBidder(usize),
    /// Start the killed node again.
    RestartNode(usize),
    /// Remove the file that fills the ledger's disk.
    FreeDisk(usize),
}

impl Recovery {
    /// The host it concerns, if a host.
    pub fn host(self) -> Option<usize> {
        match self {
            Recovery::RestartBidder(h) | Recovery::ContinueBidder(h) | Recovery::FreeDisk(h) => {
                Some(h)
            }
            Recovery::RestartNode(_) => None,
        }
    }
}
