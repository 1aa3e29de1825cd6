//! The migration workflow with its destination reached over the bus
//! (`migration::remote`): the same executor and recovery as in one
//! process, the destination answering through its `DestinationService` on
//! an in-process `MemoryBus` (the NATS half is in the root package's
//! `tests/bidder_daemon.rs`, with daemons as separate processes). Each test
//! checks the hosts and both ledgers.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod support;

use std::sync::Arc;
use std::time::Duration;

use bidder::hypervisor::Hypervisor;
use bidder::migration::remote::wire::{PeerCall, PeerReply, PeerRequest, WireTerms};
use bidder::migration::{
    BusPeer, CallPolicy, Destination, DestinationService, Executor, Method, MigrationError,
    Outcome, PeerError, PeerLink, Recovery,
};
use lcc::interp::{Clock, TokioClock};
use market::bus::subject::{Route, SubjectSpace, Token};
use market::bus::{Bus, BusError, MemoryBus};
use market::credits::Credits;
use market::ledger::{Ledger, TradeState, TradeTerms};
use market::runtime::{Endpoint, InteractionIds};
use market::wire::{Envelope, WireLimits, decode, encode};
use support::*;
use tokio::sync::watch;
use tokio::time::Instant;

fn space() -> SubjectSpace {
    SubjectSpace::in_zone(Token::new("z").unwrap())
}

fn endpoint(bus: &MemoryBus, me: &str) -> Endpoint {
    Endpoint {
        bus: Arc::new(bus.clone()),
        space: space(),
        me: Token::new(me).unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    }
}

/// Host `me` answers migration requests until the sender is dropped.
async fn serve(
    bus: &MemoryBus,
    me: &str,
    ledger: &Ledger,
    hypervisor: &Arc<dyn Hypervisor>,
) -> watch::Sender<bool> {
    let (stop, stopped) = watch::channel(false);
    DestinationService::new(
        endpoint(bus, me),
        Destination::new(ledger.clone(), Arc::clone(hypervisor)),
        ledger.clone(),
    )
    .start(stopped)
    .await
    .unwrap();
    stop
}

fn to(bus: &MemoryBus, from: &str, host: &str, policy: CallPolicy) -> PeerLink {
    PeerLink::Bus(BusPeer::new(
        endpoint(bus, from),
        Token::new(host).unwrap(),
        policy,
    ))
}

/// Sends one hand-made request as `from` to `host` and returns the reply's
/// body.
async fn raw(
    bus: &MemoryBus,
    from: &str,
    host: &str,
    sequence: u64,
    call: PeerCall,
) -> Result<PeerReply, BusError> {
    let subject = space().subject(&Route::Migrate {
        from: Token::new(from).unwrap(),
        to: Token::new(host).unwrap(),
    });
    let envelope = Envelope {
        sender: Token::new(from).unwrap(),
        recipient: Some(Token::new(host).unwrap()),
        interaction: None,
        sequence,
        body: call,
    };
    let payload = encode(&envelope, &WireLimits::default()).unwrap();
    let reply = bus
        .request(
            &subject,
            payload,
            Instant::now() + Duration::from_millis(300),
        )
        .await?;
    let reply: Envelope<PeerReply> = decode(&reply.payload, &WireLimits::default()).unwrap();
    assert_eq!(reply.sender.as_str(), host);
    Ok(reply.body)
}

