//! `market simulate SCENARIO.toml`: a simulated cluster trading VMs end to
//! end (the engine is `bourse::simulate`; see docs/simulate.md).
//!
//! Shows its progress on stderr while it runs (a bar on a terminal, a
//! line per round otherwise) and prints the report on stdout (as one JSON
//! object with `--json`). Exit status: 0 when the run finished and every
//! check holds, 1 when a check failed, 2 when the run could not be carried
//! out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bidder::agent::AgentConfig;
use bourse::output::OutputError;
use bourse::simulate::report::{RoundRecord, class_name};
use bourse::simulate::scenario::{Changes, Scenario};
use bourse::simulate::{self, Options, Time};
use bourse::{out, outln};
use clap::Args;

use crate::progress::{Plain, Progress};
use market::bus::{Bus, NatsBus, NatsConfig};
use market::policy::Classification;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

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
    /// Publish the hosts' status and trades on this NATS server, each in
    /// its zone (`sim` unless the scenario says), for
    /// `market watch --zone sim --server URL`. A watched run's deadlines
    /// run on the wall clock, so it can end differently on a busy machine.
    #[arg(long, value_name = "NATS_URL")]
    watch: Option<String>,
    /// Carry the hosts' protocol messages over this NATS server, each host
    /// over a connection of its own as bidder daemons are, instead of the
    /// run's in-process bus (subjects `bourse.<zone>.…`: use a server no
    /// real zone of that name trades on). Deadlines then run on the wall
    /// clock, as they do for daemons.
    #[arg(long, value_name = "NATS_URL")]
    nats: Option<String>,
    /// Every host plays these protocols instead of what the scenario says
    /// (comma-separated, tried in this order): the same cluster under
    /// another protocol, e.g. `--protocols call-market`. Scenarios with
    /// arriving VMs need `placement` among them.
    #[arg(long, value_name = "NAME,..", value_delimiter = ',')]
    protocols: Option<Vec<String>>,
    /// Every call (contract net, reverse call) invites about this many
    /// peers of its zone instead of what the scenario says; 0 invites the
    /// whole zone. The same cluster with bounded calls, for comparison.
    #[arg(long, value_name = "N")]
    reach: Option<u32>,
    /// Pause this long after every round, so a person watching can follow.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pace_ms: u64,
}

/// Runs `market simulate`.
pub async fn run(args: SimulateArgs) -> Result<ExitCode, OutputError> {
    let changes = Changes {
        protocols: args.protocols.clone(),
        reach: args.reach,
    };
    let loaded = Scenario::load_changed(&args.scenario, &changes);
    let scenario = match loaded {
        Ok(scenario) => scenario,
        Err(e) => {
            eprintln!("market simulate: scenario refused: {e}");
            eprintln!("  (docs/simulate.md describes the scenario file)");
            return Ok(ExitCode::from(2));
        }
    };
    let run_dir = args
        .run_dir
        .unwrap_or_else(|| default_run_dir("simulate", &scenario.spec.name));
    let events: Option<Arc<dyn Bus>> = match &args.watch {
        None => None,
        Some(url) => {
            match NatsBus::connect(&NatsConfig::new([url.as_str()], "market-simulate")).await {
                Ok(bus) => Some(Arc::new(bus)),
                Err(e) => {
                    eprintln!("market simulate: --watch: {e}");
                    return Ok(ExitCode::from(2));
                }
            }
        }
    };
    let options = Options {
        run_dir,
        agent: AgentConfig::default(),
        time: Time::for_run(args.nats.as_deref(), events.as_ref()),
        events,
        pace: Duration::from_millis(args.pace_ms),
        nats: args.nats,
    };
    let quiet = args.quiet;
    eprintln!(
        "market simulate: {} hosts, {} VMs, at most {} rounds; run directory {}",
        scenario.spec.host.len(),
        scenario.spec.vm.len(),
        scenario.spec.rounds,
        options.run_dir.display()
    );
    let mut bar = Progress::new(&scenario.spec.name, "round", Plain::EveryStep);
    let rounds = scenario.spec.rounds as usize;
    let outcome = simulate::run(&scenario, &options, |round| {
        if !quiet {
            bar.show(round.round as usize, rounds, &progress_line(round));
        }
    })
    .await;
    if !quiet {
        bar.finish();
    }
    match outcome {
        Ok(report) => {
            if args.json {
                outln!("{}", report.to_json())?;
            } else {
                out!("{report}")?;
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            eprintln!("market simulate: the run stopped: {e}");
            eprintln!("  {}", advice(&e));
            Ok(ExitCode::from(2))
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
        E::Connect { .. } => {
            "check that nats-server runs at --nats's URL and accepts this many connections"
        }
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
                t.trade.vm, t.trade.seller, t.trade.buyer, t.trade.price
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

/// `target/<command>/<name>-<UTC date and time>`, with a counter appended
/// if that exists already (two runs in one second).
pub(crate) fn default_run_dir(command: &str, name: &str) -> PathBuf {
    let stamp = utc_stamp(OffsetDateTime::now_utc());
    let base = Path::new("target").join(command);
    let mut dir = base.join(format!("{name}-{stamp}"));
    let mut n = 2;
    while dir.exists() {
        dir = base.join(format!("{name}-{stamp}-{n}"));
        n += 1;
    }
    dir
}

/// `YYYYMMDDTHHMMSSZ` for `time`: sorts as it happened, and has no
/// character a file system or a shell treats specially.
fn utc_stamp(time: OffsetDateTime) -> String {
    const FORMAT: &[BorrowedFormatItem<'_>] =
        format_description!("[year][month][day]T[hour][minute][second]Z");
    time.format(FORMAT)
        // Cannot fail for a date `time` holds; a number is the safe answer if it ever does.
        .unwrap_or_else(|_| format!("{}Z", time.unix_timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(OffsetDateTime::UNIX_EPOCH), "19700101T000000Z");
        // 2024-02-29 12:34:56 UTC (a leap day).
        let t = OffsetDateTime::from_unix_timestamp(1_709_210_096).unwrap();
        assert_eq!(utc_stamp(t), "20240229T123456Z");
    }
}
