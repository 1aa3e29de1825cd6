//! The double auction on hand-made rounds: rejections, prices, shapes.

use market::credits::Credits;
use market::host::HostId;
use market::mechanism::double_auction::clear;
use market::mechanism::{
    ClearingRules, HostSlot, Move, Order, OrderId, Pricing, Rejection, Round, VmSlot,
};
use market::resources::{Dimension, Resources};
use market::vm::VmId;

const CAP: Resources = Resources::new(4000, 4096, 1000);
const VM: Resources = Resources::new(1000, 1024, 100);

/// Hosts 1..=n, each running the VMs listed for it (VM ids as given).
fn round(vms_per_host: &[&[u64]], orders: Vec<Order>) -> Round {
    let mut r = Round {
        orders,
        ..Round::default()
    };
    for (i, vms) in vms_per_host.iter().enumerate() {
        let id = HostId(i as u32 + 1);
        r.hosts.push(HostSlot {
            id,
            capacity: CAP,
            reserved: Resources::new(
                1000 * vms.len() as u64,
                1024 * vms.len() as u64,
                100 * vms.len() as u64,
            ),
        });
        r.vms.extend(vms.iter().map(|&v| VmSlot {
            id: VmId(v),
            host: id,
            reserved: VM,
        }));
    }
    r
}

fn h(n: u32) -> HostId {
    HostId(n)
}
fn v(n: u64) -> VmId {
    VmId(n)
}
fn cr(n: i64) -> Credits {
    Credits(n)
}

#[test]
fn a_pair_clears_at_the_midpoint() {
    // Host 1 gives vm 10 for at least 100; host 2 pays up to 300.
    let r = round(
        &[&[10], &[]],
        vec![
            Order::ask(1, h(1), v(10), cr(100)),
            Order::bid(2, h(2), v(10), cr(300)),
        ],
    );
    let c = clear(&r, &ClearingRules::default()).unwrap();
    assert_eq!(c.trades.len(), 1);
    let t = &c.trades[0];
    assert_eq!(
        t.moves,
        [Move {
            vm: v(10),
            from: h(1),
            to: h(2),
            price: cr(200),
        }]
    );
    assert_eq!(t.surplus, cr(200));
    assert_eq!(t.payments[0].price, cr(-200), "the seller receives 200");
    assert_eq!(t.payments[1].price, cr(200), "the buyer pays 200");
    assert!(c.exact);
}

#[test]
fn a_negative_ask_means_the_seller_pays() {
    // Host 1 pays up to 50 to be rid of vm 10; host 2 wants 20 to take it.
    let r = round(
        &[&[10], &[]],
        vec![
            Order::ask(1, h(1), v(10), cr(-50)),
            Order::bid(2, h(2), v(10), cr(-20)),
        ],
    );
    let c = clear(&r, &ClearingRules::default()).unwrap();
    let t = &c.trades[0];
    assert_eq!(t.surplus, cr(30));
    assert_eq!(t.payments[0].price, cr(35), "seller pays 35 <= 50");
    assert_eq!(t.payments[1].price, cr(-35), "buyer receives 35 >= 20");
}

#[test]
fn no_trade_without_surplus() {
    let r = round(
        &[&[10], &[]],
        vec![
            Order::ask(1, h(1), v(10), cr(100)),
            Order::bid(2, h(2), v(10), cr(100)),
        ],
    );
    assert!(
        clear(&r, &ClearingRules::default())
            .unwrap()
            .trades
            .is_empty()
    );
}

