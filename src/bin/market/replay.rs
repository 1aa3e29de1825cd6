//! `market replay`: one day of PlanetLab traces under one or more
//! consolidation policies, with CloudSim's metrics, the energy lower
//! bound and a plot (see docs/replay.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use bourse::outln;
use bourse::output::OutputError;
use bourse::replay::days::{self, Day};
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
    #[arg(long, required_unless_present = "days", conflicts_with = "days")]
    day: Option<String>,
    /// Several days in one run: `all` (every folder of --trace) or a
    /// comma-separated list; one table with every day and each policy's
    /// medians, one plot of energy per day.
    #[arg(long, value_name = "all|DAY,DAY,...", value_parser = parse_days)]
    days: Option<Days>,
    /// With several days, how many are replayed at the same time (default:
    /// the machine's cores). A day's figures do not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
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
    /// Under `--policy market`, each call (contract net, reverse call)
    /// invites about this many peers of its zone instead of all of them
    /// (docs/lcc.md, "Bounded recruitment").
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    reach: Option<u32>,
    /// Where the market's bidders keep their ledgers (new or empty;
    /// default target/replay/<day>-market-<UTC time>; with several days,
    /// a folder per day inside it).
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
    /// Where to write the SVG plot (default target/replay/<day>.svg, or
    /// target/replay/<first day>-<last day>.svg with several days).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// Runs the replay; exit 0, or 2 when the traces cannot be read. The plot
/// is written before the table is printed, so it stands even when the
/// table's reader has gone.
pub fn run(args: ReplayArgs) -> Result<ExitCode, OutputError> {
    let names = match day_names(&args) {
        Ok(names) => names,
        Err(e) => {
            eprintln!("market replay: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let jobs = args
        .jobs
        .map(|n| n as usize)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .min(names.len())
        .max(1);
    let mut days = Vec::new();
    let mut walls = Vec::new();
    for (name, replayed) in names.iter().zip(replay_days(&args, &names, jobs)) {
        match replayed {
            Some(Ok((outcomes, day_walls))) => {
                days.push(Day {
                    day: name.clone(),
                    outcomes,
                });
                walls.push(day_walls);
            }
            Some(Err(code)) => return Ok(code),
            // Not started, because an earlier day (in this order: days
            // start in it) failed and returned above.
            None => {}
        }
    }
    let plotted = match (&days[..], &walls[..]) {
        ([one], [day_walls]) => {
            let title = format!("PlanetLab {} on {} hosts", one.day, args.hosts);
            let bound = one
                .outcomes
                .first()
                .map(|o| o.lower_bound_steps.clone())
                .unwrap_or_default();
            let plotted = write_plot(&args, &one.day, &plot::svg(&title, &one.outcomes, &bound));
            if args.json {
                print_json(&one.outcomes)?;
            } else {
                print_table(&one.day, &one.outcomes, day_walls)?;
            }
            plotted
        }
        _ => {
            let span = span(&days);
            let title = format!("PlanetLab {span} on {} hosts: energy per day", args.hosts);
            let plotted = write_plot(&args, &span, &plot::days_svg(&title, &days));
            if args.json {
                print_days_json(&days)?;
            } else {
                print_days_table(&days)?;
            }
            plotted
        }
    };
    if days
        .iter()
        .flat_map(|d| &d.outcomes)
        .filter_map(|o| o.ledger_audit.as_ref())
        .any(|a| !a.consistent)
    {
        return Ok(ExitCode::FAILURE);
    }
    Ok(plotted)
}

/// What `--days` names.
#[derive(Debug, Clone)]
enum Days {
    /// Every day folder of the trace.
    All,
    /// These days, in this order (at least one).
    List(Vec<String>),
}

/// `all`, or a comma-separated list of at least one day.
fn parse_days(text: &str) -> Result<Days, String> {
    if text == "all" {
        return Ok(Days::All);
    }
    let list: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect();
    if list.is_empty() {
        return Err("expected all or a comma-separated list of days".into());
    }
    Ok(Days::List(list))
}

/// The days asked for: `--day`, or `--days` (every day folder of the
/// trace for `all`; clap requires one of the two).
fn day_names(args: &ReplayArgs) -> Result<Vec<String>, trace::TraceError> {
    match (&args.day, &args.days) {
        (Some(day), _) => Ok(vec![day.clone()]),
        (None, Some(Days::List(list))) => Ok(list.clone()),
        (None, Some(Days::All) | None) => trace::days(&args.trace),
    }
}

/// "first-last" of several days, for file names and titles.
fn span(days: &[Day]) -> String {
    match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!("{}-{}", a.day, b.day),
        _ => String::new(),
    }
}

/// What one day's replay gives: every policy's outcome and wall time, or
/// the exit code to end with.
type Replayed = Result<(Vec<Outcome>, Vec<f64>), ExitCode>;

/// Every day of `names`, `jobs` at a time, each result in the order of
/// `names`. Once a day fails no other starts (its slot is `None`); those
/// under way finish.
fn replay_days(args: &ReplayArgs, names: &[String], jobs: usize) -> Vec<Option<Replayed>> {
    let several = names.len() > 1;
    // Bars redrawn in place would overwrite each other: days replayed at
    // the same time print plain lines.
    let alone = jobs == 1;
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, failed) = (&next, &failed);
            scope.spawn(move || {
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k >= names.len() || failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let replayed = replay_day(args, &names[k], several, alone);
                    if replayed.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    // The receiver outlives the scope: a send cannot fail.
                    let _ = sender.send((k, replayed));
                }
            });
        }
    });
    drop(sender);
    let mut slots: Vec<Option<Replayed>> = names.iter().map(|_| None).collect();
    for (k, replayed) in receiver {
        slots[k] = Some(replayed);
    }
    slots
}

