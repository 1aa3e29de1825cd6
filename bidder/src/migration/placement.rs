//! Placing a new VM: the destination half of the workflow, alone.
//!
//! A placement (`market place`, or a scenario's arriving VM) has no source
//! host: the operator who asked for it keeps no ledger and runs no
//! hypervisor for it. The winner of the call runs this workflow, with the
//! same rule as a migration: the ledger holds the trade before anything is
//! defined.
//!
//! ```text
//! record agreed (kind placement, the operator as seller)   step placement_recorded
//! define the domain                                         step destination_defined
//! start it                                                  step destination_started
//! started -> settle (credits move)                          step settled
//! refused -> remove what was defined, roll back             step rolled_back
//! ```
//!
//! **Recovery** ([`recover`]) finishes a placement a crash interrupted,
//! from what the hypervisor shows: the domain runs → settle (it started
//! before the crash, and runs exactly once); otherwise → remove whatever
//! was defined and roll back. A placement is never started by recovery: the
//! operator was told nothing (its call ended without a report), so a VM
//! that was not running yet is not one anybody is waiting for.
//!
//! Each step is published as a trade event (`crate::events`) by this host,
//! the buyer: a placement's seller is the operator, who publishes nothing.

use std::sync::Arc;

use market::ledger::{Ledger, TradeId, TradeKind, TradeState, TradeTerms};

use super::carrying::{Carrying, InHand};

use super::destination::Destination;
use super::recovery::{RecoveryError, Resolution};
use super::step::{self, MigrationStep};
use super::{MigrationError, Outcome, vm_uuids};
use crate::events::Publisher;
use crate::hypervisor::{DomainSpec, DomainUuid, Hypervisor, blocking};
use crate::migration::lifecycle::Lifecycle;

/// Carries out a placement this host won: `terms` (kind placement, this
/// host the buyer, one VM) and the domain's XML, reporting its steps
/// through `events`. Safe to call again for a placement already recorded:
/// a final one is reported as it ended. It is held in `carrying` from
/// before it is recorded until it has ended, so that [`recover`] leaves it
/// alone: one recorded but not yet started looks, in the ledger and on
/// the hypervisor, exactly like one a crash interrupted, and recovery
/// would remove the domain the call is about to start (a VM lost: found
/// by `market chaos`).
pub async fn place(
    ledger: &Ledger,
    hypervisor: &Arc<dyn Hypervisor>,
    terms: &TradeTerms,
    xml: &str,
    events: Option<&Publisher>,
    carrying: &Carrying,
) -> Result<Outcome, MigrationError> {
    let trade_id = &terms.trade_id;
    let uuid = placed_vm(ledger, terms, xml)?;
    let _held = carrying.hold(trade_id);
    let mut lifecycle = Lifecycle::new(events, terms);
    step::timed(
        trade_id,
        MigrationStep::PlacementRecorded,
        ledger.record_agreed(terms),
    )
    .await?;
    if let Some(record) = ledger.trade(trade_id).await?
        && record.state != TradeState::Agreed
    {
        return Ok(Outcome::ended(record.state, record.reason));
    }
    lifecycle.agreed();
    let destination = Destination::new(ledger.clone(), Arc::clone(hypervisor));
    let outcome = match destination
        .take(trade_id, xml.to_string(), uuid.clone())
        .await
    {
        Ok(()) => settle(ledger, trade_id).await?,
        Err(e) => {
            let reason = format!("{} could not start it: {e}", ledger.owner());
            tracing::warn!(trade = %trade_id, %uuid, %reason, "placement refused; removing what was defined");
            destination
                .remove(&uuid)
                .await
                .map_err(|cause| MigrationError::Interrupted {
                    trade_id: trade_id.clone(),
                    cause: format!("{reason}; removing the definition failed too: {cause}"),
                })?;
            roll_back(ledger, trade_id, &reason).await?
        }
    };
    lifecycle.ended(&outcome);
    Ok(outcome)
}

/// The one VM a placement starts, after checking that the terms and the
/// XML describe it and that this host is the buyer.
fn placed_vm(ledger: &Ledger, terms: &TradeTerms, xml: &str) -> Result<DomainUuid, MigrationError> {
    let wrong = |detail: String| MigrationError::WrongParties {
        trade_id: terms.trade_id.clone(),
        detail,
    };
    if terms.kind != TradeKind::Placement {
        return Err(wrong(format!("a {} is not a placement", terms.kind)));
    }
    if terms.buyer != ledger.owner() {
        return Err(wrong(format!(
            "the VM is placed at {}, but this is {}",
            terms.buyer,
            ledger.owner()
        )));
    }
    let uuids = vm_uuids(terms)?;
    let [uuid] = uuids.as_slice() else {
        return Err(wrong(format!(
            "a placement starts one VM, not {}",
            terms.vms.len()
        )));
    };
    let spec = DomainSpec::parse(xml).map_err(|source| MigrationError::BadVm {
        trade_id: terms.trade_id.clone(),
        source,
    })?;
    if spec.uuid != *uuid {
        return Err(wrong(format!(
            "the domain XML defines {}, the placement names {uuid}",
            spec.uuid
        )));
    }
    Ok(uuid.clone())
}

async fn settle(ledger: &Ledger, trade_id: &TradeId) -> Result<Outcome, MigrationError> {
    step::timed(trade_id, MigrationStep::Settled, ledger.settle(trade_id)).await?;
    Ok(Outcome::Settled)
}

async fn roll_back(
    ledger: &Ledger,
    trade_id: &TradeId,
    reason: &str,
) -> Result<Outcome, MigrationError> {
    step::timed(
        trade_id,
        MigrationStep::RolledBack,
        ledger.roll_back(trade_id, reason),
    )
    .await?;
    Ok(Outcome::RolledBack {
        reason: reason.to_string(),
    })
}

/// Finishes every placement this host's ledger shows unfinished (see the
/// module documentation for the rule), but those `in_hand` holds: a
/// placement is held before it is recorded, so one read here unfinished
/// and not held (checked after the read) is one no call carries out.
pub async fn recover(
    ledger: &Ledger,
    hypervisor: &Arc<dyn Hypervisor>,
    in_hand: &InHand,
) -> Result<Vec<Resolution>, RecoveryError> {
    let destination = Destination::new(ledger.clone(), Arc::clone(hypervisor));
    let mut resolved = Vec::new();
    for trade in ledger.unfinished_trades().await? {
        if trade.terms.kind != TradeKind::Placement || in_hand.holds(&trade.terms.trade_id) {
            continue;
        }
        let trade_id = &trade.terms.trade_id;
        let mut running = true;
        for uuid in vm_uuids(&trade.terms)? {
            let id = uuid.clone();
            let found = blocking(hypervisor, move |h| h.find(&id)).await?;
            if !found.is_some_and(|d| d.state.is_active()) {
                destination.remove(&uuid).await?;
                running = false;
            }
        }
        let outcome = if running {
            settle(ledger, trade_id).await?
        } else {
            let reason = "the host restarted before the placed VM ran";
            roll_back(ledger, trade_id, reason).await?
        };
        tracing::info!(trade = %trade_id, ?outcome, "placement recovered");
        resolved.push(Resolution {
            trade_id: trade_id.clone(),
            outcome,
        });
    }
    Ok(resolved)
}
