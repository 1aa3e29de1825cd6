//! The one source of chance of the simulations and the campaigns:
//! SplitMix64 from a seed, so the same seed draws the same numbers on
//! every machine. `market replay`'s random VM selection (`rs`) and
//! `market chaos`'s workloads, faults and moments draw from it.
//! Hand-written: a dozen lines need no dependency, and its sequence cannot
//! change under us with a crate's new version.

use std::time::Duration;

/// A deterministic generator of a seed's draws.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The generator of `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits (SplitMix64).
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` above 0), each as likely: the high bits of
    /// a 64 x 64-bit product, without the bias of a remainder.
    pub fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next_u64()) * n.max(1) as u128;
        // Below n, which is a usize: the cast cannot truncate.
        (wide >> 64) as usize
    }

    /// A fraction in `[low, high)`.
    pub fn between(&mut self, low: f64, high: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        low + unit * (high - low)
    }

    /// A duration in `[low, high)`.
    pub fn duration(&mut self, low: Duration, high: Duration) -> Duration {
        Duration::from_secs_f64(self.between(low.as_secs_f64(), high.as_secs_f64()))
    }

    /// A generator of its own for another user of the seed (the chaos
    /// campaign's rogue peer), so that its draws do not shift the others'.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_draws_the_same_sequence_and_another_seed_another() {
        let draws = |seed| {
            let mut rng = Rng::new(seed);
            (0..20).map(|_| rng.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn draws_stay_in_their_range() {
        let mut rng = Rng::new(1);
        for _ in 0..1000 {
            assert!(rng.below(3) < 3);
            let x = rng.between(0.2, 0.4);
            assert!((0.2..0.4).contains(&x), "{x}");
        }
    }

    #[test]
    fn draws_cover_the_range_evenly() {
        let mut rng = Rng::new(42);
        let mut seen = [0u32; 5];
        for _ in 0..50_000 {
            seen[rng.below(5)] += 1;
        }
        for count in seen {
            assert!((9_500..10_500).contains(&count), "{seen:?}");
        }
    }
}
