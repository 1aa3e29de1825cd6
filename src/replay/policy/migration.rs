//! CloudSim's dynamic consolidation (Beloglazov and Buyya, 2012), every
//! step:
//!
//! 1. overloaded hosts (by the [`Overload`] detector) shed the VM the
//!    [`Selection`] policy picks until they are no longer overloaded;
//! 2. those VMs, largest demand first, go to the host whose draw grows
//!    least (power-aware best fit decreasing), never an overloaded one;
//! 3. the least used hosts, one after another, try to move all their VMs
//!    away the same way so they can switch off; a host that cannot be
//!    emptied keeps its VMs.
//!
//! Quirks of the reference implementation are kept on purpose, because
//! the figures it published are what this replay is checked against:
//! a host's draw "after" counts every VM the plan has put on it so far
//! (what the CPU scheduler grants them) while its draw "before" is the one
//! measured at the start of the step, so a host that already took VMs this
//! step looks dearer and placements spread; and a host tried for
//! evacuation receives no VM later in the same step.

use super::overload::Overload;
use super::selection::Selection;
use super::{Consolidation, ConsolidationError, Datacenter, Migration};
use crate::rng::Rng;

/// Dynamic consolidation with a given overload detector and VM selection.
pub struct Dynamic {
    overload: Overload,
    selection: Selection,
    /// Draws of the random selection.
    stream: Rng,
}

impl Dynamic {
    /// `seed` feeds random selection; the other policies draw nothing.
    pub fn new(overload: Overload, selection: Selection, seed: u64) -> Dynamic {
        Dynamic {
            overload,
            selection,
            stream: Rng::new(seed),
        }
    }

    /// The host whose draw grows least by taking `vm`, among those not
    /// `excluded`, with room, and not overloaded by it.
    fn best_host(&self, dc: &mut Datacenter, vm: usize, excluded: &[bool]) -> Option<usize> {
        let mut best = None;
        let mut least = f64::MAX;
        for (host, &skip) in excluded.iter().enumerate() {
            if skip || !dc.fits(host, vm) {
                continue;
            }
            if dc.planned_mips(host) != 0.0 && self.overloaded_with(dc, host, vm) {
                continue;
            }
            let Ok(after) = dc.hosts[host]
                .model
                .power
                .watts_at(dc.utilisation_with(host, vm))
            else {
                continue;
            };
            let growth = after - dc.watts(host);
            if growth < least {
                least = growth;
                best = Some(host);
            }
        }
        best
    }

    /// Whether `host` would be overloaded with `vm` added. While VMs are
    /// first created, the ones already placed ask for nothing yet (in
    /// CloudSim their cloudlets have not started, so their requested MIPS
    /// are zero), so only the newcomer's full size is judged, on a host
    /// with no history.
    fn overloaded_with(&self, dc: &mut Datacenter, host: usize, vm: usize) -> bool {
        if dc.instantiating {
            let share = dc.vms[vm].requested / dc.hosts[host].model.total_mips();
            return self.overload.is_overloaded_without_history(share);
        }
        dc.plan_add(host, vm);
        let over = self.overload.is_overloaded(dc, host);
        dc.plan_remove(host, vm);
        over
    }

    /// Step 1: what overloaded hosts shed (taken off them in the plan).
    fn shed(&mut self, dc: &mut Datacenter, overloaded: &[usize]) -> Vec<usize> {
        let mut shed = Vec::new();
        for &host in overloaded {
            while let Some(vm) = self.selection.pick(dc, host, &mut self.stream) {
                shed.push(vm);
                dc.plan_remove(host, vm);
                if !self.overload.is_overloaded(dc, host) {
                    break;
                }
            }
        }
        shed
    }

