//! Capacity a host has promised but does not yet use: the VMs of its open
//! offers and of the awards it won whose VM has not arrived.
//!
//! Without holds, a host with room for one VM that answers two calls at
//! once prices both against the same free room and may win both. With
//! them, every offer is priced against the host plus what it already holds
//! (under the agent's pricing lock), so the second call sees the room
//! taken and refuses.
//!
//! A hold ends when its offer is released (rejected, or no award came),
//! when its deadline passes, or when the VM runs on the host (then it
//! counts as a VM of its own).

use std::collections::BTreeMap;

use market::vm::Vm;

use crate::hypervisor::DomainUuid;

/// One hold: the VM it is for and until when (ms of the peers' clock).
#[derive(Debug, Clone)]
struct Hold {
    vm: Vm,
    until_ms: i64,
}

/// The holds of one host, by the VM's domain UUID.
#[derive(Debug, Default)]
pub(super) struct Holds {
    by_vm: BTreeMap<DomainUuid, Hold>,
}

impl Holds {
    /// Holds room for `vm` until `until_ms` (a later hold for the same VM
    /// replaces an earlier one).
    pub(super) fn hold(&mut self, uuid: DomainUuid, vm: Vm, until_ms: i64) {
        self.by_vm.insert(uuid, Hold { vm, until_ms });
        self.count();
    }

    /// Ends the hold for `uuid`, if any.
    pub(super) fn release(&mut self, uuid: &DomainUuid) {
        self.by_vm.remove(uuid);
        self.count();
    }

    /// Drops holds that expired by `now_ms` or whose VM runs here now.
    pub(super) fn expire(&mut self, now_ms: i64, running: impl Fn(&DomainUuid) -> bool) {
        self.by_vm
            .retain(|uuid, hold| hold.until_ms > now_ms && !running(uuid));
        self.count();
    }

    /// Shows how many holds there are (`bourse_holds`): a host that keeps
    /// many is answering calls it rarely wins, or waiting for VMs that do
    /// not come.
    fn count(&self) {
        metrics::gauge!("bourse_holds").set(self.by_vm.len() as f64);
    }

    /// Whether room is held for a VM with this UUID or this name.
    pub(super) fn holds_either(&self, uuid: &DomainUuid, name: &str) -> bool {
        self.by_vm.contains_key(uuid) || self.by_vm.values().any(|h| h.vm.name == name)
    }

    /// The held VMs, but `except`'s.
    pub(super) fn vms(&self, except: Option<&DomainUuid>) -> Vec<Vm> {
        self.by_vm
            .iter()
            .filter(|(uuid, _)| Some(*uuid) != except)
            .map(|(_, hold)| hold.vm.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::resources::Resources;
    use market::vm::VmId;

    fn vm(n: u64) -> (DomainUuid, Vm) {
        let uuid = DomainUuid::parse(&format!("00000000-0000-4000-8000-{n:012x}")).unwrap();
        let vm = Vm {
            id: VmId(n),
            name: format!("vm{n}"),
            reserved: Resources::new(1000, 512, 0),
            used: Resources::new(1000, 512, 0),
            group: None,
        };
        (uuid, vm)
    }

    #[test]
    fn a_hold_ends_when_released_expired_or_arrived() {
        let mut holds = Holds::default();
        let ((a, va), (b, vb), (c, vc)) = (vm(1), vm(2), vm(3));
        holds.hold(a.clone(), va, 100);
        holds.hold(b.clone(), vb, 200);
        holds.hold(c.clone(), vc, 300);
        assert_eq!(holds.vms(None).len(), 3);
        assert_eq!(holds.vms(Some(&a)).len(), 2);
        holds.release(&b);
        holds.expire(150, |uuid| *uuid == c);
        assert!(holds.vms(None).is_empty());
    }
}
