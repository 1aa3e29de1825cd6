//! `market`: no central policy. Every host of the cluster is a bidder with
//! its own policy file, trading through the same agents, protocols,
//! ledgers and migration workflow that `market simulate` runs
//! ([`crate::simulate`]): in-process bus, one SQLite ledger per host,
//! simulated hypervisors.
//!
//! The replay's [`Datacenter`] stays the measure of what happens: energy,
//! SLA, migration times. The bidders see it as a real host's bidder sees
//! its machine, through its hypervisor: at every step each VM's simulated
//! domain is set to the CPU the datacentre's scheduler grants it, the
//! hypervisors' clocks move five minutes, and every agent samples. Then
//! every host that wants to act does, all at the same moment; each trade
//! its bidders agree (and both ledgers record) becomes a migration the
//! datacentre carries out over the next seconds.
//!
//! CPU is counted in units of 20 MIPS, the largest size that divides every
//! host and VM of the experiment: a G4 host has 186 such CPUs, a G5 266, a
//! 2500-MIPS VM reserves 125. So reservations and measured use are in one
//! unit on every host, and a VM moving from a G4 to a G5 keeps its size.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bidder::agent::{Agent, AgentConfig};
use bidder::hypervisor::simulated::DomainLoad;
use bidder::hypervisor::{DomainUuid, Hypervisor};
use bidder::migration::Outcome;
use bidder::protocol::placement::{self, Ended};
use bidder::protocol::{CONTRACT_NET, Kind, PLACEMENT, REVERSE_CALL};
use market::bus::Traffic;
use market::credits::Credits;
use market::ledger::audit::audit;
use market::ledger::{Ledger, LedgerError};
use market::resources::Resources;

use super::{Consolidation, ConsolidationError, LedgerAudit, Migration};
use crate::replay::datacenter::Datacenter;
use crate::replay::rules::Memory;
use crate::simulate::scenario::{Expect, HostSpec, Scenario, ScenarioSpec, VmSpec, set_reach};
use crate::simulate::world::World;
use crate::simulate::{self, Options, Started, Time};

/// MIPS of one simulated CPU.
pub const MIPS_PER_CPU: f64 = 20.0;

/// The memory a bidder's host has under CloudSim's memory rule, in
/// multiples of the experiment's 4 GB. Under that rule CloudSim's
/// PlanetLab VMs declare no memory use once started and its policies never
/// check memory when they migrate, so memory binds them nowhere after the
/// start; a market held to 4 GB would play a harder game than the
/// baselines it is compared with. Sixteen times is more than the CPU
/// reservations ever let onto a host. Under [`Memory::Enforced`] the
/// bidders' hosts have the 4 GB every policy is held to.
pub const ADMITTED_MEMORY_FACTOR: u64 = 16;

/// The memory a bidder's host of `ram_mb` has under `rule`, MiB.
fn bidder_memory_mib(ram_mb: u32, rule: Memory) -> u64 {
    match rule {
        Memory::Cloudsim => u64::from(ram_mb) * ADMITTED_MEMORY_FACTOR,
        Memory::Enforced => u64::from(ram_mb),
    }
}

/// Where the market's policy and ledgers come from.
#[derive(Debug, Clone)]
pub struct MarketSetup {
    /// The policy file every host runs.
    pub policy: PathBuf,
    /// Where the hosts' ledgers go: created, must be empty.
    pub run_dir: PathBuf,
    /// Hosts per zone: a call reaches the hosts of its caller's zone only.
    pub zone_hosts: usize,
    /// About how many peers of its zone each call invites (`reach`,
    /// docs/lcc.md "Bounded recruitment"); `None`, the whole zone.
    pub reach: Option<u32>,
}

/// The protocols every host plays: shedding by contract net, filling by
/// the reverse call, new VMs by placement.
const PROTOCOLS: [Kind; 3] = [CONTRACT_NET, REVERSE_CALL, PLACEMENT];

