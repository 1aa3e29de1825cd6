//! Bad input in a call market is refused, logged with the reason and
//! counted, nothing of it moves, and the rounds go on: `bidder` daemons
//! over a real nats-server playing `call-market`, and a rogue peer on
//! the same zone that plays the model's roles with components of its own:
//! as a trader it posts an order that does not read and one for a VM it
//! does not run; as an auctioneer it sends a result naming a host outside
//! its round. And a package with no feasible order of legs, in `market
//! simulate`, is refused and logged.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bidder::protocol::call_market::terms::{Filled, LegTerms, read_listed};
use daemon_support::{Daemon, GIVES_ALL, Settings, WANTS_MEMORY, sample, trades_in};
use lcc::ast::Mode::{In, Out};
use lcc::component::{Components, Failure};
use lcc::interp::TokioClock;
use lcc::term::Term;
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};
use market::credits::Credits;
use market::ledger::TradeState;
use market::runtime::{self, Endpoint, InteractionIds, Model, Offer, Participant, Recruitment};
use market::wire::WireLimits;

/// vm1 of daemon_support's test-driver nodes.
const VM1: &str = "6695eb01-f6a4-4304-89aa-97f2502e1901";

fn settings() -> Settings {
    Settings {
        keys: "protocols = [\"call-market\"]".into(),
        ..Settings::default()
    }
}

/// hp1 and hp2, each a daemon playing the call market with a policy and
/// the test-driver VMs it starts with.
fn two_hosts(dir: &Path, url: &str, hp1: (&str, &[u8]), hp2: (&str, &[u8])) -> (Daemon, Daemon) {
    let start = |name, (policy, vms): (&str, &[u8])| {
        Daemon::start_with(dir, url, name, policy, vms, &settings())
    };
    (start("hp1", hp1), start("hp2", hp2))
}

/// The call-market model under the name the daemons play it by.
fn model() -> Model {
    Model::load(
        Token::new("call-market").unwrap(),
        lcc::models::CALL_MARKET.source,
    )
    .unwrap()
}

async fn rogue_peer(url: &str) -> Endpoint {
    let bus = NatsBus::connect(&NatsConfig::new([url], "rogue"))
        .await
        .unwrap();
    Endpoint {
        bus: Arc::new(bus) as Arc<dyn Bus>,
        space: SubjectSpace::in_zone(Token::new(daemon_support::ZONE).unwrap()),
        me: Token::new("rogue").unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    }
}

/// The refusals of `what` the daemons counted.
fn refused(daemons: &[&Daemon], what: &str) -> u64 {
    let key = format!("bourse_call_market_refused_total{{what=\"{what}\"}}");
    daemons.iter().map(|d| sample(&d.scrape(), &key)).sum()
}

fn logs(daemons: &[&Daemon]) -> String {
    daemons.iter().map(|d| d.log()).collect()
}

