//! Best-fit-decreasing: largest VM first, each onto the host where it
//! leaves the least room (sum of remaining shares), ties to the earlier
//! host. Often packs tighter than first fit on mixed sizes.

use super::{Item, Packing, place_on_best};
use crate::resources::Resources;

/// Packs `items` onto hosts of the given capacities.
pub fn pack(items: &[Item], capacities: &[Resources]) -> Packing {
    place_on_best(items, capacities, |after, capacity| {
        capacity.saturating_sub(after).share_sum(capacity)
    })
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
