//! Greedy balancing: largest VM first, each onto the host whose dominant
//! share is smallest after taking it (ties to the earlier host). The
//! classic longest-processing-time rule, in several dimensions: the
//! yardstick for agility's "even loading".

use super::{Item, Packing, place_on_best};
use crate::resources::Resources;

/// Spreads `items` over hosts of the given capacities.
pub fn spread(items: &[Item], capacities: &[Resources]) -> Packing {
    place_on_best(items, capacities, |after, capacity| {
        after.dominant_share(capacity)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::VmId;

    #[test]
    fn four_equal_vms_on_four_hosts_go_one_each() {
        // Seed 002 scenario 1's end state.
        let cap = Resources::new(8000, 16384, 1000);
        let items: Vec<_> = (1..=4)
            .map(|i| (VmId(i), Resources::new(1000, 512, 100)))
            .collect();
        let p = spread(&items, &[cap; 4]);
        assert!(p.load.iter().all(|l| *l == Resources::new(1000, 512, 100)));
        assert!((p.max_share(&[cap; 4]) - 0.125).abs() < 1e-12);
    }
}
