//! Hand-off: the migration for hosts without shared storage or whose driver
//! cannot migrate (libvirt's `test:///`, simulated hosts). The source sends
//! the domain XML; the destination defines and starts the domains and
//! acknowledges; only then does the source destroy and undefine its copies.
//!
//! The destination's acknowledgement is the commit point: before it the VMs
//! run at the source only (a refusal leaves nothing at the destination);
//! after it they run at the destination and the source's copies are
//! leftovers that recovery removes (docs/migration.md, "Recovery rules").

use std::sync::Arc;

use market::ledger::TradeId;

use super::peer::{Peer, PeerError};
use super::step::{self, MigrationStep};
use super::{Attempted, MigrationError};
use crate::hypervisor::{DomainUuid, Hypervisor, blocking};

/// Moves `vms` from `source` to `peer`.
pub(crate) async fn hand_off<P: Peer>(
    trade_id: &TradeId,
    vms: &[DomainUuid],
    source: &Arc<dyn Hypervisor>,
    peer: &P,
) -> Result<Attempted, MigrationError> {
    let mut documents = Vec::with_capacity(vms.len());
    for uuid in vms {
        let uuid = uuid.clone();
        match blocking(source, move |h| h.domain_xml(&uuid)).await {
            Ok(xml) => documents.push(xml),
            // Nothing has moved: a refusal like any other.
            Err(e) => return Ok(Attempted::Refused(e.to_string())),
        }
    }
    match peer.receive_domains(trade_id, &documents).await {
        Ok(ack) => {
            tracing::info!(trade = %trade_id, destination = ack.host, vms = ack.running.len(), "hand-off acknowledged")
        }
        Err(PeerError::Refused { reason, .. }) => return Ok(Attempted::Refused(reason)),
        Err(e @ PeerError::Unavailable { .. }) => {
            return Err(MigrationError::Interrupted {
                trade_id: trade_id.clone(),
                cause: e.to_string(),
            });
        }
    }
    for uuid in vms {
        remove_source_copy(trade_id, source, uuid).await?;
    }
    Ok(Attempted::Moved)
}

/// Destroys then undefines the source's copy of a VM the destination runs.
async fn remove_source_copy(
    trade_id: &TradeId,
    source: &Arc<dyn Hypervisor>,
    uuid: &DomainUuid,
) -> Result<(), MigrationError> {
    let interrupted = |cause: String| MigrationError::Interrupted {
        trade_id: trade_id.clone(),
        cause,
    };
    let id = uuid.clone();
    step::timed(trade_id, MigrationStep::SourceDestroyed, async {
        blocking(source, move |h| h.destroy(&id))
            .await
            .map_err(|e| interrupted(e.to_string()))
    })
    .await?;
    let id = uuid.clone();
    step::timed(trade_id, MigrationStep::SourceUndefined, async {
        blocking(source, move |h| h.undefine(&id))
            .await
            .map_err(|e| interrupted(e.to_string()))
    })
    .await?;
    Ok(())
}