    /// Places `vms`, largest demand first; with `all_or_nothing`, undoes
    /// every placement when one VM finds no host.
    fn place_all(
        &self,
        dc: &mut Datacenter,
        mut vms: Vec<usize>,
        excluded: &[bool],
        all_or_nothing: bool,
    ) -> Vec<Migration> {
        vms.sort_by(|&a, &b| dc.vms[b].requested.total_cmp(&dc.vms[a].requested));
        let mut placed = Vec::new();
        for vm in vms {
            match self.best_host(dc, vm, excluded) {
                Some(target) => {
                    dc.plan_add(target, vm);
                    placed.push(Migration { vm, target });
                }
                None if all_or_nothing => {
                    for m in &placed {
                        dc.plan_remove(m.target, m.vm);
                    }
                    return Vec::new();
                }
                None => {}
            }
        }
        placed
    }

    /// Step 3: empties the least used hosts while others can take their VMs.
    ///
    /// A host that took VMs in step 2 may be emptied too, those VMs
    /// included: CloudSim means to exclude step 2's targets but reads them
    /// from a migration map it has only just created (empty). Such a VM
    /// then gets two migrations, both counted, and ends on the second host.
    fn evacuate(&self, dc: &mut Datacenter, overloaded: &[usize]) -> Vec<Migration> {
        let n = dc.hosts.len();
        let mut not_candidate = vec![false; n];
        let mut not_target = vec![false; n];
        for host in 0..n {
            if dc.utilisation(host) == 0.0 {
                not_candidate[host] = true;
                not_target[host] = true;
            }
        }
        for &host in overloaded {
            not_candidate[host] = true;
            not_target[host] = true;
        }
        let mut migrations = Vec::new();
        while not_candidate.iter().any(|x| !x) {
            let Some(host) = least_used(dc, &not_candidate) else {
                break;
            };
            not_candidate[host] = true;
            not_target[host] = true;
            let vms: Vec<usize> = dc.hosts[host]
                .vms
                .iter()
                .copied()
                .filter(|&v| !dc.vms[v].in_migration)
                .collect();
            if vms.is_empty() {
                continue;
            }
            let placed = self.place_all(dc, vms, &not_target, true);
            for m in &placed {
                not_candidate[m.target] = true;
            }
            migrations.extend(placed);
        }
        migrations
    }
}

/// The host with the lowest utilisation above zero (below 1), skipping
/// `excluded` and hosts whose VMs are all leaving or one is arriving.
fn least_used(dc: &Datacenter, excluded: &[bool]) -> Option<usize> {
    let mut least = 1.0;
    let mut found = None;
    for (host, &skip) in excluded.iter().enumerate() {
        if skip {
            continue;
        }
        let u = dc.utilisation(host);
        if u > 0.0 && u < least && !busy_migrating(dc, host) {
            least = u;
            found = Some(host);
        }
    }
    found
}

/// CloudSim's test, in list order: true when every VM is migrating out,
/// or a VM migrating in comes before any settled one.
fn busy_migrating(dc: &Datacenter, host: usize) -> bool {
    for &v in &dc.hosts[host].vms {
        if !dc.vms[v].in_migration {
            return false;
        }
        if dc.is_migrating_in(host, v) {
            return true;
        }
    }
    true
}

impl Consolidation for Dynamic {
    fn place(
        &mut self,
        dc: &mut Datacenter,
        vm: usize,
    ) -> Result<Option<usize>, ConsolidationError> {
        let excluded = vec![false; dc.hosts.len()];
        Ok(self.best_host(dc, vm, &excluded))
    }

    fn plan(&mut self, dc: &mut Datacenter) -> Result<Vec<Migration>, ConsolidationError> {
        let overloaded: Vec<usize> = (0..dc.hosts.len())
            .filter(|&h| self.overload.is_overloaded(dc, h))
            .collect();
        let saved = dc.snapshot();
        let shed = self.shed(dc, &overloaded);
        let mut excluded = vec![false; dc.hosts.len()];
        for &h in &overloaded {
            excluded[h] = true;
        }
        let mut migrations = self.place_all(dc, shed, &excluded, false);
        let evacuations = self.evacuate(dc, &overloaded);
        migrations.extend(evacuations);
        dc.restore(saved);
        Ok(migrations)
    }
}
