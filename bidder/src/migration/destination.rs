//! The receiving side of a migration: what a host does when a peer moves VMs
//! to it. The in-process [`Peer`] is this type itself; a bus transport calls
//! the same methods when its messages arrive.

use std::sync::Arc;

use market::ledger::{Ledger, LedgerError, MigrationMethod, TradeId, TradeState, TradeTerms};

use super::peer::{HandoffAck, Peer, PeerError, TradeStatus, UNRECORDED_BY_SELLER};
use super::step::{self, MigrationStep};
use crate::hypervisor::{
    DomainSpec, DomainState, DomainUuid, Hypervisor, HypervisorError, blocking,
};

/// A host receiving VMs: its ledger and its hypervisor.
#[derive(Clone)]
pub struct Destination {
    ledger: Ledger,
    hypervisor: Arc<dyn Hypervisor>,
}

impl Destination {
    /// The host owning `ledger` and running `hypervisor`.
    pub fn new(ledger: Ledger, hypervisor: Arc<dyn Hypervisor>) -> Destination {
        Destination { ledger, hypervisor }
    }

    fn refused(&self, reason: impl Into<String>) -> PeerError {
        PeerError::Refused {
            host: self.ledger.owner().to_string(),
            reason: reason.into(),
        }
    }

    fn unavailable(&self, error: &LedgerError) -> PeerError {
        PeerError::Unavailable {
            host: self.ledger.owner().to_string(),
            detail: error.to_string(),
        }
    }

    fn hypervisor_failed(&self, error: &HypervisorError) -> PeerError {
        PeerError::Unavailable {
            host: self.ledger.owner().to_string(),
            detail: error.to_string(),
        }
    }

    /// The terms of a trade this host records as migrating, or a refusal.
    async fn migrating_trade(&self, trade_id: &TradeId) -> Result<TradeTerms, PeerError> {
        let record = self
            .ledger
            .trade(trade_id)
            .await
            .map_err(|e| self.unavailable(&e))?
            .ok_or_else(|| self.refused(format!("trade {trade_id} is not in its ledger")))?;
        if record.state != TradeState::Migrating {
            return Err(self.refused(format!(
                "trade {trade_id} is {} in its ledger, not migrating",
                record.state
            )));
        }
        Ok(record.terms)
    }

    /// Defines and starts one handed-off (or placed) domain; a replay
    /// finds it running.
    pub(super) async fn take(
        &self,
        trade_id: &TradeId,
        xml: String,
        uuid: DomainUuid,
    ) -> Result<(), HypervisorError> {
        let present = blocking(&self.hypervisor, {
            let uuid = uuid.clone();
            move |h| h.find(&uuid)
        })
        .await?;
        if present.is_some_and(|d| d.state.is_active()) {
            return Ok(());
        }
        step::timed(
            trade_id,
            MigrationStep::DestinationDefined,
            blocking(&self.hypervisor, move |h| h.define(&xml)),
        )
        .await?;
        step::timed(
            trade_id,
            MigrationStep::DestinationStarted,
            blocking(&self.hypervisor, move |h| h.start(&uuid)),
        )
        .await?;
        Ok(())
    }

    /// Stops (if running) and undefines a domain, if the host has it.
    pub(super) async fn remove(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        let uuid = uuid.clone();
        blocking(&self.hypervisor, move |h| {
            match h.find(&uuid)? {
                None => return Ok(()),
                Some(d) if d.state.is_active() => h.destroy(&uuid)?,
                Some(_) => {}
            }
            h.undefine(&uuid)
        })
        .await
    }
}

impl Peer for Destination {
    fn host(&self) -> &str {
        self.ledger.owner()
    }

