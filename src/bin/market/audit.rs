//! `market audit LEDGER...`: cross-check the ledgers of many hosts.
//!
//! Prints one line per discrepancy (see `market::ledger::audit` for the
//! rules) and a summary. Exit status: 0 when the ledgers are consistent,
//! 1 when there is any discrepancy (or, with `--no-in-flight`, any trade
//! still agreed or migrating), 2 when a ledger cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

use bourse::outln;
use bourse::output::OutputError;
use clap::Args;
use market::ledger::Ledger;
use market::ledger::audit::audit;

/// Arguments of `market audit`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 consistent, 1 discrepancies (one line each), 2 a ledger could not be read."
)]
pub struct AuditArgs {
    /// The ledger files of the hosts to cross-check (one per bidder).
    #[arg(required = true)]
    ledgers: Vec<PathBuf>,
    /// Also fail when a trade is still agreed or migrating (for a cluster
    /// that should be quiet, e.g. after crash recovery).
    #[arg(long)]
    no_in_flight: bool,
}

/// Runs `market audit`.
pub async fn run(args: AuditArgs) -> Result<ExitCode, OutputError> {
    let mut snapshots = Vec::new();
    for path in &args.ledgers {
        match Ledger::snapshot_file(path).await {
            Ok(snapshot) => snapshots.push(snapshot),
            Err(e) => {
                eprintln!("market audit: cannot read {}: {e}", path.display());
                return Ok(ExitCode::from(2));
            }
        }
    }
    let report = audit(&snapshots);
    for discrepancy in &report.discrepancies {
        outln!("{discrepancy}")?;
    }
    for trade in &report.in_flight {
        let prefix = if args.no_in_flight { "" } else { "note: " };
        outln!(
            "{prefix}{}: trade {} is still {}",
            trade.ledger,
            trade.trade_id,
            trade.state
        )?;
    }
    if !report.outside_hosts.is_empty() {
        let hosts: Vec<&str> = report.outside_hosts.iter().map(String::as_str).collect();
        outln!(
            "note: no ledger given for {}; their side of the trades was not checked",
            hosts.join(", ")
        )?;
    }
    if !report.operators.is_empty() {
        let operators: Vec<&str> = report.operators.iter().map(String::as_str).collect();
        outln!(
            "note: {} placement(s) by {}, who keep no ledger; each is checked in its host's ledger alone",
            report.placements,
            operators.join(", ")
        )?;
    }
    let failing_in_flight = if args.no_in_flight {
        report.in_flight.len()
    } else {
        0
    };
    let problems = report.discrepancies.len() + failing_in_flight;
    outln!(
        "audited {} ledgers, {} trades: {}",
        snapshots.len(),
        report.trades,
        if problems == 0 {
            "consistent".to_string()
        } else {
            format!("{problems} discrepancies")
        }
    )?;
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
