//! The trade lifecycle on real ledger files: every step, replays, illegal
//! steps, credits, attempts, the event log and reopening after close.

mod ledger_support;

use ledger_support::{open, terms};
use market::credits::Credits;
use market::ledger::{
    AttemptOutcome, Ledger, LedgerError, LedgerOptions, MigrationMethod, Side, TradeState,
    Transition,
};

#[tokio::test]
async fn agreed_migrating_settled_moves_credits_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let b = open(dir.path(), "host-b").await;
    let t = terms("t1", "host-a", "host-b", "web1", 1_500_000);

    for ledger in [&a, &b] {
        assert_eq!(ledger.record_agreed(&t).await.unwrap(), Transition::Applied);
        assert_eq!(
            ledger.record_agreed(&t).await.unwrap(),
            Transition::AlreadyApplied
        );
    }
    assert_eq!(
        a.start_migration(&t.trade_id, 1, MigrationMethod::Handoff)
            .await
            .unwrap(),
        Transition::Applied
    );
    assert_eq!(
        a.start_migration(&t.trade_id, 1, MigrationMethod::Handoff)
            .await
            .unwrap(),
        Transition::AlreadyApplied
    );
    let open_attempt = a.open_attempt(&t.trade_id).await.unwrap().unwrap();
    assert_eq!(open_attempt.method, MigrationMethod::Handoff);
    assert_eq!(
        (
            open_attempt.source.as_str(),
            open_attempt.destination.as_str()
        ),
        ("host-a", "host-b")
    );
    assert_eq!(a.balance("host-a").await.unwrap(), Credits::ZERO);

    assert_eq!(a.settle(&t.trade_id).await.unwrap(), Transition::Applied);
    assert_eq!(
        a.settle(&t.trade_id).await.unwrap(),
        Transition::AlreadyApplied
    );
    // The buyer learns of the success after the fact: Agreed -> Settled.
    assert_eq!(b.settle(&t.trade_id).await.unwrap(), Transition::Applied);

    // host-b bought the VM: it paid host-a.
    assert_eq!(a.balance("host-a").await.unwrap(), Credits(1_500_000));
    assert_eq!(a.balance("host-b").await.unwrap(), Credits(-1_500_000));
    assert_eq!(b.balance("host-b").await.unwrap(), Credits(-1_500_000));
    let record = a.trade(&t.trade_id).await.unwrap().unwrap();
    assert_eq!(record.state, TradeState::Settled);
    assert_eq!(record.our_side, Side::Seller);
    assert_eq!(record.terms, t);
    assert_eq!(
        b.trade(&t.trade_id).await.unwrap().unwrap().our_side,
        Side::Buyer
    );
    let attempts = a.attempts(&t.trade_id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, Some(AttemptOutcome::Succeeded));

    let kinds: Vec<String> = a
        .events(Some(&t.trade_id))
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["agreed", "migration_started", "settled"]);
}

