//! Crash tests: a child process runs the hand-off workflow and is killed
//! with SIGKILL right after each step of the lifecycle; a second child
//! process then runs crash recovery (itself killed in the middle of a roll
//! back in one test, and run a third time). In every case the VM must end running
//! on exactly one host and defined nowhere else, both ledgers must hold the
//! trade in the same final state, and `market audit --no-in-flight` (the
//! built binary) must pass on the two ledger files.
//!
//! A placement (a new VM started at the operator's request) is killed
//! the same way after each of its steps, on the winner alone; after the
//! winner's recovery the VM runs exactly once and the placement settled,
//! or it is defined nowhere and the placement rolled back, and `market
//! audit` passes.
//!
//! The hosts are simulated hosts with state files (libvirt's `test:///`
//! state dies with the process, so it cannot show what a crash leaves
//! behind); the ledgers are real SQLite files. The child is this test binary
//! itself, run with `--ignored --exact crash_fixture_child`: the workflow
//! code is the library's, unchanged; a `tracing` layer pauses the child
//! when the workflow logs the step the parent asked for
//! (tests/pause_support).

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod pause_support;
// The migration tests' fixtures live with the bidder crate's tests.
#[path = "../bidder/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use bidder::migration::Recovery;
use bidder::migration::carrying::InHand;
use bidder::migration::{Destination, Executor, Method, MigrationStep, STEP_TARGET};
use market::credits::Credits;
use market::ledger::TradeState;
use pause_support::{PAUSED, PauseAt};
use support::*;
use tracing_subscriber::layer::SubscriberExt;

const DIR: &str = "BOURSE_CRASH_DIR";
const MODE: &str = "BOURSE_CRASH_MODE";
const PAUSE_AT: &str = "BOURSE_CRASH_PAUSE_AT";
const DESTINATION_MIB: &str = "BOURSE_CRASH_DESTINATION_MIB";
const PRICE: i64 = 2_500_000;
const VM_MIB: u64 = 512;

/// The child's entry point, not a test: run by the tests below only, it
/// refuses to run without their environment (it would pass having done
/// nothing). `migrate` runs the trade (paused for good after `PAUSE_AT`),
/// `recover` runs recovery and prints the outcome.
#[tokio::test]
#[ignore = "child process of the crash tests"]
async fn crash_fixture_child() {
    let (Ok(dir), Ok(mode)) = (std::env::var(DIR), std::env::var(MODE)) else {
        panic!("run by the crash tests only: no {DIR} or {MODE}");
    };
    let dir = Path::new(&dir);
    let pause_at = std::env::var(PAUSE_AT).unwrap_or_default();
    let after_step = PauseAt::new(move |seen| {
        (seen.target == STEP_TARGET && seen.field("step") == Some(pause_at.as_str()))
            .then(|| pause_at.clone())
    });
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(after_step));
    let destination_mib = std::env::var(DESTINATION_MIB).unwrap().parse().unwrap();
    let (a, b) = (
        simulated_host(dir, "a", 4096),
        simulated_host(dir, "b", destination_mib),
    );
    let (ledger_a, ledger_b) = (ledger(dir, "a").await, ledger(dir, "b").await);
    let peer = Destination::new(ledger_b.clone(), Arc::clone(&b));
    match mode.as_str() {
        "place" => {
            let mut trade = terms("crash-place", "ops", "b", &[&vm(1, VM_MIB)], PRICE);
            trade.kind = market::ledger::TradeKind::Placement;
            let xml = vm(1, VM_MIB).to_xml("test");
            let outcome = bidder::migration::placement::place(
                &ledger_b,
                &b,
                &trade,
                &xml,
                None,
                &Default::default(),
            )
            .await
            .unwrap();
            println!("EXECUTED {outcome:?}");
        }
        "recover-placement" => {
            let resolved = bidder::migration::placement::recover(&ledger_b, &b, &InHand::nothing())
                .await
                .unwrap();
            println!("RECOVERED {resolved:?}");
        }
        "migrate" => {
            let trade = terms("crash-trade", "a", "b", &[&vm(1, VM_MIB)], PRICE);
            let outcome = Executor::new(ledger_a, a, peer, Method::Handoff)
                .execute(&trade)
                .await
                .unwrap();
            println!("EXECUTED {outcome:?}");
        }
        _ => {
            let resolved = Recovery::new(ledger_a, a, peer).run().await.unwrap();
            println!("RECOVERED {resolved:?}");
        }
    }
}

