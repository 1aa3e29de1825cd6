//! First-fit-decreasing: largest VM first, each onto the first host (in
//! list order) with room in every dimension. Hosts listed first fill first,
//! so the number of hosts used is what power saving would like to reach.

use super::{Item, Packing, decreasing, fits};
use crate::resources::Resources;

/// Packs `items` onto hosts of the given capacities.
pub fn pack(items: &[Item], capacities: &[Resources]) -> Packing {
    let mut packing = Packing::empty(capacities.len());
    for item in decreasing(items, capacities) {
        match (0..capacities.len()).find(|&h| fits(&packing.load[h], &item, &capacities[h])) {
            Some(h) => packing.place(&item, h),
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
    fn ffd_fills_the_first_hosts() {
        let cap = Resources::new(4000, 4096, 1000);
        let items: Vec<_> = (0..6)
            .map(|i| (VmId(i), Resources::new(1000, 2048, 100)))
            .collect();
        let p = pack(&items, &[cap; 4]);
        assert_eq!(p.hosts_used(), 3);
        assert!(p.unplaced.is_empty());
        assert!(p.load.iter().all(|l| l.fits_within(&cap)));
        let too_big = [(VmId(9), Resources::new(1, 9000, 1))];
        assert_eq!(pack(&too_big, &[cap]).unplaced, [VmId(9)]);
    }
}
