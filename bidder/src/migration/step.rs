//! The named steps of the migration workflow, each logged once it is done.
//!
//! Every step is a `tracing` event on target [`STEP_TARGET`] with the fields
//! `trade` and `step`, and a `migration_steps_total` counter: operators can
//! follow a trade, and the crash tests stop a child process right after any
//! step to prove that recovery copes with a crash there.

use std::future::Future;
use std::time::Instant;

use market::ledger::TradeId;

/// The `tracing` target of step events.
pub const STEP_TARGET: &str = "bidder::migration::step";

/// A step the workflow has just completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MigrationStep {
    /// The source's ledger holds the agreed trade.
    Agreed,
    /// The destination's ledger holds it too.
    PeerAgreed,
    /// The source's ledger records the attempt (trade migrating).
    AttemptRecorded,
    /// The destination's ledger records it too.
    PeerAttemptRecorded,
    /// Hand-off: the destination defined the domain.
    DestinationDefined,
    /// Hand-off: the destination started the domain (its acknowledgement).
    DestinationStarted,
    /// Hand-off: the source destroyed its copy.
    SourceDestroyed,
    /// Hand-off: the source undefined its copy.
    SourceUndefined,
    /// Live: libvirt finished the migration.
    LiveMigrated,
    /// The destination's ledger settled the trade.
    PeerSettled,
    /// The source's ledger settled it: the trade is done.
    Settled,
    /// The destination's ledger failed the trade.
    PeerFailed,
    /// The source's ledger failed it: the trade is over, the VM stayed.
    Failed,
    /// Recovery: the destination's ledger rolled the trade back.
    PeerRolledBack,
    /// Recovery: the source's ledger rolled it back; the VMs stayed.
    RolledBack,
    /// Placement: the winner's ledger holds the placement (nothing is
    /// defined yet).
    PlacementRecorded,
}

impl MigrationStep {
    /// The steps of a hand-off that succeeds, in order.
    pub const HANDOFF: [MigrationStep; 10] = [
        MigrationStep::Agreed,
        MigrationStep::PeerAgreed,
        MigrationStep::AttemptRecorded,
        MigrationStep::PeerAttemptRecorded,
        MigrationStep::DestinationDefined,
        MigrationStep::DestinationStarted,
        MigrationStep::SourceDestroyed,
        MigrationStep::SourceUndefined,
        MigrationStep::PeerSettled,
        MigrationStep::Settled,
    ];

    /// The steps of a placement that starts, in order.
    pub const PLACEMENT: [MigrationStep; 4] = [
        MigrationStep::PlacementRecorded,
        MigrationStep::DestinationDefined,
        MigrationStep::DestinationStarted,
        MigrationStep::Settled,
    ];

    /// The name logged in the `step` field.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStep::Agreed => "agreed",
            MigrationStep::PeerAgreed => "peer_agreed",
            MigrationStep::AttemptRecorded => "attempt_recorded",
            MigrationStep::PeerAttemptRecorded => "peer_attempt_recorded",
            MigrationStep::DestinationDefined => "destination_defined",
            MigrationStep::DestinationStarted => "destination_started",
            MigrationStep::SourceDestroyed => "source_destroyed",
            MigrationStep::SourceUndefined => "source_undefined",
            MigrationStep::LiveMigrated => "live_migrated",
            MigrationStep::PeerSettled => "peer_settled",
            MigrationStep::Settled => "settled",
            MigrationStep::PeerFailed => "peer_failed",
            MigrationStep::Failed => "failed",
            MigrationStep::PeerRolledBack => "peer_rolled_back",
            MigrationStep::RolledBack => "rolled_back",
            MigrationStep::PlacementRecorded => "placement_recorded",
        }
    }
}

/// Does one step's work and, once it succeeded, logs and counts the step
/// with the time it took (`migration_step_seconds`), so an operator sees
/// which step of a slow trade is slow.
pub(crate) async fn timed<T, E>(
    trade_id: &TradeId,
    step: MigrationStep,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let started = Instant::now();
    let value = work.await?;
    metrics::histogram!("migration_step_seconds", "step" => step.as_str())
        .record(started.elapsed().as_secs_f64());
    done(trade_id, step);
    Ok(value)
}

/// Logs and counts a completed step.
fn done(trade_id: &TradeId, step: MigrationStep) {
    metrics::counter!("migration_steps_total", "step" => step.as_str()).increment(1);
    tracing::info!(target: STEP_TARGET, trade = %trade_id, step = step.as_str(), "migration step done");
}
