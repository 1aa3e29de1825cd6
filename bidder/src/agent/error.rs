//! What goes wrong when an agent plays its part, with the typed cause kept.

use market::bus::BusError;
use market::resources::ResourceError;
use market::runtime::InitiateError;

use crate::hypervisor::HypervisorError;
use crate::migration;

/// Why the agent could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The hypervisor could not be read.
    #[error("host {host}: {source}")]
    Hypervisor {
        /// The host.
        host: String,
        /// What failed.
        source: HypervisorError,
    },
    /// The host's numbers do not add up.
    #[error("host {host}: {source}")]
    Resources {
        /// The host.
        host: String,
        /// What overflowed.
        source: ResourceError,
    },
    /// The interaction could not start or did not finish.
    #[error("host {host}: {protocol}: {source}")]
    Interaction {
        /// The host.
        host: String,
        /// The protocol.
        protocol: String,
        /// What failed (boxed: it is large, and agent errors travel
        /// through every call of the loop).
        source: Box<InitiateError>,
    },
    /// The responder side could not subscribe to invitations.
    #[error("host {host}: cannot listen for invitations: {source}")]
    Bus {
        /// The host.
        host: String,
        /// What failed.
        source: BusError,
    },
    /// An agreed trade could not be carried out.
    #[error("host {host}: trade {trade}: {source}")]
    Trade {
        /// The host.
        host: String,
        /// The trade id, as the interaction named it.
        trade: String,
        /// Why (boxed: the workflow's errors are large, and agent errors
        /// travel through every call of the loop).
        source: Box<TradeFailure>,
    },
}

/// Why a trade this host carries out could not be.
#[derive(Debug, thiserror::Error)]
pub enum TradeFailure {
    /// The migration workflow, or a placement, failed.
    #[error(transparent)]
    Migration(#[from] migration::MigrationError),
    /// Calling a leg off failed.
    #[error(transparent)]
    Recovery(#[from] migration::RecoveryError),
    /// The buyer's side of the workflow cannot be reached from here.
    #[error("no way to reach {0}'s workflow")]
    Unreachable(String),
    /// The interaction's id is not a trade id.
    #[error(transparent)]
    Id(#[from] market::ledger::LedgerError),
}
