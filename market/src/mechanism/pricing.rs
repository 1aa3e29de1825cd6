//! Prices of a cleared trade: each filled order pays its limit less an equal
//! share of the trade's surplus.
//!
//! With `n` orders and surplus `S > 0`, order `i` pays `limit_i - S/n`
//! (integer division; the remainder goes one micro-credit each to the
//! orders with the smallest ids). So every order pays at most its limit
//! (individually rational, by at least `floor(S/n)`), and the payments sum
//! to `sum(limit) - S = 0` exactly (budget balanced, no market surplus).
//! A pair splits like a k-double auction at k = 1/2: the midpoint of bid
//! and ask.

use super::book::Book;
use super::legs::{self, Leg};
use super::package::Candidate;
use super::{Payment, Trade};
use crate::credits::Credits;

/// The trade terms of a chosen candidate whose legs go in `ordered` order.
pub fn trade(book: &Book<'_>, candidate: &Candidate, ordered: &[Leg]) -> Trade {
    let orders = candidate.orders();
    let payments = match candidate.fixed_price {
        Some(price) => fixed(book, orders, price),
        None => equal_split(book, orders, candidate.surplus),
    };
    Trade {
        moves: legs::prices(book, ordered, &payments),
        payments,
        surplus: Credits(candidate.surplus),
    }
}

fn equal_split(book: &Book<'_>, orders: &[u32], surplus: i64) -> Vec<Payment> {
    let n = orders.len() as i64;
    let (share, remainder) = (surplus / n, surplus % n);
    orders
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let order = book.order(i);
            let extra = i64::from((k as i64) < remainder);
            Payment {
                order: order.id,
                host: order.host,
                price: Credits(order.limit.0 - share - extra),
            }
        })
        .collect()
}

/// A pair at a fixed price: the bid pays it, the ask receives it.
fn fixed(book: &Book<'_>, orders: &[u32], price: i64) -> Vec<Payment> {
    orders
        .iter()
        .map(|&i| {
            let order = book.order(i);
            let pays = if order.takes.is_some() { price } else { -price };
            Payment {
                order: order.id,
                host: order.host,
                price: Credits(pays),
            }
        })
        .collect()
}
