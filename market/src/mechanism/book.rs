//! The order book of one round: orders checked, duplicates settled, and the
//! indices that candidate discovery looks things up in.
//!
//! Every check that depends on one order alone happens here, once, so the
//! rest of the clearing can take any accepted order as feasible on its own:
//! its host exists, owns what it gives, does not own what it takes, and has
//! room afterwards in every dimension.
//!
//! Hosts and VMs get dense indices (their rank by id) and every index is a
//! sorted array, never a hash map: lookups are binary searches or direct
//! indexing, the cost does not depend on how ids hash (no input can make it
//! quadratic), and nothing depends on iteration order.

use std::cmp::Reverse;

use super::{ClearingError, HostSlot, MAX_LIMIT, Order, OrderId, Rejection, Round, VmSlot};
use crate::host::HostId;
use crate::resources::Resources;
use crate::vm::VmId;

/// "No such entry" in the dense indices.
pub const NONE: u32 = u32::MAX;

/// An accepted order with the dense indices of its host and VMs.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'r> {
    /// The order as posted.
    pub order: &'r Order,
    /// Its limit, copied here so sorting and summing stay in cache.
    pub limit: i64,
    /// False once superseded by a better order of the same host for the
    /// same package: candidates never use it.
    pub live: bool,
    /// Dense index of its host.
    pub host: u32,
    /// Dense index of the VM it gives, or [`NONE`].
    pub gives: u32,
    /// Dense index of the VM it takes, or [`NONE`].
    pub takes: u32,
}

/// Accepted orders (sorted by id) and indices over them.
#[derive(Debug)]
pub struct Book<'r> {
    /// Orders that passed the checks, sorted by id; candidates refer to
    /// them by position. Superseded ones stay here but no index refers to
    /// them.
    pub entries: Vec<Entry<'r>>,
    /// Refused orders and why, sorted by id.
    pub rejected: Vec<(OrderId, Rejection)>,
    /// The round's hosts by dense index (rank by id): their ids, capacity
    /// and what their VMs reserve now, the state a trade's legs start from.
    pub hosts: Vec<&'r HostSlot>,
    /// The round's VMs by dense index (rank by id).
    pub vms: Vec<&'r VmSlot>,
    /// Per VM: the one plain ask giving it, or [`NONE`].
    ask_for: Vec<u32>,
    /// Plain bids grouped by the VM they take, best first (limit
    /// descending, id ascending); `bid_start[v]..bid_start[v + 1]`.
    bids: Vec<u32>,
    bid_start: Vec<u32>,
    /// Packages grouped by the VM they give, then by the VM they take;
    /// `package_start[v]..package_start[v + 1]`.
    packages: Vec<u32>,
    package_start: Vec<u32>,
}

/// The round's hosts and VMs sorted by id, to look orders up in. The ids
/// are kept in arrays of their own so binary searches stay in cache.
struct Directory<'r> {
    host_ids: Vec<HostId>,
    hosts: Vec<&'r HostSlot>,
    vm_ids: Vec<VmId>,
    vms: Vec<&'r VmSlot>,
    /// Dense host index of each VM's host.
    owner: Vec<u32>,
}