#[test]
fn bad_orders_are_rejected_with_a_reason() {
    let full = Round {
        hosts: vec![
            HostSlot {
                id: h(1),
                capacity: CAP,
                reserved: VM,
            },
            HostSlot {
                id: h(2),
                capacity: CAP,
                reserved: Resources::new(3500, 1024, 100),
            },
        ],
        vms: vec![
            VmSlot {
                id: v(10),
                host: h(1),
                reserved: VM,
            },
            VmSlot {
                id: v(20),
                host: h(2),
                reserved: VM,
            },
        ],
        orders: vec![
            Order::bid(1, h(2), v(10), cr(5)), // no cpu room on host 2
            Order::ask(2, h(1), v(20), cr(5)), // host 1 does not run vm 20
            Order::bid(3, h(1), v(10), cr(5)), // already runs it
            Order::bid(4, h(9), v(10), cr(5)), // unknown host
            Order::bid(5, h(1), v(99), cr(5)), // unknown vm
            Order::package(6, h(1), v(10), v(10), cr(5)), // same vm
            Order::ask(7, h(1), v(10), cr(5)),
            Order::ask(7, h(1), v(10), cr(6)), // duplicate id
            Order::ask(8, h(1), v(10), cr(1)),
            Order::ask(9, h(1), v(10), cr(2)), // superseded by 8 (lower ask = higher limit)
            Order {
                id: OrderId(10),
                host: h(1),
                gives: None,
                takes: None,
                limit: cr(0),
            },
            Order::bid(11, h(2), v(10), cr(i64::MAX)),
        ],
    };
    let c = clear(&full, &ClearingRules::default()).unwrap();
    let why: Vec<_> = c.rejected.iter().map(|(id, r)| (id.0, r.clone())).collect();
    assert_eq!(
        why,
        [
            (1, Rejection::NoRoom(Dimension::Cpu)),
            (2, Rejection::NotOwner(v(20))),
            (3, Rejection::AlreadyOwner(v(10))),
            (4, Rejection::UnknownHost),
            (5, Rejection::UnknownVm(v(99))),
            (6, Rejection::SameVm),
            (7, Rejection::DuplicateId),
            (7, Rejection::DuplicateId),
            (9, Rejection::Superseded(OrderId(8))),
            (10, Rejection::Empty),
            (11, Rejection::LimitOutOfRange),
        ]
    );
    assert!(c.trades.is_empty());
}

#[test]
fn a_host_fills_at_most_one_order_per_round() {
    // Host 2 bids for both VMs of host 1; only the better trade clears.
    let r = round(
        &[&[10, 11], &[]],
        vec![
            Order::ask(1, h(1), v(10), cr(0)),
            Order::ask(2, h(1), v(11), cr(0)),
            Order::bid(3, h(2), v(10), cr(40)),
            Order::bid(4, h(2), v(11), cr(70)),
        ],
    );
    let c = clear(&r, &ClearingRules::default()).unwrap();
    assert_eq!(c.trades.len(), 1);
    assert_eq!(c.trades[0].moves[0].vm, v(11));
}

