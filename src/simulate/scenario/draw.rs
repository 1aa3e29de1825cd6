//! A mixed group's sizes and loads (`[vm.draw]`): its distributions,
//! checked, and the draws a seed makes from them.

use bidder::problem::ConfigProblem;

use super::spec::VmDraw;
use crate::rng::Rng;

/// One VM's drawn size and load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Drawn {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub cpu_load: f64,
}

/// A group's distributions, checked.
#[derive(Debug, Clone)]
pub(super) struct Mix {
    /// Each vCPU count with the sum of the weights up to it.
    vcpus: Vec<(u32, u64)>,
    memory_mib_per_vcpu: Vec<u64>,
    cpu_load: (f64, f64),
}

impl Mix {
    /// Checks `draw`, written at `key` (`vm[3].draw`).
    pub(super) fn new(draw: &VmDraw, key: &str) -> Result<Mix, ConfigProblem> {
        let mut vcpus = Vec::new();
        let mut total = 0u64;
        for (count, weight) in &draw.vcpus {
            let n = count
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ConfigProblem::value(
                        format!("{key}.vcpus.{count}"),
                        count,
                        "a vCPU count: a whole number above 0",
                    )
                })?;
            total += u64::from(*weight);
            if *weight > 0 {
                vcpus.push((n, total));
            }
        }
        if vcpus.is_empty() {
            return Err(ConfigProblem::at(
                format!("{key}.vcpus"),
                "needs a vCPU count with a weight above 0 (`{ 1 = 3, 2 = 1 }`)",
            ));
        }
        let memory = &draw.memory_mib_per_vcpu;
        if memory.is_empty() {
            return Err(ConfigProblem::at(
                format!("{key}.memory_mib_per_vcpu"),
                "needs at least one size (`[1024, 2048]`)",
            ));
        }
        if let Some(j) = memory.iter().position(|m| *m == 0) {
            return Err(ConfigProblem::value(
                format!("{key}.memory_mib_per_vcpu[{j}]"),
                0,
                "must be above 0",
            ));
        }
        let [low, high] = draw.cpu_load.unwrap_or([0.0, 0.0]);
        let unit = 0.0..=1.0;
        if !(unit.contains(&low) && unit.contains(&high) && low <= high) {
            return Err(ConfigProblem::value(
                format!("{key}.cpu_load"),
                format!("[{low}, {high}]"),
                "a range [low, high] with 0.0 <= low <= high <= 1.0",
            ));
        }
        Ok(Mix {
            vcpus,
            memory_mib_per_vcpu: memory.clone(),
            cpu_load: (low, high),
        })
    }

    /// The largest VM it can draw: the most vCPUs, with the most memory a
    /// vCPU.
    pub(super) fn largest(&self) -> (u32, u64) {
        let vcpus = self.vcpus.iter().map(|(n, _)| *n).max().unwrap_or(1);
        let per_vcpu = self.memory_mib_per_vcpu.iter().max().copied().unwrap_or(1);
        (vcpus, u64::from(vcpus) * per_vcpu)
    }

    /// One VM: its vCPUs by their weights, its memory a vCPU and its load
    /// each drawn on their own.
    pub(super) fn draw(&self, rng: &mut Rng) -> Drawn {
        let total = self.vcpus.last().map_or(1, |(_, sum)| *sum);
        let ticket = rng.below(usize::try_from(total).unwrap_or(usize::MAX)) as u64;
        let vcpus = self
            .vcpus
            .iter()
            .find(|(_, sum)| ticket < *sum)
            .map_or(1, |(n, _)| *n);
        let per_vcpu = self.memory_mib_per_vcpu[rng.below(self.memory_mib_per_vcpu.len())];
        let (low, high) = self.cpu_load;
        Drawn {
            vcpus,
            memory_mib: u64::from(vcpus) * per_vcpu,
            cpu_load: if low < high {
                rng.between(low, high)
            } else {
                low
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn draw(vcpus: &[(&str, u32)], memory: &[u64], load: Option<[f64; 2]>) -> VmDraw {
        VmDraw {
            vcpus: vcpus
                .iter()
                .map(|(k, w)| (k.to_string(), *w))
                .collect::<BTreeMap<_, _>>(),
            memory_mib_per_vcpu: memory.to_vec(),
            cpu_load: load,
        }
    }

    #[test]
    fn draws_follow_the_weights_and_stay_in_their_ranges() {
        let mix = Mix::new(
            &draw(
                &[("1", 6), ("2", 3), ("4", 1)],
                &[1024, 4096],
                Some([0.1, 0.6]),
            ),
            "vm[0].draw",
        )
        .unwrap();
        let mut rng = Rng::new(7);
        let drawn: Vec<Drawn> = (0..10_000).map(|_| mix.draw(&mut rng)).collect();
        let share = |n| drawn.iter().filter(|d| d.vcpus == n).count();
        assert!((5_700..6_300).contains(&share(1)), "{}", share(1));
        assert!((2_700..3_300).contains(&share(2)), "{}", share(2));
        assert!((800..1_200).contains(&share(4)), "{}", share(4));
        for d in &drawn {
            let per_vcpu = d.memory_mib / u64::from(d.vcpus);
            assert!(per_vcpu == 1024 || per_vcpu == 4096, "{d:?}");
            assert!((0.1..0.6).contains(&d.cpu_load), "{d:?}");
        }
        assert_eq!(mix.largest(), (4, 16384));
    }

    #[test]
    fn a_distribution_that_draws_nothing_is_refused_with_its_key() {
        let key = |d: VmDraw| Mix::new(&d, "vm[2].draw").unwrap_err().key;
        assert_eq!(key(draw(&[], &[1024], None)), "vm[2].draw.vcpus");
        assert_eq!(key(draw(&[("1", 0)], &[1024], None)), "vm[2].draw.vcpus");
        assert_eq!(key(draw(&[("0", 1)], &[1024], None)), "vm[2].draw.vcpus.0");
        assert_eq!(
            key(draw(&[("two", 1)], &[1024], None)),
            "vm[2].draw.vcpus.two"
        );
        assert_eq!(
            key(draw(&[("1", 1)], &[], None)),
            "vm[2].draw.memory_mib_per_vcpu"
        );
        assert_eq!(
            key(draw(&[("1", 1)], &[1024, 0], None)),
            "vm[2].draw.memory_mib_per_vcpu[1]"
        );
        for load in [[0.5, 0.2], [-0.1, 0.2], [0.2, 1.5], [f64::NAN, 0.2]] {
            assert_eq!(
                key(draw(&[("1", 1)], &[1024], Some(load))),
                "vm[2].draw.cpu_load"
            );
        }
    }
}
