//! The simulated datacentre: hosts, VMs whose demand follows their trace,
//! live migrations in flight, and the ledgers of energy and SLA the
//! metrics are computed from.
//!
//! It follows CloudSim's power model step by step, because the reference
//! figures come from it:
//!
//! - a host's CPU is shared in proportion to demand when oversubscribed,
//!   each share rounded down to a whole MIPS; a single-core VM gets at most
//!   one core;
//! - while a VM migrates it runs on its source at 90 % of its demand (the
//!   10 % lost is the PDM metric), and its destination already carries
//!   10 % of it;
//! - a host with no CPU use draws nothing (switched off); otherwise energy
//!   over an interval is the mean of its draw at both ends;
//! - a VM whose demand reaches exactly zero has finished and leaves.

use std::collections::VecDeque;

use super::cluster::{HostModel, VM_BANDWIDTH_KBPS, VmType};
use super::rules::Memory;
use super::trace::Trace;

/// Past utilisation values a VM keeps for the overload detectors.
pub const HISTORY_LENGTH: usize = 30;

/// Share of its demand a migrating VM keeps on its source.
const MIGRATION_KEPT: f64 = 0.9;
/// Share of a migrating VM's demand its destination already carries.
const MIGRATION_SHADOW: f64 = 0.1;

/// One recorded state (CloudSim's state history entry), integrated over
/// the time until the next one.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time: f64,
    allocated: f64,
    requested: f64,
    /// For a VM: migrating out. For a host: switched on.
    flag: bool,
}

/// A VM of the replay.
#[derive(Debug, Clone)]
pub struct Vm {
    pub kind: VmType,
    pub trace: Trace,
    pub host: Option<usize>,
    pub in_migration: bool,
    /// False once its demand reached zero (finished, removed).
    pub alive: bool,
    /// Utilisation at each past scheduling step, most recent first.
    pub history: VecDeque<f64>,
    /// MIPS it asks for now (its full size while being created).
    pub requested: f64,
    last_history_time: f64,
    last: Option<Entry>,
    requested_mips_seconds: f64,
    migration_shortfall: f64,
}

/// A host of the replay.
#[derive(Debug, Clone)]
pub struct Host {
    pub model: HostModel,
    /// The VMs it holds (or is planned to hold), in CloudSim's list order,
    /// which breaks ties in the policies.
    pub vms: Vec<usize>,
    /// VMs being copied onto it.
    pub migrating_in: Vec<usize>,
    /// MIPS in use at the last update: what its draw and the policies see.
    pub util_mips: f64,
    prev_util_mips: f64,
    req_sum: f64,
    need_sum: f64,
    /// Declared memory of the VMs in its list, MB: those being copied in
    /// and out included, as both ends of a copy hold the VM's memory.
    ram_sum: u32,
    last: Option<Entry>,
    active_seconds: f64,
    violation_seconds: f64,
    shutdowns: u32,
}

/// What one scheduling step looked like, for the plot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct StepRecord {
    pub seconds: f64,
    pub active_hosts: usize,
    pub watts: f64,
    pub migrations: usize,
    /// The most declared memory any host held, MB.
    pub peak_host_memory_mb: u32,
}

/// The whole cluster.
#[derive(Debug, Clone)]
pub struct Datacenter {
    pub hosts: Vec<Host>,
    pub vms: Vec<Vm>,
    /// True while the VMs are first placed: they ask for their full size,
    /// memory and bandwidth.
    pub instantiating: bool,
    /// Whether memory binds after the start too.
    pub memory: Memory,
    last_process: f64,
    energy_joules: f64,
    pub migrations: usize,
    pub steps: Vec<StepRecord>,
}

