//! Candidate trades: the sets of orders that fit together, found from the
//! order book. A set fits when every VM one order gives, another order of
//! the set takes, and no host appears twice (one order per host per round).
//!
//! Four shapes, each with at most three orders:
//!
//! - **pair**: an ask giving `v` and a bid taking `v`;
//! - **swap**: host A gives `v` and takes `w`, host B gives `w` and takes
//!   `v` (seed 002 section 6.1: no single push helps, an exchange does);
//! - **chain**: C asks to give `w`; A gives `v` and takes `w`; D bids for `v`;
//! - **cycle**: three packages, A takes B's VM, B takes C's, C takes A's.
//!
//! Only sets with positive surplus (sum of limits) are candidates: a trade
//! nobody gains from is not worth a migration. Longer chains and cycles are
//! not searched; docs/economics.md says what that costs.

use super::book::{Book, NONE};
use super::{ClearingRules, Pricing, trade_reduction};

/// A set of accepted orders that fit together, by position in the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    orders: [u32; 3],
    len: u8,
    /// Sum of the orders' limits, micro-credits (positive).
    pub surplus: i64,
    /// For a pair priced by trade reduction: what the bid pays and the ask
    /// receives. `None`: split the surplus equally.
    pub fixed_price: Option<i64>,
}

impl Candidate {
    /// A candidate of these orders (two or three), split equally.
    pub fn new(orders: &[u32], surplus: i64) -> Candidate {
        let mut sorted = [u32::MAX; 3];
        sorted[..orders.len()].copy_from_slice(orders);
        sorted[..orders.len()].sort_unstable();
        Candidate {
            orders: sorted,
            len: orders.len() as u8,
            surplus,
            fixed_price: None,
        }
    }

    /// The orders, ascending (which is order id order).
    pub fn orders(&self) -> &[u32] {
        &self.orders[..self.len as usize]
    }
}

/// Every candidate trade of the book, in a deterministic order.
pub fn candidates(book: &Book<'_>, rules: &ClearingRules) -> Vec<Candidate> {
    let mut out = Vec::with_capacity(book.entries.len() / 4);
    for (i, entry) in book.entries.iter().enumerate() {
        let i = i as u32;
        match (entry.gives, entry.takes) {
            _ if !entry.live => {}
            (NONE, _) => {}
            (v, NONE) => {
                let bids = book.bids_for(v);
                match rules.pricing {
                    Pricing::EqualSplit => pairs(book, i, bids, &mut out),
                    Pricing::TradeReduction => out.extend(trade_reduction::pair(book, i, bids)),
                }
            }
            (v, w) => {
                swap(book, i, v, w, &mut out);
                chains(book, i, v, w, rules.chain_bids_per_vm, &mut out);
                cycles(book, i, v, w, &mut out);
            }
        }
    }
    out
}

fn limit(book: &Book<'_>, i: u32) -> i64 {
    book.entry(i).limit
}

/// Ask `a` with each bid for its VM, best first, while the surplus is positive.
fn pairs(book: &Book<'_>, a: u32, bids: &[u32], out: &mut Vec<Candidate>) {
    for &b in bids {
        let surplus = limit(book, a) + limit(book, b);
        if surplus <= 0 {
            break; // bids are sorted best first
        }
        out.push(Candidate::new(&[a, b], surplus));
    }
}

/// Package `p` (gives `v`, takes `w`) with the package giving `w` and taking
/// `v`; each swap is found once, from its smaller order.
fn swap(book: &Book<'_>, p: u32, v: u32, w: u32, out: &mut Vec<Candidate>) {
    if let Some(q) = book.package_for(w, v)
        && p < q
    {
        let surplus = limit(book, p) + limit(book, q);
        if surplus > 0 {
            out.push(Candidate::new(&[p, q], surplus));
        }
    }
}

/// Ask for `w` -> package `p` (gives `v`, takes `w`) -> the best `max_bids`
/// bids for `v`.
fn chains(book: &Book<'_>, p: u32, v: u32, w: u32, max_bids: usize, out: &mut Vec<Candidate>) {
    let Some(a) = book.ask_for(w) else {
        return;
    };
    for &b in book.bids_for(v).iter().take(max_bids) {
        if book.host(b) == book.host(a) {
            continue; // one host cannot fill both the ask and the bid
        }
        let surplus = limit(book, a) + limit(book, p) + limit(book, b);
        if surplus <= 0 {
            break;
        }
        out.push(Candidate::new(&[a, p, b], surplus));
    }
}

/// Package `p` (gives `v`, takes `w`) -> a package giving `w` and taking
/// some `x` -> the package giving `x` and taking `v`. Each cycle is found
/// once, from its smallest order.
fn cycles(book: &Book<'_>, p: u32, v: u32, w: u32, out: &mut Vec<Candidate>) {
    for &q in book.packages_giving(w) {
        let x = book.entry(q).takes;
        if x == v || q < p {
            continue; // a swap, or found from a smaller order
        }
        if let Some(r) = book.package_for(x, v)
            && p < r
        {
            let surplus = limit(book, p) + limit(book, q) + limit(book, r);
            if surplus > 0 {
                out.push(Candidate::new(&[p, q, r], surplus));
            }
        }
    }
}
