//! Recovery runs every period beside the roles that carry trades out, and
//! must never take a trade a role is carrying out for one a crash left.
//!
//! Found by `market chaos` (seed 11, 24 hosts): a reverse call's seller
//! carries the trade out inside its role, while its periodic recovery,
//! which spared only call-market legs and placements, read the trade
//! unfinished and rolled it back ("the source restarted before the
//! migration began") as the hand-off moved the VM: the VM ran at the
//! buyer, both ledgers said it never moved, and the audit found the VM
//! held by two hosts.
//!
//! Here a rogue buyer (a test-driver peer with its own components) awards
//! a `bidder` daemon's offer and never answers the migration requests that
//! follow: the seller's hand-off waits on it for its calls' timeouts, and
//! its recovery runs several times meanwhile. The rogue hears the
//! hand-off's requests only.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bidder::migration::remote::wire::{PeerCall, PeerRequest};
use daemon_support::{Daemon, GIVES_ALL, Settings, trades_in};
use futures::StreamExt;
use lcc::ast::Mode::{In, Out};
use lcc::component::{Components, Failure};
use lcc::interp::TokioClock;
use lcc::term::Term;
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};
use market::ledger::TradeState;
use market::runtime::{self, Endpoint, InteractionIds, Model, Recruitment};
use market::wire::{WireLimits, decode};

/// How long the seller waits for each answer (`daemon_support`'s
/// `peer_timeout_ms`), and how many times it asks (the default).
const PEER_TIMEOUT_MS: u64 = 5_000;
const PEER_ATTEMPTS: u64 = 3;

/// The rogue buyer: takes the first offer, paying far more than any
/// reserve, and accepts whatever result.
fn rogue_buyer() -> Components {
    let mut c = Components::new();
    c.register_fn("choose", &[In, In, Out, Out, Out], |args| {
        let offers = args[1].as_list().unwrap();
        let Some(first) = offers.first() else {
            return Err(Failure::no("no offers"));
        };
        Ok(vec![
            args[0].clone(),
            args[1].clone(),
            first.args()[0].clone(),
            first.args()[1].clone(),
            Term::Int(1_000_000_000_000),
        ])
    });
    c.register_fn("result", &[In, In, In, In], |_| Ok(vec![]));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_leaves_alone_a_trade_its_seller_is_handing_over() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let settings = Settings {
        keys: "protocols = [\"reverse-call\"]".into(),
        ..Settings::default()
    };
    let seller = Daemon::start_with(dir.path(), &server.url(), "hp2", GIVES_ALL, &[1], &settings);

    let bus = Arc::new(
        NatsBus::connect(&NatsConfig::new([server.url()], "rogue"))
            .await
            .unwrap(),
    ) as Arc<dyn Bus>;
    let space = SubjectSpace::in_zone(Token::new(daemon_support::ZONE).unwrap());
    let me = Token::new("rogue").unwrap();
    // Every migration request the seller sends the rogue, never answered.
    let mut requests = bus.subscribe(&space.migrate_to(&me)).await.unwrap();
    bus.sync().await.unwrap();
    let peer = Endpoint {
        bus: Arc::clone(&bus),
        space,
        me,
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    };
    let model = Model::load(
        Token::new("reverse-call").unwrap(),
        lcc::models::REVERSE_CALL.source,
    )
    .unwrap();
    let components = rogue_buyer();

    // Call until the seller takes the award and begins the hand-off.
    let deadline = Instant::now() + Duration::from_secs(60);
    let call = tokio::spawn(async move {
        loop {
            let recruitment = Recruitment {
                role: "seller".into(),
                within_ms: 500,
                reach: None,
            };
            let Ok(recruited) = runtime::recruit(&peer, &model, &recruitment).await else {
                continue;
            };
            let role = |sellers: Vec<Term>| {
                Term::apply(
                    "buyer",
                    vec![
                        Term::apply(
                            "room",
                            vec![Term::apply(
                                "bundle",
                                vec![Term::Int(16_000), Term::Int(65_536), Term::Int(10_000)],
                            )],
                        ),
                        Term::list(sellers),
                        Term::Int(1_000),
                        Term::Int(30_000),
                        Term::string("rogue-call"),
                    ],
                )
            };
            let _ = recruited.run(&peer, &model, role, &components).await;
        }
    });
    let first = tokio::time::timeout_at(deadline.into(), requests.next())
        .await
        .unwrap_or_else(|_| panic!("the seller never handed over:\n{}", seller.log()))
        .unwrap();
    let agreed = trades_in(&seller.ledger, TradeState::Agreed).await;
    assert_eq!(agreed.len(), 1, "{agreed:?}\n{}", seller.log());
    let trade_id = agreed[0].terms.trade_id.clone();

    // While the hand-off waits (its attempts, less a margin), the seller's
    // recovery runs every period (1 s); every request the rogue hears is
    // the hand-off's first one, `agree`, sent again.
    let mut heard = vec![first];
    let waits = Duration::from_millis(PEER_TIMEOUT_MS * PEER_ATTEMPTS - 500);
    let until = tokio::time::Instant::now() + waits;
    while let Ok(Some(message)) = tokio::time::timeout_at(until, requests.next()).await {
        heard.push(message);
    }
    call.abort();
    let calls: Vec<PeerRequest> = heard
        .iter()
        .map(|m| {
            decode::<PeerCall>(&m.payload, &WireLimits::default())
                .unwrap()
                .body
                .request
        })
        .collect();
    assert!(
        calls
            .iter()
            .all(|c| matches!(c, PeerRequest::Agree(terms) if terms.trade_id == trade_id.as_str())),
        "{calls:?}"
    );
    assert!(
        calls.len() as u64 <= PEER_ATTEMPTS,
        "the rogue heard {} requests in the hand-off's {PEER_ATTEMPTS} attempts: recovery took the trade in hand for its own\n{calls:?}\n{}",
        calls.len(),
        seller.log()
    );
    assert!(
        !seller.log().contains("unfinished trade recovered"),
        "{}",
        seller.log()
    );
    seller.stop();
}