/// Interaction timing. On simulated time a window costs nothing to wait
/// out and closes only once every answer is in.
const TIMING: AgentConfig = AgentConfig {
    recruit_ms: 200,
    window_ms: 2_000,
    grace_ms: 10_000,
    arrival_ms: 600_000,
    period_ms: crate::replay::SCHEDULING_SECONDS as i64 * 1000,
};

/// The bidders of the whole cluster, and the runtime they trade on.
pub struct Market {
    runtime: tokio::runtime::Runtime,
    run_dir: PathBuf,
    scenario: Scenario,
    world: World,
    started: Started,
    /// Host index by bidder name.
    hosts: BTreeMap<String, usize>,
    /// VM index by domain name.
    vms: BTreeMap<String, usize>,
    /// The hypervisors' clock, ms.
    now_ms: i64,
    /// VMs whose domains were removed after they finished.
    gone: Vec<bool>,
    /// Hosts per zone: the agents, in host order, cut into zones.
    zone_hosts: usize,
    /// Trading steps so far: which host of each zone calls first.
    steps: usize,
}

impl Market {
    /// Starts a bidder for every host of `dc`; no VM runs yet.
    pub fn start(dc: &Datacenter, setup: &MarketSetup) -> Result<Market, ConsolidationError> {
        let scenario = scenario(dc, setup)?;
        // Simulated time (`simulate::Time::Simulated`): the clock moves
        // only when every bidder is idle, so no window waits on the wall
        // clock and a loaded machine cuts no call short; with the hosts of
        // a zone calling in turn (`plan`), a day gives the same figures
        // every run.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .map_err(|e| ConsolidationError(format!("cannot start the bidders' runtime: {e}")))?;
        let world = World::build(&scenario).map_err(failed)?;
        let options = Options {
            run_dir: setup.run_dir.clone(),
            agent: TIMING,
            events: None,
            pace: Duration::ZERO,
            nats: None,
            time: Time::Simulated,
        };
        simulate::prepare_run_dir(&setup.run_dir).map_err(failed)?;
        let published = Arc::new(Traffic::default());
        let started = runtime
            .block_on(simulate::start_agents(
                &scenario, &options, &world, &published,
            ))
            .map_err(failed)?;
        let hosts = scenario
            .spec
            .host
            .iter()
            .enumerate()
            .map(|(i, h)| (h.name.clone(), i))
            .collect();
        let vms = world
            .vms
            .iter()
            .enumerate()
            .map(|(i, vm)| (vm.spec.name.clone(), i))
            .collect();
        Ok(Market {
            runtime,
            run_dir: setup.run_dir.clone(),
            scenario,
            gone: vec![false; world.vms.len()],
            world,
            started,
            hosts,
            vms,
            now_ms: 0,
            zone_hosts: setup.zone_hosts.max(1),
            steps: 0,
        })
    }

    /// The placement call of VM `vm`, in its zone; the host it started on.
    fn arrival(
        &self,
        dc: &Datacenter,
        vm: usize,
    ) -> impl std::future::Future<Output = Result<Option<usize>, ConsolidationError>> + use<'_>
    {
        let sim = &self.world.vms[vm];
        let mut task = placement::new_vm(&sim.spec, 0, Credits(i64::MIN));
        // The operator announces what the VM used before it came: its
        // trace's first sample.
        let first = &dc.vms[vm];
        let mips = first.trace.utilisation_at(0.0) * first.kind.mips;
        task.used = Resources::new(
            (mips / MIPS_PER_CPU * 1000.0) as u64,
            task.reserved.memory_mib,
            0,
        );
        let xml = sim.spec.to_xml("test");
        let operator = self.started.operators.get(self.scenario.arrival_zone(vm));
        async move {
            let (Some(protocol), Some(operator)) = (&self.scenario.placement, operator) else {
                return Err(ConsolidationError(format!(
                    "{}: no host of its zone plays placement",
                    sim.spec.name
                )));
            };
            let call = placement::operate(operator, protocol, &task, &xml, simulate::CALL)
                .await
                .map_err(|e| ConsolidationError(format!("placing {}: {e}", sim.spec.name)))?;
            Ok(match call.ended {
                Ended::Started { host, .. } => self.hosts.get(&host).copied(),
                _ => None,
            })
        }
    }

