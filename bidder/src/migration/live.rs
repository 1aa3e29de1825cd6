//! Live migration through libvirt: the VM keeps running while its memory is
//! copied, ends persistent at the destination and undefined at the source
//! (see [`Hypervisor::live_migrate`] for the flags, bandwidth and timeout).
//!
//! libvirt either completes the migration or leaves the domain running at
//! the source; if after an error the VM is not found running at the source,
//! the outcome is unknown to us and the trade is left migrating for
//! recovery, which asks both hosts.

use std::sync::Arc;

use market::ledger::TradeId;

use super::step::{self, MigrationStep};
use super::{Attempted, MigrationError};
use crate::hypervisor::{DomainUuid, Hypervisor, LiveTarget, blocking};

/// Live-migrates the trade's VM from `source` to `target`.
pub(crate) async fn migrate_live(
    trade_id: &TradeId,
    vms: &[DomainUuid],
    source: &Arc<dyn Hypervisor>,
    target: &LiveTarget,
) -> Result<Attempted, MigrationError> {
    // One libvirt job per VM cannot be undone as a whole: a trade of several
    // VMs would be half-moved if the second failed.
    let [uuid] = vms else {
        return Ok(Attempted::Refused(format!(
            "live migration moves one VM per trade, this trade has {}; use the hand-off",
            vms.len()
        )));
    };
    let (id, live) = (uuid.clone(), target.clone());
    let migrated = step::timed(
        trade_id,
        MigrationStep::LiveMigrated,
        blocking(source, move |h| h.live_migrate(&id, &live)),
    );
    let error = match migrated.await {
        Ok(()) => return Ok(Attempted::Moved),
        Err(e) => e,
    };
    let id = uuid.clone();
    let still_here = blocking(source, move |h| h.find(&id))
        .await
        .map(|found| found.is_some_and(|d| d.state.is_active()));
    match still_here {
        Ok(true) => Ok(Attempted::Refused(error.to_string())),
        Ok(false) => Err(MigrationError::Interrupted {
            trade_id: trade_id.clone(),
            cause: format!("{error}; and the VM no longer runs at the source"),
        }),
        Err(lookup) => Err(MigrationError::Interrupted {
            trade_id: trade_id.clone(),
            cause: format!("{error}; then asking the source failed: {lookup}"),
        }),
    }
}