impl Datacenter {
    /// A cluster of `hosts`, with one VM per trace (not yet placed), under
    /// the `memory` rule.
    pub fn new(hosts: Vec<HostModel>, vms: Vec<(VmType, Trace)>, memory: Memory) -> Datacenter {
        Datacenter {
            hosts: hosts
                .into_iter()
                .map(|model| Host {
                    model,
                    vms: Vec::new(),
                    migrating_in: Vec::new(),
                    util_mips: 0.0,
                    prev_util_mips: 0.0,
                    req_sum: 0.0,
                    need_sum: 0.0,
                    ram_sum: 0,
                    last: None,
                    active_seconds: 0.0,
                    violation_seconds: 0.0,
                    shutdowns: 0,
                })
                .collect(),
            vms: vms
                .into_iter()
                .map(|(kind, trace)| Vm {
                    kind,
                    trace,
                    host: None,
                    in_migration: false,
                    alive: true,
                    history: VecDeque::with_capacity(HISTORY_LENGTH),
                    requested: kind.mips,
                    last_history_time: -1.0,
                    last: None,
                    requested_mips_seconds: 0.0,
                    migration_shortfall: 0.0,
                })
                .collect(),
            instantiating: true,
            memory,
            last_process: 0.0,
            energy_joules: 0.0,
            migrations: 0,
            steps: Vec::new(),
        }
    }

    // ----- what the policies read -----

    /// CPU use at the last update, 0..=1 (what the host's draw follows).
    pub fn utilisation(&self, host: usize) -> f64 {
        let h = &self.hosts[host];
        let u = h.util_mips / h.model.total_mips();
        if u > 1.0 && u < 1.01 { 1.0 } else { u }
    }

    /// The draw of `host` at its last measured utilisation, watts.
    pub fn watts(&self, host: usize) -> f64 {
        let u = self.utilisation(host).min(1.0);
        self.hosts[host].model.power.watts_at(u).unwrap_or(f64::NAN)
    }

    /// Demand of the VMs the host holds in the current plan over its
    /// capacity (the static threshold's measure).
    pub fn requested_share(&self, host: usize) -> f64 {
        let h = &self.hosts[host];
        h.req_sum / h.model.total_mips()
    }

    /// MIPS the CPU scheduler grants `vm` where it runs now (0 when it
    /// runs nowhere): what its guest gets, and what a bidder measures.
    pub fn granted(&self, vm: usize) -> f64 {
        self.vms[vm].host.map_or(0.0, |h| self.allocation(h, vm))
    }

    /// Whether `vm` is being copied onto `host`.
    pub fn is_migrating_in(&self, host: usize, vm: usize) -> bool {
        self.hosts[host].migrating_in.contains(&vm)
    }

    /// MIPS the CPU scheduler reserves for `vm` on `host`.
    fn need(&self, host: usize, vm: usize) -> f64 {
        let capped = self.vms[vm].requested.min(self.hosts[host].model.pe_mips);
        if self.is_migrating_in(host, vm) {
            capped * MIGRATION_SHADOW
        } else {
            capped
        }
    }

    /// MIPS the CPU scheduler grants `vm` on `host` under the current plan:
    /// at most one core, 10 % of it while being copied in, 90 % while
    /// being copied out; when the host is oversubscribed every share is
    /// scaled down in proportion and rounded down to a whole MIPS (CloudSim's
    /// `VmSchedulerTimeSharedOverSubscription`).
    fn allocation(&self, host: usize, vm: usize) -> f64 {
        let h = &self.hosts[host];
        let capped = self.vms[vm].requested.min(h.model.pe_mips);
        let share = if self.is_migrating_in(host, vm) {
            MIGRATION_SHADOW
        } else if self.vms[vm].in_migration {
            MIGRATION_KEPT
        } else {
            1.0
        };
        let total = h.model.total_mips();
        if h.need_sum > total {
            (capped * share * total / h.need_sum).floor()
        } else {
            capped * share
        }
    }

    /// MIPS still free on `host`'s CPU scheduler (none once oversubscribed).
    fn available(&self, host: usize) -> f64 {
        let h = &self.hosts[host];
        let total = h.model.total_mips();
        if h.need_sum <= total {
            total - h.need_sum
        } else {
            0.0
        }
    }