fn in_a_minute() -> i64 {
    TokioClock::system().now_ms() + 60_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_off_over_the_bus_settles_both_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let (a, b) = (libvirt_host(dir.path(), "a"), libvirt_host(dir.path(), "b"));
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let guest = vm(1, 256);
    run_on(&a, &guest, "test");
    let trade = terms("t1", "a", "b", &[&guest], 3_000_000);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        to(&bus, "a", "b", CallPolicy::default()),
        Method::Handoff,
    );

    assert_eq!(executor.execute(&trade).await.unwrap(), Outcome::Settled);

    assert_eq!(active_on(&[&a, &b], &guest.uuid), ["b"]);
    assert_eq!(defined_on(&[&a, &b], &guest.uuid), ["b"]);
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::Settled
        );
    }
    assert_eq!(ledger_b.balance("b").await.unwrap(), Credits(-3_000_000));
    let report = audit_of(&[&ledger_a, &ledger_b]).await;
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
    assert!(report.in_flight.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_the_destination_comes_back_in_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let a = simulated_host(dir.path(), "a", 4096);
    let b = simulated_host(dir.path(), "b", 1024);
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let big = vm(2, 2048);
    run_on(&a, &big, "test");
    let trade = terms("t-big", "a", "b", &[&big], 5_000_000);
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        to(&bus, "a", "b", CallPolicy::default()),
        Method::Handoff,
    );

    let Outcome::Failed { reason } = executor.execute(&trade).await.unwrap() else {
        panic!("the trade must fail");
    };

    assert!(
        reason.contains("not enough free memory") && reason.contains("2048 MiB"),
        "{reason}"
    );
    assert_eq!(defined_on(&[&a, &b], &big.uuid), ["a"]);
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await,
            (TradeState::Failed, Some(reason.clone()))
        );
    }
    assert!(audit_of(&[&ledger_a, &ledger_b]).await.is_consistent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_request_changes_nothing_and_gets_the_same_answer() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let b = simulated_host(dir.path(), "b", 4096);
    let ledger_b = ledger(dir.path(), "b").await;
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let trade = terms("t-replay", "a", "b", &[&vm(1, 256)], 1_000_000);
    let agree = PeerCall {
        reply_by_ms: in_a_minute(),
        request: PeerRequest::Agree(WireTerms::from(&trade)),
    };

    for _ in 0..3 {
        // The same message, sequence number included, as a retry sends it.
        let reply = raw(&bus, "a", "b", 7, agree.clone()).await.unwrap();
        assert_eq!(reply, PeerReply::Done);
    }
    let settle = PeerCall {
        reply_by_ms: in_a_minute(),
        request: PeerRequest::Settle {
            trade_id: "t-replay".into(),
        },
    };
    for _ in 0..2 {
        assert_eq!(
            raw(&bus, "a", "b", 8, settle.clone()).await.unwrap(),
            PeerReply::Done
        );
    }

    let events = ledger_b.events(Some(&trade.trade_id)).await.unwrap();
    assert_eq!(events.len(), 2, "one agreed, one settled: {events:?}");
    assert_eq!(ledger_b.balance("b").await.unwrap(), Credits(-1_000_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_is_not_acted_on() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let b = simulated_host(dir.path(), "b", 4096);
    let ledger_b = ledger(dir.path(), "b").await;
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let trade = terms("t-late", "a", "b", &[&vm(1, 256)], 1);
    let late = PeerCall {
        // A second ago, not a millisecond: two clocks each truncating to
        // milliseconds may read a millisecond apart, and the service's
        // clock (made earlier) may then not see `now - 1` as past.
        reply_by_ms: TokioClock::system().now_ms() - 1_000,
        request: PeerRequest::Agree(WireTerms::from(&trade)),
    };

    let error = raw(&bus, "a", "b", 0, late).await.unwrap_err();

    assert!(matches!(error, BusError::TimedOut { .. }), "{error}");
    assert!(ledger_b.trade(&trade.trade_id).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_source_of_a_trade_may_record_or_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let b = simulated_host(dir.path(), "b", 4096);
    let ledger_b = ledger(dir.path(), "b").await;
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let trade: TradeTerms = terms("t-owned", "a", "b", &[&vm(1, 256)], 1);
    let call = |request| PeerCall {
        reply_by_ms: in_a_minute(),
        request,
    };

    let forged = raw(
        &bus,
        "x",
        "b",
        0,
        call(PeerRequest::Agree(WireTerms::from(&trade))),
    )
    .await
    .unwrap();
    assert!(matches!(forged, PeerReply::Refused(ref why) if why.contains("x cannot record")));
    assert!(ledger_b.trade(&trade.trade_id).await.unwrap().is_none());

    let agreed = raw(
        &bus,
        "a",
        "b",
        0,
        call(PeerRequest::Agree(WireTerms::from(&trade))),
    )
    .await
    .unwrap();
    assert_eq!(agreed, PeerReply::Done);
    let settle = call(PeerRequest::Settle {
        trade_id: "t-owned".into(),
    });
    let forged = raw(&bus, "x", "b", 1, settle).await.unwrap();
    assert!(matches!(forged, PeerReply::Refused(ref why) if why.contains("belongs to a")));
    assert_eq!(
        state_of(&ledger_b, &trade.trade_id).await.0,
        TradeState::Agreed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_destination_leaves_the_trade_to_recovery_over_the_bus() {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let a = simulated_host(dir.path(), "a", 4096);
    let b = simulated_host(dir.path(), "b", 4096);
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = vm(1, 256);
    run_on(&a, &guest, "test");
    let trade = terms("t-silent", "a", "b", &[&guest], 1_000_000);
    let quick = CallPolicy {
        timeout: Duration::from_millis(100),
        attempts: 2,
    };

    // Nobody answers for b.
    let executor = Executor::new(
        ledger_a.clone(),
        a.clone(),
        to(&bus, "a", "b", quick),
        Method::Handoff,
    );
    let error = executor.execute(&trade).await.unwrap_err();
    assert!(
        matches!(
            &error,
            MigrationError::Peer(PeerError::Unavailable { host, detail })
                if host == "b" && detail.contains("2 attempts")
        ),
        "{error}"
    );
    assert_eq!(
        state_of(&ledger_a, &trade.trade_id).await.0,
        TradeState::Agreed
    );

    // b comes back; a's recovery finishes the trade with it.
    let _service = serve(&bus, "b", &ledger_b, &b).await;
    let resolved = Recovery::new(ledger_a.clone(), a.clone(), to(&bus, "a", "b", quick))
        .run()
        .await
        .unwrap();
    assert_eq!(resolved.len(), 1);
    assert!(matches!(resolved[0].outcome, Outcome::RolledBack { .. }));
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::RolledBack
        );
    }
    assert_eq!(active_on(&[&a, &b], &guest.uuid), ["a"]);
    let report = audit_of(&[&ledger_a, &ledger_b]).await;
    assert!(report.is_consistent() && report.in_flight.is_empty());
}