    /// Gives each running VM's domain the CPU the datacentre grants it,
    /// removes the domains of VMs that finished, moves the hypervisors'
    /// clocks one step and lets every agent sample.
    fn observe(&mut self, dc: &Datacenter) -> Result<(), ConsolidationError> {
        for (index, vm) in dc.vms.iter().enumerate() {
            let sim = &self.world.vms[index];
            let Some(host) = sim_host(&self.world, vm.host) else {
                if !vm.alive && !self.gone[index] {
                    self.gone[index] = true;
                    remove(&self.world, &sim.spec.uuid)?;
                }
                continue;
            };
            let load = DomainLoad {
                cpu_utilisation: dc.granted(index) / vm.kind.mips,
                ..DomainLoad::default()
            };
            host.set_load(&sim.spec.uuid, load).map_err(failed)?;
        }
        let step = Duration::from_secs_f64(crate::replay::SCHEDULING_SECONDS);
        self.world.advance(step).map_err(failed)?;
        self.now_ms += i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
        let agents = &self.started.agents;
        self.runtime
            .block_on(simulate::sample_all(agents, self.now_ms))
            .map_err(failed)
    }
}

impl Consolidation for Market {
    /// One placement call as operator of the VM's zone, as `market place`
    /// makes: every bidder of the zone quotes, the winner records the
    /// placement and starts the VM.
    fn place(
        &mut self,
        dc: &mut Datacenter,
        vm: usize,
    ) -> Result<Option<usize>, ConsolidationError> {
        let task = self.arrival(dc, vm);
        let placed = self.runtime.block_on(task)?;
        Ok(placed)
    }

    /// The zones place at the same time, one VM each at a time.
    fn place_initial(
        &mut self,
        dc: &mut Datacenter,
    ) -> Result<Vec<Option<usize>>, ConsolidationError> {
        let mut hosts = vec![None; dc.vms.len()];
        let mut queues: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for vm in 0..dc.vms.len() {
            queues
                .entry(self.scenario.arrival_zone(vm))
                .or_default()
                .push(vm);
        }
        let zones: Vec<Vec<usize>> = queues.into_values().collect();
        let depth = zones.iter().map(Vec::len).max().unwrap_or(0);
        for k in 0..depth {
            let batch: Vec<usize> = zones.iter().filter_map(|q| q.get(k).copied()).collect();
            let calls = batch.iter().map(|&vm| self.arrival(dc, vm));
            let placed = self.runtime.block_on(futures::future::join_all(calls));
            for (&vm, host) in batch.iter().zip(placed) {
                let host = host?;
                if let Some(h) = host {
                    dc.plan_add(h, vm);
                }
                hosts[vm] = host;
            }
        }
        Ok(hosts)
    }

    /// Every host acts on what it sampled: the zones at once, the hosts of
    /// a zone in turn, a different host first each step (so the same day
    /// gives the same trades every run). Each trade that moved a VM is a
    /// migration.
    fn plan(&mut self, dc: &mut Datacenter) -> Result<Vec<Migration>, ConsolidationError> {
        self.observe(dc)?;
        let zones: Vec<&[Agent]> = self.started.agents.chunks(self.zone_hosts).collect();
        let first = self.steps;
        self.steps += 1;
        let made = self
            .runtime
            .block_on(simulate::zoned_round(&zones, first))
            .map_err(failed)?;
        let mut plan = Vec::new();
        for trade in made {
            if trade.outcome != Outcome::Settled {
                continue;
            }
            let (Some(&vm), Some(&target)) =
                (self.vms.get(&trade.vm), self.hosts.get(&trade.buyer))
            else {
                return Err(ConsolidationError(format!(
                    "trade {} names {} or {}, not in the replay",
                    trade.trade_id, trade.vm, trade.buyer
                )));
            };
            plan.push(Migration { vm, target });
        }
        Ok(plan)
    }

