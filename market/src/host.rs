//! A physical host: its capacity, the VMs it runs, its measured load, and
//! the numbers its policy looks at before and after a hypothetical move.

use serde::{Deserialize, Serialize};

use crate::resources::{ResourceError, Resources};
use crate::vm::{Vm, VmId};

/// A host's key in one computation of the market: the slots and orders
/// of a round, the bids of a call, the hosts of a simulated zone. Whoever
/// builds the computation assigns the keys (the auctioneer numbers a
/// round's traders in the order they listed); they are never written to a
/// file or sent. Across processes a host is its name
/// ([`crate::bus::subject::HostName`]), as [`crate::vm::VmId`] is to a
/// domain's UUID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostId(pub u32);

impl HostId {
    /// The key of a host its own bidder values alone.
    pub const OWN: HostId = HostId(0);
}

impl std::fmt::Display for HostId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host#{}", self.0)
    }
}

/// A physical host as its bidder sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Host {
    /// Market identity.
    pub id: HostId,
    /// Hostname (`hp1` in seed 002).
    pub name: String,
    /// What the hardware offers; the policy may keep headroom free of it.
    pub capacity: Resources,
    /// The VMs the host runs now.
    pub vms: Vec<Vm>,
    /// The measured one-minute load average (seed 002 reads it from
    /// `/proc/loadavg`). It includes the host's own processes; the model of
    /// how a move changes it is in [`HostMetrics::after`].
    pub load_one: f64,
}

impl Host {
    /// The VM with this id, if the host runs it.
    pub fn vm(&self, id: VmId) -> Option<&Vm> {
        self.vms.iter().find(|vm| vm.id == id)
    }

    /// The numbers a policy looks at, for the host as it is.
    pub fn metrics(&self) -> Result<HostMetrics, ResourceError> {
        Ok(HostMetrics {
            load_one: self.load_one,
            vm_count: self.vms.len() as u64,
            reserved: Resources::checked_sum(self.vms.iter().map(|vm| &vm.reserved))?,
            used: Resources::checked_sum(self.vms.iter().map(|vm| &vm.used))?,
        })
    }
}

/// The aggregate numbers of a host that policies are written against. Kept
/// separate from [`Host`] so a move can be evaluated by adjusting four
/// numbers instead of copying the VM list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HostMetrics {
    /// One-minute load average.
    pub load_one: f64,
    /// Number of VMs hosted (seed 002 `getLocalVMCount`).
    pub vm_count: u64,
    /// Sum of the VMs' reserved bundles; its memory is seed 002's
    /// `getTotalVMMemory`.
    pub reserved: Resources,
    /// Sum of the VMs' measured use.
    pub used: Resources,
}

impl HostMetrics {
    /// The metrics after giving `gives` away and taking `takes` in.
    ///
    /// The load average is predicted, not measured: each VM adds its
    /// measured cpu use in cores. That is what the thesis observed (a VM
    /// spinning in `while true` added 1.00 to its host's load) and it is the
    /// simulation's model too. The prediction never goes below zero.
    pub fn after(
        &self,
        gives: Option<&Vm>,
        takes: Option<&Vm>,
    ) -> Result<HostMetrics, ResourceError> {
        let mut next = *self;
        if let Some(vm) = gives {
            next.vm_count = next.vm_count.saturating_sub(1);
            next.reserved = next.reserved.checked_sub(&vm.reserved)?;
            next.used = next.used.checked_sub(&vm.used)?;
            next.load_one = (next.load_one - vm.used.cpu_cores()).max(0.0);
        }
        if let Some(vm) = takes {
            next.vm_count += 1;
            next.reserved = next.reserved.checked_add(&vm.reserved)?;
            next.used = next.used.checked_add(&vm.used)?;
            next.load_one += vm.used.cpu_cores();
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spinning_vm(id: u64) -> Vm {
        Vm {
            id: VmId(id),
            name: format!("okvm{id}"),
            reserved: Resources::new(1000, 512, 100),
            used: Resources::new(1000, 300, 10),
            group: None,
        }
    }

    #[test]
    fn a_spinning_vm_adds_one_to_the_load_average() {
        let host = Host {
            id: HostId(1),
            name: "hp1".into(),
            capacity: Resources::new(8000, 16384, 1000),
            vms: vec![spinning_vm(1)],
            load_one: 1.0,
        };
        let m = host.metrics().unwrap();
        assert_eq!(m.vm_count, 1);
        let vm2 = spinning_vm(2);
        let taken = m.after(None, Some(&vm2)).unwrap();
        assert_eq!(taken.load_one, 2.0);
        assert_eq!(taken.reserved.memory_mib, 1024);
        let given = m.after(Some(&host.vms[0]), None).unwrap();
        assert_eq!(given.load_one, 0.0);
        assert_eq!(given.vm_count, 0);
        assert_eq!(given.reserved, Resources::ZERO);
    }
}