    async fn agree(&self, terms: &TradeTerms) -> Result<(), PeerError> {
        match self.ledger.record_agreed(terms).await {
            Ok(_) => Ok(()),
            Err(e @ (LedgerError::ConflictingTerms { .. } | LedgerError::NotAParty { .. })) => {
                Err(self.refused(e.to_string()))
            }
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    async fn attempt_started(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        method: MigrationMethod,
    ) -> Result<(), PeerError> {
        match self.ledger.start_migration(trade_id, attempt, method).await {
            Ok(_) => Ok(()),
            Err(
                e @ (LedgerError::UnknownTrade(_)
                | LedgerError::IllegalTransition { .. }
                | LedgerError::AttemptMismatch { .. }),
            ) => Err(self.refused(e.to_string())),
            Err(e) => Err(self.unavailable(&e)),
        }
    }

    /// Takes the domains one by one; if one cannot be taken (the hypervisor
    /// refuses, e.g. for lack of memory), removes those taken so far and
    /// refuses with the hypervisor's reason, so the source keeps them all.
    async fn receive_domains(
        &self,
        trade_id: &TradeId,
        domains: &[String],
    ) -> Result<HandoffAck, PeerError> {
        let terms = self.migrating_trade(trade_id).await?;
        let mut incoming = Vec::with_capacity(domains.len());
        for xml in domains {
            let spec = DomainSpec::parse(xml).map_err(|e| self.refused(e.to_string()))?;
            if !terms.vms.iter().any(|vm| vm.uuid == spec.uuid.as_str()) {
                return Err(self.refused(format!(
                    "domain {} is not a VM of trade {trade_id}",
                    spec.uuid
                )));
            }
            incoming.push((xml.clone(), spec.uuid));
        }
        let mut taken = Vec::new();
        for (xml, uuid) in incoming {
            if let Err(e) = self.take(trade_id, xml, uuid.clone()).await {
                tracing::warn!(trade = %trade_id, %uuid, error = %e, "hand-off refused; removing what was taken");
                for done in taken.iter().chain(std::iter::once(&uuid)) {
                    self.remove(done)
                        .await
                        .map_err(|e| self.hypervisor_failed(&e))?;
                }
                return Err(self.refused(e.to_string()));
            }
            taken.push(uuid);
        }
        Ok(HandoffAck {
            host: self.ledger.owner().to_string(),
            running: taken,
        })
    }

    async fn trade_status(&self, trade_id: &TradeId) -> Result<Option<TradeStatus>, PeerError> {
        let record = self
            .ledger
            .trade(trade_id)
            .await
            .map_err(|e| self.unavailable(&e))?;
        Ok(record.map(|r| TradeStatus {
            state: r.state,
            reason: r.reason,
        }))
    }

    async fn locate(&self, uuid: &DomainUuid) -> Result<Option<DomainState>, PeerError> {
        let uuid = uuid.clone();
        blocking(&self.hypervisor, move |h| h.find(&uuid))
            .await
            .map(|found| found.map(|d| d.state))
            .map_err(|e| self.hypervisor_failed(&e))
    }

    async fn discard(&self, trade_id: &TradeId, uuid: &DomainUuid) -> Result<(), PeerError> {
        let record = self
            .ledger
            .trade(trade_id)
            .await
            .map_err(|e| self.unavailable(&e))?;
        let ours = record.is_some_and(|r| r.terms.vms.iter().any(|vm| vm.uuid == uuid.as_str()));
        if !ours {
            return Err(self.refused(format!("domain {uuid} is not a VM of trade {trade_id}")));
        }
        self.remove(uuid)
            .await
            .map_err(|e| self.hypervisor_failed(&e))
    }

    async fn settle(&self, trade_id: &TradeId) -> Result<(), PeerError> {
        self.ledger
            .settle(trade_id)
            .await
            .map(drop)
            .map_err(|e| self.unavailable(&e))
    }

    async fn fail(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        self.ledger
            .fail(trade_id, reason)
            .await
            .map(drop)
            .map_err(|e| self.unavailable(&e))
    }

    async fn roll_back(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        self.ledger
            .roll_back(trade_id, reason)
            .await
            .map(drop)
            .map_err(|e| self.unavailable(&e))
    }

    async fn seller_status(&self, terms: &TradeTerms) -> Result<TradeStatus, PeerError> {
        if terms.seller != self.ledger.owner() {
            return Err(self.refused(format!(
                "trade {} is sold by {}, not by this host",
                terms.trade_id, terms.seller
            )));
        }
        if let Some(status) = self.trade_status(&terms.trade_id).await? {
            return Ok(status);
        }
        // Recorded, then rolled back at once: a record that comes later
        // (the clearing's results, delayed) finds the trade already ended.
        self.agree(terms).await?;
        self.roll_back(&terms.trade_id, UNRECORDED_BY_SELLER)
            .await?;
        tracing::info!(trade = %terms.trade_id, buyer = %terms.buyer, "a trade its buyer asked about was never recorded here; rolled back");
        Ok(TradeStatus {
            state: TradeState::RolledBack,
            reason: Some(UNRECORDED_BY_SELLER.to_string()),
        })
    }
}
