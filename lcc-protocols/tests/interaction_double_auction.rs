//! models/double-auction.lcc: one round of a call market in-process.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod interaction_support;

use std::time::Duration;

use interaction_support::{Log, atom, atoms, clock, f, model_file, program};
use lcc::ast::Mode;
use lcc::component::{Components, Failure};
use lcc::interp::Interaction;
use lcc::term::Term;

/// A small clearing rule for the test: the highest buy meets the lowest
/// sell when the buy's limit covers the sell's, at the midpoint; everyone
/// else is unmatched. (The market crate has the real mechanisms.)
fn clear(orders: &Term) -> Result<Term, Failure> {
    let orders = orders
        .as_list()
        .ok_or_else(|| Failure::broken("orders must be a list"))?;
    let side = |o: &Term| -> Option<(String, String, i64)> {
        let trader = o.args().first()?.to_string();
        let order = o.args().get(1)?;
        match order.args().first()? {
            Term::Int(limit) => Some((trader, order.functor()?.to_string(), *limit)),
            _ => None,
        }
    };
    let parsed: Vec<_> = orders.iter().filter_map(|o| side(o)).collect();
    let best_buy = parsed.iter().filter(|o| o.1 == "buy").max_by_key(|o| o.2);
    let best_sell = parsed.iter().filter(|o| o.1 == "sell").min_by_key(|o| o.2);
    let deal = match (best_buy, best_sell) {
        (Some(b), Some(s)) if b.2 >= s.2 => Some((b.0.clone(), s.0.clone(), (b.2 + s.2) / 2)),
        _ => None,
    };
    let results = parsed
        .iter()
        .map(|(trader, _, _)| {
            let outcome = match &deal {
                Some((b, s, price)) if trader == b => {
                    f("bought_from", vec![atom(s), Term::Int(*price)])
                }
                Some((b, s, price)) if trader == s => {
                    f("sold_to", vec![atom(b), Term::Int(*price)])
                }
                _ => atom("unmatched"),
            };
            f("result", vec![atom(trader), outcome])
        })
        .collect();
    Ok(Term::list(results))
}

fn trader(name: &'static str, order: Option<Term>, log: &Log) -> Components {
    let mut c = Components::new();
    c.register_fn(
        "order_for",
        &[Mode::In, Mode::Out],
        move |args| match &order {
            Some(o) => Ok(vec![args[0].clone(), o.clone()]),
            None => Err(Failure::no("sitting this round out")),
        },
    );
    let log = log.clone();
    c.register_fn("settle", &[Mode::In, Mode::In], move |args| {
        log.push(format!("{name} {}", args[1]));
        Ok(vec![])
    });
    c
}

#[tokio::test(start_paused = true)]
async fn a_round_collects_orders_until_the_deadline_clears_them_and_tells_each_trader() {
    let log = Log::default();
    let mut auctioneer = Components::new();
    auctioneer.register_fn("clear", &[Mode::In, Mode::Out], |args| {
        Ok(vec![args[0].clone(), clear(&args[0])?])
    });
    let role = f(
        "auctioneer",
        vec![
            Term::Int(1),
            atoms(&["t1", "t2", "t3", "t4", "t5"]),
            Term::Int(300),
            Term::Int(100),
        ],
    );
    let started = tokio::time::Instant::now();
    let outcomes = Interaction::new(program(model_file("double-auction")), clock())
        .peer("a", role, auctioneer)
        .peer(
            "t1",
            atom("trader"),
            trader("t1", Some(f("buy", vec![Term::Int(50)])), &log),
        )
        .peer(
            "t2",
            atom("trader"),
            trader("t2", Some(f("sell", vec![Term::Int(40)])), &log),
        )
        .peer(
            "t3",
            atom("trader"),
            trader("t3", Some(f("sell", vec![Term::Int(70)])), &log),
        )
        .peer("t4", atom("trader"), trader("t4", None, &log))
        .silent_peer("t5")
        .run()
        .await;
    for o in &outcomes {
        assert!(o.result.is_ok(), "{}: {:?}", o.peer, o.result);
    }
    let mut entries = log.entries();
    entries.sort();
    assert_eq!(
        entries,
        [
            "t1 bought_from(t2, 45)",
            "t2 sold_to(t1, 45)",
            "t3 unmatched"
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited for the silent trader"
    );
}
