//! Random selection: any migratable VM, each as likely (CloudSim's
//! `PowerVmSelectionPolicyRandomSelection`). CloudSim draws from an
//! unseeded `java.util.Random`, so its runs differ; here the draws come
//! from a stream seeded by the run, so the same seed gives the same run.

use super::{Datacenter, migratable};

/// A migratable VM of `host` drawn from `stream`.
pub fn select(dc: &Datacenter, host: usize, stream: &mut Stream) -> Option<usize> {
    let vms = migratable(dc, host);
    if vms.is_empty() {
        return None;
    }
    vms.get(stream.below(vms.len())).copied()
}

/// splitmix64: a small, fast, well-mixed stream, enough to pick VMs
/// evenly. Written out (as the workspace's tests and benches do) rather
/// than adding a crate for one generator.
#[derive(Debug, Clone)]
pub struct Stream(u64);

impl Stream {
    pub fn new(seed: u64) -> Stream {
        Stream(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0), each as likely: the high bits of a
    /// 64 x 64-bit product, without the bias of a remainder.
    pub fn below(&mut self, n: usize) -> usize {
        let wide = u128::from(self.next()) * n as u128;
        // Below n, which is a usize: the cast cannot truncate.
        (wide >> 64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_numbers() {
        let draw = |seed| {
            let mut s = Stream::new(seed);
            (0..20).map(|_| s.below(7)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn draws_cover_the_range_evenly() {
        let mut s = Stream::new(42);
        let mut seen = [0u32; 5];
        for _ in 0..50_000 {
            seen[s.below(5)] += 1;
        }
        for count in seen {
            assert!((9_500..10_500).contains(&count), "{seen:?}");
        }
    }
}