/// A trader that lists a VM of its own and posts an order that does not
/// read and one giving vm1, which hp1 runs.
fn rogue_trader() -> Components {
    let mut c = Components::new();
    let bundle = |cpu: i64, mem: i64| {
        Term::apply("bundle", vec![Term::Int(cpu), Term::Int(mem), Term::Int(0)])
    };
    c.register_fn("list_for", &[In, In, In, In, Out], move |args| {
        let vm = Term::apply(
            "vm",
            vec![
                Term::string("00000000-0000-4000-8000-00000000beef"),
                Term::string("rogue-vm"),
                Term::atom("none"),
                bundle(1000, 512),
                bundle(100, 512),
            ],
        );
        let listing = Term::apply(
            "listing",
            vec![bundle(4000, 4096), bundle(1000, 512), Term::list(vec![vm])],
        );
        let mut out = args[..4].to_vec();
        out.push(listing);
        Ok(out)
    });
    c.register_fn("orders_for", &[In, In, Out], |args| {
        let orders = vec![
            Term::apply(
                "order",
                vec![Term::string("not-a-uuid"), Term::atom("none")],
            ),
            Term::apply(
                "order",
                vec![Term::string(VM1), Term::atom("none"), Term::Int(-1)],
            ),
        ];
        Ok(vec![args[0].clone(), args[1].clone(), Term::list(orders)])
    });
    c.register_fn("record", &[In, In], |_| Err(Failure::no("rogue")));
    c.register_fn("called_off", &[In, In, In], |_| Ok(vec![]));
    c.register_fn("leave", &[In, In], |_| Ok(vec![]));
    c.register_fn("carry", &[In, In, In, Out], |_| Err(Failure::no("rogue")));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rogue_trader_s_orders_are_refused_and_the_zone_still_trades() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let peer = rogue_peer(&server.url()).await;
    let _rogue = Participant::new(
        peer,
        vec![Offer {
            model: model(),
            role: "trader".into(),
            components: rogue_trader(),
        }],
        Duration::from_secs(30),
    )
    .start()
    .await
    .unwrap();
    let (hp1, hp2) = two_hosts(
        dir.path(),
        &server.url(),
        (GIVES_ALL, &[1]),
        (WANTS_MEMORY, &[]),
    );
    let daemons = [&hp1, &hp2];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let moved = !trades_in(&hp2.ledger, TradeState::Settled).await.is_empty();
        let rounds = logs(&daemons).matches(": cleared ").count();
        if moved && refused(&daemons, "order") >= 2 && rounds >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{}", logs(&daemons));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = logs(&daemons);
    assert!(
        log.contains("not-a-uuid") || log.contains("does not read"),
        "{log}"
    );
    assert!(log.contains("the host does not run"), "{log}");
    // Nothing of the rogue's was ever agreed: every trade is hp1's vm1 to hp2.
    for d in daemons {
        for state in [
            TradeState::Agreed,
            TradeState::Migrating,
            TradeState::Settled,
            TradeState::Failed,
            TradeState::RolledBack,
        ] {
            for t in trades_in(&d.ledger, state).await {
                assert!(
                    t.terms.seller != "rogue" && t.terms.buyer != "rogue",
                    "{t:?}"
                );
            }
        }
    }
    let settled = trades_in(&hp2.ledger, TradeState::Settled).await;
    assert_eq!(settled.len(), 1);
    assert_eq!(settled[0].terms.vms[0].uuid, VM1);
    let (ok, report) = daemon_support::stop_and_audit(vec![hp1, hp2]);
    assert!(ok, "{report}");
}

/// An auctioneer whose clear fills every trader that ordered with a trade
/// moving one of the VMs listed to host zz, which is not in its round.
/// What a rogue auctioneer's clearing gives the traders it names.
#[derive(Clone, Copy)]
enum Clearing {
    /// Each lister sells its first VM to `zz`, a host outside the round.
    ToOutsider,
    /// `hp2` sells its first VM to `hp1`, a trade told to `hp1` alone: the
    /// seller never records it, as a seller killed (or whose disk is full)
    /// when the results go out; the trade is then called off.
    SellerNeverTold,
    /// As `SellerNeverTold`, but nobody calls the trade off (the
    /// auctioneer killed once the results went out, or its call-off sent
    /// while the buyer was down): the buyer's part ends at its deadline,
    /// 2 s on, with the leg still agreed.
    NobodyCallsOff,
}

