//! The migration workflow end to end in one process: two hosts (libvirt's
//! `test:///` driver, or simulated hosts where a capacity matters), two real
//! ledger files, the in-process peer. Each test checks the hosts, both
//! ledgers, the credits and the audit.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod support;

use std::time::Duration;

use bidder::hypervisor::LiveTarget;
use bidder::migration::{Destination, Executor, Method, Outcome};
use market::credits::Credits;
use market::ledger::TradeState;
use support::*;

#[tokio::test]
async fn a_hand_off_between_libvirt_hosts_settles_both_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = vm(1, 256);
    run_on(&a, &guest, "test");
    let trade = terms("t1", "a", "b", &[&guest], 3_000_000);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        Destination::new(ledger_b.clone(), b.clone()),
        Method::Handoff,
    );

    assert_eq!(executor.execute(&trade).await.unwrap(), Outcome::Settled);

    assert_eq!(active_on(&[&a, &b], &guest.uuid), ["b"]);
    assert_eq!(
        defined_on(&[&a, &b], &guest.uuid),
        ["b"],
        "the source undefined its copy"
    );
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::Settled
        );
        let attempts = ledger.attempts(&trade.trade_id).await.unwrap();
        assert_eq!(attempts.len(), 1);
        assert!(!attempts[0].is_open());
    }
    assert_eq!(ledger_a.balance("a").await.unwrap(), Credits(3_000_000));
    assert_eq!(ledger_b.balance("b").await.unwrap(), Credits(-3_000_000));
    let report = audit_of(&[&ledger_a, &ledger_b]).await;
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
    assert!(report.in_flight.is_empty());

    // Running it again changes nothing and reports how it ended.
    assert_eq!(executor.execute(&trade).await.unwrap(), Outcome::Settled);
    assert_eq!(ledger_a.balance("a").await.unwrap(), Credits(3_000_000));
}

#[tokio::test]
async fn a_destination_without_the_memory_refuses_and_nothing_moves() {
    let dir = tempfile::tempdir().unwrap();
    let a = simulated_host(dir.path(), "a", 4096);
    let b = simulated_host(dir.path(), "b", 1024);
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let (small, big) = (vm(1, 512), vm(2, 2048));
    run_on(&a, &small, "test");
    run_on(&a, &big, "test");
    let trade = terms("t-big", "a", "b", &[&small, &big], 5_000_000);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        Destination::new(ledger_b.clone(), b.clone()),
        Method::Handoff,
    );

    let Outcome::Failed { reason } = executor.execute(&trade).await.unwrap() else {
        panic!("the trade must fail");
    };

    assert!(
        reason.contains("not enough free memory") && reason.contains("2048 MiB"),
        "{reason}"
    );
    for spec in [&small, &big] {
        assert_eq!(active_on(&[&a, &b], &spec.uuid), ["a"]);
        assert_eq!(
            defined_on(&[&a, &b], &spec.uuid),
            ["a"],
            "the destination kept nothing"
        );
    }
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await,
            (TradeState::Failed, Some(reason.clone()))
        );
        assert!(
            ledger
                .balances()
                .await
                .unwrap()
                .values()
                .all(|b| *b == Credits(0))
        );
    }
    assert!(audit_of(&[&ledger_a, &ledger_b]).await.is_consistent());
}

#[tokio::test]
async fn libvirt_refusing_a_live_migration_fails_the_trade_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let guest = vm(1, 128);
    run_on(&a, &guest, "test");
    let cases = [
        // the test driver cannot migrate at all: libvirt says so
        ("t-p2p", "test:///default", true, "not supported"),
        // an unknown host: libvirt cannot even resolve it
        (
            "t-unknown",
            "qemu+tcp://no-such-host.invalid/system",
            false,
            "no-such-host.invalid",
        ),
    ];
    for (id, uri, peer_to_peer, expected) in cases {
        let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
        let target = LiveTarget {
            destination_uri: uri.into(),
            peer_to_peer,
            bandwidth_mib_s: Some(64),
            timeout: Duration::from_secs(30),
        };
        let executor = Executor::new(
            ledger_a.clone(),
            a.clone(),
            Destination::new(ledger_b.clone(), b.clone()),
            Method::Live(target),
        );
        let trade = terms(id, "a", "b", &[&guest], 1_000_000);

        let Outcome::Failed { reason } = executor.execute(&trade).await.unwrap() else {
            panic!("{id}: libvirt must refuse");
        };

        assert!(reason.contains(expected), "{id}: {reason}");
        assert!(
            reason.contains("libvirt"),
            "{id}: the reason is libvirt's: {reason}"
        );
        assert_eq!(active_on(&[&a, &b], &guest.uuid), ["a"], "{id}");
        for ledger in [&ledger_a, &ledger_b] {
            assert_eq!(
                state_of(ledger, &trade.trade_id).await.0,
                TradeState::Failed,
                "{id}"
            );
            assert_eq!(
                ledger.attempts(&trade.trade_id).await.unwrap()[0]
                    .reason
                    .as_deref(),
                Some(reason.as_str())
            );
            assert!(
                ledger
                    .balances()
                    .await
                    .unwrap()
                    .values()
                    .all(|b| *b == Credits(0))
            );
        }
        assert!(
            audit_of(&[&ledger_a, &ledger_b]).await.is_consistent(),
            "{id}"
        );
    }
}

#[tokio::test]
async fn a_vm_that_is_not_running_at_the_source_fails_the_trade_before_anything_moves() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let absent = vm(9, 128);
    let trade = terms("t-absent", "a", "b", &[&absent], 1);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        Destination::new(ledger_b.clone(), b.clone()),
        Method::Handoff,
    );

    let outcome = executor.execute(&trade).await.unwrap();

    assert!(
        matches!(&outcome, Outcome::Failed { reason } if reason.contains("is not at a")),
        "{outcome:?}"
    );
    assert!(
        ledger_a.attempts(&trade.trade_id).await.unwrap().is_empty(),
        "no attempt was started"
    );
    assert_eq!(
        state_of(&ledger_b, &trade.trade_id).await.0,
        TradeState::Failed
    );
}

#[tokio::test]
async fn a_host_runs_only_trades_it_is_the_source_of() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = vm(1, 128);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        Destination::new(ledger_b.clone(), b.clone()),
        Method::Handoff,
    );
    for trade in [
        terms("t-rev", "b", "a", &[&guest], 1),
        terms("t-c", "a", "c", &[&guest], 1),
    ] {
        let err = executor.execute(&trade).await.unwrap_err();
        assert!(err.to_string().contains(trade.trade_id.as_str()), "{err}");
        assert!(
            ledger_a.trade(&trade.trade_id).await.unwrap().is_none(),
            "nothing recorded"
        );
    }
}
