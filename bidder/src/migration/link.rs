//! [`PeerLink`]: the one type the workflow and recovery use for "the
//! destination", however it is reached: in this process (simulations, one
//! process per cluster) or over the bus (one daemon per host). The workflow
//! has one code path; only the transport differs.

use market::ledger::{MigrationMethod, TradeId, TradeTerms};

use super::destination::Destination;
use super::peer::{HandoffAck, Peer, PeerError, TradeStatus};
use super::remote::BusPeer;
use crate::hypervisor::{DomainState, DomainUuid};

/// The destination of a migration, reached in process or over the bus.
#[derive(Clone)]
pub enum PeerLink {
    /// The destination's ledger and hypervisor, called directly.
    InProcess(Destination),
    /// Another process, through its [`DestinationService`](super::DestinationService).
    Bus(BusPeer),
}

/// Calls the same method on whichever peer this is.
macro_rules! each {
    ($self:ident, $peer:ident => $call:expr) => {
        match $self {
            PeerLink::InProcess($peer) => $call,
            PeerLink::Bus($peer) => $call,
        }
    };
}

impl Peer for PeerLink {
    fn host(&self) -> &str {
        each!(self, p => p.host())
    }

    async fn agree(&self, terms: &TradeTerms) -> Result<(), PeerError> {
        each!(self, p => p.agree(terms).await)
    }

    async fn seller_status(&self, terms: &TradeTerms) -> Result<TradeStatus, PeerError> {
        each!(self, p => p.seller_status(terms).await)
    }

    async fn attempt_started(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        method: MigrationMethod,
    ) -> Result<(), PeerError> {
        each!(self, p => p.attempt_started(trade_id, attempt, method).await)
    }

    async fn receive_domains(
        &self,
        trade_id: &TradeId,
        domains: &[String],
    ) -> Result<HandoffAck, PeerError> {
        each!(self, p => p.receive_domains(trade_id, domains).await)
    }

    async fn trade_status(&self, trade_id: &TradeId) -> Result<Option<TradeStatus>, PeerError> {
        each!(self, p => p.trade_status(trade_id).await)
    }

    async fn locate(&self, uuid: &DomainUuid) -> Result<Option<DomainState>, PeerError> {
        each!(self, p => p.locate(uuid).await)
    }

    async fn discard(&self, trade_id: &TradeId, uuid: &DomainUuid) -> Result<(), PeerError> {
        each!(self, p => p.discard(trade_id, uuid).await)
    }

    async fn settle(&self, trade_id: &TradeId) -> Result<(), PeerError> {
        each!(self, p => p.settle(trade_id).await)
    }

    async fn fail(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        each!(self, p => p.fail(trade_id, reason).await)
    }

    async fn roll_back(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        each!(self, p => p.roll_back(trade_id, reason).await)
    }
}
