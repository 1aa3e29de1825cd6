//! Recovery's rules on states a crash test cannot reach by stopping the
//! workflow between steps: someone stopped a VM, or a VM vanished. Two
//! libvirt `test:///` hosts and two real ledgers, in one process.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod support;

use std::sync::Arc;

use bidder::hypervisor::{DomainState, Hypervisor};
use bidder::migration::carrying::{Carrying, InHand};
use bidder::migration::placement;
use bidder::migration::{Destination, Outcome};
use bidder::migration::{Recovery, RecoveryError};
use market::ledger::{Ledger, MigrationMethod, TradeState, TradeTerms};
use support::*;

/// Both ledgers hold `trade` as migrating (attempt 1, hand-off).
async fn migrating_in_both(a: &Ledger, b: &Ledger, trade: &TradeTerms) {
    for ledger in [a, b] {
        ledger.record_agreed(trade).await.unwrap();
        ledger
            .start_migration(&trade.trade_id, 1, MigrationMethod::Handoff)
            .await
            .unwrap();
    }
}

/// Recovery at `a` (source), with `b` as the in-process peer.
fn recovery(
    a: &Arc<dyn Hypervisor>,
    b: &Arc<dyn Hypervisor>,
    la: &Ledger,
    lb: &Ledger,
) -> Recovery<Destination> {
    Recovery::new(
        la.clone(),
        a.clone(),
        Destination::new(lb.clone(), b.clone()),
    )
}

#[tokio::test]
async fn a_vm_defined_on_both_hosts_and_running_nowhere_goes_back_to_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (la, lb) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = vm(1, 256);
    a.define(&guest.to_xml("test")).unwrap();
    b.define(&guest.to_xml("test")).unwrap();
    let trade = terms("t-stopped", "a", "b", &[&guest], 7);
    migrating_in_both(&la, &lb, &trade).await;

    let resolved = recovery(&a, &b, &la, &lb).run().await.unwrap();

    assert!(
        matches!(resolved[0].outcome, Outcome::RolledBack { .. }),
        "{resolved:?}"
    );
    assert_eq!(
        a.find(&guest.uuid).unwrap().unwrap().state,
        DomainState::Running,
        "restarted at the source"
    );
    assert!(
        b.find(&guest.uuid).unwrap().is_none(),
        "the destination's copy was discarded"
    );
    for ledger in [&la, &lb] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::RolledBack
        );
    }
    assert!(audit_of(&[&la, &lb]).await.is_consistent());

    // Running recovery again finds nothing to do.
    assert!(recovery(&a, &b, &la, &lb).run().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_vm_found_nowhere_is_reported_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (la, lb) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let lost = vm(2, 256);
    let trade = terms("t-lost", "a", "b", &[&lost], 7);
    migrating_in_both(&la, &lb, &trade).await;

    let err = recovery(&a, &b, &la, &lb).run().await.unwrap_err();

    assert!(matches!(err, RecoveryError::Undecidable { .. }), "{err}");
    assert!(err.to_string().contains("t-lost"), "{err}");
    for ledger in [&la, &lb] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::Migrating,
            "left for a person"
        );
    }
}

#[tokio::test]
async fn recovery_leaves_trades_of_other_hosts_and_other_peers_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (la, lb) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = vm(3, 256);
    // a is the seller here: its source (b) recovers it, not a.
    let incoming = terms("t-incoming", "b", "a", &[&guest], 7);
    la.record_agreed(&incoming).await.unwrap();
    // a's trade with c: recovered with c's peer, not b's.
    let elsewhere = terms("t-elsewhere", "a", "c", &[&guest], 7);
    la.record_agreed(&elsewhere).await.unwrap();

    assert!(recovery(&a, &b, &la, &lb).run().await.unwrap().is_empty());
    assert_eq!(
        state_of(&la, &incoming.trade_id).await.0,
        TradeState::Agreed
    );
    assert_eq!(
        state_of(&la, &elsewhere.trade_id).await.0,
        TradeState::Agreed
    );
}

