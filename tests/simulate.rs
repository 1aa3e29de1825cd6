//! `market simulate` end to end: the scenario files of `scenarios/` run
//! through `bourse::simulate::run` (the function the CLI calls), each in
//! its own run directory, and the built `market` binary
//! (`CARGO_BIN_EXE_market`) on the same files.
//!
//! - Each of seed 002's four scenarios ends as the thesis's figures show
//!   (asserted here, not only by the file's own `[expect]`), and the
//!   separate `market audit --no-in-flight` passes over its ledgers.
//! - The CLI prints the report and a line per round, writes the SVG, and
//!   exits 0; 1 when an expectation fails; 2 with advice when the run
//!   directory is not empty.
//! - An overloaded host nobody will relieve stops the run as stuck.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bidder::agent::AgentConfig;
use bourse::simulate::report::{Report, Stop};
use bourse::simulate::scenario::Scenario;
use bourse::simulate::{self, Options};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn market(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_market"))
        .args(args)
        .output()
        .unwrap()
}

async fn run(scenario: &Path, run_dir: &Path) -> Report {
    let scenario = Scenario::load(scenario).unwrap();
    let options = Options {
        run_dir: run_dir.to_path_buf(),
        agent: AgentConfig::default(),
    };
    let mut rounds = 0;
    let report = simulate::run(&scenario, &options, |_| rounds += 1)
        .await
        .unwrap();
    assert_eq!(
        rounds + 1,
        report.history.len(),
        "progress heard every round"
    );
    report
}

/// Runs a scenario file of `scenarios/` and returns the report and where
/// each VM ended.
async fn seed002(n: u32) -> (Report, BTreeMap<String, String>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = repo().join(format!("scenarios/seed002-scenario{n}.toml"));
    let report = run(&file, &dir.path().join("run")).await;
    let mut placement = BTreeMap::new();
    for host in &report.after().unwrap().hosts {
        for vm in &host.vms {
            placement.insert(vm.clone(), host.name.clone());
        }
    }
    (report, placement, dir)
}

fn vms_per_host(report: &Report) -> Vec<(String, usize)> {
    report
        .after()
        .unwrap()
        .hosts
        .iter()
        .map(|h| (h.name.clone(), h.vms.len()))
        .collect()
}

fn counts(expected: &[(&str, usize)]) -> Vec<(String, usize)> {
    expected.iter().map(|(h, n)| (h.to_string(), *n)).collect()
}

/// The separate `market audit` over the run's ledgers: consistent, nothing
/// in flight, and the trades the report counted.
fn audit_passes(report: &Report) {
    let mut args = vec!["audit", "--no-in-flight"];
    let ledgers: Vec<String> = report
        .ledgers
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    args.extend(ledgers.iter().map(String::as_str));
    let out = market(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "market audit failed:\n{stdout}");
    let summary = format!(
        "audited {} ledgers, {} trades: consistent",
        report.ledgers.len(),
        report.trades.len()
    );
    assert!(stdout.contains(&summary), "{stdout}");
}

fn assert_settled_and_passed(report: &Report, trades: usize) {
    assert!(report.passed(), "{report}");
    assert_eq!(report.stop, Stop::Quiescent, "{report}");
    assert_eq!(report.settled(), trades, "{report}");
    assert_eq!(report.trades.len(), trades, "{report}");
    assert!(report.audit.is_consistent() && report.audit.in_flight.is_empty());
    audit_passes(report);
}

#[tokio::test]
async fn scenario_1_spreads_four_busy_vms_one_per_host() {
    let (report, _, _dir) = seed002(1).await;
    assert_settled_and_passed(&report, 3);
    let before = report.before().unwrap();
    assert_eq!(before.hosts[0].vms.len(), 4);
    assert!((before.hosts[0].load - 4.0).abs() < 1e-9);
    assert_eq!(
        vms_per_host(&report),
        counts(&[("hp1", 1), ("hp2", 1), ("hp3", 1), ("hp4", 1)])
    );
    for host in &report.after().unwrap().hosts {
        assert!((host.load - 1.0).abs() < 1e-9, "{report}");
    }
    // Four hosts run a VM each where one could hold all four (first fit
    // and the bound agree); the spread is as even as the bound allows.
    let rows: Vec<(f64, f64, f64)> = report
        .comparison
        .iter()
        .map(|c| (c.market, c.baseline, c.bound))
        .collect();
    assert_eq!(rows, [(4.0, 1.0, 1.0), (0.25, 0.25, 0.25)], "{report}");
    // Every VM left hp1, and the underloaded hosts that bought them paid
    // for them (a positive price: the buyer pays the seller).
    for t in &report.trades {
        assert_eq!(t.trade.from, "hp1");
        assert!(t.trade.price.0 > 0, "{report}");
        assert!(t.messages > 0);
    }
}

#[tokio::test]
async fn scenario_2_spreads_memory_one_vm_per_host() {
    let (report, placement, _dir) = seed002(2).await;
    assert_settled_and_passed(&report, 2);
    assert_eq!(
        vms_per_host(&report),
        counts(&[("hp1", 1), ("hp2", 1), ("hp3", 1), ("hp4", 1)])
    );
    // hp2 and hp3 each gave one of theirs.
    let moved: Vec<&str> = report
        .trades
        .iter()
        .map(|t| t.trade.from.as_str())
        .collect();
    assert!(moved.contains(&"hp2") && moved.contains(&"hp3"), "{report}");
    assert_eq!(placement.len(), 4);
}

