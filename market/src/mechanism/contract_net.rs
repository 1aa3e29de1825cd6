//! Contract-net award: a manager announces one VM, peers propose what they
//! would pay to take it, the manager picks the winner.
//!
//! A proposal's `pays` follows the order convention: what the proposer pays
//! the manager for the VM, negative when it must be paid to take it (a
//! satisfied host that would lose utility). The manager's `reserve` is the
//! least it accepts for giving the VM ([`crate::valuation::Valuer::ask_for_giving`]),
//! negative when it pays to be rid of it.
//!
//! - **First price**: the best proposal wins and pays what it proposed.
//! - **Second price**: the best proposal wins and pays the second-best
//!   proposal, or the reserve if that is higher (or there is no second):
//!   bidding one's true value is then a dominant strategy (Vickrey).
//!
//! Only proposals at or above the reserve can win; of several proposals by
//! one host only its best counts; ties go to the smaller host id.

use serde::{Deserialize, Serialize};

use crate::credits::Credits;
use crate::host::HostId;

/// One peer's proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who proposes.
    pub bidder: HostId,
    /// What it pays for the VM (negative: what it must be paid).
    pub price: Credits,
}

/// How the winner's payment is set; written `first-price` and
/// `second-price` in configuration files.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AwardRule {
    /// Pays its own proposal.
    #[default]
    FirstPrice,
    /// Pays the best losing proposal, at least the reserve.
    SecondPrice,
}

impl std::fmt::Display for AwardRule {
    /// As configuration files write it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AwardRule::FirstPrice => "first-price",
            AwardRule::SecondPrice => "second-price",
        })
    }
}

/// The manager's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    /// Who takes the VM.
    pub winner: HostId,
    /// What it pays the manager (negative: what the manager pays it).
    pub price: Credits,
}

/// Picks the winner, or `None` when no proposal reaches the reserve.
pub fn award(reserve: Credits, proposals: &[Proposal], rule: AwardRule) -> Option<Award> {
    let mut ranked: Vec<Proposal> = proposals.to_vec();
    // Best first: highest payment, then smallest host id.
    ranked.sort_by(|a, b| b.price.cmp(&a.price).then(a.bidder.cmp(&b.bidder)));
    // Keep each host's best proposal only.
    let mut seen = std::collections::HashSet::new();
    ranked.retain(|p| seen.insert(p.bidder));
    let best = *ranked.first()?;
    if best.price < reserve {
        return None;
    }
    let price = match rule {
        AwardRule::FirstPrice => best.price,
        AwardRule::SecondPrice => ranked
            .get(1)
            .map_or(reserve, |second| second.price.max(reserve)),
    };
    Some(Award {
        winner: best.bidder,
        price,
    })
}

