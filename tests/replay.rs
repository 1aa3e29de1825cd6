//! `bourse::replay` end to end on a small fixture (30 PlanetLab VMs of day
//! 20110303, first hour), the market of bidders through `market replay`,
//! and the refusals of malformed trace folders.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bourse::replay::policy::PolicyName;
use bourse::replay::policy::market::MarketSetup;
use bourse::replay::rules::Memory;
use bourse::replay::trace::{self, TraceError};
use bourse::replay::{self, Setup};

const STEPS: usize = 12;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planetlab/20110303")
}

fn replay(policy: &str) -> replay::Outcome {
    replay_on(policy, 50, Memory::Cloudsim)
}

/// The fixture's hour under `policy` on `hosts` hosts under `memory`.
fn replay_on(policy: &str, hosts: usize, memory: Memory) -> replay::Outcome {
    let traces = trace::read_day(&fixture(), STEPS).expect("the fixture reads");
    let policy: PolicyName = policy.parse().expect("a known policy");
    let setup = Setup {
        hosts,
        seconds: 3600.0,
        policy,
        memory,
        seed: 1,
        // Only `market` reads it.
        market: MarketSetup {
            policy: PathBuf::from("unused"),
            run_dir: PathBuf::from("unused"),
            zone_hosts: 100,
            reach: None,
        },
    };
    replay::run(&traces, &setup, &mut |_, _| {}).expect("a reference policy never fails")
}

/// `market replay` of the fixture's day, from the repository's root (where
/// the default market policy is).
fn replay_the_fixture() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_market"));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).args([
        "replay",
        "--trace",
        "tests/fixtures/planetlab",
        "--day",
        "20110303",
    ]);
    command
}

/// The CI smoke test of the market: one hour, 50 hosts in two zones, a
/// bidder each, beside DVFS in one run; the ledgers it leaves pass
/// `market audit` and hold every placement and migration.
#[test]
fn the_market_of_bidders_replays_an_hour_and_its_ledgers_audit_clean() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let ledgers = dir.path().join("ledgers");
    let out = replay_the_fixture()
        .args([
            "--hosts",
            "50",
            "--hours",
            "1",
            "--zone-hosts",
            "25",
            "--json",
        ])
        .args(["--policy", "dvfs", "--policy", "market"])
        .arg("--run-dir")
        .arg(&ledgers)
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .output()
        .expect("market replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let (dvfs, market) = (&json[0], &json[1]);
    assert_eq!(market["policy"], "market");
    assert_eq!(market["unplaced_vms"], 0);
    let migrations = market["migrations"].as_u64().expect("a count");
    assert_eq!(market["vms"], dvfs["vms"]);
    // The placement calls pack the VMs by their first samples: fewer
    // hosts on than first fit at full size.
    let energy = |o: &serde_json::Value| o["energy_kwh"].as_f64().expect("kWh");
    assert!(energy(market) < energy(dvfs), "{market} vs {dvfs}");
    // The replay audited its ledgers as `market audit` does ...
    let audit = &market["ledger_audit"];
    assert_eq!(audit["consistent"], true, "{audit}");
    assert_eq!(audit["ledgers"], 50, "one ledger per bidder: {audit}");
    // ... and so does `market audit` on the files it left.
    let files: Vec<PathBuf> = fs::read_dir(&ledgers)
        .expect("the ledgers")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".ledger.sqlite"))
        .collect();
    assert_eq!(files.len(), 50, "one ledger per bidder");
    let audit_cli = Command::new(env!("CARGO_BIN_EXE_market"))
        .arg("audit")
        .args(&files)
        .output()
        .expect("market audit runs");
    let report = String::from_utf8_lossy(&audit_cli.stdout);
    assert!(
        audit_cli.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&audit_cli.stderr)
    );
    // Every VM was placed by the operator of its zone ...
    assert!(report.contains("30 placement(s)"), "{report}");
    // ... and every migration is a trade in both ledgers (a failed move
    // is a trade too).
    let trades = audit["trades"].as_u64().expect("a count");
    assert!(report.contains(&format!("{trades} trades")), "{report}");
    assert!(trades >= 30 + migrations, "{report}");
}

