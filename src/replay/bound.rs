//! The physical limit beside each policy: at every step, the least any
//! set of the cluster's hosts can draw while carrying that step's CPU
//! demand, and, under [`Memory::Enforced`], holding the running VMs'
//! declared memory. It is computed under the rules of the policies beside
//! it, so it is a bound on each of them: under CloudSim's rules memory
//! binds nobody after the start, and the bound does not count it either.
//!
//! How low can a set of hosts draw? A host that is on draws its curve, and
//! the curve lies above its lower convex envelope (the measured curves are
//! not convex: the G5's rises fastest between 40 % and 60 %, so loading
//! two hosts unevenly can beat loading them evenly). On envelopes, a load
//! spread over chosen hosts costs least when every MIPS goes to the
//! cheapest marginal watt first. So for each count of hosts of each model
//! that has room enough, the bound is their idle draw plus that cheapest
//! filling, and the least over all counts is the limit no placement can
//! beat (whole VMs, one core each, only make it harder).

use serde::Serialize;

use super::cluster::{HostModel, vm_type};
use super::rules::Memory;
use super::trace::Trace;

/// The bound at one scheduling step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundStep {
    pub seconds: f64,
    /// Hosts switched on.
    pub hosts: usize,
    pub watts: f64,
}

/// Energy of the bound between the first and the last step, kWh: each
/// interval at the mean of its two ends, as a host's energy is counted.
pub fn energy_kwh(steps: &[BoundStep]) -> f64 {
    let joules: f64 = steps
        .windows(2)
        .map(|w| (w[0].watts + w[1].watts) / 2.0 * (w[1].seconds - w[0].seconds))
        .sum();
    joules / 3.6e6
}

/// The bound at each of `times` for `traces` on `hosts` under `memory`.
pub fn steps(
    traces: &[Trace],
    hosts: &[HostModel],
    times: &[f64],
    memory: Memory,
) -> Vec<BoundStep> {
    let fleet = Fleet::of(hosts);
    let mut finished = vec![false; traces.len()];
    let mut steps = Vec::with_capacity(times.len());
    for &now in times {
        let (mut cpu, mut ram) = (0.0, 0.0);
        for (i, t) in traces.iter().enumerate() {
            let u = t.utilisation_at(now);
            if u == 0.0 {
                // A VM whose demand reaches zero has finished (CloudSim's rule).
                finished[i] = true;
            }
            if !finished[i] {
                let kind = vm_type(i, traces.len());
                cpu += u * kind.mips;
                ram += f64::from(kind.ram_mb);
            }
        }
        let ram = if memory.enforced() { ram } else { 0.0 };
        let (hosts, watts) = fleet.least_draw(cpu, ram);
        steps.push(BoundStep {
            seconds: now,
            hosts,
            watts,
        });
    }
    steps
}

/// The cluster's hosts grouped by model, with each model's envelope.
pub struct Fleet {
    models: Vec<Model>,
}

/// One host model: how many the cluster has and its envelope's pieces.
struct Model {
    available: usize,
    mips: f64,
    ram_mb: f64,
    idle_watts: f64,
    /// Pieces of the lower convex envelope, cheapest first: (MIPS of one
    /// host the piece spans, watts per MIPS along it).
    pieces: Vec<(f64, f64)>,
}

impl Fleet {
    /// The models of `hosts`, in order of first appearance.
    pub fn of(hosts: &[HostModel]) -> Fleet {
        let mut models: Vec<(HostModel, usize)> = Vec::new();
        for host in hosts {
            match models.iter_mut().find(|(m, _)| m == host) {
                Some((_, count)) => *count += 1,
                None => models.push((*host, 1)),
            }
        }
        Fleet {
            models: models.into_iter().map(|(m, n)| Model::new(m, n)).collect(),
        }
    }

    /// The least draw of any hosts carrying `cpu` MIPS with `ram_mb` of
    /// memory, and how many hosts that is; the whole cluster at full load
    /// when even it is too small.
    pub fn least_draw(&self, cpu: f64, ram_mb: f64) -> (usize, f64) {
        if cpu <= 0.0 && ram_mb <= 0.0 {
            return (0, 0.0);
        }
        let mut best = None;
        let mut counts = vec![0; self.models.len()];
        self.try_counts(0, &mut counts, cpu, ram_mb, &mut best);
        best.unwrap_or_else(|| self.everything_at_peak())
    }

