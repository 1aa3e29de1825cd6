//! What a run found, and how it reads: the hosts before and after, every
//! trade with its price, the market's placement against a centralised
//! baseline and a lower bound, the audit of every host's ledger, and each
//! expectation of the scenario file checked.
//!
//! Two checks hold for every scenario whatever its `[expect]` table says:
//! the ledgers audit consistent with no trade left in flight, and every VM
//! runs on exactly one host. A run passes when every check holds.
//!
//! The report reads as text ([`std::fmt::Display`]) or as one JSON object
//! ([`Report::to_json`], `market simulate --json`) for scripts and CI.
//!
//! Four files: what a run records round by round (`records.rs`), the
//! comparison with the baselines and every check (`checks.rs`), how the
//! report reads as text (`render.rs`), and the report itself here.

mod checks;
mod records;
mod render;

use std::path::PathBuf;

use bidder::agent::Agent;
use bidder::migration::Outcome;
use market::ledger::Ledger;
use market::ledger::audit::{AuditReport, audit};
use serde::Serialize;

pub use checks::{Check, Comparison};
pub(super) use records::Made;
pub use records::{HostPoint, PlacementRecord, RoundRecord, RoundTrade, Stop};
pub use render::{class_name, outcome_name};

use super::scenario::Scenario;
use super::world::World;
use super::{Options, SimulateError, plot};

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// The scenario's description.
    pub description: Option<String>,
    /// The scenario file.
    pub scenario: PathBuf,
    /// Where the ledgers and the plot are.
    pub run_dir: PathBuf,
    /// Every host's ledger file, in host order.
    pub ledgers: Vec<PathBuf>,
    /// The SVG of every round.
    pub plot: PathBuf,
    /// Round 0 (before trading) to the last round.
    pub history: Vec<RoundRecord>,
    /// Every trade, in order.
    pub trades: Vec<RoundTrade>,
    /// Every placement of an arriving VM, in order.
    pub placements: Vec<PlacementRecord>,
    /// Why the run stopped.
    pub stop: Stop,
    /// The market against the baselines.
    pub comparison: Vec<Comparison>,
    /// Each VM with the hosts whose hypervisor runs it at the end (one,
    /// when all is well).
    pub located: Vec<(String, Vec<String>)>,
    /// The cross-check of every host's ledger file.
    pub audit: AuditReport,
    /// Every check, invariants first, then the scenario's expectations.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when every check holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.holds)
    }

    /// The cluster before any trade.
    pub fn before(&self) -> Option<&RoundRecord> {
        self.history.first()
    }

    /// The cluster at the end.
    pub fn after(&self) -> Option<&RoundRecord> {
        self.history.last()
    }

    /// Trades that settled (the VM runs at its buyer).
    pub fn settled(&self) -> usize {
        self.trades
            .iter()
            .filter(|t| t.trade.outcome == Outcome::Settled)
            .count()
    }

    /// VMs that moved: one per settled trade, as every trade the agents
    /// make moves one VM.
    pub fn migrations(&self) -> usize {
        self.settled()
    }

    /// Bus messages published over the whole run.
    pub fn messages(&self) -> u64 {
        self.history.iter().map(|r| r.messages).sum()
    }

    /// The most bytes one round published: how a round's cost grows with
    /// the zone.
    pub fn most_bytes_in_a_round(&self) -> u64 {
        self.history.iter().map(|r| r.bytes).max().unwrap_or(0)
    }

    /// Hosts running at least one VM at the end.
    pub fn hosts_running(&self) -> usize {
        self.after()
            .map_or(0, |r| r.hosts.iter().filter(|h| !h.vms.is_empty()).count())
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Json<'a> {
            scenario: &'a str,
            description: Option<&'a str>,
            file: &'a PathBuf,
            run_dir: &'a PathBuf,
            ledgers: &'a [PathBuf],
            plot: &'a PathBuf,
            before: Option<&'a RoundRecord>,
            after: Option<&'a RoundRecord>,
            rounds: usize,
            stop: Stop,
            trades: &'a [RoundTrade],
            placements: &'a [PlacementRecord],
            settled: usize,
            migrations: usize,
            messages: u64,
            most_bytes_in_a_round: u64,
            hosts_running: usize,
            baselines: &'a [Comparison],
            audit: serde_json::Value,
            checks: &'a [Check],
            result: &'static str,
        }
        let json = Json {
            scenario: &self.name,
            description: self.description.as_deref(),
            file: &self.scenario,
            run_dir: &self.run_dir,
            ledgers: &self.ledgers,
            plot: &self.plot,
            before: self.before(),
            after: self.after(),
            rounds: self.history.len().saturating_sub(1),
            stop: self.stop,
            trades: &self.trades,
            placements: &self.placements,
            settled: self.settled(),
            migrations: self.migrations(),
            messages: self.messages(),
            most_bytes_in_a_round: self.most_bytes_in_a_round(),
            hosts_running: self.hosts_running(),
            baselines: &self.comparison,
            audit: serde_json::json!({
                "trades": self.audit.trades,
                "consistent": self.audit.is_consistent(),
                "discrepancies": self.audit.discrepancies.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "in_flight": self.audit.in_flight.len(),
            }),
            checks: &self.checks,
            result: if self.passed() { "pass" } else { "fail" },
        };
        serde_json::to_value(json).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }
}

/// Builds the report once the rounds are over, but for the audit: plot,
/// baselines, where every VM runs. The agents' ledgers must be closed
/// before [`Report::conclude`] audits their files.
pub(super) async fn assemble(
    scenario: &Scenario,
    options: &Options,
    world: &World,
    agents: &[Agent],
    history: Vec<RoundRecord>,
    made: Made,
    stop: Stop,
) -> Result<Report, SimulateError> {
    let plot = options.run_dir.join("hosts.svg");
    std::fs::write(&plot, plot::svg(&scenario.spec.name, &history)).map_err(|source| {
        SimulateError::Plot {
            path: plot.clone(),
            source,
        }
    })?;
    Ok(Report {
        name: scenario.spec.name.clone(),
        description: scenario.spec.description.clone(),
        scenario: scenario.path.clone(),
        run_dir: options.run_dir.clone(),
        ledgers: agents
            .iter()
            .map(|a| a.ledger().path().to_path_buf())
            .collect(),
        plot,
        history,
        trades: made.trades,
        placements: made.placements,
        stop,
        comparison: checks::compare(agents).await?,
        located: world.locate()?,
        audit: AuditReport::default(),
        checks: Vec::new(),
    })
}

impl Report {
    /// Audits the ledger files as `market audit` does (each opened read
    /// only, after the run closed it), then checks the invariants and the
    /// scenario's expectations.
    pub(super) async fn conclude(&mut self, scenario: &Scenario) -> Result<(), SimulateError> {
        let mut snapshots = Vec::new();
        for path in &self.ledgers {
            snapshots.push(Ledger::snapshot_file(path).await?);
        }
        self.audit = audit(&snapshots);
        self.checks = checks::checks(scenario, self);
        Ok(())
    }
}