fn rogue_auctioneer(listed: Arc<std::sync::Mutex<Vec<Term>>>, clearing: Clearing) -> Components {
    let mut c = Components::new();
    let keep = Arc::clone(&listed);
    c.register_fn("catalogue", &[In, In, Out, Out], move |args| {
        let listings = args[1].as_list().unwrap();
        let listers: Vec<Term> = listings.iter().map(|l| l.args()[0].clone()).collect();
        *keep.lock().unwrap() = listings.iter().map(|t| (*t).clone()).collect();
        Ok(vec![
            args[0].clone(),
            args[1].clone(),
            args[1].clone(),
            Term::list(listers),
        ])
    });
    c.register_fn("clear", &[In, In, Out, Out], move |args| {
        let listings = listed.lock().unwrap().clone();
        let mut results = Vec::new();
        let mut trades = Vec::new();
        for posted in args[1].as_list().unwrap() {
            let trader = posted.args()[0].clone();
            let name = trader.to_string();
            let (seller, buyer) = match clearing {
                Clearing::ToOutsider => (name.clone(), "zz".to_owned()),
                Clearing::SellerNeverTold | Clearing::NobodyCallsOff => {
                    ("hp2".to_owned(), "hp1".to_owned())
                }
            };
            let told = matches!(clearing, Clearing::ToOutsider) || name == buyer;
            let Some(vm) = listings
                .iter()
                .filter_map(|l| read_listed(l).ok())
                .find(|l| l.trader == seller)
                .and_then(|l| l.listing.vms.first().cloned())
                .filter(|_| told)
            else {
                results.push(Term::apply("result", vec![trader, Term::atom("none")]));
                continue;
            };
            let filled = Filled {
                clearing_id: format!("rogue-{seller}"),
                legs: vec![LegTerms {
                    trade_id: format!("rogue-{seller}.1"),
                    seller: seller.clone(),
                    buyer: buyer.clone(),
                    uuid: vm.uuid.clone(),
                    name: vm.name.clone(),
                    reserved: vm.reserved,
                    price: Credits(1),
                }],
            };
            let until = match clearing {
                Clearing::NobodyCallsOff => now_ms() + 2_000,
                _ => i64::MAX / 2,
            };
            let fill = Term::apply("fill", vec![filled.to_term(), Term::Int(until)]);
            results.push(Term::apply("result", vec![trader, fill]));
            if matches!(clearing, Clearing::SellerNeverTold) {
                // The auctioneer settles it: the seller's record never
                // comes, so it calls the trade off with its parties.
                let parties = Term::list(vec![Term::atom(&seller), Term::atom(&buyer)]);
                let legs = Term::list(vec![Term::apply(
                    "leg",
                    vec![Term::Int(1), Term::atom(&seller)],
                )]);
                trades.push(Term::apply(
                    "trade",
                    vec![Term::string(&filled.clearing_id), parties, legs],
                ));
            }
        }
        Ok(vec![
            args[0].clone(),
            args[1].clone(),
            Term::list(results),
            Term::list(trades),
        ])
    });
    c.register_fn("leads", &[In], |_| Ok(vec![]));
    c.register_fn("ready", &[In, In, In, In], |_| Err(Failure::no("rogue")));
    c.register_fn("leg_ended", &[In, In, In, In], |_| Ok(vec![]));
    c.register_fn("concluded", &[In, In, In], |_| Ok(vec![]));
    c.register_fn("carry", &[In, In, In, Out], |_| Err(Failure::no("rogue")));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_naming_a_host_outside_the_round_is_declined_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    // Two hosts content as they are: their own rounds trade nothing.
    let content =
        "[policy]\nname = \"content\"\n[[policy.condition]]\nmetric = \"vm_count\"\ntarget = 1\n";
    let (hp1, hp2) = two_hosts(dir.path(), &server.url(), (content, &[1]), (content, &[2]));
    let daemons = [&hp1, &hp2];
    let peer = rogue_peer(&server.url()).await;
    let model = model();
    let listed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let components = rogue_auctioneer(Arc::clone(&listed), Clearing::ToOutsider);
    let deadline = Instant::now() + Duration::from_secs(60);
    while refused(&daemons, "trade") < 2 {
        assert!(Instant::now() < deadline, "{}", logs(&daemons));
        let recruitment = Recruitment {
            role: "trader".into(),
            within_ms: 500,
            reach: None,
        };
        let Ok(recruited) = runtime::recruit(&peer, &model, &recruitment).await else {
            continue;
        };
        let round = recruited.interaction.id.to_string();
        let role = |traders: Vec<Term>| {
            Term::apply(
                "auctioneer",
                vec![
                    Term::string(&round),
                    Term::Int(0),
                    Term::list(traders),
                    Term::Int(2000),
                    Term::Int(2000),
                ],
            )
        };
        let _ = recruited.run(&peer, &model, role, &components).await;
    }
    let log = logs(&daemons);
    assert!(log.contains("a host outside the round"), "{log}");
    // The honest hosts recorded nothing of it, and their own rounds go on.
    let before = log.matches(": cleared ").count();
    let deadline = Instant::now() + Duration::from_secs(30);
    while logs(&daemons).matches(": cleared ").count() <= before {
        assert!(
            Instant::now() < deadline,
            "no round after the rogue's:\n{}",
            logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for d in daemons {
        for state in [
            TradeState::Agreed,
            TradeState::Settled,
            TradeState::RolledBack,
        ] {
            assert!(trades_in(&d.ledger, state).await.is_empty(), "{}", d.name);
        }
    }
    hp1.stop();
    hp2.stop();
}

/// hp1 (which wants memory) and hp2 (which gives its VM), and rounds of a
/// rogue auctioneer clearing `clearing` (hp2's VM to hp1, told to hp1
/// alone) until hp1 has recorded the leg `rogue-hp2.1`.
async fn leg_told_to_the_buyer_alone(
    dir: &Path,
    server: &LocalNatsServer,
    clearing: Clearing,
) -> (Daemon, Daemon) {
    let (hp1, hp2) = two_hosts(dir, &server.url(), (WANTS_MEMORY, &[]), (GIVES_ALL, &[1]));
    let peer = rogue_peer(&server.url()).await;
    let model = model();
    let listed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let components = rogue_auctioneer(Arc::clone(&listed), clearing);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !hp1
        .log()
        .contains("trade=rogue-hp2.1 kind=\"clearing_agreed\"")
    {
        assert!(
            Instant::now() < deadline,
            "hp1 never recorded the leg:\n{}",
            logs(&[&hp1, &hp2])
        );
        let recruitment = Recruitment {
            role: "trader".into(),
            within_ms: 500,
            reach: None,
        };
        let Ok(recruited) = runtime::recruit(&peer, &model, &recruitment).await else {
            continue;
        };
        let round = recruited.interaction.id.to_string();
        let role = |traders: Vec<Term>| {
            Term::apply(
                "auctioneer",
                vec![
                    Term::string(&round),
                    Term::Int(0),
                    Term::list(traders),
                    Term::Int(2000),
                    Term::Int(2000),
                ],
            )
        };
        let _ = recruited.run(&peer, &model, role, &components).await;
    }
    (hp1, hp2)
}

/// Found by `market chaos` (seed 1): a call-market leg whose seller never
/// recorded it (killed, or its ledger's disk full, when the results went
/// out) stayed agreed in the buyer's ledger for good once the auctioneer
/// called the trade off (`not_recorded`): the buyer waited for the seller
/// to end it, and the seller, with no record of it, never would. Here the
/// auctioneer tells the buyer alone: the buyer records the leg, the seller
/// never does, the trade is called off, and the buyer rolls its leg back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_its_seller_never_recorded_is_rolled_back_by_the_buyer_when_called_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let (hp1, hp2) =
        leg_told_to_the_buyer_alone(dir.path(), &server, Clearing::SellerNeverTold).await;
    let daemons = [&hp1, &hp2];
    let recorded = |t: &market::ledger::TradeRecord| t.terms.trade_id.as_str() == "rogue-hp2.1";
    // The call-off reached hp1 with the round's end: its leg ended too.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !trades_in(&hp1.ledger, TradeState::RolledBack)
        .await
        .iter()
        .any(recorded)
    {
        let agreed = trades_in(&hp1.ledger, TradeState::Agreed).await;
        assert!(
            Instant::now() < deadline,
            "hp1's leg is not rolled back (agreed: {}):\n{}",
            agreed.iter().any(recorded),
            logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The seller never heard of it.
    for state in TradeState::ALL {
        assert!(!trades_in(&hp2.ledger, state).await.iter().any(recorded));
    }
    hp1.stop();
    hp2.stop();
}

/// The same leg, but nobody calls the trade off: the auctioneer is gone
/// once the results are out (or its call-off came while the buyer was
/// down), and the buyer's part ends at its deadline with the leg agreed.
/// Recovery is the seller's, and the seller has no record: the buyer,
/// once its roles' lifetime has passed, asks the seller, which records
/// the leg rolled back so that it can never start, and the buyer ends its
/// own the same way. Found by `market chaos` (seed 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leg_its_seller_never_recorded_and_nobody_called_off_is_ended_by_asking_the_seller() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let (hp1, hp2) =
        leg_told_to_the_buyer_alone(dir.path(), &server, Clearing::NobodyCallsOff).await;
    let daemons = [&hp1, &hp2];
    let leg = |t: &market::ledger::TradeRecord| t.terms.trade_id.as_str() == "rogue-hp2.1";
    // Nobody called it off: the leg stays agreed at hp1 while its part
    // and its roles' lifetime run (about 18 s with these settings).
    assert!(
        trades_in(&hp1.ledger, TradeState::Agreed)
            .await
            .iter()
            .any(leg),
        "{}",
        logs(&daemons)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = loop {
        let rolled_back = trades_in(&hp1.ledger, TradeState::RolledBack).await;
        if let Some(ended) = rolled_back.into_iter().find(|t| leg(t)) {
            break ended;
        }
        assert!(
            Instant::now() < deadline,
            "hp1's leg is not rolled back:\n{}",
            logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        ended.reason.as_deref(),
        Some(bidder::migration::UNRECORDED_BY_SELLER)
    );
    // The seller now holds it too, rolled back: a record that comes
    // late finds it ended.
    let at_seller = trades_in(&hp2.ledger, TradeState::RolledBack).await;
    assert!(at_seller.iter().any(leg), "{}", logs(&daemons));
    let ledgers = [hp1.ledger.clone(), hp2.ledger.clone()];
    hp1.stop();
    hp2.stop();
    let mut snapshots = Vec::new();
    for ledger in &ledgers {
        snapshots.push(market::ledger::Ledger::snapshot_file(ledger).await.unwrap());
    }
    let report = market::ledger::audit::audit(&snapshots);
    assert!(report.is_consistent(), "{report:?}");
    assert!(report.in_flight.is_empty(), "{report:?}");
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}
