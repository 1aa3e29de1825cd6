//! The migration workflow: carries out an agreed trade by moving its VMs
//! from the seller's host (the source, which runs this workflow) to the
//! buyer's host (the destination, reached through a [`Peer`]).
//!
//! Every step is written to the ledgers before it is acted on, the source's
//! ledger first and the destination's through the peer:
//!
//! ```text
//! record agreed (source, destination)
//! record attempt n, trade migrating (source, destination)
//! move: hand-off (handoff.rs) or live migration (live.rs)
//! moved   -> settle (destination, then source: credits move)
//! refused -> fail with the reason (destination, then source: the VMs stayed)
//! anything else -> the trade stays migrating; recovery.rs finishes it
//! ```
//!
//! The source's ledger is finalised last, so "final in the source's ledger"
//! implies "final in both", and recovery only has to look at the source's
//! unfinished trades. Each step is logged (see [`step`]).
//!
//! A placement (a new VM, no source host) runs the destination's half
//! alone: [`placement`].

pub mod carrying;
mod destination;
mod handoff;
mod lifecycle;
mod link;
mod live;
mod peer;
pub mod placement;
pub mod recovery;
pub mod remote;
pub mod step;

use std::sync::Arc;

use market::ledger::{
    Ledger, LedgerError, MigrationMethod, TradeId, TradeKind, TradeState, TradeTerms,
};

pub use destination::Destination;
pub use lifecycle::recovered;
pub use link::PeerLink;
pub use peer::{HandoffAck, Peer, PeerError, TradeStatus, UNRECORDED_BY_SELLER};
pub use recovery::{Recovery, RecoveryError};
pub use remote::{BusPeer, CallPolicy, DestinationService};
pub use step::{MigrationStep, STEP_TARGET};

use crate::events::Publisher;
use crate::hypervisor::{DomainUuid, Hypervisor, HypervisorError, LiveTarget, blocking};
use lifecycle::Lifecycle;

/// How VMs move between this host and its peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Send the domain definition; the destination starts it (no shared
    /// storage needed, works with every driver).
    Handoff,
    /// libvirt live migration to this target.
    Live(LiveTarget),
}

impl Method {
    fn recorded_as(&self) -> MigrationMethod {
        match self {
            Method::Handoff => MigrationMethod::Handoff,
            Method::Live(_) => MigrationMethod::Live,
        }
    }
}

/// How a trade ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Outcome {
    /// The VMs run at the destination; both ledgers settled; credits moved.
    Settled,
    /// The move was refused; the VMs run at the source; both ledgers record
    /// the trade as failed with this reason; no credits moved.
    Failed {
        /// The refusal, verbatim (libvirt's or the destination's words).
        reason: String,
    },
    /// Recovery called the trade off; the VMs run at the source; no credits
    /// moved.
    RolledBack {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The outcome a final state in the ledger stands for.
    fn ended(state: TradeState, reason: Option<String>) -> Outcome {
        let reason = reason.unwrap_or_default();
        match state {
            TradeState::Settled => Outcome::Settled,
            TradeState::RolledBack => Outcome::RolledBack { reason },
            _ => Outcome::Failed { reason },
        }
    }
}

/// Why the workflow stopped without finishing the trade.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    /// A ledger could not be written; nothing after it was done.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The destination could not record a step.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// This host is not the trade's source, or the peer not its destination.
    #[error("trade {trade_id}: {detail}")]
    WrongParties {
        /// The trade.
        trade_id: TradeId,
        /// Who is who.
        detail: String,
    },
    /// The terms name a VM by something that is not a UUID.
    #[error("trade {trade_id}: {source}")]
    BadVm {
        /// The trade.
        trade_id: TradeId,
        /// The parse error.
        source: HypervisorError,
    },
    /// The move was under way when something failed, so where the VMs are
    /// is not known here: the trade stays migrating in the ledgers and
    /// [`recovery`] finishes it.
    #[error("trade {trade_id} left migrating for recovery: {cause}")]
    Interrupted {
        /// The trade.
        trade_id: TradeId,
        /// What failed.
        cause: String,
    },
}

/// The result of the move itself (between "attempt recorded" and the end).
pub(crate) enum Attempted {
    /// The VMs run at the destination.
    Moved,
    /// Nothing moved; the VMs run at the source. The reason, verbatim.
    Refused(String),
}

/// Runs trades whose source is this host.
pub struct Executor<P> {
    ledger: Ledger,
    hypervisor: Arc<dyn Hypervisor>,
    peer: P,
    method: Method,
    /// Where each step of a trade is reported for observers, if anywhere.
    events: Option<Publisher>,
}

impl<P: Peer> Executor<P> {
    /// The workflow of the host owning `ledger` and running `hypervisor`,
    /// moving VMs to `peer` by `method`.
    pub fn new(
        ledger: Ledger,
        hypervisor: Arc<dyn Hypervisor>,
        peer: P,
        method: Method,
    ) -> Executor<P> {
        Executor {
            ledger,
            hypervisor,
            peer,
            method,
            events: None,
        }
    }

    /// Reports each trade's lifecycle (agreed, migrating, how it ended)
    /// through `events`.
    pub fn publishing(mut self, events: Publisher) -> Executor<P> {
        self.events = Some(events);
        self
    }