    /// Whether `vm` fits on `host` now: one core can carry its demand and
    /// the scheduler has that much free; while VMs are first created, their
    /// memory and bandwidth must fit too, and their memory always does
    /// under [`Memory::Enforced`].
    pub fn fits(&self, host: usize, vm: usize) -> bool {
        let h = &self.hosts[host];
        let v = &self.vms[vm];
        if h.model.pe_mips < v.requested || self.available(host) < v.requested {
            return false;
        }
        let memory_binds = self.instantiating || self.memory.enforced();
        let memory = !memory_binds || h.ram_sum + v.kind.ram_mb <= h.model.ram_mb;
        let with_newcomer = (h.vms.len() + 1) as f64;
        let network =
            !self.instantiating || with_newcomer * VM_BANDWIDTH_KBPS <= h.model.bandwidth_kbps;
        memory && network
    }

    /// Declared memory of the VMs `host` holds in the current plan, MB.
    pub fn memory_mb(&self, host: usize) -> u32 {
        self.hosts[host].ram_sum
    }

    /// Utilisation of `host` if `vm` joined it, as CloudSim estimates it for
    /// power-aware placement: what the scheduler grants the VMs of the
    /// current plan (so VMs placed earlier in the same step count, and a VM
    /// still being copied in counts at its full share) plus the VM's demand.
    pub fn utilisation_with(&self, host: usize, vm: usize) -> f64 {
        let h = &self.hosts[host];
        (self.planned_mips(host) + self.vms[vm].requested) / h.model.total_mips()
    }

    /// MIPS the plan gives `host`'s VMs, a VM being copied in counted as if
    /// it had arrived (CloudSim's policy-side `getUtilizationOfCpuMips`).
    pub fn planned_mips(&self, host: usize) -> f64 {
        self.hosts[host]
            .vms
            .iter()
            .map(|&v| {
                let granted = self.allocation(host, v);
                if self.is_migrating_in(host, v) {
                    granted + granted * MIGRATION_KEPT / MIGRATION_SHADOW
                } else {
                    granted
                }
            })
            .sum()
    }

    // ----- planning: tentative placements the policies undo -----

    /// Adds `vm` to `host`'s list (CloudSim's `vmCreate`).
    pub fn plan_add(&mut self, host: usize, vm: usize) {
        self.hosts[host].vms.push(vm);
        if self.instantiating {
            self.vms[vm].host = Some(host);
        }
        self.refresh(host);
    }

    /// Takes `vm` off `host`'s list (CloudSim's `vmDestroy`).
    pub fn plan_remove(&mut self, host: usize, vm: usize) {
        let h = &mut self.hosts[host];
        if let Some(at) = h.vms.iter().position(|&v| v == vm) {
            h.vms.remove(at);
        }
        self.refresh(host);
    }

    /// The hosts' lists without the VMs being copied in: what a plan
    /// starts from and returns to.
    pub fn snapshot(&self) -> Vec<Vec<usize>> {
        self.hosts
            .iter()
            .map(|h| {
                h.vms
                    .iter()
                    .copied()
                    .filter(|v| !h.migrating_in.contains(v))
                    .collect()
            })
            .collect()
    }

    /// Undoes a plan: VMs being copied in first, then the saved ones.
    pub fn restore(&mut self, saved: Vec<Vec<usize>>) {
        for (host, list) in saved.into_iter().enumerate() {
            let mut vms = self.hosts[host].migrating_in.clone();
            vms.extend(list);
            self.hosts[host].vms = vms;
            self.refresh(host);
        }
    }