    /// Stops answering, closes every ledger, and audits the files as
    /// `market audit` does.
    fn finish(&mut self) -> Result<Option<LedgerAudit>, ConsolidationError> {
        for task in &self.started.serving {
            task.abort();
        }
        let agents = &self.started.agents;
        let report = self.runtime.block_on(async {
            // The trading is over: the audit reads the files on real time
            // (it opens them afresh, and nothing of it holds a paused
            // clock still).
            tokio::time::resume();
            let mut snapshots = Vec::new();
            for agent in agents {
                let ledger = agent.ledger().clone();
                let path = ledger.path().to_path_buf();
                ledger.close().await;
                snapshots.push(Ledger::snapshot_file(&path).await?);
            }
            Ok::<_, LedgerError>(audit(&snapshots))
        });
        let report = report.map_err(failed)?;
        Ok(Some(LedgerAudit {
            dir: self.run_dir.clone(),
            ledgers: agents.len(),
            trades: report.trades,
            consistent: report.is_consistent(),
            discrepancies: report.discrepancies.iter().map(|d| d.to_string()).collect(),
            in_flight: report.in_flight.len(),
        }))
    }
}

/// The simulated hypervisor of `host`, if the VM is on one.
fn sim_host(
    world: &World,
    host: Option<usize>,
) -> Option<&bidder::hypervisor::simulated::SimulatedHypervisor> {
    host.and_then(|h| world.hosts.get(h))
        .map(|h| h.hypervisor.as_ref())
}

/// Stops and undefines a finished VM's domain wherever it is.
fn remove(world: &World, uuid: &DomainUuid) -> Result<(), ConsolidationError> {
    for host in &world.hosts {
        let hv = &host.hypervisor;
        if hv.find(uuid).map_err(failed)?.is_some() {
            hv.destroy(uuid).map_err(failed)?;
            hv.undefine(uuid).map_err(failed)?;
        }
    }
    Ok(())
}

fn failed(e: impl std::fmt::Display) -> ConsolidationError {
    ConsolidationError(e.to_string())
}

/// The cluster as a scenario: one host per datacentre host, in zones of
/// `zone_hosts`, every VM arriving in the first round (dealt to the zones
/// in turn), every host on the setup's policy.
fn scenario(dc: &Datacenter, setup: &MarketSetup) -> Result<Scenario, ConsolidationError> {
    let policy = std::path::absolute(&setup.policy)
        .map_err(|e| ConsolidationError(format!("{}: {e}", setup.policy.display())))?;
    let per_zone = setup.zone_hosts.max(1);
    let zones = dc.hosts.len().div_ceil(per_zone).max(1);
    let zone = |k: usize| Some(format!("z{}", k + 1));
    let host = dc
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| HostSpec {
            name: format!("h{}", i + 1),
            cpus: cpus(h.model.total_mips()),
            memory_mib: bidder_memory_mib(h.model.ram_mb, dc.memory),
            network_mbps: (h.model.bandwidth_kbps / 1000.0) as u64,
            policy: policy.clone(),
            protocols: None,
            zone: zone(i / per_zone),
            count: None,
        })
        .collect();
    let vm = dc
        .vms
        .iter()
        .enumerate()
        .map(|(i, v)| VmSpec {
            name: format!("vm{}", i + 1),
            host: None,
            arrive: Some(1),
            zone: zone(i % zones),
            vcpus: cpus(v.kind.mips),
            memory_mib: u64::from(v.kind.ram_mb),
            cpu_load: 0.0,
            draw: None,
            group: None,
            group_rule: None,
            count: None,
        })
        .collect();
    let mut spec = ScenarioSpec {
        name: "replay-market".into(),
        description: None,
        protocols: PROTOCOLS.iter().map(|k| k.name().to_string()).collect(),
        protocol: BTreeMap::new(),
        rounds: 1,
        concurrent: true,
        tick_seconds: crate::replay::SCHEDULING_SECONDS as u32,
        host,
        vm,
        seed: 0,
        expect: Expect::default(),
    };
    if let Some(reach) = setup.reach {
        set_reach(&mut spec, reach);
    }
    Scenario::from_spec(&policy, spec).map_err(failed)
}

/// `mips` in simulated CPUs.
fn cpus(mips: f64) -> u32 {
    (mips / MIPS_PER_CPU).round() as u32
}