    /// Tries every count of model `index` onwards (the earlier ones fixed
    /// in `counts`), keeping the least draw in `best`. Hosts beyond those
    /// needed are tried only while their idle draw alone stays below the
    /// best found: each costs its idle watts and can save at most what it
    /// takes off the others' filling.
    fn try_counts(
        &self,
        index: usize,
        counts: &mut [usize],
        cpu: f64,
        ram_mb: f64,
        best: &mut Option<(usize, f64)>,
    ) {
        let Some(model) = self.models.get(index) else {
            if let Some(draw) = self.draw(counts, cpu, ram_mb) {
                let hosts = counts.iter().sum();
                if best.is_none_or(|(_, w)| draw < w) {
                    *best = Some((hosts, draw));
                }
            }
            return;
        };
        let last = index + 1 == self.models.len();
        let start = if last {
            self.fewest_of_last(counts, cpu, ram_mb)
        } else {
            0
        };
        for n in start..=model.available {
            counts[index] = n;
            let idle = self.idle(counts);
            if best.is_some_and(|(_, w)| idle >= w) {
                break;
            }
            self.try_counts(index + 1, counts, cpu, ram_mb, best);
        }
        counts[index] = 0;
    }

    /// The fewest hosts of the last model that, with those in `counts`,
    /// cover `cpu` and `ram_mb` (more than it has when none suffice).
    fn fewest_of_last(&self, counts: &[usize], cpu: f64, ram_mb: f64) -> usize {
        let Some(last) = self.models.last() else {
            return 0;
        };
        let (have_cpu, have_ram) = self.capacity(counts);
        let short = |need: f64, have: f64, each: f64| ((need - have).max(0.0) / each).ceil();
        let n = short(cpu, have_cpu, last.mips).max(short(ram_mb, have_ram, last.ram_mb));
        // A count of hosts: finite and small, the cast cannot wrap.
        n as usize
    }

    fn capacity(&self, counts: &[usize]) -> (f64, f64) {
        self.models
            .iter()
            .zip(counts)
            .fold((0.0, 0.0), |(c, r), (m, &n)| {
                (c + m.mips * n as f64, r + m.ram_mb * n as f64)
            })
    }

    fn idle(&self, counts: &[usize]) -> f64 {
        self.models
            .iter()
            .zip(counts)
            .map(|(m, &n)| m.idle_watts * n as f64)
            .sum()
    }

    /// The draw of `counts` hosts carrying `cpu` at the cheapest marginal
    /// watts, or `None` when they lack CPU or memory.
    fn draw(&self, counts: &[usize], cpu: f64, ram_mb: f64) -> Option<f64> {
        let (have_cpu, have_ram) = self.capacity(counts);
        if have_cpu < cpu || have_ram < ram_mb {
            return None;
        }
        let mut pieces: Vec<(f64, f64)> = self
            .models
            .iter()
            .zip(counts)
            .flat_map(|(m, &n)| {
                m.pieces
                    .iter()
                    .map(move |&(span, rate)| (span * n as f64, rate))
            })
            .collect();
        pieces.sort_by(|a, b| a.1.total_cmp(&b.1));
        let mut left = cpu.max(0.0);
        let mut watts = self.idle(counts);
        for (span, rate) in pieces {
            let take = left.min(span);
            watts += take * rate;
            left -= take;
        }
        Some(watts)
    }

    fn everything_at_peak(&self) -> (usize, f64) {
        let hosts = self.models.iter().map(|m| m.available).sum();
        let watts = self
            .models
            .iter()
            .map(|m| {
                m.available as f64
                    * (m.idle_watts + m.pieces.iter().map(|p| p.0 * p.1).sum::<f64>())
            })
            .sum();
        (hosts, watts)
    }
}

impl Model {
    fn new(model: HostModel, available: usize) -> Model {
        let mips = model.total_mips();
        let hull = lower_hull(&model.power.watts);
        let pieces = hull
            .windows(2)
            .map(|w| {
                let span = (w[1].0 - w[0].0) * mips;
                (span, (w[1].1 - w[0].1) / span)
            })
            .collect();
        Model {
            available,
            mips,
            ram_mb: f64::from(model.ram_mb),
            idle_watts: model.power.watts[0],
            pieces,
        }
    }
}