    fn refresh(&mut self, host: usize) {
        let req: f64 = self.hosts[host]
            .vms
            .iter()
            .map(|&v| self.vms[v].requested)
            .sum();
        let need: f64 = self.hosts[host]
            .vms
            .iter()
            .map(|&v| self.need(host, v))
            .sum();
        let ram: u32 = self.hosts[host]
            .vms
            .iter()
            .map(|&v| self.vms[v].kind.ram_mb)
            .sum();
        let h = &mut self.hosts[host];
        h.req_sum = req;
        h.need_sum = need;
        h.ram_sum = ram;
    }

    // ----- time -----

    /// Brings every host to time `now`: demand from the traces, CPU shares,
    /// energy since the last update, finished VMs removed. `scheduling`
    /// marks the 5-minute steps at which VMs record their utilisation.
    pub fn update(&mut self, now: f64, scheduling: bool) {
        if now <= self.last_process {
            return;
        }
        self.update_force(now, scheduling);
    }

    fn update_force(&mut self, now: f64, scheduling: bool) {
        self.instantiating = false;
        let dt = now - self.last_process;
        for host in 0..self.hosts.len() {
            self.update_host(host, now, scheduling);
        }
        if dt > 0.0 {
            for host in &self.hosts {
                self.energy_joules += interval_energy(host, dt);
            }
        }
        self.remove_finished();
        self.last_process = now;
    }

    /// CloudSim's `updateVmsProcessing` for one host.
    fn update_host(&mut self, host: usize, now: f64, scheduling: bool) {
        let list = self.hosts[host].vms.clone();
        for &v in &list {
            let vm = &mut self.vms[v];
            let u = vm.trace.utilisation_at(now);
            vm.requested = u * vm.kind.mips;
            if scheduling && now > vm.last_history_time {
                if now != 0.0 || u != 0.0 {
                    vm.history.push_front(u);
                    vm.history.truncate(HISTORY_LENGTH);
                }
                vm.last_history_time = now;
            }
        }
        self.refresh(host);
        let mut util = 0.0;
        let mut requested = 0.0;
        for &v in &list {
            let incoming = self.is_migrating_in(host, v);
            let mut allocated = self.allocation(host, v);
            let vm = &mut self.vms[v];
            if !incoming {
                let entry = Entry {
                    time: now,
                    allocated,
                    requested: vm.requested,
                    flag: vm.in_migration,
                };
                record_vm(vm, entry);
                if vm.in_migration {
                    allocated /= MIGRATION_KEPT;
                }
            }
            util += allocated;
            requested += vm.requested;
        }
        let h = &mut self.hosts[host];
        h.prev_util_mips = h.util_mips;
        h.util_mips = util;
        record_host(
            h,
            Entry {
                time: now,
                allocated: util,
                requested,
                flag: util > 0.0,
            },
        );
    }

    fn remove_finished(&mut self) {
        for host in 0..self.hosts.len() {
            let finished: Vec<usize> = self.hosts[host]
                .vms
                .iter()
                .copied()
                .filter(|&v| !self.vms[v].in_migration && self.vms[v].requested == 0.0)
                .collect();
            for v in finished {
                self.plan_remove(host, v);
                let vm = &mut self.vms[v];
                vm.alive = false;
                vm.host = None;
            }
        }
    }

    /// Starts copying `vm` to `target` at `now`; returns when it ends.
    pub fn start_migration(&mut self, vm: usize, target: usize, now: f64) -> f64 {
        self.vms[vm].in_migration = true;
        let h = &mut self.hosts[target];
        if !h.migrating_in.contains(&vm) {
            h.migrating_in.push(vm);
            h.vms.push(vm);
            self.update_host(target, now, false);
            if let Some(source) = self.vms[vm].host {
                self.update_host(source, now, false);
            }
        }
        self.migrations += 1;
        now + self.hosts[target]
            .model
            .migration_seconds(self.vms[vm].kind.ram_mb)
    }

