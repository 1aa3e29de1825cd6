//! The legs of a cleared trade: the order its moves can be carried out in,
//! and what each leg costs.
//!
//! A trade's orders are checked each on its own final state ("reserved,
//! less what it gives, plus what it takes, fits"), but VMs move one at a
//! time: a swap between two hosts first puts both VMs on one of them. So a
//! candidate clears only if some order of its legs keeps every host within
//! its capacity after every leg ([`feasible_order`]); two hosts that are
//! both full cannot swap, whatever the gain. With at most three legs every
//! order is tried, in a fixed sequence, so the result depends on the round
//! only.
//!
//! Each leg then gets a price ([`prices`]): what the host the VM goes to
//! pays the host it leaves. The prices add up, per host, to what its order
//! pays, so a trade whose legs all move settles exactly its payments; a
//! trade cut short settles only the legs that moved.

use super::book::Book;
use super::{Move, Payment};
use crate::credits::Credits;
use crate::resources::Resources;

/// One move of a trade, in the book's dense indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Leg {
    /// The host the VM leaves.
    pub from: u32,
    /// The host it goes to.
    pub to: u32,
    /// The VM.
    pub vm: u32,
}

/// The moves of the orders at `orders` (positions in the book): each VM
/// one order gives goes to the order that takes it. Sorted, so the order
/// search starts from the same sequence whatever the input order.
pub fn moves_of(book: &Book<'_>, orders: &[u32]) -> Vec<Leg> {
    let mut legs: Vec<Leg> = orders
        .iter()
        .filter_map(|&giver| {
            let given = book.entry(giver);
            if given.gives == super::book::NONE {
                return None;
            }
            let taker = orders
                .iter()
                .find(|&&t| book.entry(t).takes == given.gives)?;
            Some(Leg {
                from: given.host,
                to: book.entry(*taker).host,
                vm: given.gives,
            })
        })
        .collect();
    legs.sort_unstable();
    legs
}

/// The first order of `legs` (trying every permutation, in lexicographic
/// order of positions) after each leg of which every host fits its
/// capacity; `None` when there is none. A trade has at most three legs
/// (one order per host, at most three orders).
pub fn feasible_order(book: &Book<'_>, legs: &[Leg]) -> Option<Vec<Leg>> {
    PERMUTATIONS
        .get(legs.len())?
        .iter()
        .map(|p| p.iter().map(|&i| legs[i]).collect::<Vec<_>>())
        .find(|ordered| fits_throughout(book, ordered))
}

/// Every permutation of `0..n`, in lexicographic order, for n up to 3.
const PERMUTATIONS: [&[&[usize]]; 4] = [
    &[&[]],
    &[&[0]],
    &[&[0, 1], &[1, 0]],
    &[
        &[0, 1, 2],
        &[0, 2, 1],
        &[1, 0, 2],
        &[1, 2, 0],
        &[2, 0, 1],
        &[2, 1, 0],
    ],
];

/// Whether carrying out `legs` in this order keeps every host within its
/// capacity after each one.
fn fits_throughout(book: &Book<'_>, legs: &[Leg]) -> bool {
    let mut reserved: Vec<(u32, Resources)> = Vec::with_capacity(legs.len() * 2);
    let of = |host: u32, reserved: &mut Vec<(u32, Resources)>| -> usize {
        match reserved.iter().position(|(h, _)| *h == host) {
            Some(i) => i,
            None => {
                reserved.push((host, book.hosts[host as usize].reserved));
                reserved.len() - 1
            }
        }
    };
    for leg in legs {
        let size = book.vms[leg.vm as usize].reserved;
        let to = of(leg.to, &mut reserved);
        let after = reserved[to].1.saturating_add(&size);
        if !after.fits_within(&book.hosts[leg.to as usize].capacity) {
            return false;
        }
        reserved[to].1 = after;
        let from = of(leg.from, &mut reserved);
        reserved[from].1 = reserved[from].1.saturating_sub(&size);
    }
    true
}

/// The trade's moves in `ordered` order, each priced so that what every
/// host receives on the legs into it, less what it is paid on the legs out
/// of it, is what its order pays. A chain's prices follow from its ends; a
/// cycle's are fixed up to a constant, chosen so the cheapest leg costs
/// nothing.
pub fn prices(book: &Book<'_>, ordered: &[Leg], payments: &[Payment]) -> Vec<Move> {
    let pays = |host: u32| -> i64 {
        let id = book.hosts[host as usize].id;
        payments
            .iter()
            .find(|p| p.host == id)
            .map_or(0, |p| p.price.0)
    };
    let out_of = |host: u32| ordered.iter().position(|l| l.from == host);
    let into = |host: u32| ordered.iter().position(|l| l.to == host);
    let mut price: Vec<Option<i64>> = vec![None; ordered.len()];
    // A chain starts at a host nothing moves into; a cycle anywhere.
    let start = (0..ordered.len())
        .find(|&i| into(ordered[i].from).is_none())
        .unwrap_or(0);
    let mut at = start;
    price[at] = Some(match into(ordered[at].from) {
        None => -pays(ordered[at].from),
        Some(_) => 0,
    });
    while let Some(next) = out_of(ordered[at].to) {
        if price[next].is_some() {
            break; // round the cycle
        }
        let incoming = price[at].unwrap_or(0);
        price[next] = Some(incoming - pays(ordered[at].to));
        at = next;
    }
    let floor = if into(ordered[start].from).is_some() {
        price.iter().flatten().copied().min().unwrap_or(0)
    } else {
        0
    };
    ordered
        .iter()
        .zip(price)
        .map(|(leg, price)| Move {
            vm: book.vms[leg.vm as usize].id,
            from: book.hosts[leg.from as usize].id,
            to: book.hosts[leg.to as usize].id,
            price: Credits(price.unwrap_or(0) - floor),
        })
        .collect()
}
