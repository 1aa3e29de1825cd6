//! How the interactions a host plays end: what an attempt to trade came
//! to, the trades it carried out, and the reports models end with.

use market::credits::Credits;
use market::ledger::TradeId;
use market::policy::Classification;
use market::resources::Resources;

use crate::hypervisor::DomainUuid;
use crate::migration;

/// What one attempt to trade as initiator came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Initiative {
    /// No protocol the host plays starts a call in the state it acts on
    /// (satisfied, or a state none of its protocols answers).
    NothingToDo(Classification),
    /// A new state now, but not yet seen for `hold_observations` samples
    /// in a row: the host waits.
    Holding {
        /// How many samples in a row saw it overloaded.
        seen: u32,
        /// How many it needs.
        hold: u32,
    },
    /// Overloaded with no VM whose departure raises its utility, or
    /// underloaded with no room to offer.
    NothingToOffer,
    /// No peer joined the interaction.
    NoPeers,
    /// The interaction ended without a trade (no proposal, none at the
    /// reserve, or the winner failed or fell silent), in the model's words.
    /// A hand-over that failed after the award, when the initiator is the
    /// buyer, is reported here too; both ledgers record it as failed.
    NoTrade {
        /// The VM offered.
        vm: String,
        /// `no_proposals`, `no_award`, `silent`, `failed(..)`.
        report: Report,
    },
    /// A trade was agreed and carried out (or failed while moving).
    Traded(TradeReport),
    /// This host held a round that clears many trades at once: every leg
    /// of every trade it cleared, as it heard them end (none: the round
    /// cleared nothing).
    Cleared(Vec<TradeReport>),
}

/// One agreed trade as the initiator saw it end.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TradeReport {
    /// The shared trade id.
    pub trade_id: TradeId,
    /// The protocol it was agreed in.
    pub protocol: String,
    /// The VM's domain name.
    pub vm: String,
    /// The host it left.
    pub seller: String,
    /// The host it went to.
    pub buyer: String,
    /// What the buyer paid the seller (negative: what the seller paid the
    /// buyer to take the VM).
    pub price: Credits,
    /// How the migration workflow ended.
    pub outcome: migration::Outcome,
}

/// A trade a protocol agreed, for [`HostContext::carry_out`](super::HostContext::carry_out): this host sells
/// the VM to `buyer` at `price`.
#[derive(Debug, Clone)]
pub struct Agreed {
    /// The trade id both parties record (the interaction's id).
    pub trade_id: TradeId,
    /// The protocol's name.
    pub protocol: String,
    /// The hash of the model it was agreed by.
    pub model_hash: String,
    /// The VM's domain UUID.
    pub vm_uuid: DomainUuid,
    /// The VM's domain name.
    pub vm_name: String,
    /// What the VM reserves.
    pub reserved: Resources,
    /// Who takes it.
    pub buyer: String,
    /// What the buyer pays this host.
    pub price: Credits,
}

/// How an interaction, or one step of it, ended: the report a model
/// passes to a host's components (`outcome`, `result`, `leg_ended`,
/// `concluded`, `conclude`), read in one place
/// (`bidder::protocol::terms`) so that every kind matches on the same
/// words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// `done`: the trade, or the step, was carried out.
    Done,
    /// `started`: a placed VM runs at the winner.
    Started,
    /// `silent`: the party that had to answer did not, in time.
    Silent,
    /// `failed(Why)`: the party said why it could not.
    Failed(String),
    /// `called_off(Why)`: the trade was called off, for that reason
    /// (`not_recorded`, `leg_failed`, `leg_silent`).
    CalledOff(String),
    /// Any other word a model ends with (`no_proposals`, `no_award`,
    /// `called_off(leg_failed)`, ...): no trade, for that reason, in the
    /// model's words.
    Other(String),
    /// None: the interaction ended before its last step passed one.
    Missing,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Report::Done => f.write_str("done"),
            Report::Started => f.write_str("started"),
            Report::Silent => f.write_str("silent"),
            Report::Failed(why) => write!(f, "failed({why})"),
            Report::CalledOff(why) => write!(f, "called_off({why})"),
            Report::Other(word) => f.write_str(word),
            Report::Missing => f.write_str("the interaction ended without a report"),
        }
    }
}
