//! The simulated datacentre: one [`SimulatedHypervisor`] per host, the VMs
//! defined and started on their first hosts, and their workloads.
//!
//! A workload belongs to the guest, not to the host: a VM spinning in
//! `while true` keeps spinning wherever it is moved. A simulated domain
//! started on a new host starts idle, so after every trade the world puts
//! each VM's workload back on whichever host runs it
//! ([`World::follow_workloads`]), and between rounds it moves every host's
//! clock ([`World::advance`]).

use std::sync::Arc;
use std::time::Duration;

use bidder::hypervisor::simulated::{Capacity, DomainLoad, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor, HypervisorError};

use super::scenario::Scenario;

/// One host of the world.
pub struct SimHost {
    /// Its name.
    pub name: String,
    /// Its hypervisor.
    pub hypervisor: Arc<SimulatedHypervisor>,
}

/// One VM of the world.
#[derive(Debug, Clone)]
pub struct SimVm {
    /// Its domain definition: name, UUID (derived from the VM's place in
    /// the scenario), size and group.
    pub spec: DomainSpec,
    /// What the guest does.
    pub load: DomainLoad,
    /// The round the market places it at, for a VM that arrives.
    pub arrive: Option<u32>,
}

/// The hosts and VMs of a scenario.
pub struct World {
    /// In scenario order.
    pub hosts: Vec<SimHost>,
    /// In scenario order.
    pub vms: Vec<SimVm>,
}

/// A hypervisor call of the world failed.
#[derive(Debug, thiserror::Error)]
#[error("simulated host {host}: {source}")]
pub struct WorldError {
    /// The host.
    pub host: String,
    /// What failed.
    pub source: HypervisorError,
}

impl World {
    /// Builds the hosts and starts every VM on its first host (a VM that
    /// arrives later runs nowhere yet).
    pub fn build(scenario: &Scenario) -> Result<World, WorldError> {
        let hosts: Vec<SimHost> = scenario
            .spec
            .host
            .iter()
            .map(|h| SimHost {
                name: h.name.clone(),
                hypervisor: Arc::new(SimulatedHypervisor::in_memory(
                    &h.name,
                    Capacity {
                        cpus: h.cpus,
                        memory_mib: h.memory_mib,
                    },
                )),
            })
            .collect();
        let mut vms = Vec::new();
        for (index, vm) in scenario.spec.vm.iter().enumerate() {
            let failed = |source| WorldError {
                host: vm.host.clone().unwrap_or_default(),
                source,
            };
            let uuid = DomainUuid::parse(&format!("00000000-0000-4000-8000-{:012x}", index + 1))
                .map_err(failed)?;
            let spec = DomainSpec {
                uuid,
                name: vm.name.clone(),
                vcpus: vm.vcpus,
                memory_kib: vm.memory_mib * 1024,
                interfaces: Vec::new(),
                group: scenario.groups.get(index).cloned().flatten(),
            };
            let load = DomainLoad {
                cpu_utilisation: vm.cpu_load,
                ..DomainLoad::default()
            };
            if let Some(host) = hosts.iter().find(|h| Some(&h.name) == vm.host.as_ref()) {
                let hv = &host.hypervisor;
                hv.define(&spec.to_xml("test")).map_err(failed)?;
                hv.start(&spec.uuid).map_err(failed)?;
                hv.set_load(&spec.uuid, load).map_err(failed)?;
            }
            vms.push(SimVm {
                spec,
                load,
                arrive: vm.arrive,
            });
        }
        Ok(World { hosts, vms })
    }

    /// Puts every VM's workload on the host that runs it now.
    pub fn follow_workloads(&self) -> Result<(), WorldError> {
        for host in &self.hosts {
            for vm in &self.vms {
                let running = host
                    .hypervisor
                    .find(&vm.spec.uuid)
                    .map_err(|source| self.error(host, source))?
                    .is_some_and(|d| d.state.is_active());
                if running {
                    host.hypervisor
                        .set_load(&vm.spec.uuid, vm.load)
                        .map_err(|source| self.error(host, source))?;
                }
            }
        }
        Ok(())
    }

    /// Moves every host's clock by `elapsed`.
    pub fn advance(&self, elapsed: Duration) -> Result<(), WorldError> {
        for host in &self.hosts {
            host.hypervisor
                .advance(elapsed)
                .map_err(|source| self.error(host, source))?;
        }
        Ok(())
    }

    /// For each VM, the hosts where it is active (exactly one, when all is
    /// well).
    pub fn locate(&self) -> Result<Vec<(String, Vec<String>)>, WorldError> {
        let mut out = Vec::new();
        for vm in &self.vms {
            let mut at = Vec::new();
            for host in &self.hosts {
                if host
                    .hypervisor
                    .find(&vm.spec.uuid)
                    .map_err(|source| self.error(host, source))?
                    .is_some_and(|d| d.state.is_active())
                {
                    at.push(host.name.clone());
                }
            }
            out.push((vm.spec.name.clone(), at));
        }
        Ok(out)
    }

    fn error(&self, host: &SimHost, source: HypervisorError) -> WorldError {
        WorldError {
            host: host.name.clone(),
            source,
        }
    }
}
