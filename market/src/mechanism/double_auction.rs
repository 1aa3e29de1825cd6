//! The double auction: one round of bids, asks and packages cleared
//! together into trades.
//!
//! Pipeline: [`Book::new`] checks every order alone (ownership, room in
//! every dimension afterwards, one best order per host and package);
//! [`package::candidates`] lists the sets of orders that fit together
//! (pairs, swaps, chains, cycles) with positive surplus, of which
//! [`legs::feasible_order`] keeps those whose moves can be made one at a
//! time within every host's capacity;
//! [`selection::select`] picks host-disjoint candidates with the largest
//! total surplus it can find; [`pricing::trade`] sets the prices.
//!
//! What always holds, whatever the size (docs/economics.md has the
//! arguments): no host exceeds its capacity in any dimension after the
//! round, nor after any leg of a trade carried out in the order given;
//! every filled order pays at most its limit; each trade's payments sum to
//! zero; the result depends only on the round's contents.

use super::book::Book;
use super::{
    Clearing, ClearingError, ClearingRules, OrderId, Round, legs, package, pricing, selection,
};
use crate::credits::Credits;

/// Clears one round.
pub fn clear(round: &Round, rules: &ClearingRules) -> Result<Clearing, ClearingError> {
    let book = Book::new(round)?;
    let mut candidates = Vec::new();
    let mut ordered = Vec::new();
    let mut unordered = Vec::new();
    for candidate in package::candidates(&book, rules) {
        let moves = legs::moves_of(&book, candidate.orders());
        match legs::feasible_order(&book, &moves) {
            Some(order) => {
                candidates.push(candidate);
                ordered.push(order);
            }
            None => unordered.push(
                candidate
                    .orders()
                    .iter()
                    .map(|&i| book.order(i).id)
                    .collect::<Vec<OrderId>>(),
            ),
        }
    }
    let (chosen, exact) = selection::select(&book, &candidates, rules);
    let mut trades: Vec<_> = chosen
        .iter()
        .map(|&c| pricing::trade(&book, &candidates[c], &ordered[c]))
        .collect();
    trades.sort_by_key(|t| t.payments.first().map(|p| p.order));
    let total_surplus = Credits(trades.iter().map(|t| t.surplus.0).sum());
    Ok(Clearing {
        trades,
        rejected: book.rejected,
        unordered,
        total_surplus,
        exact,
    })
}
