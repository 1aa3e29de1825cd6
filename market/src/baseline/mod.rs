//! Centralised baselines, for comparison only: bidders never call them.
//!
//! A market decides placement one negotiated trade at a time with local
//! knowledge; these see everything at once. They answer "how good is the
//! market's placement?" as a ratio to a classic heuristic and to a bound:
//!
//! - [`ffd`]: first-fit-decreasing vector packing (power saving's yardstick:
//!   how few hosts could hold the VMs);
//! - [`bfd`]: best-fit-decreasing, the same with the tightest host first;
//! - [`greedy_balance`]: largest VM first onto the least loaded host
//!   (agility's yardstick: how even could the load be);
//! - [`bounds`]: lower bounds no placement can beat.

pub mod bfd;
pub mod bounds;
pub mod ffd;
pub mod greedy_balance;

use serde::{Deserialize, Serialize};

use crate::resources::{Dimension, Resources};
use crate::vm::VmId;

/// A VM to place: its id and what it reserves.
pub type Item = (VmId, Resources);

/// Where each VM went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packing {
    /// Each placed VM with the index of its host in the input list, in the
    /// order they were placed.
    pub placed: Vec<(VmId, usize)>,
    /// VMs no host had room for.
    pub unplaced: Vec<VmId>,
    /// What each host holds afterwards.
    pub load: Vec<Resources>,
}

impl Packing {
    fn empty(hosts: usize) -> Packing {
        Packing {
            placed: Vec::new(),
            unplaced: Vec::new(),
            load: vec![Resources::ZERO; hosts],
        }
    }

    /// Hosts holding at least one VM.
    pub fn hosts_used(&self) -> usize {
        self.load.iter().filter(|l| **l != Resources::ZERO).count()
    }

    /// The largest dominant share of any host: the imbalance an agility
    /// policy wants small.
    pub fn max_share(&self, capacities: &[Resources]) -> f64 {
        self.load
            .iter()
            .zip(capacities)
            .map(|(l, c)| l.dominant_share(c))
            .fold(0.0, f64::max)
    }

    /// Puts `item` on host `at`; the caller checked it fits.
    fn place(&mut self, item: &Item, at: usize) {
        self.load[at] = self.load[at].saturating_add(&item.1);
        self.placed.push((item.0, at));
    }
}

/// Items by decreasing size (sum of shares of the largest capacity in each
/// dimension), ties by VM id: the order every "decreasing" heuristic uses.
fn decreasing(items: &[Item], capacities: &[Resources]) -> Vec<Item> {
    let scale = Resources::new(
        largest(capacities, Dimension::Cpu),
        largest(capacities, Dimension::Memory),
        largest(capacities, Dimension::Network),
    );
    let mut sorted: Vec<(f64, Item)> = items
        .iter()
        .map(|it| (it.1.share_sum(&scale), *it))
        .collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.0.cmp(&b.1.0)));
    sorted.into_iter().map(|(_, it)| it).collect()
}

/// Places `items`, largest first ([`decreasing`]), each on the host it
/// fits that `score`s lowest once it holds the item (`score(load after,
/// capacity)`), ties to the earlier host; an item no host fits is left
/// unplaced. The loop of every "best host" heuristic: each says only what
/// "best" means.
fn place_on_best(
    items: &[Item],
    capacities: &[Resources],
    score: impl Fn(&Resources, &Resources) -> f64,
) -> Packing {
    let mut packing = Packing::empty(capacities.len());
    for item in decreasing(items, capacities) {
        let best = (0..capacities.len())
            .filter(|&h| fits(&packing.load[h], &item, &capacities[h]))
            .map(|h| {
                let after = packing.load[h].saturating_add(&item.1);
                (score(&after, &capacities[h]), h)
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        match best {
            Some((_, h)) => packing.place(&item, h),
            None => packing.unplaced.push(item.0),
        }
    }
    packing
}

fn largest(capacities: &[Resources], d: Dimension) -> u64 {
    capacities.iter().map(|c| c.get(d)).max().unwrap_or(0)
}

/// True when `item` fits on a host holding `load` with `capacity`.
fn fits(load: &Resources, item: &Item, capacity: &Resources) -> bool {
    load.saturating_add(&item.1).fits_within(capacity)
}
