//! One step of a trade's lifecycle, published by its seller (a
//! placement's by its buyer: its seller is the operator who asked).

use serde::{Deserialize, Serialize};

use crate::bus::subject::HostName;
use crate::credits::Credits;
/// Where a trade stands: the ledger's own states (docs/ledger.md).
pub use crate::ledger::{TradeKind, TradeState};

/// A trade reached `state`. The seller gives the VMs, the buyer takes them
/// and pays the price (docs/economics.md, "Buyers, sellers and prices").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeEvent {
    /// The trade id both ledgers record it under.
    pub trade_id: String,
    /// The interaction it was agreed in (32 hex digits).
    pub interaction_id: String,
    /// The protocol it was agreed in.
    pub protocol: String,
    /// A migration between two hosts, or a placement of a new VM.
    pub kind: TradeKind,
    /// The host the VMs leave, the publisher; for a placement, the
    /// operator who asked for it.
    pub seller: HostName,
    /// The host the VMs go to; the publisher of a placement.
    pub buyer: HostName,
    /// The VMs' domain names.
    pub vms: Vec<String>,
    /// What the buyer pays the seller (negative: the seller pays the buyer
    /// to take them).
    pub price: Credits,
    /// The state reached.
    pub state: TradeState,
    /// Why, for a failed or rolled-back trade (the refusal's own words).
    pub reason: Option<String>,
    /// Milliseconds since the trade was agreed.
    pub since_agreed_ms: u64,
    /// Milliseconds the move took, once it ended (`None` before the
    /// migration started or when nothing was attempted).
    pub migration_ms: Option<u64>,
    /// When the state was reached, on the seller's clock.
    pub at_ms: i64,
}

impl TradeEvent {
    /// Who publishes this event: the seller, or a placement's buyer.
    pub fn publisher(&self) -> &HostName {
        match self.kind {
            TradeKind::Migration => &self.seller,
            TradeKind::Placement => &self.buyer,
        }
    }
}
