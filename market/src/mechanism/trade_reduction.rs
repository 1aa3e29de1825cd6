//! Trade reduction for plain bid/ask trades (McAfee's idea, for a market
//! where every VM is its own good).
//!
//! Each VM `v` has one seller (its host) and any number of buyers. The
//! highest bidder wins, but the trade clears at the **second-highest bid**
//! `b2`, and only when `b2` covers the ask. The winner pays `b2`, the seller
//! receives `b2`: budget balanced, no market surplus. When the ask falls
//! between `b2` and the best bid, the trade is *reduced* (dropped), which is
//! the efficiency that truthfulness costs, as in McAfee's double auction.
//!
//! Why it is truthful for a VM on its own: the price does not depend on the
//! winner's bid (a buyer cannot lower it by shading) nor on the ask (the
//! seller faces a take-it-or-leave-it price), and bidding one's value is a
//! dominant strategy for both, as in a second-price auction with a posted
//! reserve. Across VMs, "one order per host per round" couples the markets
//! and the guarantee no longer holds in general; docs/economics.md says so.

use super::book::Book;
use super::package::Candidate;

/// The trade of ask `a` with the best of `bids` (best first) at the
/// second-best bid's price, or `None` when there is no second bid, no
/// positive surplus, or the second bid does not cover the ask.
pub fn pair(book: &Book<'_>, a: u32, bids: &[u32]) -> Option<Candidate> {
    let (&winner, &second) = (bids.first()?, bids.get(1)?);
    let ask = book.order(a).limit.0;
    let best = book.order(winner).limit.0;
    let price = book.order(second).limit.0;
    let surplus = ask + best;
    if surplus <= 0 || price + ask < 0 {
        return None;
    }
    let mut candidate = Candidate::new(&[a, winner], surplus);
    candidate.fixed_price = Some(price);
    Some(candidate)
}
