//! Lower bounds no placement can beat, so a figure can be stated as a ratio
//! to the best possible, not only to another heuristic.

use super::Item;
use crate::resources::{Dimension, Resources};

/// The fewest hosts of capacity `capacity` that could hold `items`: in each
/// dimension, the total demand over one host's capacity, rounded up; the
/// largest of the three. (`None` when some dimension has zero capacity but
/// positive demand: no number of such hosts suffices.)
pub fn hosts_needed(items: &[Item], capacity: &Resources) -> Option<u64> {
    Dimension::ALL.iter().try_fold(0u64, |most, &d| {
        let demand: u128 = items.iter().map(|it| u128::from(it.1.get(d))).sum();
        let cap = u128::from(capacity.get(d));
        let needed = match (demand, cap) {
            (0, _) => 0,
            (_, 0) => return None,
            _ => demand.div_ceil(cap),
        };
        Some(most.max(u64::try_from(needed).unwrap_or(u64::MAX)))
    })
}

/// The smallest possible largest dominant share over `capacities`: no
/// placement spreads better than the total demand over the total capacity
/// in the tightest dimension.
pub fn best_max_share(items: &[Item], capacities: &[Resources]) -> f64 {
    Dimension::ALL
        .iter()
        .map(|&d| {
            let demand: f64 = items.iter().map(|it| it.1.get(d) as f64).sum();
            let cap: f64 = capacities.iter().map(|c| c.get(d) as f64).sum();
            if cap == 0.0 {
                if demand == 0.0 { 0.0 } else { f64::INFINITY }
            } else {
                demand / cap
            }
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::VmId;

    #[test]
    fn the_tightest_dimension_decides() {
        let cap = Resources::new(4000, 4096, 1000);
        let items: Vec<_> = (0..5)
            .map(|i| (VmId(i), Resources::new(500, 2048, 10)))
            .collect();
        // Memory: 10240 / 4096 -> 3 hosts; cpu: 2500 / 4000 -> 1.
        assert_eq!(hosts_needed(&items, &cap), Some(3));
        assert!((best_max_share(&items, &[cap; 5]) - 0.5).abs() < 1e-12);
        assert_eq!(hosts_needed(&items, &Resources::new(4000, 0, 1000)), None);
        assert_eq!(hosts_needed(&[], &cap), Some(0));
    }
}
