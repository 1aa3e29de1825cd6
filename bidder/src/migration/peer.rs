//! The destination as the source's workflow sees it.
//!
//! The source drives a migration; everything the destination must do (record
//! the trade and the attempt in its own ledger, receive a handed-off domain,
//! say where a VM is, settle or fail) goes through this trait. In one process
//! (simulations, tests) [`Destination`](super::destination::Destination)
//! implements it by calling the destination directly; a transport over the
//! bus implements it by sending messages that end in the same `Destination`
//! methods on the other host. Every call is idempotent: a retried or
//! replayed call changes nothing more.

use std::future::Future;

use market::ledger::{MigrationMethod, TradeId, TradeState, TradeTerms};

use crate::hypervisor::{DomainState, DomainUuid};

/// The destination's answer to a hand-off: it runs the domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffAck {
    /// The destination host.
    pub host: String,
    /// The domains it now runs.
    pub running: Vec<DomainUuid>,
}

/// A trade as the destination's ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeStatus {
    /// Its state there.
    pub state: TradeState,
    /// The reason on file, if it failed or was rolled back.
    pub reason: Option<String>,
}

/// Why the destination did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// It refused, and nothing changed on its side: the reason goes to both
    /// ledgers (e.g. the hypervisor's "not enough free memory").
    #[error("{host} refused: {reason}")]
    Refused {
        /// The destination host.
        host: String,
        /// Its reason, verbatim.
        reason: String,
    },
    /// It could not answer (ledger or transport failure): what happened on
    /// its side is unknown until recovery asks again.
    #[error("{host} could not answer: {detail}")]
    Unavailable {
        /// The destination host.
        host: String,
        /// What went wrong.
        detail: String,
    },
}

/// The destination of a migration (see the module documentation).
pub trait Peer: Send + Sync {
    /// The destination host's name.
    fn host(&self) -> &str;

    /// Records the agreed trade in the destination's ledger.
    fn agree(&self, terms: &TradeTerms) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// Records that attempt `attempt` started (the trade is migrating).
    fn attempt_started(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        method: MigrationMethod,
    ) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// Hand-off: define and start these domains (their XML), then answer.
    /// On refusal nothing of them is left at the destination.
    fn receive_domains(
        &self,
        trade_id: &TradeId,
        domains: &[String],
    ) -> impl Future<Output = Result<HandoffAck, PeerError>> + Send;

    /// How the destination's ledger sees the trade (`None`: not recorded).
    /// Recovery uses it to end the trade the way the destination already did.
    fn trade_status(
        &self,
        trade_id: &TradeId,
    ) -> impl Future<Output = Result<Option<TradeStatus>, PeerError>> + Send;

    /// Where is this VM at the destination: `None` if not defined there.
    fn locate(
        &self,
        uuid: &DomainUuid,
    ) -> impl Future<Output = Result<Option<DomainState>, PeerError>> + Send;

    /// Recovery of an unfinished hand-off: stop and undefine the
    /// destination's copy of a VM of this trade (nothing if it has none).
    fn discard(
        &self,
        trade_id: &TradeId,
        uuid: &DomainUuid,
    ) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// The VMs run at the destination: settle (credits move).
    fn settle(&self, trade_id: &TradeId) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// The migration failed with `reason`; the VMs stayed at the source.
    fn fail(
        &self,
        trade_id: &TradeId,
        reason: &str,
    ) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// The trade is called off (recovery put things back).
    fn roll_back(
        &self,
        trade_id: &TradeId,
        reason: &str,
    ) -> impl Future<Output = Result<(), PeerError>> + Send;

    /// The one call the other way round, asked of a trade's *seller* by
    /// its buyer: how the seller's ledger holds the trade. A seller with
    /// no record of it first records it rolled back
    /// ([`UNRECORDED_BY_SELLER`]), so that it can never start afterwards,
    /// then answers so. What a buyer left holding a trade needs when
    /// nobody else would end it: a call-market leg whose seller never
    /// recorded it, called off while the buyer was down (recovery is the
    /// seller's, and such a seller has nothing to recover).
    fn seller_status(
        &self,
        terms: &TradeTerms,
    ) -> impl Future<Output = Result<TradeStatus, PeerError>> + Send;
}

/// The reason a seller records for a trade its buyer asked about and it
/// had never recorded ([`Peer::seller_status`]).
pub const UNRECORDED_BY_SELLER: &str =
    "called off: its buyer asked about it, and its seller had never recorded it";
