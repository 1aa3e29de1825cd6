//! `market ledger` and `market audit` run as the built binary over real
//! ledger files.

// Fixtures outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use market::credits::Credits;
use market::ledger::{
    Ledger, LedgerOptions, MigrationMethod, ProtocolRef, TradeId, TradeTerms, VmRef,
};
use market::resources::Resources;

fn market(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_market"))
        .args(args)
        .output()
        .expect("run market")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn terms(id: &str, from: &str, to: &str, vm: &str, price: i64) -> TradeTerms {
    TradeTerms {
        trade_id: TradeId::new(id).unwrap(),
        kind: market::ledger::TradeKind::Migration,
        interaction_id: format!("i-{id}"),
        protocol: ProtocolRef {
            name: "contract-net".to_string(),
            hash: "b3:77".to_string(),
        },
        seller: from.to_string(),
        buyer: to.to_string(),
        vms: vec![VmRef {
            uuid: format!("uuid-{vm}"),
            name: vm.to_string(),
        }],
        resources: Resources {
            cpu_millicores: 1500,
            memory_mib: 2048,
            network_mbps: 50,
        },
        price: Credits(price),
    }
}

async fn open(dir: &Path, host: &str) -> (Ledger, PathBuf) {
    let path = dir.join(format!("{host}.ledger"));
    let ledger = Ledger::open(&path, host, &LedgerOptions::default())
        .await
        .unwrap();
    (ledger, path)
}

/// Two hosts that agree on a settled and a failed trade.
async fn two_hosts(dir: &Path) -> (PathBuf, PathBuf) {
    let (a, pa) = open(dir, "host-a").await;
    let (b, pb) = open(dir, "host-b").await;
    let settled = terms("t-settled", "host-a", "host-b", "web1", 2_500_000);
    let failed = terms("t-failed", "host-b", "host-a", "db1", 10);
    for ledger in [&a, &b] {
        ledger.record_agreed(&settled).await.unwrap();
        ledger.record_agreed(&failed).await.unwrap();
    }
    a.start_migration(&settled.trade_id, 1, MigrationMethod::Handoff)
        .await
        .unwrap();
    for ledger in [&a, &b] {
        ledger.settle(&settled.trade_id).await.unwrap();
        ledger
            .fail(&failed.trade_id, "not enough memory on host-a")
            .await
            .unwrap();
    }
    a.close().await;
    b.close().await;
    (pa, pb)
}

#[tokio::test]
async fn trades_lists_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, _) = two_hosts(dir.path()).await;
    let a = pa.to_str().unwrap();

    let out = market(&["ledger", "trades", a]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("TRADE"));
    assert!(lines[1].contains("t-settled") && lines[1].contains("settled"));
    assert!(lines[1].contains("seller") && lines[1].contains("host-b"));
    assert!(lines[1].contains("2.500000") && lines[1].contains("web1"));
    assert!(lines[2].contains("t-failed") && lines[2].contains("buyer"));

    let out = market(&["ledger", "trades", a, "--state", "failed", "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let trades = json.as_array().unwrap();
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0]["terms"]["trade_id"], "t-failed");
    assert_eq!(trades[0]["state"], "failed");
    assert_eq!(trades[0]["terms"]["price"], 10);

    let out = market(&["ledger", "trades", a, "--state", "lost"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("unknown state"));
}

#[tokio::test]
async fn show_prints_terms_attempts_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, _) = two_hosts(dir.path()).await;
    let a = pa.to_str().unwrap();

    let out = market(&["ledger", "show", a, "t-settled"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "t-settled",
        "state        settled",
        "uuid-web1 web1",
        "#1 handoff host-a -> host-b",
        "succeeded",
        "agreed -> migrating",
        "migrating -> settled",
        "host-b paid 2.500000 cr to host-a",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in\n{stdout}"
        );
    }

    let out = market(&["ledger", "show", a, "t-failed", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&text(&out).0).unwrap();
    assert_eq!(json["trade"]["reason"], "not enough memory on host-a");
    assert_eq!(json["events"].as_array().unwrap().len(), 2);

    let out = market(&["ledger", "show", a, "t-nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("no trade t-nope"));
}

#[tokio::test]
async fn unreadable_files_give_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.ledger");
    std::fs::write(&junk, vec![0x5Au8; 8192]).unwrap();
    let out = market(&["ledger", "trades", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out).1;
    assert!(
        stderr.contains("not a readable SQLite database"),
        "{stderr}"
    );

    let missing = dir.path().join("absent.ledger");
    let out = market(&["audit", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("no ledger at"));
}

#[tokio::test]
async fn audit_passes_on_agreeing_ledgers_and_lists_every_discrepancy() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = two_hosts(dir.path()).await;
    let (a, b) = (pa.to_str().unwrap(), pb.to_str().unwrap());

    let out = market(&["audit", a, b]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("audited 2 ledgers, 2 trades: consistent"));

    // Plant two discrepancies: a trade only host-a knows, and a price
    // host-b remembers differently.
    let (la, _) = open(dir.path(), "host-a").await;
    let (lb, _) = open(dir.path(), "host-b").await;
    la.record_agreed(&terms("t-only-a", "host-a", "host-b", "x", 1))
        .await
        .unwrap();
    la.record_agreed(&terms("t-price", "host-a", "host-b", "y", 100))
        .await
        .unwrap();
    lb.record_agreed(&terms("t-price", "host-a", "host-b", "y", 200))
        .await
        .unwrap();
    la.close().await;
    lb.close().await;

    let out = market(&["audit", a, b]);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let missing = stdout
        .lines()
        .find(|l| l.contains("t-only-a"))
        .expect("missing trade reported");
    assert!(missing.contains(a) && missing.contains(b), "{missing}");
    let price = stdout
        .lines()
        .find(|l| l.contains("t-price") && l.contains("different terms"))
        .expect("price difference reported");
    assert!(
        price.contains("price: 0.000100 cr vs 0.000200 cr"),
        "{price}"
    );
    assert!(stdout.contains("2 discrepancies"), "{stdout}");

    // In-flight trades are notes, unless the cluster must be quiet.
    assert!(stdout.contains("note: ") && stdout.contains("is still agreed"));
    let out = market(&["audit", "--no-in-flight", a, b]);
    assert!(text(&out).0.contains("discrepancies"));
    assert_eq!(out.status.code(), Some(1));
}