/// [`award`] over the proposals an LCC model collects: `bids` is a list of
/// `bid(Peer, Price)` (Price in micro-credits). Peers are numbered by name
/// for the tie-break, so of equal offers the first name in order wins. The
/// winner comes back as the peer's term exactly as the model wrote it (so
/// it unifies with the peer the model talks to), with what it pays; `None`
/// when no offer reaches the reserve; an error when `bids` is not such a
/// list.
pub fn award_bids(
    reserve: Credits,
    bids: &lcc::term::Term,
    rule: AwardRule,
) -> Result<Option<(lcc::term::Term, Credits)>, String> {
    let items = bids
        .as_list()
        .ok_or_else(|| format!("proposals {bids} are not a list"))?;
    let mut read = Vec::new();
    for item in items {
        let args = item.args();
        let bid = match (item.functor().map(|f| f.as_str()), args) {
            (Some("bid"), [peer, lcc::term::Term::Int(price)]) => {
                let name = match peer {
                    lcc::term::Term::Atom(s) | lcc::term::Term::Str(s) => s.as_str().to_string(),
                    _ => return Err(format!("not a peer: {peer}")),
                };
                (name, Credits(*price), peer.clone())
            }
            _ => return Err(format!("not a bid(Peer, Price): {item}")),
        };
        read.push(bid);
    }
    let mut names: Vec<&str> = read.iter().map(|(name, _, _)| name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let id_of = |name: &str| HostId(names.iter().position(|n| *n == name).unwrap_or(0) as u32);
    let proposals: Vec<Proposal> = read
        .iter()
        .map(|(name, price, _)| Proposal {
            bidder: id_of(name),
            price: *price,
        })
        .collect();
    let Some(decision) = award(reserve, &proposals, rule) else {
        return Ok(None);
    };
    let winner = names[decision.winner.0 as usize];
    let peer = read
        .iter()
        .find(|(name, _, _)| name == winner)
        .map(|(_, _, peer)| peer.clone())
        .ok_or_else(|| format!("the award chose {winner}, who did not bid"))?;
    Ok(Some((peer, decision.price)))
}

/// The answer of an LCC `award(+Task, +Proposals, -Winner, -Price)`
/// component with this reserve and rule (see [`award_bids`]): holds, with
/// the winner and what it pays, or does not hold when no offer reaches the
/// reserve.
pub fn answer_award(
    args: &[lcc::term::Term],
    reserve: Credits,
    rule: AwardRule,
) -> Result<Vec<lcc::term::Term>, lcc::component::Failure> {
    use lcc::component::Failure;
    let [task, bids, ..] = args else {
        return Err(Failure::broken(
            "award takes Task, Proposals, Winner, Price",
        ));
    };
    let (winner, price) = award_bids(reserve, bids, rule)
        .map_err(Failure::broken)?
        .ok_or_else(|| Failure::no(format!("no offer reaches the reserve {reserve}")))?;
    Ok(vec![
        task.clone(),
        bids.clone(),
        winner,
        lcc::term::Term::Int(price.0),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcc_bids_are_awarded_with_the_peer_term_the_model_wrote() {
        use lcc::term::Term;
        let bid =
            |peer: &str, price: i64| Term::apply("bid", vec![Term::atom(peer), Term::Int(price)]);
        let bids = Term::list(vec![bid("c2", 30), bid("c1", 30), bid("c3", 10)]);
        assert_eq!(
            award_bids(Credits(0), &bids, AwardRule::SecondPrice),
            Ok(Some((Term::atom("c1"), Credits(30))))
        );
        assert_eq!(
            award_bids(Credits(50), &bids, AwardRule::FirstPrice),
            Ok(None)
        );
        assert!(award_bids(Credits(0), &Term::atom("x"), AwardRule::FirstPrice).is_err());
        let odd = Term::list(vec![Term::apply("bid", vec![Term::atom("c1")])]);
        assert!(award_bids(Credits(0), &odd, AwardRule::FirstPrice).is_err());
    }

    fn p(bidder: u32, price: i64) -> Proposal {
        Proposal {
            bidder: HostId(bidder),
            price: Credits(price),
        }
    }

    #[test]
    fn first_price_pays_its_own_proposal() {
        let award = award(
            Credits(-50),
            &[p(3, 10), p(1, 40), p(2, -20)],
            AwardRule::FirstPrice,
        );
        assert_eq!(
            award,
            Some(Award {
                winner: HostId(1),
                price: Credits(40)
            })
        );
    }

    #[test]
    fn second_price_pays_the_best_loser_or_the_reserve() {
        let proposals = [p(3, 10), p(1, 40), p(2, -20)];
        assert_eq!(
            award(Credits(-50), &proposals, AwardRule::SecondPrice),
            Some(Award {
                winner: HostId(1),
                price: Credits(10)
            })
        );
        assert_eq!(
            award(Credits(25), &proposals, AwardRule::SecondPrice),
            Some(Award {
                winner: HostId(1),
                price: Credits(25)
            })
        );
        assert_eq!(
            award(Credits(-5), &[p(7, 0)], AwardRule::SecondPrice),
            Some(Award {
                winner: HostId(7),
                price: Credits(-5)
            })
        );
    }

    #[test]
    fn nothing_below_the_reserve_wins() {
        assert_eq!(
            award(Credits(100), &[p(1, 99)], AwardRule::FirstPrice),
            None
        );
        assert_eq!(award(Credits(0), &[], AwardRule::SecondPrice), None);
    }

    #[test]
    fn ties_go_to_the_smaller_host_and_a_host_counts_once() {
        let a = award(
            Credits(0),
            &[p(5, 10), p(2, 10), p(9, 3)],
            AwardRule::FirstPrice,
        );
        assert_eq!(a.map(|a| a.winner), Some(HostId(2)));
        // Host 4's second proposal does not set its own price.
        let a = award(
            Credits(0),
            &[p(4, 30), p(4, 20), p(6, 5)],
            AwardRule::SecondPrice,
        );
        assert_eq!(
            a,
            Some(Award {
                winner: HostId(4),
                price: Credits(5)
            })
        );
        // Input order does not matter.
        let b = award(
            Credits(0),
            &[p(6, 5), p(4, 20), p(4, 30)],
            AwardRule::SecondPrice,
        );
        assert_eq!(a, b);
    }
}
