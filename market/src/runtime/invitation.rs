//! The invitation an initiator publishes to recruit role players.

use lcc::term::Term;
use serde::{Deserialize, Serialize};

use crate::wire::InteractionId;

/// Body of an envelope on `<prefix>.<zone>.invite.<model>.<initiator>`;
/// the envelope's `interaction` says which interaction of which model
/// (by hash). A peer that accepts opens its channel for the interaction
/// and sends the initiator [`join`]`(role)`, then plays the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The role wanted (`contractor`, `trader`).
    pub role: String,
    /// Joins that arrive later (in the initiator's clock) are ignored.
    pub reply_by_ms: i64,
    /// The peers asked: those whose draw for this interaction ([`draw`])
    /// falls in the band. [`Band::EVERYONE`] asks every peer that plays
    /// the role; a narrow band a few of them, a different few each call,
    /// and no peer needs a list of the others.
    pub band: Band,
}

/// A range of draws, `from..to`, out of `0..2^32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Band {
    pub from: u64,
    pub to: u64,
}

impl Band {
    /// Every draw.
    pub const EVERYONE: Band = Band { from: 0, to: DRAWS };

    /// Whether `draw` is in the band.
    pub fn holds(&self, draw: u64) -> bool {
        (self.from..self.to).contains(&draw)
    }
}

/// How many draws there are.
pub const DRAWS: u64 = 1 << 32;

/// `peer`'s draw for `interaction`, in `0..DRAWS`: a hash of both, the
/// same on every build and every host, so the initiator's band alone
/// decides who joins, and a peer is in at most one of disjoint bands.
pub fn draw(interaction: InteractionId, peer: &str) -> u64 {
    let id = interaction.0.to_string();
    mix(super::endpoint::fnv1a(&[&id, peer])) % DRAWS
}

/// MurmurHash3's 64-bit finaliser: FNV-1a of names that differ only in
/// their last characters ("s1", "s2", ...) differ little in their low
/// bits, and the draws would bunch; mixed, every bit depends on all.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The message term by which a peer tells the initiator it plays `role`.
pub fn join(role: &str) -> Term {
    Term::apply("join", vec![Term::atom(role)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names alike but for their last characters, as a cluster's are:
    /// each band holds its share of them.
    #[test]
    fn draws_spread_over_the_bands() {
        let names: Vec<String> = (1..=10_000).map(|i| format!("s{i}")).collect();
        for id in [0u128, 7, (12_345 << 64) | 3] {
            let draws: Vec<u64> = names.iter().map(|n| draw(InteractionId(id), n)).collect();
            for (share, lo, hi) in [(16, 500, 750), (4, 2_300, 2_700), (2, 4_800, 5_200)] {
                let band = Band {
                    from: 0,
                    to: DRAWS / share,
                };
                let held = draws.iter().filter(|&&d| band.holds(d)).count();
                assert!((lo..hi).contains(&held), "1/{share} of 10,000: {held}");
            }
        }
    }

    #[test]
    fn everyone_holds_every_draw_and_a_draw_is_the_same_each_time() {
        let id = InteractionId(99);
        assert!(Band::EVERYONE.holds(0) && Band::EVERYONE.holds(DRAWS - 1));
        assert_eq!(draw(id, "h1"), draw(id, "h1"));
        assert_ne!(draw(id, "h1"), draw(InteractionId(100), "h1"));
    }
}