#[tokio::test]
async fn failure_keeps_credits_and_records_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let t = terms("t2", "host-a", "host-b", "db1", 700);
    a.record_agreed(&t).await.unwrap();
    a.start_migration(&t.trade_id, 1, MigrationMethod::Live)
        .await
        .unwrap();
    let reason = "operation failed: not enough memory on destination";
    assert_eq!(
        a.fail(&t.trade_id, reason).await.unwrap(),
        Transition::Applied
    );
    assert_eq!(
        a.fail(&t.trade_id, "again").await.unwrap(),
        Transition::AlreadyApplied
    );
    let record = a.trade(&t.trade_id).await.unwrap().unwrap();
    assert_eq!(record.state, TradeState::Failed);
    assert_eq!(record.reason.as_deref(), Some(reason));
    let attempt = &a.attempts(&t.trade_id).await.unwrap()[0];
    assert_eq!(attempt.outcome, Some(AttemptOutcome::Failed));
    assert_eq!(attempt.reason.as_deref(), Some(reason));
    assert!(a.balances().await.unwrap().is_empty());

    let err = a.settle(&t.trade_id).await.unwrap_err();
    assert!(
        matches!(
            err,
            LedgerError::IllegalTransition {
                from: TradeState::Failed,
                ..
            }
        ),
        "{err}"
    );
    assert!(a.roll_back(&t.trade_id, "x").await.is_err());
    assert!(
        a.start_migration(&t.trade_id, 2, MigrationMethod::Live)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn retry_needs_the_previous_attempt_ended_and_the_next_number() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let t = terms("t3", "host-a", "host-b", "vm3", 10);
    a.record_agreed(&t).await.unwrap();
    assert!(matches!(
        a.start_migration(&t.trade_id, 2, MigrationMethod::Live)
            .await,
        Err(LedgerError::AttemptMismatch { .. })
    ));
    a.start_migration(&t.trade_id, 1, MigrationMethod::Live)
        .await
        .unwrap();
    assert!(matches!(
        a.start_migration(&t.trade_id, 1, MigrationMethod::Handoff)
            .await,
        Err(LedgerError::AttemptMismatch { .. })
    ));
    assert!(matches!(
        a.start_migration(&t.trade_id, 2, MigrationMethod::Handoff)
            .await,
        Err(LedgerError::AttemptMismatch { .. })
    ));
    let reason = Some("this function is not supported by the connection driver");
    assert_eq!(
        a.end_attempt(&t.trade_id, 1, AttemptOutcome::Failed, reason)
            .await
            .unwrap(),
        Transition::Applied
    );
    assert_eq!(
        a.end_attempt(&t.trade_id, 1, AttemptOutcome::Failed, reason)
            .await
            .unwrap(),
        Transition::AlreadyApplied
    );
    assert!(
        a.end_attempt(&t.trade_id, 1, AttemptOutcome::Succeeded, None)
            .await
            .is_err()
    );
    assert_eq!(
        a.trade(&t.trade_id).await.unwrap().unwrap().state,
        TradeState::Migrating
    );
    a.start_migration(&t.trade_id, 2, MigrationMethod::Handoff)
        .await
        .unwrap();
    assert_eq!(a.unfinished_trades().await.unwrap().len(), 1);
    a.roll_back(&t.trade_id, "recovery: VM found only at the source")
        .await
        .unwrap();
    let attempts = a.attempts(&t.trade_id).await.unwrap();
    assert_eq!(
        attempts.iter().map(|x| x.outcome).collect::<Vec<_>>(),
        [
            Some(AttemptOutcome::Failed),
            Some(AttemptOutcome::Interrupted)
        ]
    );
    assert!(a.unfinished_trades().await.unwrap().is_empty());
    assert_eq!(
        a.trades(Some(TradeState::RolledBack)).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn same_id_with_other_terms_is_refused_naming_the_differences() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let t = terms("t4", "host-a", "host-b", "vm4", 10);
    a.record_agreed(&t).await.unwrap();
    let mut other = t.clone();
    other.price = Credits(11);
    other.resources.memory_mib += 1;
    let err = a.record_agreed(&other).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, LedgerError::ConflictingTerms { .. }),
        "{text}"
    );
    assert!(
        text.contains("price") && text.contains("resources"),
        "{text}"
    );
    assert_eq!(a.trades(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_ledger_only_records_its_owners_trades() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    let t = terms("t5", "host-b", "host-c", "vm5", 10);
    assert!(matches!(
        a.record_agreed(&t).await,
        Err(LedgerError::NotAParty { .. })
    ));
    let mut selfish = terms("t6", "host-a", "host-a", "vm6", 10);
    assert!(matches!(
        a.record_agreed(&selfish).await,
        Err(LedgerError::InvalidTerms { .. })
    ));
    selfish.seller = "host-b".to_string();
    selfish.vms.clear();
    assert!(matches!(
        a.record_agreed(&selfish).await,
        Err(LedgerError::InvalidTerms { .. })
    ));
    let unknown = market::ledger::TradeId::new("nope").unwrap();
    assert!(matches!(
        a.settle(&unknown).await,
        Err(LedgerError::UnknownTrade(_))
    ));
}

#[tokio::test]
async fn state_survives_close_and_reopen_and_the_owner_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = ledger_support::ledger_path(dir.path(), "host-a");
    let t = terms("t7", "host-a", "host-b", "vm7", 10);
    {
        let a = Ledger::open(&path, "host-a", &LedgerOptions::default())
            .await
            .unwrap();
        a.record_agreed(&t).await.unwrap();
        a.start_migration(&t.trade_id, 1, MigrationMethod::Live)
            .await
            .unwrap();
        a.close().await;
    }
    let a = Ledger::open(&path, "host-a", &LedgerOptions::default())
        .await
        .unwrap();
    let unfinished = a.unfinished_trades().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].state, TradeState::Migrating);
    assert!(a.open_attempt(&t.trade_id).await.unwrap().is_some());
    a.close().await;

    let err = Ledger::open(&path, "host-b", &LedgerOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::OwnerMismatch { .. }), "{err}");
    let ro = Ledger::open_read_only(&path).await.unwrap();
    assert_eq!(ro.owner(), "host-a");
    assert_eq!(ro.trades(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_event_log_is_append_only_and_ordered() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "host-a").await;
    for i in 0..3 {
        let t = terms(&format!("e{i}"), "host-a", "host-b", &format!("vm{i}"), 1);
        a.record_agreed(&t).await.unwrap();
        a.settle(&t.trade_id).await.unwrap();
    }
    let events = a.events(None).await.unwrap();
    assert_eq!(events.len(), 6);
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    a.close().await;

    // Even plain SQL cannot rewrite history.
    let path = ledger_support::ledger_path(dir.path(), "host-a");
    let pool = ledger_support::raw(&path).await;
    let update = sqlx::query("UPDATE events SET kind = 'forged'")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = sqlx::query("DELETE FROM events").execute(&pool).await;
    assert!(delete.is_err());
    let terms_change = sqlx::query("UPDATE trades SET price_micro = 0")
        .execute(&pool)
        .await;
    assert!(terms_change.is_err());
}