    /// Carries out one trade (see the module documentation for the steps).
    /// Safe to call again for a trade already recorded: recording is
    /// idempotent, and a final trade is reported as it ended.
    pub async fn execute(&self, terms: &TradeTerms) -> Result<Outcome, MigrationError> {
        let trade_id = &terms.trade_id;
        self.check_parties(terms)?;
        let vms = vm_uuids(terms)?;
        let mut lifecycle = Lifecycle::new(self.events.as_ref(), terms);
        step::timed(
            trade_id,
            MigrationStep::Agreed,
            self.ledger.record_agreed(terms),
        )
        .await?;
        if let Some(record) = self.ledger.trade(trade_id).await? {
            match record.state {
                TradeState::Agreed => {}
                TradeState::Migrating => {
                    return Err(MigrationError::Interrupted {
                        trade_id: trade_id.clone(),
                        cause: "an earlier attempt never finished".into(),
                    });
                }
                state => return Ok(Outcome::ended(state, record.reason)),
            }
        }
        step::timed(trade_id, MigrationStep::PeerAgreed, self.peer.agree(terms)).await?;
        lifecycle.agreed();
        if let Some(missing) = self.first_vm_not_running(&vms).await {
            let outcome = self.fail(trade_id, &missing).await?;
            lifecycle.ended(&outcome);
            return Ok(outcome);
        }
        let attempt = self.ledger.attempts(trade_id).await?.len() as u32 + 1;
        let method = self.method.recorded_as();
        step::timed(
            trade_id,
            MigrationStep::AttemptRecorded,
            self.ledger.start_migration(trade_id, attempt, method),
        )
        .await?;
        step::timed(
            trade_id,
            MigrationStep::PeerAttemptRecorded,
            self.peer.attempt_started(trade_id, attempt, method),
        )
        .await?;
        lifecycle.migrating();
        let attempted = match &self.method {
            Method::Handoff => {
                handoff::hand_off(trade_id, &vms, &self.hypervisor, &self.peer).await?
            }
            Method::Live(target) => {
                live::migrate_live(trade_id, &vms, &self.hypervisor, target).await?
            }
        };
        let outcome = match attempted {
            Attempted::Moved => self.settle(trade_id).await?,
            Attempted::Refused(reason) => self.fail(trade_id, &reason).await?,
        };
        lifecycle.ended(&outcome);
        Ok(outcome)
    }

    fn check_parties(&self, terms: &TradeTerms) -> Result<(), MigrationError> {
        let wrong = |detail: String| MigrationError::WrongParties {
            trade_id: terms.trade_id.clone(),
            detail,
        };
        if terms.kind != TradeKind::Migration {
            return Err(wrong(format!(
                "a {} is carried out by migration::placement, not migrated",
                terms.kind
            )));
        }
        if terms.source() != self.ledger.owner() {
            return Err(wrong(format!(
                "the VMs leave {}, but this is {}",
                terms.source(),
                self.ledger.owner()
            )));
        }
        if terms.destination() != self.peer.host() {
            return Err(wrong(format!(
                "the VMs go to {}, but the peer is {}",
                terms.destination(),
                self.peer.host()
            )));
        }
        Ok(())
    }

    /// A trade moves running VMs; one that is not running here is a reason
    /// to fail the trade before anything moves.
    async fn first_vm_not_running(&self, vms: &[DomainUuid]) -> Option<String> {
        for uuid in vms {
            let id = uuid.clone();
            match blocking(&self.hypervisor, move |h| h.find(&id)).await {
                Ok(Some(d)) if d.state.is_active() => {}
                Ok(Some(d)) => {
                    return Some(format!(
                        "VM {uuid} is {:?} at {}, not running",
                        d.state,
                        self.hypervisor.host()
                    ));
                }
                Ok(None) => return Some(format!("VM {uuid} is not at {}", self.hypervisor.host())),
                Err(e) => return Some(e.to_string()),
            }
        }
        None
    }

    async fn settle(&self, trade_id: &TradeId) -> Result<Outcome, MigrationError> {
        step::timed(
            trade_id,
            MigrationStep::PeerSettled,
            self.peer.settle(trade_id),
        )
        .await?;
        step::timed(
            trade_id,
            MigrationStep::Settled,
            self.ledger.settle(trade_id),
        )
        .await?;
        Ok(Outcome::Settled)
    }

    async fn fail(&self, trade_id: &TradeId, reason: &str) -> Result<Outcome, MigrationError> {
        tracing::warn!(trade = %trade_id, reason, "migration refused");
        step::timed(
            trade_id,
            MigrationStep::PeerFailed,
            self.peer.fail(trade_id, reason),
        )
        .await?;
        step::timed(
            trade_id,
            MigrationStep::Failed,
            self.ledger.fail(trade_id, reason),
        )
        .await?;
        Ok(Outcome::Failed {
            reason: reason.to_string(),
        })
    }
}

/// The trade's VMs as UUIDs.
pub(crate) fn vm_uuids(terms: &TradeTerms) -> Result<Vec<DomainUuid>, MigrationError> {
    terms
        .vms
        .iter()
        .map(|vm| DomainUuid::parse(&vm.uuid))
        .collect::<Result<_, _>>()
        .map_err(|source| MigrationError::BadVm {
            trade_id: terms.trade_id.clone(),
            source,
        })
}