#[test]
fn the_exact_search_beats_greedy_where_greedy_is_fooled() {
    // Greedy takes the 100-surplus trade of hosts 2 and 3 and blocks two
    // trades of 60 each (hosts 1-2 and 3-4).
    let r = round(
        &[&[10], &[20], &[30], &[]],
        vec![
            Order::ask(1, h(2), v(20), cr(0)),
            Order::bid(2, h(3), v(20), cr(100)),
            Order::ask(3, h(1), v(10), cr(0)),
            Order::bid(4, h(2), v(10), cr(60)),
            Order::ask(5, h(3), v(30), cr(0)),
            Order::bid(6, h(4), v(30), cr(60)),
        ],
    );
    let exact = clear(&r, &ClearingRules::default()).unwrap();
    assert!(exact.exact);
    assert_eq!(exact.total_surplus, cr(120));
    let greedy = clear(
        &r,
        &ClearingRules {
            exact_up_to: 0,
            improvement_passes: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(greedy.total_surplus, cr(100));
    // Local improvement swaps the 100 for the two 60s.
    let improved = clear(
        &r,
        &ClearingRules {
            exact_up_to: 0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(improved.total_surplus, cr(120));
}

#[test]
fn a_chain_moves_two_vms_through_three_hosts() {
    // Host 3 gives vm 30 to host 1, which gives vm 10 to host 2; host 1 is
    // full, so without the chain nothing moves towards it.
    let mut r = round(
        &[&[10, 11, 12, 13], &[], &[30]],
        vec![
            Order::ask(1, h(3), v(30), cr(-10)),
            Order::package(2, h(1), v(10), v(30), cr(5)),
            Order::bid(3, h(2), v(10), cr(20)),
        ],
    );
    r.hosts[0].capacity = Resources::new(4000, 4096, 400);
    let c = clear(&r, &ClearingRules::default()).unwrap();
    assert_eq!(c.trades.len(), 1);
    let t = &c.trades[0];
    assert_eq!(
        t.moves,
        [
            // Host 1 is full: its VM leaves before the other arrives.
            // Host 2 pays host 1 what it pays in all; host 1 pays host 3
            // what host 3 receives.
            Move {
                vm: v(10),
                from: h(1),
                to: h(2),
                price: cr(9),
            },
            Move {
                vm: v(30),
                from: h(3),
                to: h(1),
                price: cr(2),
            }
        ]
    );
    assert_eq!(t.surplus, cr(35));
    let price: Vec<i64> = t.payments.iter().map(|p| p.price.0).collect();
    // 35 split three ways: 12, 12, 11 (the remainder to the smallest ids).
    assert_eq!(price, [10 - 12, 5 - 12, 20 - 11]);
}

#[test]
fn a_three_way_cycle_clears() {
    let r = round(
        &[&[10], &[20], &[30]],
        vec![
            Order::package(1, h(1), v(10), v(20), cr(10)),
            Order::package(2, h(2), v(20), v(30), cr(10)),
            Order::package(3, h(3), v(30), v(10), cr(-5)),
        ],
    );
    let c = clear(&r, &ClearingRules::default()).unwrap();
    assert_eq!(c.trades.len(), 1);
    assert_eq!(c.trades[0].moves.len(), 3);
    assert_eq!(c.total_surplus, cr(15));
    // A cycle's leg prices are fixed up to a constant: the cheapest leg
    // costs nothing (per host they add up to its payment: the property
    // tests check that for every trade).
    let t = &c.trades[0];
    assert_eq!(t.moves.iter().map(|m| m.price.0).min(), Some(0), "{t:?}");
}

#[test]
fn trade_reduction_clears_at_the_second_bid_or_not_at_all() {
    let tr = ClearingRules {
        pricing: Pricing::TradeReduction,
        ..Default::default()
    };
    let orders = |ask: i64| {
        vec![
            Order::ask(1, h(1), v(10), cr(ask)),
            Order::bid(2, h(2), v(10), cr(90)),
            Order::bid(3, h(3), v(10), cr(60)),
        ]
    };
    let c = clear(&round(&[&[10], &[], &[]], orders(50)), &tr).unwrap();
    let t = &c.trades[0];
    assert_eq!(t.moves[0].to, h(2));
    assert_eq!(
        t.payments.iter().map(|p| p.price.0).collect::<Vec<_>>(),
        [-60, 60]
    );
    // Ask between the two bids: the trade is reduced away.
    let c = clear(&round(&[&[10], &[], &[]], orders(70)), &tr).unwrap();
    assert!(c.trades.is_empty());
    // A single bid has no second price: reduced.
    let single = vec![
        Order::ask(1, h(1), v(10), cr(0)),
        Order::bid(2, h(2), v(10), cr(90)),
    ];
    assert!(
        clear(&round(&[&[10], &[]], single), &tr)
            .unwrap()
            .trades
            .is_empty()
    );
}

#[test]
fn the_result_does_not_depend_on_the_order_of_the_orders() {
    let mut orders = vec![
        Order::ask(1, h(1), v(10), cr(0)),
        Order::bid(2, h(2), v(10), cr(50)),
        Order::bid(3, h(3), v(10), cr(50)),
        Order::ask(4, h(3), v(30), cr(0)),
        Order::bid(5, h(2), v(30), cr(50)),
    ];
    let a = clear(
        &round(&[&[10], &[], &[30]], orders.clone()),
        &ClearingRules::default(),
    )
    .unwrap();
    orders.reverse();
    let b = clear(
        &round(&[&[10], &[], &[30]], orders),
        &ClearingRules::default(),
    )
    .unwrap();
    assert_eq!(a, b);
    // Ties go to the smaller order ids: bid 2 wins vm 10.
    assert_eq!(a.trades[0].moves[0].to, h(2));
}
