//! Crash recovery: on start, a bidder finishes every trade its ledger shows
//! unfinished, from where the VMs really are.
//!
//! The source (seller) of a trade is its coordinator: the workflow finalises
//! the source's ledger last, so the source's unfinished trades are exactly
//! the trades that may need work, and recovery runs there. (A destination
//! that restarts keeps its trades migrating until its source's recovery
//! tells it how they ended; every peer call is idempotent.)
//!
//! The rules (docs/migration.md explains why they never lose a VM and never
//! leave one running twice):
//!
//! 1. **Agreed, no attempt**: nothing moved. Roll back in both ledgers.
//! 2. **Migrating, settled at the destination**: the hand-off committed
//!    (the destination settles only after the source removed its copies;
//!    the source's own `settle` failed after that). Settle the source's
//!    ledger and touch no VM: whatever runs here now arrived later.
//! 3. **Migrating**: ask both hypervisors where each VM is.
//!    - every VM runs at the destination → **roll forward**: remove the
//!      source's leftover copies (destroy, undefine), settle both ledgers.
//!      The destination running them is the hand-off's commit point.
//!    - otherwise, if every VM is still defined at the source → **roll
//!      back**: discard the destination's copies, start a source copy that
//!      is stopped, roll back both ledgers.
//!    - otherwise (a VM nowhere, or only stopped at the destination) →
//!      change nothing and report it: only a person should decide.
//!
//! A trade that ends without moving ends as *failed* when the destination's
//! ledger already says failed (the crash came between the two `fail`s), and
//! as *rolled back* otherwise.
//!
//! Recovery can itself be interrupted and run again: every step re-checks
//! the hosts and the ledger calls are idempotent.

use std::sync::Arc;

use market::ledger::{Ledger, LedgerError, Side, TradeId, TradeRecord, TradeState};

use crate::hypervisor::{DomainState, DomainUuid, Hypervisor, HypervisorError, blocking};
use crate::migration::carrying::InHand;
use crate::migration::step::{self, MigrationStep};
use crate::migration::{MigrationError, Outcome, Peer, PeerError, TradeStatus, vm_uuids};

/// Why recovery could not finish a trade.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// A ledger could not be read or written.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The local hypervisor failed.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// The destination failed.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The trade's terms are unusable.
    #[error(transparent)]
    Migration(#[from] MigrationError),
    /// The hosts are in a state the rules do not decide; nothing was changed.
    #[error("trade {trade_id}: {detail}; nothing was changed, a person must decide")]
    Undecidable {
        /// The trade.
        trade_id: TradeId,
        /// Where the VMs are.
        detail: String,
    },
}

/// Where one VM of a trade is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whereabouts {
    /// The VM.
    pub uuid: DomainUuid,
    /// Its state at the source, if defined there.
    pub source: Option<DomainState>,
    /// Its state at the destination, if defined there.
    pub destination: Option<DomainState>,
}

/// How recovery finished one trade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// The trade.
    pub trade_id: TradeId,
    /// How it ended.
    pub outcome: Outcome,
}

/// Recovery of the trades whose source is the host owning `ledger`.
pub struct Recovery<P> {
    ledger: Ledger,
    hypervisor: Arc<dyn Hypervisor>,
    peer: P,
    /// Trades a live role carries out now: not recovery's to finish.
    in_hand: InHand,
}

impl<P: Peer> Recovery<P> {
    /// Recovery for the host owning `ledger` and running `hypervisor`,
    /// whose trades go to `peer`.
    pub fn new(ledger: Ledger, hypervisor: Arc<dyn Hypervisor>, peer: P) -> Recovery<P> {
        Recovery {
            ledger,
            hypervisor,
            peer,
            in_hand: InHand::nothing(),
        }
    }

    /// Leaves alone what `in_hand` holds when it comes to it: a live role
    /// carries those out.
    pub fn sparing(mut self, in_hand: InHand) -> Recovery<P> {
        self.in_hand = in_hand;
        self
    }

    /// Finishes every unfinished trade this host is the source of and whose
    /// destination is this peer. Stops at the first trade it cannot finish.
    pub async fn run(&self) -> Result<Vec<Resolution>, RecoveryError> {
        let mut resolved = Vec::new();
        for trade in self.ledger.unfinished_trades().await? {
            if trade.our_side != Side::Seller
                || trade.terms.destination() != self.peer.host()
                || self.in_hand.holds(&trade.terms.trade_id)
            {
                continue;
            }
            let outcome = self.recover(&trade).await?;
            tracing::info!(trade = %trade.terms.trade_id, ?outcome, "trade recovered");
            resolved.push(Resolution {
                trade_id: trade.terms.trade_id.clone(),
                outcome,
            });
        }
        Ok(resolved)
    }

    /// Calls off one trade this host is the source of, while it runs: one
    /// that did not begin to move ends in both ledgers with `why` (as rule
    /// 1), one that began is finished by rules 2 and 3, one
    /// that already ended is left as it is (`None`).
    pub async fn call_off(
        &self,
        trade_id: &TradeId,
        why: &str,
    ) -> Result<Option<Outcome>, RecoveryError> {
        let Some(trade) = self.ledger.trade(trade_id).await? else {
            return Ok(None);
        };
        match trade.state {
            TradeState::Agreed => {
                // The destination may not have recorded it (it declined
                // the trade): it records it, to end it as this host does.
                self.peer.agree(&trade.terms).await?;
                let at_peer = self.peer.trade_status(trade_id).await?;
                let reason = format!("called off: {why}");
                Ok(Some(
                    self.end_without_moving(trade_id, at_peer, &reason).await?,
                ))
            }
            TradeState::Migrating => Ok(Some(self.recover(&trade).await?)),
            _ => Ok(None),
        }
    }

