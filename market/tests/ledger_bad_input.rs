//! Bad input on real files: a ledger from a newer schema, damaged files,
//! other databases and a full disk. Each gives a clear typed error and
//! leaves no partial trade behind.

mod ledger_support;

use ledger_support::{fill, ledger_path, open, raw, terms};
use market::ledger::{Ledger, LedgerError, LedgerOptions};

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = ledger_path(dir.path(), "host-a");
    let a = open(dir.path(), "host-a").await;
    a.record_agreed(&terms("n1", "host-a", "host-b", "vm", 5))
        .await
        .unwrap();
    a.close().await;
    // What a future bourse would leave behind: a migration we do not know.
    let pool = raw(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (20991231, 'from the future', 1, x'00', 0)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let before = std::fs::read(&path).unwrap();

    for result in [
        Ledger::open(&path, "host-a", &LedgerOptions::default()).await,
        Ledger::open_read_only(&path).await,
    ] {
        let err = result.unwrap_err();
        match &err {
            LedgerError::NewerSchema { found, known, .. } => {
                assert_eq!((*found, *known), (20991231, 4));
            }
            other => panic!("expected NewerSchema, got {other}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("20991231") && text.contains("upgrade"),
            "{text}"
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file was modified"
    );
}

#[tokio::test]
async fn random_bytes_are_reported_as_a_corrupt_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.ledger");
    // Deterministic noise (xorshift), 16 KiB.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..16 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();

    for result in [
        Ledger::open(&path, "host-a", &LedgerOptions::default()).await,
        Ledger::open_read_only(&path).await,
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, LedgerError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("not a readable SQLite database"));
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the file was modified"
    );
}

#[tokio::test]
async fn damaged_pages_are_reported_as_corrupt_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = ledger_path(dir.path(), "host-a");
    let a = open(dir.path(), "host-a").await;
    for i in 0..40 {
        let mut t = terms(&format!("d{i}"), "host-a", "host-b", &format!("vm{i}"), 5);
        t.vms[0].name = "n".repeat(500);
        a.record_agreed(&t).await.unwrap();
    }
    a.close().await;
    // Keep the header page, overwrite everything after it.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "ledger too small to damage");
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    let outcome = match Ledger::open_read_only(&path).await {
        Err(e) => e,
        Ok(ledger) => ledger.trades(None).await.unwrap_err(),
    };
    assert!(matches!(outcome, LedgerError::Corrupt { .. }), "{outcome}");
}

#[tokio::test]
async fn another_database_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE recipes (name TEXT)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = Ledger::open(&path, "host-a", &LedgerOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::NotALedger { .. }), "{err}");
    let missing = Ledger::open_read_only(dir.path().join("absent.ledger"))
        .await
        .unwrap_err();
    assert!(matches!(missing, LedgerError::Missing { .. }), "{missing}");
}

#[tokio::test]
async fn a_full_disk_fails_the_step_and_writes_nothing_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = ledger_path(dir.path(), "host-a");
    let a = open(dir.path(), "host-a").await;
    let pool = raw(&path).await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    a.close().await;

    // A quota a few pages above the empty ledger: SQLite answers SQLITE_FULL
    // exactly as on a full disk.
    let options = LedgerOptions {
        max_pages: Some(u32::try_from(pages).unwrap() + 6),
        ..LedgerOptions::default()
    };
    let a = Ledger::open(&path, "host-a", &options).await.unwrap();
    let filled = fill(&a, 500).await.expect("the quota was never reached");
    let err = &filled.error;
    assert!(matches!(err, LedgerError::Full { .. }), "{err}");
    assert!(err.to_string().contains("full"), "{err}");
    assert!(filled.settled > 0, "the quota left no room at all");
    // Nothing of the failed step is in the ledger; credits match exactly
    // the trades that settled.
    filled.assert_left_no_trace(&a).await;
    // Without the quota, the same ledger takes the trade.
    a.close().await;
    let a = Ledger::open(&path, "host-a", &LedgerOptions::default())
        .await
        .unwrap();
    a.record_agreed(&filled.trade).await.unwrap();
    a.settle(&filled.trade.trade_id).await.unwrap();
}

/// Found by `market chaos` (seed 2): once a write had found the disk full,
/// the same ledger refused every later write with "attempted to call
/// begin_with at non-zero transaction depth", full disk or not, until the
/// daemon restarted: SQLite rolls a transaction back by itself on
/// SQLITE_FULL, sqlx's ROLLBACK then fails, and the connection went back
/// to the pool still counting a transaction open. Here each later attempt,
/// on the same open ledger, must fail as full, and nothing else.
#[tokio::test]
async fn a_ledger_that_found_its_disk_full_fails_later_writes_as_full_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = ledger_path(dir.path(), "host-a");
    let a = open(dir.path(), "host-a").await;
    let pool = raw(&path).await;
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    a.close().await;
    let options = LedgerOptions {
        max_pages: Some(u32::try_from(pages).unwrap() + 6),
        ..LedgerOptions::default()
    };
    let a = Ledger::open(&path, "host-a", &options).await.unwrap();
    let filled = fill(&a, 500).await.expect("the quota was never reached");
    assert!(
        matches!(filled.error, LedgerError::Full { .. }),
        "{}",
        filled.error
    );
    // More attempts than the pool has connections: every one of them has
    // met the full disk by the end.
    for attempt in 0..16 {
        let mut trade = filled.trade.clone();
        trade.trade_id = market::ledger::TradeId::new(format!("again-{attempt}")).unwrap();
        let err = a.record_agreed(&trade).await.unwrap_err();
        assert!(
            matches!(err, LedgerError::Full { .. }),
            "attempt {attempt}: {err}"
        );
    }
}