/// Every policy on `day`: their outcomes and wall times, or the exit
/// code to end with (2: the traces cannot be read; 1: a policy failed).
/// `alone`: no other day is replayed meanwhile, so a terminal gets a bar.
fn replay_day(args: &ReplayArgs, day: &str, several: bool, alone: bool) -> Replayed {
    let seconds = (args.hours * 3600.0).min(DAY_SECONDS);
    let steps = (seconds / trace::SAMPLE_SECONDS) as usize;
    let traces = trace::read_day(&args.trace.join(day), steps).map_err(|e| {
        eprintln!("market replay: {e}");
        ExitCode::from(2)
    })?;
    let run_dir = match &args.run_dir {
        Some(dir) if several => dir.join(day),
        Some(dir) => dir.clone(),
        None => default_run_dir("replay", &format!("{day}-market")),
    };
    let market = MarketSetup {
        policy: args.market_policy.clone(),
        run_dir,
        zone_hosts: args.zone_hosts as usize,
        reach: args.reach,
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
        let label = if several {
            format!("{day} {policy}")
        } else {
            policy.to_string()
        };
        let started = Instant::now();
        // The market's bidders run on a runtime of their own, which cannot
        // start inside this command's: the replay gets a thread.
        let outcome = std::thread::scope(|scope| {
            let traces = &traces;
            let replay = scope.spawn(move || {
                let mut bar = Progress::new(&label, "step", Plain::EveryTenth);
                if !alone {
                    bar = bar.plain_only();
                }
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
                eprintln!("market replay: {day} {policy}: {e}");
                return Err(ExitCode::FAILURE);
            }
            Err(_) => {
                eprintln!("market replay: {day} {policy}: the replay panicked (see above)");
                return Err(ExitCode::FAILURE);
            }
        }
        walls.push(started.elapsed().as_secs_f64());
    }
    Ok((outcomes, walls))
}

/// The audit of a policy's ledgers, one line (the discrepancies below it).
fn print_audit(policy: &str, audit: &LedgerAudit) -> Result<(), OutputError> {
    let verdict = if audit.consistent {
        "consistent"
    } else {
        "INCONSISTENT"
    };
    outln!(
        "{policy} ledgers: {} ({} ledgers, {} trades, {} in flight): {verdict}",
        audit.dir.display(),
        audit.ledgers,
        audit.trades,
        audit.in_flight
    )?;
    for line in &audit.discrepancies {
        outln!("  {line}")?;
    }
    Ok(())
}

fn print_json(outcomes: &[Outcome]) -> Result<(), OutputError> {
    let text = match outcomes {
        [one] => serde_json::to_string_pretty(one),
        many => serde_json::to_string_pretty(many),
    };
    match text {
        Ok(t) => outln!("{t}")?,
        Err(e) => eprintln!("market replay: cannot write JSON: {e}"),
    }
    Ok(())
}

/// Several days as JSON: every day's outcomes, then each policy's medians.
fn print_days_json(days: &[Day]) -> Result<(), OutputError> {
    let report = serde_json::json!({
        "days": days,
        "medians": days::medians(days),
    });
    match serde_json::to_string_pretty(&report) {
        Ok(t) => outln!("{t}")?,
        Err(e) => eprintln!("market replay: cannot write JSON: {e}"),
    }
    Ok(())
}

/// Several days: a row a day (each cell kWh / migrations / SLAV, then the
/// bound), then a row of medians.
fn print_days_table(days: &[Day]) -> Result<(), OutputError> {
    let Some(first) = days.first() else {
        return Ok(());
    };
    let rule = first.outcomes.first().map_or("", |o| o.memory.as_str());
    outln!(
        "{} days, memory rule {rule}; each cell: kWh / migrations / SLAV",
        days.len()
    )?;
    let mut header = format!("{:<10} {:>5}", "day", "VMs");
    for o in &first.outcomes {
        header.push_str(&format!(" {:>26}", o.policy));
    }
    outln!("{header} {:>11}", "bound kWh")?;
    for d in days {
        let vms = d.outcomes.first().map_or(0, |o| o.vms);
        let mut row = format!("{:<10} {vms:>5}", d.day);
        for o in &d.outcomes {
            let cell = format!("{:.2} / {} / {:.2e}", o.energy_kwh, o.migrations, o.slav);
            row.push_str(&format!(" {cell:>26}"));
        }
        let bound = d.outcomes.first().map_or(0.0, |o| o.lower_bound_kwh);
        outln!("{row} {bound:>11.2}")?;
    }
    let medians = days::medians(days);
    let mut row = format!("{:<10} {:>5}", "median", "");
    for m in &medians {
        let cell = format!("{:.2} / {:.0} / {:.2e}", m.energy_kwh, m.migrations, m.slav);
        row.push_str(&format!(" {cell:>26}"));
    }
    let bound = medians.first().map_or(0.0, |m| m.lower_bound_kwh);
    outln!("{row} {bound:>11.2}")?;
    for d in days {
        for o in &d.outcomes {
            if let Some(audit) = &o.ledger_audit {
                print_audit(&format!("{} {}", d.day, o.policy), audit)?;
            }
        }
    }
    Ok(())
}

fn print_table(day: &str, outcomes: &[Outcome], walls: &[f64]) -> Result<(), OutputError> {
    let Some(first) = outcomes.first() else {
        return Ok(());
    };
    outln!(
        "day {day}: {} VMs on {} hosts ({} not placed), memory rule {}",
        first.vms,
        first.hosts,
        first.unplaced_vms,
        first.memory
    )?;
    outln!(
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
    )?;
    for (o, wall) in outcomes.iter().zip(walls) {
        outln!(
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
        )?;
    }
    outln!("{:<14} {:>11.2}", "lower bound", first.lower_bound_kwh)?;
    for o in outcomes {
        if let Some(audit) = &o.ledger_audit {
            print_audit(&o.policy, audit)?;
        }
    }
    Ok(())
}

/// Writes `svg` to `--plot`, or to target/replay/<name>.svg.
fn write_plot(args: &ReplayArgs, name: &str, svg: &str) -> ExitCode {
    let path = args
        .plot
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/replay").join(format!("{name}.svg")));
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
