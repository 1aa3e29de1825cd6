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
    pub pays: Credits,
}

/// How the winner's payment is set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AwardRule {
    /// Pays its own proposal.
    #[default]
    FirstPrice,
    /// Pays the best losing proposal, at least the reserve.
    SecondPrice,
}

/// The manager's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Award {
    /// Who takes the VM.
    pub winner: HostId,
    /// What it pays the manager (negative: what the manager pays it).
    pub pays: Credits,
}

/// Picks the winner, or `None` when no proposal reaches the reserve.
pub fn award(reserve: Credits, proposals: &[Proposal], rule: AwardRule) -> Option<Award> {
    let mut ranked: Vec<Proposal> = proposals.to_vec();
    // Best first: highest payment, then smallest host id.
    ranked.sort_by(|a, b| b.pays.cmp(&a.pays).then(a.bidder.cmp(&b.bidder)));
    // Keep each host's best proposal only.
    let mut seen = std::collections::HashSet::new();
    ranked.retain(|p| seen.insert(p.bidder));
    let best = *ranked.first()?;
    if best.pays < reserve {
        return None;
    }
    let pays = match rule {
        AwardRule::FirstPrice => best.pays,
        AwardRule::SecondPrice => ranked
            .get(1)
            .map_or(reserve, |second| second.pays.max(reserve)),
    };
    Some(Award {
        winner: best.bidder,
        pays,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(bidder: u32, pays: i64) -> Proposal {
        Proposal {
            bidder: HostId(bidder),
            pays: Credits(pays),
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
                pays: Credits(40)
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
                pays: Credits(10)
            })
        );
        assert_eq!(
            award(Credits(25), &proposals, AwardRule::SecondPrice),
            Some(Award {
                winner: HostId(1),
                pays: Credits(25)
            })
        );
        assert_eq!(
            award(Credits(-5), &[p(7, 0)], AwardRule::SecondPrice),
            Some(Award {
                winner: HostId(7),
                pays: Credits(-5)
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
                pays: Credits(5)
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