/// Under `--memory enforced` the market's bidders have the 4 GB hosts
/// every policy is held to: twenty hosts for the fixture's 30 VMs (about
/// 37 GB declared), and no host ever holds more than its 4 GB. Each call
/// invites about three peers of its zone (`--reach 3`).
#[test]
fn the_market_holds_its_hosts_to_4_gb_under_enforced_memory() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = replay_the_fixture()
        .args(["--hosts", "20", "--hours", "1", "--zone-hosts", "10"])
        .args(["--reach", "3"])
        .args(["--memory", "enforced", "--policy", "market", "--json"])
        .arg("--run-dir")
        .arg(dir.path().join("ledgers"))
        .arg("--plot")
        .arg(dir.path().join("plot.svg"))
        .output()
        .expect("market replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    assert_eq!(json["memory"], "enforced");
    assert_eq!(json["unplaced_vms"], 0, "{json}");
    let peak = json["peak_host_memory_mb"].as_u64().expect("MB");
    assert!(peak <= 4096, "{json}");
    assert_eq!(json["ledger_audit"]["consistent"], true, "{json}");
}

/// `--days`: every day folder of the trace (or a list) in one run, one
/// JSON document with each day's outcomes and each policy's medians, one
/// plot of energy per day; the same whether the days run at once or
/// (`--jobs 1`) one after another. Two days here: the fixture's, and a copy of it
/// with its first VM's first hour shifted up so the days differ.
#[test]
fn several_days_give_one_table_with_medians_and_one_plot() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().join("planetlab");
    for day in ["20110303", "20110304"] {
        fs::create_dir_all(root.join(day)).expect("a day folder");
        for entry in fs::read_dir(fixture()).expect("the fixture") {
            let path = entry.expect("an entry").path();
            let name = path.file_name().expect("a file name").to_owned();
            fs::copy(&path, root.join(day).join(name)).expect("a copy");
        }
    }
    let busy: String = (0..STEPS).map(|_| "90\n").collect();
    let first = fs::read_dir(root.join("20110304"))
        .expect("the copy")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .next()
        .expect("a VM");
    fs::write(first, busy).expect("a busier VM");
    let plot = dir.path().join("days.svg");
    let out = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["replay", "--trace"])
        .arg(&root)
        .args(["--days", "all", "--hosts", "50", "--hours", "1", "--json"])
        .args(["--policy", "dvfs", "--policy", "thr-mmt-0.8", "--plot"])
        .arg(&plot)
        .output()
        .expect("market replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the output is JSON");
    let days = json["days"].as_array().expect("the days");
    assert_eq!(days.len(), 2, "{json}");
    assert_eq!(days[0]["day"], "20110303");
    assert_eq!(days[1]["day"], "20110304");
    let energy = |d: usize, k: usize| days[d]["outcomes"][k]["energy_kwh"].as_f64().expect("kWh");
    assert!(
        energy(1, 0) > energy(0, 0),
        "the busier day draws more: {json}"
    );
    let medians = json["medians"].as_array().expect("the medians");
    assert_eq!(medians.len(), 2);
    assert_eq!(medians[1]["policy"], "thr-mmt-0.8");
    // Two days: each median is the mean of both.
    let median = medians[1]["energy_kwh"].as_f64().expect("kWh");
    assert!(
        (median - (energy(0, 1) + energy(1, 1)) / 2.0).abs() < 1e-9,
        "{json}"
    );
    let svg = fs::read_to_string(&plot).expect("the plot");
    assert!(
        svg.contains("energy (kWh)") && svg.contains("20110304"),
        "{svg}"
    );
    // One day at a time gives the same document as several at once.
    let alone = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["replay", "--trace"])
        .arg(&root)
        .args(["--days", "all", "--hosts", "50", "--hours", "1", "--json"])
        .args(["--policy", "dvfs", "--policy", "thr-mmt-0.8", "--jobs", "1"])
        .arg("--plot")
        .arg(dir.path().join("alone.svg"))
        .output()
        .expect("market replay runs");
    assert!(alone.status.success());
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&alone.stdout).expect("JSON"),
        json,
        "--jobs 1"
    );
    // A list names the days instead.
    let out = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["replay", "--trace"])
        .arg(&root)
        .args(["--days", "20110304", "--hosts", "50", "--hours", "1"])
        .args(["--policy", "dvfs", "--plot"])
        .arg(&plot)
        .output()
        .expect("market replay runs");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && table.contains("day 20110304"),
        "{table}"
    );
    // An empty list is refused before anything runs.
    let out = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["replay", "--trace"])
        .arg(&root)
        .args(["--days", ",", "--policy", "dvfs"])
        .output()
        .expect("market replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("comma-separated list of days"), "{stderr}");
}