/// Found by `market chaos` (seed 2): recovery runs every period, and it
/// took a placement a call was carrying out, recorded but not yet
/// started, for one a crash interrupted: it removed the domain the call
/// then started (the VM ran nowhere, the placement settled). A placement
/// held by the call carrying it out is left alone; once the call let it
/// go, the same state is recovered as a crash's.
#[tokio::test]
async fn recovery_leaves_alone_a_placement_being_carried_out() {
    let dir = tempfile::tempdir().unwrap();
    let host = simulated_host(dir.path(), "b", 4096);
    let ledger = ledger(dir.path(), "b").await;
    let spec = vm(1, 512);
    let mut trade = terms("placing-1", "ops", "b", &[&spec], 1000);
    trade.kind = market::ledger::TradeKind::Placement;
    // The call's first two steps: recorded, defined, not yet started.
    ledger.record_agreed(&trade).await.unwrap();
    host.define(&spec.to_xml("test")).unwrap();
    let carrying = Carrying::default();
    let in_hand = {
        let carrying = carrying.clone();
        InHand::new(move |id| carrying.holds(id))
    };
    let held = carrying.hold(&trade.trade_id);
    let resolved = placement::recover(&ledger, &host, &in_hand).await.unwrap();
    assert!(resolved.is_empty(), "{resolved:?}");
    assert_eq!(
        state_of(&ledger, &trade.trade_id).await.0,
        TradeState::Agreed
    );
    assert_eq!(defined_on(&[&host], &spec.uuid), ["b"]);
    // The call ended without a word (its host would have crashed): the
    // next recovery finishes it as a crash's.
    drop(held);
    let resolved = placement::recover(&ledger, &host, &in_hand).await.unwrap();
    assert_eq!(resolved.len(), 1, "{resolved:?}");
    assert_eq!(
        state_of(&ledger, &trade.trade_id).await.0,
        TradeState::RolledBack
    );
    assert!(defined_on(&[&host], &spec.uuid).is_empty());
}

/// Found by `market chaos` (seed 2027): the source handed its VM over,
/// removed its copy and had the destination settle, and then its own
/// `settle` failed (its ledger disk was full). The trade stayed migrating
/// at the source. By the time recovery ran, the destination had sold the
/// VM on, and recovery found it at neither host and decided nothing. The
/// destination settles only after the source removed its copy, so its
/// settled record is the hand-off's commit: the source settles too, and
/// touches no VM, whatever has become of it since.
#[tokio::test]
async fn a_trade_its_destination_settled_is_settled_at_the_source_wherever_the_vm_went() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (la, lb) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    // Sold on by b: the VM runs at neither host.
    let sold_on = vm(4, 256);
    let first = terms("t-sold-on", "a", "b", &[&sold_on], 7);
    // Sold on, then bought back by a: it runs at a again, legitimately.
    let came_back = vm(5, 256);
    let second = terms("t-came-back", "a", "b", &[&came_back], 5);
    a.define(&came_back.to_xml("test")).unwrap();
    a.start(&came_back.uuid).unwrap();
    for trade in [&first, &second] {
        migrating_in_both(&la, &lb, trade).await;
        lb.settle(&trade.trade_id).await.unwrap();
    }

    let resolved = recovery(&a, &b, &la, &lb).run().await.unwrap();

    assert_eq!(resolved.len(), 2, "{resolved:?}");
    assert!(
        resolved.iter().all(|r| r.outcome == Outcome::Settled),
        "{resolved:?}"
    );
    for trade in [&first, &second] {
        for ledger in [&la, &lb] {
            assert_eq!(
                state_of(ledger, &trade.trade_id).await.0,
                TradeState::Settled
            );
        }
    }
    assert_eq!(
        a.find(&came_back.uuid).unwrap().unwrap().state,
        DomainState::Running,
        "a VM that came back is not a leftover of the hand-off"
    );
    assert!(audit_of(&[&la, &lb]).await.is_consistent());
}
