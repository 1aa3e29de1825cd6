//! The engine behind `market replay`: a day of PlanetLab traces on the
//! cluster of CloudSim's dynamic-consolidation experiment, under one
//! consolidation policy, with CloudSim's metrics (docs/replay.md).
//!
//! - [`trace`]: reading a day's folder of VM traces (refused with the file
//!   and line when malformed);
//! - [`cluster`]: host models, VM types, the experiment's cluster;
//! - [`datacenter`]: hosts, VMs, migrations in flight, energy and SLA
//!   ledgers, advanced on a virtual clock;
//! - [`rules`]: the rules a run holds every policy and the bound to (when
//!   memory binds);
//! - [`policy`]: the consolidation policies (DVFS only; THR/LR/MAD/IQR
//!   overload detection with MMT/MC/RS/MU VM selection; the market);
//! - [`bound`]: the lower bound on each day's energy, under the run's rules;
//! - [`days`]: several days in one run, and each policy's medians;
//! - [`plot`]: the SVG of active hosts, power and migrations over the day,
//!   or of energy per day over several.

pub mod bound;
pub mod cluster;
pub mod datacenter;
pub mod days;
pub mod plot;
pub mod policy;
pub mod rules;
pub mod stats;
pub mod trace;

use serde::Serialize;

use bound::BoundStep;
use datacenter::{Datacenter, StepRecord};
use policy::market::MarketSetup;
use policy::{ConsolidationError, LedgerAudit, PolicyName};
use rules::Memory;
use trace::Trace;

/// Seconds between two consolidation steps.
pub const SCHEDULING_SECONDS: f64 = 300.0;
/// CloudSim starts the VMs' work 0.1 s into the run; every step keeps
/// that offset.
const START_SECONDS: f64 = 0.1;
/// One day.
pub const DAY_SECONDS: f64 = 86_400.0;

/// What to replay.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Hosts in the cluster (800 in the experiment).
    pub hosts: usize,
    /// Simulated seconds (a day, or less for a smoke test).
    pub seconds: f64,
    pub policy: PolicyName,
    /// When memory binds, for the policy and the bound alike.
    pub memory: Memory,
    /// Seeds the random VM selection (`*-rs-*`): same seed, same run.
    pub seed: u64,
    /// The market's policy file and ledgers (used by `market` only).
    pub market: MarketSetup,
}

/// The metrics of one replay (CloudSim's names).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub policy: String,
    /// The memory rule of the run (`cloudsim` or `enforced`).
    pub memory: String,
    pub hosts: usize,
    pub vms: usize,
    /// VMs no host could take at the start (not replayed).
    pub unplaced_vms: usize,
    pub energy_kwh: f64,
    pub migrations: usize,
    /// Share of active host time at full CPU.
    pub slatah: f64,
    /// Share of demanded CPU lost to migrations.
    pub pdm: f64,
    /// SLATAH x PDM.
    pub slav: f64,
    pub host_shutdowns: u32,
    /// The most declared memory one host held at a step, MB (above the
    /// hosts' 4096 only under CloudSim's memory rule).
    pub peak_host_memory_mb: u32,
    /// The least energy any placement carrying each step's demand under
    /// the same rules could draw.
    pub lower_bound_kwh: f64,
    /// The bound at each step.
    #[serde(skip)]
    pub lower_bound_steps: Vec<BoundStep>,
    /// Every scheduling step, for the plot.
    #[serde(skip)]
    pub steps: Vec<StepRecord>,
    /// The audit of the ledgers the policy's hosts kept (the market's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_audit: Option<LedgerAudit>,
}

/// A migration under way: when it ends, which VM, where to.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    ends: f64,
    vm: usize,
    target: usize,
}

/// Replays `traces` under `setup`, calling `progress(step, steps)` after
/// every scheduling step (step 0: the VMs are being placed).
pub fn run(
    traces: &[Trace],
    setup: &Setup,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Outcome, ConsolidationError> {
    let models = cluster::hosts(setup.hosts);
    let vms = traces
        .iter()
        .enumerate()
        .map(|(i, t)| (cluster::vm_type(i, traces.len()), t.clone()))
        .collect();
    let mut dc = Datacenter::new(models.clone(), vms, setup.memory);
    let mut policy = setup.policy.build(&dc, setup.seed, &setup.market)?;
    let unplaced = place_all(&mut dc, policy.as_mut())?;
    dc.instantiating = false;

    let times = step_times(setup.seconds);
    let mut flight: Vec<InFlight> = Vec::new();
    for (step, &now) in times.iter().enumerate() {
        finish_before(&mut dc, &mut flight, now);
        dc.update(now, true);
        let plan = policy.plan(&mut dc)?;
        for m in &plan {
            let ends = dc.start_migration(m.vm, m.target, now);
            flight.push(InFlight {
                ends,
                vm: m.vm,
                target: m.target,
            });
        }
        flight.sort_by(|a, b| a.ends.total_cmp(&b.ends));
        dc.record_step(now, plan.len());
        progress(step + 1, times.len());
    }
    finish_before(&mut dc, &mut flight, setup.seconds.next_up());
    let ledger_audit = policy.finish()?;
    let (slatah, pdm) = (dc.slatah(), dc.pdm());
    let limit = bound::steps(traces, &models, &times, setup.memory);
    let peak_host_memory_mb = dc
        .steps
        .iter()
        .map(|s| s.peak_host_memory_mb)
        .max()
        .unwrap_or(0);
    Ok(Outcome {
        policy: setup.policy.to_string(),
        memory: setup.memory.to_string(),
        hosts: setup.hosts,
        vms: traces.len(),
        unplaced_vms: unplaced,
        energy_kwh: dc.energy_kwh(),
        migrations: dc.migrations,
        slatah,
        pdm,
        slav: slatah * pdm,
        host_shutdowns: dc.host_shutdowns(),
        peak_host_memory_mb,
        lower_bound_kwh: bound::energy_kwh(&limit),
        lower_bound_steps: limit,
        steps: dc.steps,
        ledger_audit,
    })
}

/// The start placement; returns how many VMs found no host.
fn place_all(
    dc: &mut Datacenter,
    policy: &mut dyn policy::Consolidation,
) -> Result<usize, ConsolidationError> {
    let mut unplaced = 0;
    for (vm, host) in policy.place_initial(dc)?.into_iter().enumerate() {
        if host.is_none() {
            dc.vms[vm].alive = false;
            unplaced += 1;
        }
    }
    if unplaced > 0 {
        tracing::warn!(
            unplaced,
            "VMs found no host at the start and are not replayed"
        );
    }
    Ok(unplaced)
}

/// Scheduling instants up to `limit`: 300.1 s, 600.1 s, ... summed the way
/// CloudSim's clock sums them.
pub fn step_times(limit: f64) -> Vec<f64> {
    let mut times = Vec::new();
    let mut now = START_SECONDS + SCHEDULING_SECONDS;
    while now <= limit {
        times.push(now);
        now += SCHEDULING_SECONDS;
    }
    times
}

/// Completes, in time order, every migration ending before `limit`.
fn finish_before(dc: &mut Datacenter, flight: &mut Vec<InFlight>, limit: f64) {
    let done = flight.iter().take_while(|m| m.ends < limit).count();
    let finished: Vec<InFlight> = flight.drain(..done).collect();
    for (i, m) in finished.iter().enumerate() {
        let alone = finished
            .get(i + 1)
            .or(flight.first())
            .is_none_or(|next| next.ends != m.ends);
        dc.finish_migration(m.vm, m.target, m.ends, alone);
    }
}