/// Runs the child in `mode`; returns its stdout lines once it printed a
/// line starting with `until` (then kills it with SIGKILL) or exited.
fn run_child(
    dir: &Path,
    mode: &str,
    pause_at: Option<MigrationStep>,
    destination_mib: u64,
    until: &str,
) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_fixture_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR, dir)
        .env(MODE, mode)
        .env(PAUSE_AT, pause_at.map_or("", MigrationStep::as_str))
        .env(DESTINATION_MIB, destination_mib.to_string())
        // Held open, never written: a paused child stays paused until killed.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        match received.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let done = line.contains(until);
                seen.push(line);
                if done {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                child.kill().unwrap();
                panic!("the {mode} child printed nothing for 60 s: {seen:?}");
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(
        seen.iter().any(|l| l.contains(until)),
        "{mode} child (status {status}) never printed {until:?}: {seen:?}"
    );
    seen
}

/// Sets up, crashes after `step`, recovers and checks. `refused`: the
/// destination is too small, so the workflow takes the failure path.
async fn crash_after(step: MigrationStep, refused: bool) {
    crash_after_then_in_recovery(step, refused, None).await;
}

/// As [`crash_after`]; with `recovery_crash`, the first recovery is itself
/// killed after that step, and a second recovery must finish the trade.
async fn crash_after_then_in_recovery(
    step: MigrationStep,
    refused: bool,
    recovery_crash: Option<MigrationStep>,
) {
    let dir = tempfile::tempdir().unwrap();
    let destination_mib = if refused { VM_MIB / 2 } else { 4096 };
    let guest = vm(1, VM_MIB);
    run_on(&simulated_host(dir.path(), "a", 4096), &guest, "test");

    run_child(
        dir.path(),
        "migrate",
        Some(step),
        destination_mib,
        &format!("{PAUSED}{}", step.as_str()),
    );
    if !matches!(step, MigrationStep::Settled | MigrationStep::Failed) {
        let (status, report) = market_audit(dir.path());
        assert_eq!(
            status,
            Some(1),
            "after {step:?}, before recovery, the trade is in flight:\n{report}"
        );
    }
    if let Some(during) = recovery_crash {
        run_child(
            dir.path(),
            "recover",
            Some(during),
            destination_mib,
            &format!("{PAUSED}{}", during.as_str()),
        );
        let (status, report) = market_audit(dir.path());
        let source_final = during == MigrationStep::RolledBack;
        assert_eq!(
            status,
            Some(if source_final { 0 } else { 1 }),
            "after {step:?} then {during:?} in recovery, before recovery runs again:\n{report}"
        );
    }
    run_child(dir.path(), "recover", None, destination_mib, "RECOVERED");

    let (a, b) = (
        simulated_host(dir.path(), "a", 4096),
        simulated_host(dir.path(), "b", destination_mib),
    );
    let active = active_on(&[&a, &b], &guest.uuid);
    assert_eq!(active.len(), 1, "after {step:?}: the VM runs on {active:?}");
    assert_eq!(
        defined_on(&[&a, &b], &guest.uuid),
        active,
        "after {step:?}: a leftover copy"
    );
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let id = market::ledger::TradeId::new("crash-trade").unwrap();
    let (state_a, state_b) = (
        state_of(&ledger_a, &id).await.0,
        state_of(&ledger_b, &id).await.0,
    );
    assert_eq!(state_a, state_b, "after {step:?}: the ledgers disagree");
    let expected = expected_end(step, refused);
    assert_eq!(state_a, expected, "after {step:?}");
    let (home, paid) = if expected == TradeState::Settled {
        ("b", PRICE)
    } else {
        ("a", 0)
    };
    assert_eq!(active, [home], "after {step:?}");
    assert_eq!(
        ledger_a.balance("a").await.unwrap(),
        Credits(paid),
        "after {step:?}"
    );
    assert_eq!(
        ledger_b.balance("b").await.unwrap(),
        Credits(-paid),
        "after {step:?}"
    );
    // Close the ledgers before the audit reads the files.
    ledger_a.close().await;
    ledger_b.close().await;
    let (status, report) = market_audit(dir.path());
    assert_eq!(
        status,
        Some(0),
        "after {step:?}: market audit says\n{report}"
    );
}