/// The lower convex hull of a curve measured at each tenth of
/// utilisation: (utilisation, watts) corners, left to right.
fn lower_hull(watts: &[f64]) -> Vec<(f64, f64)> {
    let mut hull: Vec<(f64, f64)> = Vec::with_capacity(watts.len());
    let last = watts.len().saturating_sub(1).max(1) as f64;
    for (i, &w) in watts.iter().enumerate() {
        let p = (i as f64 / last, w);
        while let [.., a, b] = hull[..] {
            // Drop b while it lies on or above the line from a to p.
            let cross = (b.0 - a.0) * (p.1 - a.1) - (b.1 - a.1) * (p.0 - a.0);
            if cross > 0.0 {
                break;
            }
            hull.pop();
        }
        hull.push(p);
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    const G4: HostModel = HostModel::HP_ML110_G4;
    const G5: HostModel = HostModel::HP_ML110_G5;

    /// The least draw by trying every load of every subset of `hosts` in
    /// steps of `grain` MIPS, on the measured curves themselves.
    fn brute_force(hosts: &[HostModel], cpu: f64, ram: f64, grain: f64) -> f64 {
        let mut best = f64::MAX;
        for subset in 1..(1usize << hosts.len()) {
            let on: Vec<HostModel> = (0..hosts.len())
                .filter(|i| subset & (1 << i) != 0)
                .map(|i| hosts[i])
                .collect();
            let ram_on: f64 = on.iter().map(|h| f64::from(h.ram_mb)).sum();
            if ram_on < ram {
                continue;
            }
            best = best.min(spread(&on, cpu, grain));
        }
        best
    }

    /// The least draw of exactly `on` carrying `cpu`, every host on: each
    /// host but the last takes a multiple of `grain`, the last the rest.
    fn spread(on: &[HostModel], cpu: f64, grain: f64) -> f64 {
        match on {
            [] => f64::MAX,
            [last] if cpu > last.total_mips() => f64::MAX,
            [last] => last
                .power
                .watts_at(cpu.max(0.0) / last.total_mips())
                .unwrap_or(f64::MAX),
            [first, rest @ ..] => {
                let mut best = f64::MAX;
                let mut load = 0.0;
                while load <= first.total_mips().min(cpu) {
                    let here = first
                        .power
                        .watts_at(load / first.total_mips())
                        .unwrap_or(f64::MAX);
                    best = best.min(here + spread(rest, cpu - load, grain));
                    load += grain;
                }
                best
            }
        }
    }

    #[test]
    fn the_bound_is_never_above_any_placement() {
        let hosts = [G4, G5, G5];
        for (cpu, ram) in [
            (1000.0, 0.0),
            (6000.0, 0.0),
            (9000.0, 0.0),
            (7000.0, 9000.0),
        ] {
            let (_, bound) = Fleet::of(&hosts).least_draw(cpu, ram);
            let exact = brute_force(&hosts, cpu, ram, 20.0);
            assert!(
                bound <= exact + 1e-9,
                "{cpu} MIPS: bound {bound} above {exact}"
            );
            // And it is tight enough to be worth printing.
            assert!(
                bound >= exact - 10.0,
                "{cpu} MIPS: bound {bound}, exact {exact}"
            );
        }
    }

    #[test]
    fn uneven_loading_is_counted() {
        // Two G5s at 75 % each draw 2 x 127 W; one full and one at half
        // draw 135 + 116 W. The bound may not exceed the cheaper.
        let (n, w) = Fleet::of(&[G5, G5]).least_draw(1.5 * G5.total_mips(), 0.0);
        assert_eq!(n, 2);
        assert!(w <= 251.0, "{w}");
    }

    #[test]
    fn memory_counts_only_when_given() {
        let hosts = [G4, G5, G4, G5];
        assert_eq!(Fleet::of(&hosts).least_draw(100.0, 0.0).0, 1);
        // 9 GB of VMs need three 4 GB hosts on.
        assert_eq!(Fleet::of(&hosts).least_draw(100.0, 9000.0).0, 3);
        assert_eq!(Fleet::of(&hosts).least_draw(0.0, 0.0), (0, 0.0));
    }

    #[test]
    fn energy_counts_each_interval_at_the_mean_of_its_ends() {
        let at = |seconds, watts| BoundStep {
            seconds,
            hosts: 1,
            watts,
        };
        let steps = [at(0.0, 1000.0), at(300.0, 1000.0), at(600.0, 0.0)];
        let kwh = energy_kwh(&steps);
        assert!((kwh - 450_000.0 / 3.6e6).abs() < 1e-12, "{kwh}");
    }
}
