//! `market simulate SCENARIO.toml`: a simulated cluster trading VMs end to
//! end (the engine is `bourse::simulate`; see docs/simulate.md).
//!
//! Prints a line per round on stderr while it runs and the report on
//! stdout (as one JSON object with `--json`). Exit status: 0 when the run finished and every check holds, 1
//! when a check failed, 2 when the run could not be carried out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use bidder::agent::AgentConfig;
use bourse::simulate::report::{RoundRecord, class_name};
use bourse::simulate::scenario::Scenario;
use bourse::simulate::{self, Options};
use clap::Args;
use market::policy::Classification;

/// Arguments of `market simulate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 every check holds, 1 a check failed (the report says which), 2 the run could not be carried out."
)]
pub struct SimulateArgs {
    /// The scenario file (see scenarios/ and docs/simulate.md).
    scenario: PathBuf,
    /// Where the ledgers and the plot go: created, and refused if it exists
    /// and is not empty. Default: target/simulate/<scenario>-<UTC time>.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Don't print a line per round on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Print the report as one JSON object (for scripts and CI).
    #[arg(long)]
    json: bool,
}

/// Runs `market simulate`.
pub async fn run(args: SimulateArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("market simulate: scenario refused: {e}");
            eprintln!("  (docs/simulate.md describes the scenario file)");
            return ExitCode::from(2);
        }
    };
    let run_dir = args
        .run_dir
        .unwrap_or_else(|| default_run_dir(&scenario.spec.name));
    let options = Options {
        run_dir,
        agent: AgentConfig::default(),
    };
    let quiet = args.quiet;
    eprintln!(
        "market simulate: {} hosts, {} VMs, at most {} rounds; run directory {}",
        scenario.spec.host.len(),
        scenario.spec.vm.len(),
        scenario.spec.rounds,
        options.run_dir.display()
    );
    let outcome = simulate::run(&scenario, &options, |round| {
        if !quiet {
            eprintln!("{}", progress_line(round));
        }
    })
    .await;
    match outcome {
        Ok(report) => {
            if args.json {
                println!("{}", report.to_json());
            } else {
                print!("{report}");
            }
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("market simulate: the run stopped: {e}");
            eprintln!("  {}", advice(&e));
            ExitCode::from(2)
        }
    }
}

/// What to do about an error, in one line.
fn advice(e: &simulate::SimulateError) -> &'static str {
    use simulate::SimulateError as E;
    match e {
        E::RunDir { .. } => {
            "pass --run-dir with a new or empty directory, or omit it for a fresh one"
        }
        E::Plot { .. } => "check that the run directory is writable and the disk not full",
        E::Ledger(_) => "check that the run directory is on a local, writable file system",
        _ => {
            "this is a bug in bourse or the scenario's policies; rerun with RUST_LOG=debug and report it"
        }
    }
}

/// One line per round: trades made, messages, who is still unhappy.
fn progress_line(round: &RoundRecord) -> String {
    let trades: Vec<String> = round
        .trades
        .iter()
        .map(|t| {
            format!(
                "{} {}->{} at {}",
                t.trade.vm, t.trade.from, t.trade.to, t.trade.price
            )
        })
        .collect();
    let unhappy: Vec<String> = round
        .hosts
        .iter()
        .filter(|h| h.class != Classification::Satisfied)
        .map(|h| format!("{} {}", h.name, class_name(h.class)))
        .collect();
    format!(
        "round {:>3}: {} trade(s){}{}, {} messages; {}",
        round.round,
        trades.len(),
        if trades.is_empty() { "" } else { ": " },
        trades.join(", "),
        round.messages,
        if unhappy.is_empty() {
            "every host satisfied".to_string()
        } else {
            unhappy.join(", ")
        }
    )
}

/// `target/simulate/<name>-<UTC date and time>`, with a counter appended if
/// that exists already (two runs in one second).
fn default_run_dir(name: &str) -> PathBuf {
    let stamp = utc_stamp(SystemTime::now());
    let base = Path::new("target").join("simulate");
    let mut dir = base.join(format!("{name}-{stamp}"));
    let mut n = 2;
    while dir.exists() {
        dir = base.join(format!("{name}-{stamp}-{n}"));
        n += 1;
    }
    dir
}

/// `YYYYMMDDTHHMMSSZ` for `time` (civil date from days since the epoch,
/// Howard Hinnant's algorithm), so no date crate is needed.
fn utc_stamp(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2024-02-29 12:34:56 UTC (a leap day).
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(utc_stamp(t), "20240229T123456Z");
    }
}