/// Runs `market audit --no-in-flight` on both ledgers: exit code and output.
fn market_audit(dir: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["audit", "--no-in-flight"])
        .arg(dir.join("a.ledger"))
        .arg(dir.join("b.ledger"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code(), text)
}

/// The recovery rules, as a table: before the destination runs the VM,
/// the trade ends without moving (failed once a ledger recorded the
/// refusal, rolled back otherwise); from then on it is settled.
fn expected_end(step: MigrationStep, refused: bool) -> TradeState {
    use MigrationStep::*;
    match step {
        Agreed | PeerAgreed | AttemptRecorded | PeerAttemptRecorded | DestinationDefined
        | PlacementRecorded => TradeState::RolledBack,
        DestinationStarted | SourceDestroyed | SourceUndefined | LiveMigrated | PeerSettled
        | Settled => TradeState::Settled,
        // Only recovery rolls back; a crash there is rolled back on restart.
        PeerRolledBack | RolledBack => TradeState::RolledBack,
        PeerFailed | Failed => {
            assert!(refused, "only a refused hand-off fails");
            TradeState::Failed
        }
    }
}

#[tokio::test]
async fn a_crash_after_any_step_of_a_hand_off_is_recovered() {
    for step in MigrationStep::HANDOFF {
        crash_after(step, false).await;
    }
}

#[tokio::test]
async fn a_crash_after_any_step_of_a_refused_hand_off_is_recovered() {
    for step in [
        MigrationStep::PeerAttemptRecorded,
        MigrationStep::PeerFailed,
        MigrationStep::Failed,
    ] {
        crash_after(step, true).await;
    }
}

#[tokio::test]
async fn a_crash_in_the_middle_of_a_roll_back_is_recovered() {
    // The migration dies with the trade migrating and the VM at the source,
    // so recovery rolls back: killed after the destination's ledger rolled
    // back (the source's is still migrating), then after the source's.
    for during in [MigrationStep::PeerRolledBack, MigrationStep::RolledBack] {
        crash_after_then_in_recovery(MigrationStep::PeerAttemptRecorded, false, Some(during)).await;
    }
}

/// Crashes the winner of a placement after `step`, recovers it, checks.
async fn crash_placement_after(step: MigrationStep) {
    let dir = tempfile::tempdir().unwrap();
    let guest = vm(1, VM_MIB);
    run_child(
        dir.path(),
        "place",
        Some(step),
        4096,
        &format!("{PAUSED}{}", step.as_str()),
    );
    run_child(dir.path(), "recover-placement", None, 4096, "RECOVERED");
    let b = simulated_host(dir.path(), "b", 4096);
    let expected = expected_end(step, false);
    let running = usize::from(expected == TradeState::Settled);
    assert_eq!(
        active_on(&[&b], &guest.uuid).len(),
        running,
        "after {step:?}"
    );
    assert_eq!(
        defined_on(&[&b], &guest.uuid).len(),
        running,
        "after {step:?}: a leftover definition"
    );
    let ledger_b = ledger(dir.path(), "b").await;
    let id = market::ledger::TradeId::new("crash-place").unwrap();
    assert_eq!(state_of(&ledger_b, &id).await.0, expected, "after {step:?}");
    let paid = if running == 1 { PRICE } else { 0 };
    assert_eq!(ledger_b.balance("b").await.unwrap(), Credits(-paid));
    ledger_b.close().await;
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["audit", "--no-in-flight"])
        .arg(dir.path().join("b.ledger"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "after {step:?}: market audit says\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test]
async fn a_crash_after_any_step_of_a_placement_is_recovered() {
    for step in MigrationStep::PLACEMENT {
        crash_placement_after(step).await;
    }
}