#[test]
fn one_hour_on_fifty_hosts_runs_every_reference_policy() {
    let dvfs = replay("dvfs");
    assert_eq!(dvfs.vms, 30);
    assert_eq!(dvfs.unplaced_vms, 0);
    assert_eq!(dvfs.migrations, 0);
    assert_eq!(dvfs.pdm, 0.0);
    // 300.1 s, 600.1 s, ... up to 3300.1 s.
    assert_eq!(dvfs.steps.len(), 11);
    assert!(dvfs.energy_kwh > 0.0);
    assert!(dvfs.lower_bound_kwh > 0.0);
    for name in [
        "thr-mmt-0.8",
        "lr-mmt-1.2",
        "mad-mmt-2.5",
        "iqr-mmt-1.5",
        "lr-mc-1.2",
        "lr-rs-1.2",
        "lr-mu-1.2",
    ] {
        let o = replay(name);
        assert!(o.migrations > 0, "{name} consolidates");
        assert!(
            o.energy_kwh < dvfs.energy_kwh,
            "{name}: {} kWh, dvfs {} kWh",
            o.energy_kwh,
            dvfs.energy_kwh
        );
        assert!((o.slav - o.slatah * o.pdm).abs() < 1e-15);
        assert!((0.0..=1.0).contains(&o.slatah) && (0.0..=1.0).contains(&o.pdm));
    }
}

#[test]
fn replays_are_deterministic() {
    // Random selection too: its draws come from the run's seed.
    for name in ["lr-mmt-1.2", "lr-rs-1.2"] {
        let a = replay(name);
        let b = replay(name);
        assert_eq!(a.energy_kwh, b.energy_kwh, "{name}");
        assert_eq!(a.migrations, b.migrations, "{name}");
    }
}

/// The market on simulated time, its hosts calling in turn within each
/// zone: the same two hours twice through `market replay` give the same
/// JSON, every step's energy and every trade, but for the ledgers' folder.
/// A hundred drawn VMs on 60 hosts in two zones keep calls meeting at
/// hosts: with every host calling at once (as the replay did before), two
/// runs of this folder ended on different energy and migrations.
#[test]
fn the_market_replays_the_same_hours_the_same_way_twice() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let day = dir.path().join("planetlab/20110303");
    fs::create_dir_all(&day).expect("a day folder");
    let mut rng = bourse::rng::Rng::new(7);
    for vm in 0..100 {
        let base = rng.between(5.0, 60.0);
        let samples: String = (0..24)
            .map(|_| {
                format!(
                    "{}\n",
                    (base + rng.between(-20.0, 20.0)).clamp(0.0, 100.0) as u32
                )
            })
            .collect();
        fs::write(day.join(format!("vm{vm:03}")), samples).expect("a trace");
    }
    let run = |name: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_market"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["replay", "--trace"])
            .arg(dir.path().join("planetlab"))
            .args(["--day", "20110303", "--hosts", "60", "--hours", "2"])
            .args(["--zone-hosts", "30", "--policy", "market", "--json"])
            .arg("--run-dir")
            .arg(dir.path().join(name))
            .arg("--plot")
            .arg(dir.path().join(format!("{name}.svg")))
            .output()
            .expect("market replay runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let mut json: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("the output is JSON");
        json["ledger_audit"]["dir"] = serde_json::Value::Null;
        json
    };
    let (first, second) = (run("first"), run("second"));
    assert!(
        first["migrations"].as_u64().expect("a count") > 20,
        "{first}"
    );
    assert_eq!(first, second);
}