#[tokio::test]
async fn scenario_3_empties_the_host_that_shuts_down() {
    let (report, _, _dir) = seed002(3).await;
    assert_settled_and_passed(&report, 3);
    assert_eq!(
        vms_per_host(&report),
        counts(&[("hp1", 0), ("hp2", 3), ("hp3", 3), ("hp4", 3)])
    );
}

#[tokio::test]
async fn scenario_4_puts_busy_vms_on_hp2_and_large_ones_on_hp3() {
    let (report, placement, _dir) = seed002(4).await;
    assert_settled_and_passed(&report, 4);
    let expected: BTreeMap<String, String> = [
        ("okvm1", "hp2"),
        ("okvm2", "hp2"),
        ("okvm3", "hp3"),
        ("okvm4", "hp3"),
    ]
    .into_iter()
    .map(|(v, h)| (v.to_string(), h.to_string()))
    .collect();
    assert_eq!(placement, expected, "{report}");
    // hp3 holds 3 GiB of its 4: what its policy wants costs balance, next
    // to greedy balancing (1.5 GiB on a host) and the bound (4 GiB of 16).
    let share = report
        .comparison
        .iter()
        .find(|c| c.metric == "largest dominant share")
        .unwrap();
    assert_eq!(
        (share.market, share.baseline, share.bound),
        (0.75, 0.375, 0.25)
    );
}

/// Writes a two-host scenario whose hosts both want to shut down, into a
/// temporary directory, with `expect` appended.
fn nobody_takes(dir: &Path, expect: &str) -> PathBuf {
    let policy = repo().join("scenarios/policies/seed002-scenario3-shutdown.toml");
    let policy = policy.display();
    let text = format!(
        r#"name = "nobody-takes"
protocols = ["contract-net"]
rounds = 5
[[host]]
name = "a"
cpus = 2
memory_mib = 2048
policy = "{policy}"
[[host]]
name = "b"
cpus = 2
memory_mib = 2048
policy = "{policy}"
[[vm]]
name = "v1"
host = "a"
memory_mib = 512
{expect}"#
    );
    let file = dir.join("nobody-takes.toml");
    std::fs::write(&file, text).unwrap();
    file
}

#[tokio::test]
async fn an_overloaded_host_nobody_relieves_is_stuck_and_fails_its_expectation() {
    let dir = tempfile::tempdir().unwrap();
    let file = nobody_takes(dir.path(), "[expect]\nevery_host_satisfied = true\n");
    let report = run(&file, &dir.path().join("run")).await;
    assert_eq!(report.stop, Stop::Stuck, "{report}");
    assert!(report.trades.is_empty());
    assert!(!report.passed());
    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|c| !c.holds)
        .map(|c| c.what.as_str())
        .collect();
    assert_eq!(failed, ["every host satisfied"], "{report}");
}

#[test]
fn the_cli_prints_the_report_writes_the_plot_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let scenario = repo().join("scenarios/seed002-scenario1.toml");
    let out = market(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("result: PASS"), "{stdout}");
    assert!(stdout.contains("ledger audit over 4 ledgers: 3 trades, consistent"));
    assert!(stderr.contains("round   1: 1 trade(s)"), "{stderr}");
    let svg = std::fs::read_to_string(run_dir.join("hosts.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    for host in ["hp1", "hp2", "hp3", "hp4"] {
        assert!(run_dir.join(format!("{host}.ledger.sqlite")).exists());
        assert!(svg.contains(&format!(">{host}</text>")));
    }
}

#[test]
fn the_cli_exits_1_when_an_expectation_fails() {
    let dir = tempfile::tempdir().unwrap();
    let file = nobody_takes(dir.path(), "[expect]\nvm_count = { a = 0 }\n");
    let run_dir = dir.path().join("run");
    let out = market(&[
        "simulate",
        "--quiet",
        file.to_str().unwrap(),
        "--run-dir",
        run_dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL a runs 0 VM(s) (found: 1)"),
        "{stdout}"
    );
    assert!(stdout.contains("result: FAIL (1 of 3 checks do not hold)"));
}

#[test]
fn the_cli_refuses_a_run_dir_that_is_not_empty_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hp1.ledger.sqlite"), b"old run").unwrap();
    let scenario = repo().join("scenarios/seed002-scenario1.toml");
    let out = market(&[
        "simulate",
        scenario.to_str().unwrap(),
        "--run-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert!(stderr.contains("--run-dir"), "{stderr}");
    // The old run's file is untouched.
    assert_eq!(
        std::fs::read(dir.path().join("hp1.ledger.sqlite")).unwrap(),
        b"old run"
    );
}

#[test]
fn the_cli_names_the_key_of_a_refused_scenario_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = nobody_takes(dir.path(), "[expect]\nvm_count = { zz = 1 }\n");
    let out = market(&["simulate", file.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("expect.vm_count.zz"), "{stderr}");
}

#[test]
fn without_run_dir_each_run_gets_a_fresh_directory_under_target_simulate() {
    let cwd = tempfile::tempdir().unwrap();
    let scenario = repo().join("scenarios/seed002-scenario2.toml");
    for _ in 0..2 {
        let out = Command::new(env!("CARGO_BIN_EXE_market"))
            .args(["simulate", "--quiet", scenario.to_str().unwrap()])
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let runs: Vec<PathBuf> = std::fs::read_dir(cwd.path().join("target/simulate"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        let name = run.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("seed002-scenario2-"), "{name}");
        assert!(run.join("hosts.svg").exists() && run.join("hp1.ledger.sqlite").exists());
    }
}
