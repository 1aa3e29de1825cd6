//! Durable before acknowledged: a child process records and settles trades,
//! printing an acknowledgement after each call returns, and is killed with
//! SIGKILL mid-stream. Every acknowledged change must be in the ledger, and
//! no trade may be half-written. Also: duplicated messages racing each
//! other apply once.

// Fixtures outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod ledger_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use ledger_support::{ledger_path, open, terms};
use market::credits::Credits;
use market::ledger::{Ledger, TradeId, TradeState, Transition};

/// Set in the child: the ledger directory to write to.
const CHILD_DIR: &str = "BOURSE_LEDGER_DURABILITY_CHILD";

/// In the child: agree and settle trades forever, acknowledging each step
/// on stdout only after the call returned. Run only by the test below,
/// which names the directory; on its own it refuses to run, so that it can
/// never pass having written nothing.
#[tokio::test]
#[ignore = "child process of acknowledged_changes_survive_sigkill"]
async fn child_writer() {
    let dir = std::env::var(CHILD_DIR).unwrap_or_else(|_| {
        panic!("run by acknowledged_changes_survive_sigkill only: no {CHILD_DIR}")
    });
    let ledger = open(std::path::Path::new(&dir), "host-a").await;
    let mut stdout = std::io::stdout();
    for i in 0.. {
        let t = terms(&format!("k{i}"), "host-a", "host-b", &format!("vm{i}"), 1);
        ledger.record_agreed(&t).await.unwrap();
        writeln!(stdout, "agreed k{i}").unwrap();
        stdout.flush().unwrap();
        ledger.settle(&t.trade_id).await.unwrap();
        writeln!(stdout, "settled k{i}").unwrap();
        stdout.flush().unwrap();
    }
}

#[tokio::test]
async fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_writer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    while acked.len() < 60 {
        let line = lines.next().expect("child stopped early").unwrap();
        if line.starts_with("agreed ") || line.starts_with("settled ") {
            acked.push(line);
        }
    }
    // SIGKILL: no destructor, no flush, no checkpoint.
    child.kill().unwrap();
    child.wait().unwrap();
    // Acknowledgements that were in the pipe when it died count too.
    acked.extend(lines.map_while(Result::ok).filter(|l| l.contains(' ')));

    let ledger = Ledger::open_read_only(ledger_path(dir.path(), "host-a"))
        .await
        .unwrap();
    for ack in &acked {
        let (step, id) = ack.split_once(' ').unwrap();
        let record = ledger
            .trade(&TradeId::new(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged {ack} is not in the ledger"));
        if step == "settled" {
            assert_eq!(record.state, TradeState::Settled, "{ack}");
        }
    }
    // Nothing half-written: every trade has its VM, and credits match the
    // settled trades exactly.
    let trades = ledger.trades(None).await.unwrap();
    assert!(trades.iter().all(|t| t.terms.vms.len() == 1));
    let settled = trades
        .iter()
        .filter(|t| t.state == TradeState::Settled)
        .count();
    assert_eq!(
        ledger.balance("host-a").await.unwrap(),
        Credits(i64::try_from(settled).unwrap())
    );
}

#[tokio::test]
async fn duplicated_messages_racing_apply_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let t = terms("race", "host-a", "host-b", "vm", 1_000);
    let records = (0..8).map(|_| {
        let (a, t) = (a.clone(), t.clone());
        tokio::spawn(async move { a.record_agreed(&t).await.unwrap() })
    });
    let outcomes = futures::future::join_all(records).await;
    let applied = outcomes
        .iter()
        .filter(|o| *o.as_ref().unwrap() == Transition::Applied)
        .count();
    assert_eq!(applied, 1);

    let settles = (0..8).map(|_| {
        let (a, id) = (a.clone(), t.trade_id.clone());
        tokio::spawn(async move { a.settle(&id).await.unwrap() })
    });
    let outcomes = futures::future::join_all(settles).await;
    let applied = outcomes
        .iter()
        .filter(|o| *o.as_ref().unwrap() == Transition::Applied)
        .count();
    assert_eq!(applied, 1);
    assert_eq!(a.balance("host-a").await.unwrap(), Credits(1_000));
    assert_eq!(a.events(None).await.unwrap().len(), 2);
}