/// Twenty 4 GB hosts for the fixture's 30 VMs (about 37 GB declared):
/// consolidating by CPU alone piles more than 4 GB on a host under
/// CloudSim's rule; held to its memory, no host ever does.
#[test]
fn enforced_memory_holds_every_host_to_its_4_gb() {
    for name in ["thr-mmt-0.8", "lr-mc-1.2"] {
        let loose = replay_on(name, 20, Memory::Cloudsim);
        assert!(loose.peak_host_memory_mb > 4096, "{name}: {loose:?}");
        let held = replay_on(name, 20, Memory::Enforced);
        assert_eq!(held.unplaced_vms, 0, "{name}");
        assert!(held.peak_host_memory_mb <= 4096, "{name}: {held:?}");
        assert_eq!(held.memory, "enforced");
    }
}

/// A day folder with one good trace and one file of `bad` content.
fn folder_with(bad: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let day = dir.path().join("20110303");
    fs::create_dir(&day).expect("the day folder");
    let good: String = (0..STEPS).map(|i| format!("{}\n", i * 3)).collect();
    fs::write(day.join("good_vm"), good).expect("a good trace");
    fs::write(day.join("bad_vm"), bad).expect("a bad trace");
    (dir, day)
}

#[test]
fn a_missing_folder_is_refused_with_its_path() {
    let err = trace::read_day(Path::new("/nonexistent/20110303"), STEPS).unwrap_err();
    assert!(matches!(err, TraceError::Folder { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/20110303"), "{err}");
}

#[test]
fn an_empty_file_is_refused_with_its_name() {
    let (_dir, day) = folder_with("");
    let err = trace::read_day(&day, STEPS).unwrap_err();
    assert!(matches!(err, TraceError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("bad_vm"), "{err}");
}

#[test]
fn a_non_numeric_line_is_refused_with_file_and_line() {
    let (_dir, day) = folder_with("12\n7\nabc\n4\n");
    let err = trace::read_day(&day, STEPS).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, TraceError::NotANumber { line: 3, .. }),
        "{text}"
    );
    assert!(text.contains("bad_vm:3"), "{text}");
    assert!(text.contains("`abc`"), "{text}");
}

#[test]
fn a_percentage_above_100_is_refused() {
    let (_dir, day) = folder_with("12\n170\n");
    let err = trace::read_day(&day, STEPS).unwrap_err();
    assert!(err.to_string().contains("bad_vm:2"), "{err}");
}

#[test]
fn a_short_file_is_refused_with_its_last_line() {
    let (_dir, day) = folder_with("1\n2\n3\n");
    let err = trace::read_day(&day, STEPS).unwrap_err();
    assert!(
        matches!(
            err,
            TraceError::TooShort {
                line: 3,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("bad_vm:3"), "{err}");
}

#[test]
fn an_empty_folder_is_refused() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let err = trace::read_day(dir.path(), STEPS).unwrap_err();
    assert!(matches!(err, TraceError::NoVms(_)), "{err}");
}

/// A market policy file that cannot be read is refused before anything
/// runs, with its path.
#[test]
fn a_missing_market_policy_is_refused_with_its_path() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = replay_the_fixture()
        .args(["--hosts", "4", "--hours", "1", "--policy", "market"])
        .args(["--market-policy", "/nonexistent/market.toml"])
        .arg("--run-dir")
        .arg(dir.path().join("ledgers"))
        .output()
        .expect("market replay runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("/nonexistent/market.toml"), "{stderr}");
}