    /// Ends the copy of `vm` to `target` at `now`; `last_at_this_time` is
    /// false when another copy ends at the same instant.
    pub fn finish_migration(
        &mut self,
        vm: usize,
        target: usize,
        now: f64,
        last_at_this_time: bool,
    ) {
        self.update(now, false);
        if let Some(source) = self.vms[vm].host {
            self.plan_remove(source, vm);
        }
        let h = &mut self.hosts[target];
        h.migrating_in.retain(|&v| v != vm);
        h.vms.retain(|&v| v != vm);
        h.vms.push(vm);
        self.vms[vm].in_migration = false;
        self.vms[vm].host = Some(target);
        self.refresh(target);
        if last_at_this_time {
            self.update_force(now, false);
        }
    }

    /// Records the state of the scheduling step at `now`, for the plot.
    pub fn record_step(&mut self, now: f64, migrations: usize) {
        let active: Vec<usize> = (0..self.hosts.len())
            .filter(|&h| self.hosts[h].util_mips > 0.0)
            .collect();
        let watts = active.iter().map(|&h| self.watts(h)).sum();
        let peak_host_memory_mb = (0..self.hosts.len())
            .map(|h| self.memory_mb(h))
            .max()
            .unwrap_or(0);
        self.steps.push(StepRecord {
            seconds: now,
            active_hosts: active.len(),
            watts,
            migrations,
            peak_host_memory_mb,
        });
    }

    /// Energy drawn so far, kWh.
    pub fn energy_kwh(&self) -> f64 {
        self.energy_joules / 3.6e6
    }

    /// Share of active host time spent at full CPU (demand above what was
    /// allocated): SLATAH.
    pub fn slatah(&self) -> f64 {
        let active: f64 = self.hosts.iter().map(|h| h.active_seconds).sum();
        let violated: f64 = self.hosts.iter().map(|h| h.violation_seconds).sum();
        if active > 0.0 { violated / active } else { 0.0 }
    }

    /// Share of all demanded CPU lost to migrations: PDM.
    pub fn pdm(&self) -> f64 {
        let requested: f64 = self.vms.iter().map(|v| v.requested_mips_seconds).sum();
        let lost: f64 = self.vms.iter().map(|v| v.migration_shortfall).sum();
        if requested > 0.0 {
            lost / requested
        } else {
            0.0
        }
    }

    /// Times a host went from on to off (CloudSim counts a host never
    /// switched on as one shutdown at the start too).
    pub fn host_shutdowns(&self) -> u32 {
        self.hosts.iter().map(|h| h.shutdowns).sum()
    }
}

/// Energy of `host` over the last `dt` seconds: nothing if it was off at
/// the start, else the mean of its draw at both ends.
fn interval_energy(host: &Host, dt: f64) -> f64 {
    let total = host.model.total_mips();
    let clamp = |mips: f64| {
        let u = mips / total;
        if u > 1.0 { 1.0 } else { u }
    };
    let from = clamp(host.prev_util_mips);
    if from == 0.0 {
        return 0.0;
    }
    let to = clamp(host.util_mips);
    let a = host.model.power.watts_at(from).unwrap_or(0.0);
    let b = host.model.power.watts_at(to).unwrap_or(0.0);
    (a + (b - a) / 2.0) * dt
}

fn record_vm(vm: &mut Vm, entry: Entry) {
    if let Some(last) = vm.last
        && last.time != entry.time
    {
        let dt = entry.time - last.time;
        vm.requested_mips_seconds += last.requested * dt;
        if last.flag && last.allocated < last.requested {
            vm.migration_shortfall += (last.requested - last.allocated) * dt;
        }
    }
    vm.last = Some(entry);
}

fn record_host(host: &mut Host, entry: Entry) {
    match host.last {
        Some(last) if last.time != entry.time => {
            let dt = entry.time - last.time;
            if last.flag {
                host.active_seconds += dt;
                if last.allocated < last.requested {
                    host.violation_seconds += dt;
                }
                if !entry.flag {
                    host.shutdowns += 1;
                }
            }
        }
        Some(_) => {}
        None if !entry.flag => host.shutdowns += 1,
        None => {}
    }
    host.last = Some(entry);
}
