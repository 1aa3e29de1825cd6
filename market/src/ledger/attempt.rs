//! Migration attempts: how the migration workflow tried to carry out a
//! trade. Crash recovery reads the open attempt to learn what was under way
//! (which method, from where to where) before asking libvirt where the VM is.

use std::fmt;

use serde::Serialize;

/// How the VMs are moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationMethod {
    /// libvirt live migration (shared storage, a driver that migrates).
    Live,
    /// The source sends the domain XML, the destination defines and starts
    /// it, then the source destroys and undefines its copy.
    Handoff,
}

impl MigrationMethod {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationMethod::Live => "live",
            MigrationMethod::Handoff => "handoff",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<MigrationMethod> {
        match s {
            "live" => Some(MigrationMethod::Live),
            "handoff" => Some(MigrationMethod::Handoff),
            _ => None,
        }
    }
}

impl fmt::Display for MigrationMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The VMs run at the destination.
    Succeeded,
    /// libvirt (or the peer) refused or the transfer broke; the VMs are at
    /// the source.
    Failed,
    /// The process died during the attempt; recovery found out how it ended
    /// and closed the attempt with this outcome before deciding the trade.
    Interrupted,
}

impl AttemptOutcome {
    /// The name stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Succeeded => "succeeded",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Interrupted => "interrupted",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        match s {
            "succeeded" => Some(AttemptOutcome::Succeeded),
            "failed" => Some(AttemptOutcome::Failed),
            "interrupted" => Some(AttemptOutcome::Interrupted),
            _ => None,
        }
    }
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One migration attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationAttempt {
    /// 1 for the first attempt of a trade, then 2, 3, ...
    pub attempt: u32,
    /// How the VMs were being moved.
    pub method: MigrationMethod,
    /// Host the VMs leave.
    pub source: String,
    /// Host the VMs go to.
    pub destination: String,
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: i64,
    /// When it ended; `None` while it is under way (or was when we crashed).
    pub ended_at_ms: Option<i64>,
    /// How it ended; `None` while it is under way.
    pub outcome: Option<AttemptOutcome>,
    /// libvirt's (or the peer's) reason, when it did not succeed.
    pub reason: Option<String>,
}

impl MigrationAttempt {
    /// Still under way (or under way when the process died).
    pub fn is_open(&self) -> bool {
        self.outcome.is_none()
    }
}
