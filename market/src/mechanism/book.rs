//! The order book of one round: orders checked, duplicates settled, and the
//! indices that candidate discovery looks things up in.
//!
//! Every check that depends on one order alone happens here, once, so the
//! rest of the clearing can take any accepted order as feasible on its own:
//! its host exists, owns what it gives, does not own what it takes, and has
//! room afterwards in every dimension.

use std::collections::HashMap;

use super::{ClearingError, MAX_LIMIT, Order, OrderId, Rejection, Round};
use crate::host::HostId;
use crate::resources::Resources;
use crate::vm::VmId;

/// An accepted order with its host's dense index.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'r> {
    /// The order as posted.
    pub order: &'r Order,
    /// Dense index of its host, for conflict checks.
    pub host: u32,
}

/// Accepted orders (sorted by id) and indices over them.
#[derive(Debug)]
pub struct Book<'r> {
    /// Accepted orders, sorted by id; candidates refer to them by position.
    pub entries: Vec<Entry<'r>>,
    /// Refused orders and why, sorted by id.
    pub rejected: Vec<(OrderId, Rejection)>,
    /// Number of distinct hosts in the round.
    pub host_count: usize,
    /// The one plain ask giving each VM.
    pub ask_for: HashMap<VmId, u32>,
    /// Plain bids taking each VM, best first (limit descending, id ascending).
    pub bids_for: HashMap<VmId, Vec<u32>>,
    /// The package giving the first VM and taking the second.
    pub package_for: HashMap<(VmId, VmId), u32>,
    /// Packages giving each VM, in id order.
    pub packages_giving: HashMap<VmId, Vec<u32>>,
}

struct VmInfo {
    host: HostId,
    reserved: Resources,
}

impl<'r> Book<'r> {
    /// Checks the round and every order in it.
    pub fn new(round: &'r Round) -> Result<Book<'r>, ClearingError> {
        let mut hosts: HashMap<HostId, (u32, &Resources, &Resources)> =
            HashMap::with_capacity(round.hosts.len());
        for (i, h) in round.hosts.iter().enumerate() {
            let dense = u32::try_from(i).map_err(|_| ClearingError::Overflow(h.id))?;
            if hosts
                .insert(h.id, (dense, &h.capacity, &h.reserved))
                .is_some()
            {
                return Err(ClearingError::DuplicateHost(h.id));
            }
        }
        let mut vms: HashMap<VmId, VmInfo> = HashMap::with_capacity(round.vms.len());
        for v in &round.vms {
            if !hosts.contains_key(&v.host) {
                return Err(ClearingError::VmOnUnknownHost(v.id, v.host));
            }
            let info = VmInfo {
                host: v.host,
                reserved: v.reserved,
            };
            if vms.insert(v.id, info).is_some() {
                return Err(ClearingError::DuplicateVm(v.id));
            }
        }

        let mut sorted: Vec<&Order> = round.orders.iter().collect();
        sorted.sort_by_key(|o| o.id);
        let mut rejected = Vec::new();
        // Best order per (host, gives, takes): the others are superseded.
        let mut best: HashMap<(HostId, Option<VmId>, Option<VmId>), usize> =
            HashMap::with_capacity(sorted.len());
        let mut candidates: Vec<Entry<'r>> = Vec::with_capacity(sorted.len());
        for (i, order) in sorted.iter().enumerate() {
            let duplicate = (i > 0 && sorted[i - 1].id == order.id)
                || sorted.get(i + 1).is_some_and(|n| n.id == order.id);
            if duplicate {
                rejected.push((order.id, Rejection::DuplicateId));
                continue;
            }
            match check(order, &hosts, &vms) {
                Err(why) => rejected.push((order.id, why)),
                Ok(host) => {
                    let key = (order.host, order.gives, order.takes);
                    let entry = Entry { order, host };
                    match best.get(&key) {
                        Some(&at) if candidates[at].order.limit >= order.limit => {
                            rejected
                                .push((order.id, Rejection::Superseded(candidates[at].order.id)));
                        }
                        Some(&at) => {
                            rejected
                                .push((candidates[at].order.id, Rejection::Superseded(order.id)));
                            candidates[at] = entry;
                        }
                        None => {
                            best.insert(key, candidates.len());
                            candidates.push(entry);
                        }
                    }
                }
            }
        }
        candidates.sort_by_key(|e| e.order.id);
        rejected.sort_by_key(|(id, _)| *id);

        let mut book = Book {
            entries: candidates,
            rejected,
            host_count: round.hosts.len(),
            ask_for: HashMap::new(),
            bids_for: HashMap::new(),
            package_for: HashMap::new(),
            packages_giving: HashMap::new(),
        };
        book.index();
        Ok(book)
    }

    fn index(&mut self) {
        for (i, e) in self.entries.iter().enumerate() {
            let i = i as u32;
            match (e.order.gives, e.order.takes) {
                (Some(v), None) => {
                    self.ask_for.insert(v, i);
                }
                (None, Some(w)) => self.bids_for.entry(w).or_default().push(i),
                (Some(v), Some(w)) => {
                    self.package_for.insert((v, w), i);
                    self.packages_giving.entry(v).or_default().push(i);
                }
                (None, None) => {}
            }
        }
        let entries = &self.entries;
        for bids in self.bids_for.values_mut() {
            bids.sort_by(|&a, &b| {
                let (a, b) = (entries[a as usize].order, entries[b as usize].order);
                b.limit.cmp(&a.limit).then(a.id.cmp(&b.id))
            });
        }
    }

    /// The accepted order at `index`.
    pub fn order(&self, index: u32) -> &'r Order {
        self.entries[index as usize].order
    }

    /// The dense host index of the accepted order at `index`.
    pub fn host(&self, index: u32) -> u32 {
        self.entries[index as usize].host
    }
}

/// Checks one order alone; returns its host's dense index.
fn check(
    order: &Order,
    hosts: &HashMap<HostId, (u32, &Resources, &Resources)>,
    vms: &HashMap<VmId, VmInfo>,
) -> Result<u32, Rejection> {
    if order.gives.is_none() && order.takes.is_none() {
        return Err(Rejection::Empty);
    }
    if order.limit.0.unsigned_abs() > MAX_LIMIT as u64 {
        return Err(Rejection::LimitOutOfRange);
    }
    let &(dense, capacity, reserved) = hosts.get(&order.host).ok_or(Rejection::UnknownHost)?;
    if order.gives.is_some() && order.gives == order.takes {
        return Err(Rejection::SameVm);
    }
    let lookup = |id: VmId| vms.get(&id).ok_or(Rejection::UnknownVm(id));
    let given = match order.gives {
        Some(id) => {
            let vm = lookup(id)?;
            if vm.host != order.host {
                return Err(Rejection::NotOwner(id));
            }
            Some(vm)
        }
        None => None,
    };
    if let Some(id) = order.takes {
        let vm = lookup(id)?;
        if vm.host == order.host {
            return Err(Rejection::AlreadyOwner(id));
        }
        // Saturating: an overflowing sum cannot fit any real capacity.
        let after = reserved
            .saturating_add(&vm.reserved)
            .saturating_sub(&given.map_or(Resources::ZERO, |g| g.reserved));
        if let Some(dimension) = after.first_excess(capacity) {
            return Err(Rejection::NoRoom(dimension));
        }
    }
    Ok(dense)
}
