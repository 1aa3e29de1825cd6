//! A ledger file written by the first schema (before the parties were
//! named after the VMs they trade) opens with this build, is migrated in
//! place, and keeps every trade and balance: the same trade in the new
//! words (docs/ledger.md, "Schema versions"), and a migration since
//! placements became a trade kind of their own.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod ledger_support;

use ledger_support::{ledger_path, raw};
use market::credits::Credits;
use market::ledger::{Ledger, LedgerOptions, Side, TradeKind, TradeState};

/// A ledger of host-a as the first schema left it: host-a's VM `web` went
/// to host-b, and host-a (then called the buyer) paid host-b 2 credits.
async fn first_schema_ledger(dir: &std::path::Path) -> std::path::PathBuf {
    let only_first = dir.join("migrations");
    std::fs::create_dir(&only_first).unwrap();
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/0001_ledger.sql"),
        only_first.join("0001_ledger.sql"),
    )
    .unwrap();
    let path = ledger_path(dir, "host-a");
    std::fs::File::create(&path).unwrap();
    let pool = raw(&path).await;
    sqlx::migrate::Migrator::new(only_first.as_path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    for statement in [
        "INSERT INTO ledger_owner (singleton, host, created_at_ms) VALUES (1, 'host-a', 1)",
        "INSERT INTO trades (trade_id, interaction_id, protocol_name, protocol_hash, buyer, seller,
             our_side, cpu_millicores, memory_mib, network_mbps, price_micro, state, reason,
             agreed_at_ms, updated_at_ms)
         VALUES ('t-1', 'i-1', 'contract-net', 'h', 'host-a', 'host-b', 'buyer', 1000, 512, 0,
             2000000, 'settled', NULL, 10, 20)",
        "INSERT INTO trade_vms (trade_id, position, vm_uuid, vm_name) VALUES ('t-1', 0, 'uuid-web', 'web')",
        "INSERT INTO credit_balances (host, balance_micro) VALUES ('host-a', -2000000), ('host-b', 2000000)",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    path
}

#[tokio::test]
async fn a_first_schema_ledger_opens_and_keeps_its_trade_in_the_new_words() {
    let dir = tempfile::tempdir().unwrap();
    let path = first_schema_ledger(dir.path()).await;
    // Read-only (market audit) refuses an older file rather than misread it.
    assert!(Ledger::open_read_only(&path).await.is_err());

    let ledger = Ledger::open(&path, "host-a", &LedgerOptions::default())
        .await
        .unwrap();
    let trade = ledger
        .trade(&market::ledger::TradeId::new("t-1").unwrap())
        .await
        .unwrap()
        .unwrap();
    // The VM left host-a: host-a sold it; host-b bought it and was paid 2
    // credits, so the price the buyer pays is -2.
    assert_eq!(trade.terms.seller, "host-a");
    assert_eq!(trade.terms.buyer, "host-b");
    assert_eq!(trade.terms.source(), "host-a");
    assert_eq!(trade.our_side, Side::Seller);
    assert_eq!(trade.terms.price, Credits(-2_000_000));
    assert_eq!(trade.state, TradeState::Settled);
    assert_eq!(trade.terms.vms[0].name, "web");
    assert_eq!(trade.terms.kind, TradeKind::Migration);
    // The credits that moved did not change.
    assert_eq!(ledger.balance("host-a").await.unwrap(), Credits(-2_000_000));
    assert_eq!(ledger.balance("host-b").await.unwrap(), Credits(2_000_000));
    // Terms stay frozen after the rewrite.
    ledger.close().await;
    let pool = raw(&path).await;
    for frozen in [
        "UPDATE trades SET price_micro = 0",
        "UPDATE trades SET kind = 'placement'",
    ] {
        assert!(
            sqlx::query(frozen).execute(&pool).await.is_err(),
            "{frozen}"
        );
    }
    pool.close().await;
    // And the file now reads as current, also read-only.
    let reader = Ledger::open_read_only(&path).await.unwrap();
    let snapshot = reader.snapshot().await.unwrap();
    assert_eq!(snapshot.trades.len(), 1);
    reader.close().await;
}