    async fn recover(&self, trade: &TradeRecord) -> Result<Outcome, RecoveryError> {
        let trade_id = &trade.terms.trade_id;
        // The crash may have come before the destination recorded the trade.
        self.peer.agree(&trade.terms).await?;
        let at_peer = self.peer.trade_status(trade_id).await?;
        if trade.state == TradeState::Agreed {
            let reason = "the source restarted before the migration began";
            return self.end_without_moving(trade_id, at_peer, reason).await;
        }
        if at_peer.as_ref().map(|s| s.state) == Some(TradeState::Settled) {
            self.ledger.settle(trade_id).await?;
            return Ok(Outcome::Settled);
        }
        let mut places = Vec::new();
        for uuid in vm_uuids(&trade.terms)? {
            places.push(self.whereabouts(uuid).await?);
        }
        if places
            .iter()
            .all(|p| p.destination.is_some_and(DomainState::is_active))
        {
            for place in &places {
                self.remove_source_copy(place).await?;
            }
            self.peer.settle(trade_id).await?;
            self.ledger.settle(trade_id).await?;
            return Ok(Outcome::Settled);
        }
        if places.iter().all(|p| p.source.is_some()) {
            for place in &places {
                if place.destination.is_some() {
                    self.peer.discard(trade_id, &place.uuid).await?;
                }
                if place.source.is_some_and(|s| !s.is_active()) {
                    let uuid = place.uuid.clone();
                    blocking(&self.hypervisor, move |h| h.start(&uuid)).await?;
                }
            }
            let reason = "the migration was interrupted before the destination ran the VMs";
            return self.end_without_moving(trade_id, at_peer, reason).await;
        }
        Err(RecoveryError::Undecidable {
            trade_id: trade_id.clone(),
            detail: format!("VMs are {places:?}"),
        })
    }

    async fn whereabouts(&self, uuid: DomainUuid) -> Result<Whereabouts, RecoveryError> {
        let id = uuid.clone();
        let source = blocking(&self.hypervisor, move |h| h.find(&id))
            .await?
            .map(|d| d.state);
        let destination = self.peer.locate(&uuid).await?;
        Ok(Whereabouts {
            uuid,
            source,
            destination,
        })
    }

    /// The VM runs at the destination: the source's copy is a leftover.
    async fn remove_source_copy(&self, place: &Whereabouts) -> Result<(), RecoveryError> {
        let Some(state) = place.source else {
            return Ok(());
        };
        let uuid = place.uuid.clone();
        blocking(&self.hypervisor, move |h| {
            if state.is_active() {
                h.destroy(&uuid)?;
            }
            h.undefine(&uuid)
        })
        .await?;
        Ok(())
    }

    /// The VMs are at the source: the trade ends as failed if the
    /// destination already recorded the failure (the crash came between the
    /// two ledgers' `fail`), as rolled back otherwise.
    async fn end_without_moving(
        &self,
        trade_id: &TradeId,
        at_peer: Option<TradeStatus>,
        reason: &str,
    ) -> Result<Outcome, RecoveryError> {
        if let Some(TradeStatus {
            state: TradeState::Failed,
            reason: failure,
        }) = at_peer
        {
            let failure = failure.unwrap_or_else(|| reason.to_string());
            self.ledger.fail(trade_id, &failure).await?;
            return Ok(Outcome::Failed { reason: failure });
        }
        step::timed(
            trade_id,
            MigrationStep::PeerRolledBack,
            self.peer.roll_back(trade_id, reason),
        )
        .await?;
        step::timed(
            trade_id,
            MigrationStep::RolledBack,
            self.ledger.roll_back(trade_id, reason),
        )
        .await?;
        Ok(Outcome::RolledBack {
            reason: reason.to_string(),
        })
    }
}

/// The buyer's part of recovery, for one trade this host is the buyer of
/// and still holds agreed, long after anybody could still carry it out
/// (the caller decides when): asks the seller how it holds the trade
/// ([`Peer::seller_status`]) and, when the seller ended it without moving
/// anything (or never recorded it, and now has, rolled back), ends it here
/// the same way. A seller that still holds it unfinished will recover it
/// itself; then nothing changes here (`None`).
pub async fn end_unrecorded_purchase<P: Peer>(
    ledger: &Ledger,
    seller: &P,
    trade: &TradeRecord,
) -> Result<Option<Outcome>, RecoveryError> {
    let trade_id = &trade.terms.trade_id;
    let status = seller.seller_status(&trade.terms).await?;
    let reason = status
        .reason
        .unwrap_or_else(|| format!("its seller's ledger says {}", status.state));
    match status.state {
        TradeState::RolledBack => {
            ledger.roll_back(trade_id, &reason).await?;
            Ok(Some(Outcome::RolledBack { reason }))
        }
        TradeState::Failed => {
            ledger.fail(trade_id, &reason).await?;
            Ok(Some(Outcome::Failed { reason }))
        }
        TradeState::Agreed | TradeState::Migrating | TradeState::Settled => Ok(None),
    }
}
