//! `audit` over real ledger files: a consistent cluster passes, and every
//! planted discrepancy is reported, one line each, naming ledgers and trades.

// Fixtures outside #[test] functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used)]

mod ledger_support;

use std::path::Path;

use ledger_support::{agree_and_settle, ledger_path, open, raw, terms};
use market::ledger::audit::{Discrepancy, LedgerSnapshot, audit};
use market::ledger::{Ledger, MigrationMethod, TradeState};

async fn snapshots(dir: &Path, hosts: &[&str]) -> Vec<LedgerSnapshot> {
    let mut out = Vec::new();
    for host in hosts {
        let ledger = Ledger::open_read_only(ledger_path(dir, host))
            .await
            .unwrap();
        out.push(ledger.snapshot().await.unwrap());
        ledger.close().await;
    }
    out
}

/// a -> b -> c moves VM web, a failed and a rolled-back trade, a trade with
/// host d whose ledger is not audited, and one still migrating.
async fn consistent_cluster(dir: &Path) {
    let a = open(dir, "a").await;
    let b = open(dir, "b").await;
    let c = open(dir, "c").await;
    agree_and_settle(&a, &b, &terms("t-ab", "a", "b", "web", 2_000_000)).await;
    agree_and_settle(&b, &c, &terms("t-bc", "b", "c", "web", 1_000_000)).await;
    let failed = terms("t-fail", "c", "a", "db", 500);
    for ledger in [&c, &a] {
        ledger.record_agreed(&failed).await.unwrap();
        ledger.fail(&failed.trade_id, "no memory").await.unwrap();
    }
    let rolled = terms("t-rb", "a", "c", "cache", 7);
    for ledger in [&a, &c] {
        ledger.record_agreed(&rolled).await.unwrap();
        ledger
            .roll_back(&rolled.trade_id, "peer left")
            .await
            .unwrap();
    }
    let outside = terms("t-ad", "a", "d", "batch", 300_000);
    a.record_agreed(&outside).await.unwrap();
    a.settle(&outside.trade_id).await.unwrap();
    let moving = terms("t-cb", "c", "b", "etl", 9);
    for ledger in [&c, &b] {
        ledger.record_agreed(&moving).await.unwrap();
        ledger
            .start_migration(&moving.trade_id, 1, MigrationMethod::Live)
            .await
            .unwrap();
    }
    for ledger in [a, b, c] {
        ledger.close().await;
    }
}

#[tokio::test]
async fn a_consistent_cluster_passes() {
    let dir = tempfile::tempdir().unwrap();
    consistent_cluster(dir.path()).await;
    let report = audit(&snapshots(dir.path(), &["a", "b", "c"]).await);
    assert!(report.is_consistent(), "{:#?}", report.discrepancies);
    assert_eq!(report.trades, 6);
    assert_eq!(
        report.outside_hosts.iter().collect::<Vec<_>>(),
        [&"d".to_string()]
    );
    assert_eq!(report.in_flight.len(), 2);
    assert!(
        report
            .in_flight
            .iter()
            .all(|f| f.state == TradeState::Migrating)
    );
}

