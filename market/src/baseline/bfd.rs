//! Best-fit-decreasing: largest VM first, each onto the host where it
//! leaves the least room (sum of remaining shares), ties to the earlier
//! host. Often packs tighter than first fit on mixed sizes.

use super::{Item, Packing, decreasing, fits};
use crate::resources::Resources;

/// Packs `items` onto hosts of the given capacities.
pub fn pack(items: &[Item], capacities: &[Resources]) -> Packing {
    let mut packing = Packing::empty(capacities.len());
    for item in decreasing(items, capacities) {
        let best = (0..capacities.len())
            .filter(|&h| fits(&packing.load[h], &item, &capacities[h]))
            .map(|h| {
                let after = packing.load[h].saturating_add(&item.1);
                (
                    capacities[h]
                        .saturating_sub(&after)
                        .share_sum(&capacities[h]),
                    h,
                )
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        match best {
            Some((_, h)) => packing.place(&item, h),
            None => packing.unplaced.push(item.0),
        }
    }
    packing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::VmId;

    #[test]
    fn bfd_prefers_the_tightest_host() {
        let caps = [
            Resources::new(8000, 8192, 1000),
            Resources::new(2000, 2048, 1000),
        ];
        let items = [(VmId(1), Resources::new(2000, 2048, 100))];
        assert_eq!(pack(&items, &caps).placed, [(VmId(1), 1)]);
    }
}
