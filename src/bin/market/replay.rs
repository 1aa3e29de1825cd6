//! `market replay`: one day of PlanetLab traces under one or more
//! consolidation policies, with CloudSim's metrics, the energy lower
//! bound and a plot (see docs/replay.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use bourse::replay::policy::market::MarketSetup;
use bourse::replay::policy::{LedgerAudit, PolicyName};
use bourse::replay::rules::Memory;
use bourse::replay::{self, DAY_SECONDS, Outcome, Setup, plot, trace};

use crate::progress::{Plain, Progress};
use crate::simulate::default_run_dir;

/// Arguments of `market replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The unpacked PlanetLab folder holding one folder per day.
    #[arg(long, value_name = "DIR")]
    trace: PathBuf,
    /// The day to replay (a folder name such as 20110303).
    #[arg(long)]
    day: String,
    /// A policy: dvfs, market, or <detector>-<selection>-<parameter> with
    /// detector thr, lr, mad or iqr and selection mmt, mc, rs or mu
    /// (thr-mmt-0.8, lr-mc-1.2, iqr-mmt-1.5, ...). Give it several times
    /// to compare.
    #[arg(long = "policy", value_name = "NAME", required = true)]
    policies: Vec<PolicyName>,
    /// When memory binds, for every policy and the lower bound: cloudsim
    /// (reserved when VMs are created only, CloudSim's rule) or enforced
    /// (a host holds at most its memory of VMs at the start and at every
    /// migration).
    #[arg(long, value_name = "RULE", default_value_t = Memory::Cloudsim)]
    memory: Memory,
    /// Seeds random VM selection (the *-rs-* policies): the same seed
    /// gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The policy file every bidder runs under `--policy market`.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "scenarios/policies/replay-market.toml"
    )]
    market_policy: PathBuf,
    /// Hosts per zone under `--policy market`: a bidder's calls reach the
    /// hosts of its zone only.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    zone_hosts: u32,
    /// Where the market's bidders keep their ledgers (new or empty;
    /// default target/replay/<day>-market-<UTC time>).
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Hosts in the cluster (half HP ML110 G4, half G5).
    #[arg(long, default_value_t = 800)]
    hosts: usize,
    /// Hours to replay from midnight (24 for the whole day).
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// Print the metrics as JSON (an object for one policy, an array for
    /// several) instead of the table.
    #[arg(long)]
    json: bool,
    /// Where to write the SVG plot (default target/replay/<day>.svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// Runs the replay; exit 0, or 2 when the traces cannot be read.
pub fn run(args: ReplayArgs) -> ExitCode {
    let seconds = (args.hours * 3600.0).min(DAY_SECONDS);
    let steps = (seconds / trace::SAMPLE_SECONDS) as usize;
    let folder = args.trace.join(&args.day);
    let traces = match trace::read_day(&folder, steps) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("market replay: {e}");
            return ExitCode::from(2);
        }
    };
    let market = MarketSetup {
        policy: args.market_policy.clone(),
        run_dir: args
            .run_dir
            .clone()
            .unwrap_or_else(|| default_run_dir("replay", &format!("{}-market", args.day))),
        zone_hosts: args.zone_hosts as usize,
    };
    let mut outcomes = Vec::new();
    let mut walls = Vec::new();
    for &policy in &args.policies {
        let setup = Setup {
            hosts: args.hosts,
            seconds,
            policy,
            memory: args.memory,
            seed: args.seed,
            market: market.clone(),
        };
        let started = Instant::now();
        // The market's bidders run on a runtime of their own, which cannot
        // start inside this command's: the replay gets a thread.
        let outcome = std::thread::scope(|scope| {
            let traces = &traces;
            let replay = scope.spawn(move || {
                let mut bar = Progress::new(&policy.to_string(), "step", Plain::EveryTenth);
                let outcome =
                    replay::run(traces, &setup, &mut |done, total| bar.show(done, total, ""));
                bar.finish();
                outcome
            });
            replay.join()
        });
        match outcome {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(e)) => {
                eprintln!("market replay: {policy}: {e}");
                return ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("market replay: {policy}: the replay panicked (see above)");
                return ExitCode::FAILURE;
            }
        }
        walls.push(started.elapsed().as_secs_f64());
    }
    if args.json {
        print_json(&outcomes);
    } else {
        print_table(&args.day, &outcomes, &walls);
    }
    let plotted = write_plot(&args, &outcomes);
    if outcomes
        .iter()
        .filter_map(|o| o.ledger_audit.as_ref())
        .any(|a| !a.consistent)
    {
        return ExitCode::FAILURE;
    }
    plotted
}

/// The audit of a policy's ledgers, one line (the discrepancies below it).
fn print_audit(policy: &str, audit: &LedgerAudit) {
    let verdict = if audit.consistent {
        "consistent"
    } else {
        "INCONSISTENT"
    };
    println!(
        "{policy} ledgers: {} ({} ledgers, {} trades, {} in flight): {verdict}",
        audit.dir.display(),
        audit.ledgers,
        audit.trades,
        audit.in_flight
    );
    for line in &audit.discrepancies {
        println!("  {line}");
    }
}

fn print_json(outcomes: &[Outcome]) {
    let text = match outcomes {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(many),
    };
    match text {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("market replay: cannot write JSON: {e}"),
    }
}

fn print_table(day: &str, outcomes: &[Outcome], walls: &[f64]) {
    let Some(first) = outcomes.first() else {
        return;
    };
    println!(
        "day {day}: {} VMs on {} hosts ({} not placed), memory rule {}",
        first.vms, first.hosts, first.unplaced_vms, first.memory
    );
    println!(
        "{:<14} {:>11} {:>9} {:>10} {:>9} {:>9} {:>10} {:>9} {:>8} {:>7}",
        "policy",
        "energy kWh",
        "x bound",
        "migrations",
        "SLATAH",
        "PDM",
        "SLAV",
        "shutdowns",
        "peak GB",
        "wall s"
    );
    for (o, wall) in outcomes.iter().zip(walls) {
        println!(
            "{:<14} {:>11.2} {:>9.2} {:>10} {:>8.2}% {:>8.3}% {:>10.2e} {:>9} {:>8.1} {:>7.1}",
            o.policy,
            o.energy_kwh,
            o.energy_kwh / o.lower_bound_kwh,
            o.migrations,
            o.slatah * 100.0,
            o.pdm * 100.0,
            o.slav,
            o.host_shutdowns,
            f64::from(o.peak_host_memory_mb) / 1024.0,
            wall
        );
    }
    println!("{:<14} {:>11.2}", "lower bound", first.lower_bound_kwh);
    for o in outcomes {
        if let Some(audit) = &o.ledger_audit {
            print_audit(&o.policy, audit);
        }
    }
}

fn write_plot(args: &ReplayArgs, outcomes: &[Outcome]) -> ExitCode {
    let path = args
        .plot
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/replay").join(format!("{}.svg", args.day)));
    let bound = outcomes
        .first()
        .map(|o| o.lower_bound_steps.clone())
        .unwrap_or_default();
    let title = format!("PlanetLab {} on {} hosts", args.day, args.hosts);
    let svg = plot::svg(&title, outcomes, &bound);
    if let Some(parent) = path.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        eprintln!("market replay: cannot create {}: {e}", parent.display());
        return ExitCode::FAILURE;
    }
    match std::fs::write(&path, svg) {
        Ok(()) => {
            eprintln!("plot: {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("market replay: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}