#[tokio::test]
async fn every_planted_discrepancy_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    consistent_cluster(dir.path()).await;
    let a = open(dir.path(), "a").await;
    let b = open(dir.path(), "b").await;
    let c = open(dir.path(), "c").await;

    // 1. Only a recorded it.
    a.record_agreed(&terms("t-lonely", "a", "b", "vm-l", 1))
        .await
        .unwrap();
    // 2. The parties disagree on the price.
    b.record_agreed(&terms("t-price", "b", "c", "vm-p", 10))
        .await
        .unwrap();
    c.record_agreed(&terms("t-price", "b", "c", "vm-p", 11))
        .await
        .unwrap();
    // 3. Settled at the seller, failed at the buyer.
    let split = terms("t-split", "c", "a", "vm-s", 40);
    c.record_agreed(&split).await.unwrap();
    a.record_agreed(&split).await.unwrap();
    c.settle(&split.trade_id).await.unwrap();
    a.fail(&split.trade_id, "timeout").await.unwrap();
    // 4. a sells VM twin to b and then to c: it left a twice, two hosts hold it.
    agree_and_settle(&a, &b, &terms("t-twin1", "a", "b", "twin", 5)).await;
    agree_and_settle(&a, &c, &terms("t-twin2", "a", "c", "twin", 5)).await;
    for ledger in [a, b, c] {
        ledger.close().await;
    }
    // 5. Someone edited b's balance by hand.
    let pool = raw(&ledger_path(dir.path(), "b")).await;
    sqlx::query("UPDATE credit_balances SET balance_micro = balance_micro + 1 WHERE host = 'b'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // 6. A copy of c's ledger is audited as well.
    let snapshots_abc = snapshots(dir.path(), &["a", "b", "c"]).await;
    let mut all = snapshots_abc.clone();
    let mut copy = snapshots_abc[2].clone();
    copy.label = "c-copy.ledger".to_string();
    all.push(copy);

    let report = audit(&all);
    let lines: Vec<String> = report.discrepancies.iter().map(|d| d.to_string()).collect();
    let has = |pred: &dyn Fn(&Discrepancy) -> bool| report.discrepancies.iter().any(pred);
    let label = |host: &str| ledger_path(dir.path(), host).display().to_string();

    assert!(
        has(
            &|d| matches!(d, Discrepancy::MissingCounterpart { trade_id, ledger, counterparty_ledger }
            if trade_id.as_str() == "t-lonely" && *ledger == label("a") && *counterparty_ledger == label("b"))
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &|d| matches!(d, Discrepancy::TermsDiffer { trade_id, differences, .. }
            if trade_id.as_str() == "t-price" && differences.len() == 1 && differences[0].starts_with("price"))
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &|d| matches!(d, Discrepancy::StatesDiffer { trade_id, buyer, seller }
            if trade_id.as_str() == "t-split" && buyer.1 == TradeState::Failed && seller.1 == TradeState::Settled)
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &|d| matches!(d, Discrepancy::VmMovedOutOfOrder { vm_uuid, ledger, direction: "left", .. }
            if vm_uuid == "uuid-twin" && *ledger == label("a"))
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &|d| matches!(d, Discrepancy::VmClaimedTwice { vm_uuid, claims }
            if vm_uuid == "uuid-twin" && claims.len() >= 2)
        ),
        "{lines:#?}"
    );
    assert!(
        has(
            &|d| matches!(d, Discrepancy::BalanceMismatch { ledger, host, recorded, expected }
            if *ledger == label("b") && host == "b" && recorded.0 == expected.0 + 1)
        ),
        "{lines:#?}"
    );
    // The hand edit and the one-sided settlement both break the sum.
    assert!(
        has(&|d| matches!(d, Discrepancy::CreditsDoNotSum { .. })),
        "{lines:#?}"
    );
    assert!(
        has(&|d| matches!(d, Discrepancy::SameOwner { host, .. } if host == "c")),
        "{lines:#?}"
    );
    // One line each, naming the trade where there is one.
    for line in &lines {
        assert!(!line.contains('\n'), "{line}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("t-split") && l.contains("settled") && l.contains("failed"))
    );

    // Without the copy, the same-owner line goes and nothing else changes kind.
    let report = audit(&snapshots_abc);
    assert!(
        !report
            .discrepancies
            .iter()
            .any(|d| matches!(d, Discrepancy::SameOwner { .. }))
    );
}

#[tokio::test]
async fn a_side_forged_by_hand_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "a").await;
    a.record_agreed(&terms("t-side", "a", "b", "vm", 3))
        .await
        .unwrap();
    a.close().await;
    let pool = raw(&ledger_path(dir.path(), "a")).await;
    // The schema forbids it; a forger has to drop the guard first.
    assert!(
        sqlx::query("UPDATE trades SET our_side = 'buyer'")
            .execute(&pool)
            .await
            .is_err()
    );
    sqlx::query("DROP TRIGGER trades_terms_frozen")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE trades SET our_side = 'buyer'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = audit(&snapshots(dir.path(), &["a"]).await);
    assert!(
        matches!(
            report.discrepancies.as_slice(),
            [Discrepancy::WrongSide { trade_id, .. }] if trade_id.as_str() == "t-side"
        ),
        "{:#?}",
        report.discrepancies
    );
}

#[tokio::test]
async fn parties_that_both_think_they_bought_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "a").await;
    let b = open(dir.path(), "b").await;
    // Each recorded itself as the buyer: the roles differ.
    a.record_agreed(&terms("t-roles", "b", "a", "vm", 3))
        .await
        .unwrap();
    b.record_agreed(&terms("t-roles", "a", "b", "vm", 3))
        .await
        .unwrap();
    a.close().await;
    b.close().await;
    let report = audit(&snapshots(dir.path(), &["a", "b"]).await);
    assert!(
        matches!(
            report.discrepancies.as_slice(),
            [Discrepancy::TermsDiffer { trade_id, differences, .. }]
                if trade_id.as_str() == "t-roles" && differences.len() == 2
        ),
        "{:#?}",
        report.discrepancies
    );
}