impl<'r> Directory<'r> {
    fn new(round: &'r Round) -> Result<Self, ClearingError> {
        let mut hosts: Vec<&HostSlot> = round.hosts.iter().collect();
        hosts.sort_unstable_by_key(|h| h.id);
        if let Some(w) = hosts.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(ClearingError::DuplicateHost(w[0].id));
        }
        let mut vms: Vec<&VmSlot> = round.vms.iter().collect();
        vms.sort_unstable_by_key(|v| v.id);
        if let Some(w) = vms.windows(2).find(|w| w[0].id == w[1].id) {
            return Err(ClearingError::DuplicateVm(w[0].id));
        }
        if u32::try_from(hosts.len()).is_err() || u32::try_from(vms.len()).is_err() {
            return Err(ClearingError::TooLarge);
        }
        let host_ids: Vec<HostId> = hosts.iter().map(|h| h.id).collect();
        let owner = vms
            .iter()
            .map(|v| {
                host_ids
                    .binary_search(&v.host)
                    .map(|i| i as u32)
                    .map_err(|_| ClearingError::VmOnUnknownHost(v.id, v.host))
            })
            .collect::<Result<_, _>>()?;
        Ok(Directory {
            host_ids,
            hosts,
            vm_ids: vms.iter().map(|v| v.id).collect(),
            vms,
            owner,
        })
    }

    fn vm(&self, id: VmId) -> Result<u32, Rejection> {
        self.vm_ids
            .binary_search(&id)
            .map(|i| i as u32)
            .map_err(|_| Rejection::UnknownVm(id))
    }

    /// Checks one order alone; returns its entry.
    fn check<'o>(&self, order: &'o Order) -> Result<Entry<'o>, Rejection> {
        if order.gives.is_none() && order.takes.is_none() {
            return Err(Rejection::Empty);
        }
        if order.limit.0.unsigned_abs() > MAX_LIMIT as u64 {
            return Err(Rejection::LimitOutOfRange);
        }
        let host = self
            .host_ids
            .binary_search(&order.host)
            .map_err(|_| Rejection::UnknownHost)? as u32;
        if order.gives.is_some() && order.gives == order.takes {
            return Err(Rejection::SameVm);
        }
        let gives = match order.gives {
            Some(id) => {
                let v = self.vm(id)?;
                if self.owner[v as usize] != host {
                    return Err(Rejection::NotOwner(id));
                }
                v
            }
            None => NONE,
        };
        let takes = match order.takes {
            Some(id) => {
                let v = self.vm(id)?;
                if self.owner[v as usize] == host {
                    return Err(Rejection::AlreadyOwner(id));
                }
                let slot = self.hosts[host as usize];
                let given = if gives == NONE {
                    Resources::ZERO
                } else {
                    self.vms[gives as usize].reserved
                };
                // Saturating: an overflowing sum cannot fit any real capacity.
                let after = slot
                    .reserved
                    .saturating_add(&self.vms[v as usize].reserved)
                    .saturating_sub(&given);
                if let Some(dimension) = after.first_excess(&slot.capacity) {
                    return Err(Rejection::NoRoom(dimension));
                }
                v
            }
            None => NONE,
        };
        Ok(Entry {
            order,
            limit: order.limit.0,
            live: true,
            host,
            gives,
            takes,
        })
    }
}

