//! `market chaos`: a fault campaign over a zone of bidders on simulated
//! hosts and a 3-node NATS cluster (the engine: `bourse::chaos`; what it
//! does and checks: docs/reliability.md). Prints a summary; exit 1 on any
//! violation, naming the seed that replays it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bourse::chaos::{self, FaultKind, Settings, Summary};
use bourse::outln;
use bourse::output::OutputError;
use clap::Args;

use crate::progress::{Plain, Progress};

/// Arguments of `market chaos`.
#[derive(Debug, Args)]
#[command(
    after_help = "Needs root (each ledger is on a small tmpfs the campaign fills), nats-server on the PATH, \
and the bidder executable (next to market, or --bidder).\n\
Exit status: 0 no violation, 1 violations (the seed replays them), 2 the campaign could not run."
)]
pub struct ChaosArgs {
    /// How long faults are injected, seconds; the quiet end and the final
    /// checks come after.
    #[arg(long, default_value_t = 180)]
    duration_s: u64,
    /// How many bidders (at least 12).
    #[arg(long, default_value_t = 12)]
    hosts: usize,
    /// The seed of every random draw; default: a new one, printed.
    #[arg(long)]
    seed: Option<u64>,
    /// The mean time between two faults, ms.
    #[arg(long, default_value_t = 3000)]
    fault_every_ms: u64,
    /// The bidder executable; default: `bidder` next to this `market`.
    #[arg(long, value_name = "PATH")]
    bidder: Option<PathBuf>,
    /// Where the zone's files go (kept afterwards: logs, ledgers, state
    /// files); default: a new directory under the system's temp dir.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Runs `market chaos`.
pub async fn run(args: ChaosArgs) -> Result<ExitCode, OutputError> {
    let market = match std::env::current_exe() {
        Ok(market) => market,
        Err(e) => {
            eprintln!("market chaos: cannot find this executable: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let bidder = args
        .bidder
        .unwrap_or_else(|| market.with_file_name("bidder"));
    let seed = args.seed.unwrap_or_else(new_seed);
    let dir = args
        .dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("bourse-chaos-{seed}")));
    let settings = Settings {
        seed,
        duration: Duration::from_secs(args.duration_s),
        hosts: args.hosts,
        fault_every: Duration::from_millis(args.fault_every_ms.max(1)),
        bidder,
        market,
        dir,
    };
    outln!(
        "chaos campaign: seed {seed}, {} hosts, {} s of faults, files in {}",
        settings.hosts,
        args.duration_s,
        settings.dir.display()
    )?;
    let mut bar = Progress::new("chaos", "second", Plain::EveryTenth);
    let total = usize::try_from(args.duration_s).unwrap_or(usize::MAX);
    let ran = chaos::run(&settings, |tick| {
        let detail = format!(
            "{} trades settled, {} faults, {} violations",
            tick.settled, tick.faults, tick.violations
        );
        let done = usize::try_from(tick.elapsed.as_secs()).unwrap_or(usize::MAX);
        bar.show(done, total, &detail);
    })
    .await;
    bar.finish();
    match ran {
        Ok(summary) => print_summary(&summary),
        Err(e) => {
            eprintln!("market chaos: {e} (seed {seed})");
            Ok(ExitCode::from(2))
        }
    }
}

/// A seed from the operating system's generator.
fn new_seed() -> u64 {
    let mut bytes = [0u8; 8];
    // Without the OS generator, the clock is seed enough: it is printed.
    if getrandom::fill(&mut bytes).is_err() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        return now.map(|d| d.as_nanos() as u64).unwrap_or_default();
    }
    u64::from_le_bytes(bytes)
}

fn print_summary(summary: &Summary) -> Result<ExitCode, OutputError> {
    let t = &summary.trades;
    outln!(
        "trades: {} agreed, {} settled, {} rolled back, {} failed (VMs kept by the seller), {} in flight",
        t.agreed,
        t.settled,
        t.rolled_back,
        t.failed,
        t.in_flight
    )?;
    for (protocol, n) in &t.by_protocol {
        outln!("  {protocol:<16} {n}")?;
    }
    outln!(
        "placements: {} placed, {} not placed; VMs ended: {}; workload changes: {}",
        summary.placed,
        summary.not_placed,
        summary.vms_ended,
        summary.workload_changes
    )?;
    let faults: usize = summary.faults.values().sum();
    outln!("faults: {faults}")?;
    for kind in FaultKind::ALL {
        let n = summary.faults.get(&kind).copied().unwrap_or(0);
        outln!("  {:<28} {n}", kind.to_string())?;
    }
    outln!("violations: {}", summary.violations.len())?;
    for v in &summary.violations {
        outln!("  at {:.1} s: {}", v.at_s, v.what)?;
    }
    outln!("seed: {}", summary.seed)?;
    if summary.violations.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    outln!(
        "replay: market chaos --seed {} --hosts {} --duration-s {}",
        summary.seed,
        summary.hosts,
        summary.duration.as_secs()
    )?;
    Ok(ExitCode::FAILURE)
}