impl<'r> Book<'r> {
    /// Checks the round and every order in it.
    pub fn new(round: &'r Round) -> Result<Book<'r>, ClearingError> {
        if u32::try_from(round.orders.len()).is_err() {
            return Err(ClearingError::TooLarge);
        }
        let directory = Directory::new(round)?;
        let mut by_id: Vec<(OrderId, u32)> = round
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id, i as u32))
            .collect();
        by_id.sort_unstable();
        let mut rejected = Vec::new();
        let mut entries = Vec::with_capacity(by_id.len());
        for (k, &(id, i)) in by_id.iter().enumerate() {
            let duplicate =
                (k > 0 && by_id[k - 1].0 == id) || by_id.get(k + 1).is_some_and(|n| n.0 == id);
            if duplicate {
                rejected.push((id, Rejection::DuplicateId));
                continue;
            }
            match directory.check(&round.orders[i as usize]) {
                Ok(entry) => entries.push(entry),
                Err(why) => rejected.push((id, why)),
            }
        }
        let vm_count = directory.vms.len();
        let mut book = Book {
            entries,
            rejected,
            hosts: directory.hosts,
            vms: directory.vms,
            ask_for: vec![NONE; vm_count],
            bids: Vec::new(),
            bid_start: Vec::new(),
            packages: Vec::new(),
            package_start: Vec::new(),
        };
        book.index(vm_count);
        book.rejected.sort_by_key(|(id, _)| *id);
        Ok(book)
    }

    /// Builds the indices, keeping one order per host and package: the one
    /// with the highest limit, then the smallest id; the others are
    /// superseded. (A VM has one owner, so "same host and package" is "same
    /// VM" for asks and "same pair of VMs" for packages.)
    fn index(&mut self, vm_count: usize) {
        // (loser, winner) positions.
        let mut superseded: Vec<(u32, u32)> = Vec::new();
        let mut bids: Vec<(u32, Reverse<i64>, u32)> = Vec::new();
        let mut packages: Vec<(u32, u32, Reverse<i64>, u32)> = Vec::new();
        for (i, e) in self.entries.iter().enumerate() {
            let i = i as u32;
            match (e.gives, e.takes) {
                (v, NONE) => match self.ask_for[v as usize] {
                    NONE => self.ask_for[v as usize] = i,
                    kept if self.entries[kept as usize].limit >= e.limit => {
                        superseded.push((i, kept))
                    }
                    kept => {
                        superseded.push((kept, i));
                        self.ask_for[v as usize] = i;
                    }
                },
                (NONE, w) => bids.push((w, Reverse(e.limit), i)),
                (v, w) => packages.push((v, w, Reverse(e.limit), i)),
            }
        }
        // Entries are in id order, so the position breaks ties like the id.
        bids.sort_unstable();
        packages.sort_unstable();

        // Bids: within one VM's run, the first of each host is its best.
        let mut seen_for = vec![NONE; self.host_count()];
        let mut first_of = vec![NONE; self.host_count()];
        let mut kept_bids = Vec::with_capacity(bids.len());
        for &(w, _, i) in &bids {
            let host = self.entries[i as usize].host as usize;
            if seen_for[host] == w {
                superseded.push((i, first_of[host]));
            } else {
                seen_for[host] = w;
                first_of[host] = i;
                kept_bids.push(i);
            }
        }
        let mut kept_packages: Vec<u32> = Vec::with_capacity(packages.len());
        for (k, &(v, w, _, i)) in packages.iter().enumerate() {
            if k > 0 && (packages[k - 1].0, packages[k - 1].1) == (v, w) {
                superseded.push((i, *kept_packages.last().unwrap_or(&i)));
            } else {
                kept_packages.push(i);
            }
        }
        for (loser, winner) in superseded {
            let winner = self.entries[winner as usize].order.id;
            let loser = &mut self.entries[loser as usize];
            loser.live = false;
            self.rejected
                .push((loser.order.id, Rejection::Superseded(winner)));
        }
        let entries = &self.entries;
        self.bid_start = starts(&kept_bids, vm_count, |b| entries[b as usize].takes);
        self.package_start = starts(&kept_packages, vm_count, |p| entries[p as usize].gives);
        self.bids = kept_bids;
        self.packages = kept_packages;
    }

    /// Number of hosts in the round.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// The accepted order at `index`.
    pub fn order(&self, index: u32) -> &'r Order {
        self.entries[index as usize].order
    }

    /// The dense host index of the accepted order at `index`.
    pub fn host(&self, index: u32) -> u32 {
        self.entries[index as usize].host
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u32) -> &Entry<'r> {
        &self.entries[index as usize]
    }

    /// The plain ask giving VM `v` (dense), if any.
    pub fn ask_for(&self, v: u32) -> Option<u32> {
        Some(self.ask_for[v as usize]).filter(|&a| a != NONE)
    }

    /// Plain bids taking VM `v` (dense), best first.
    pub fn bids_for(&self, v: u32) -> &[u32] {
        &self.bids[self.bid_start[v as usize] as usize..self.bid_start[v as usize + 1] as usize]
    }

    /// Packages giving VM `v` (dense), by the VM they take.
    pub fn packages_giving(&self, v: u32) -> &[u32] {
        &self.packages
            [self.package_start[v as usize] as usize..self.package_start[v as usize + 1] as usize]
    }

    /// The package giving `v` and taking `w` (dense), if any.
    pub fn package_for(&self, v: u32, w: u32) -> Option<u32> {
        let giving = self.packages_giving(v);
        giving
            .binary_search_by_key(&w, |&p| self.entries[p as usize].takes)
            .ok()
            .map(|at| giving[at])
    }
}

/// Offsets of each key's run in `items` (sorted by key), for keys
/// `0..count`: the run of key `k` is `starts[k]..starts[k + 1]`.
fn starts(items: &[u32], count: usize, key: impl Fn(u32) -> u32) -> Vec<u32> {
    let mut starts = vec![0u32; count + 1];
    for &item in items {
        starts[key(item) as usize + 1] += 1;
    }
    for k in 0..count {
        starts[k + 1] += starts[k];
    }
    starts
}
