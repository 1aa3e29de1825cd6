//! The physical limit beside each policy: at every step, the fewest hosts
//! that can carry that step's demand in CPU and in memory, most efficient
//! model first, each loaded evenly, drawing what their power curves say.
//! No placement can run the step on fewer machines; with these curves,
//! idle draw dominates, so fewer machines is what saves energy.

use super::SCHEDULING_SECONDS;
use super::cluster::{HostModel, vm_type};
use super::trace::Trace;

/// Energy of the bound over the intervals between the steps, kWh (the
/// same span the policies are measured over).
pub fn energy_kwh(steps: &[(f64, usize, f64)]) -> f64 {
    let joules: f64 = steps
        .iter()
        .take(steps.len().saturating_sub(1))
        .map(|s| s.2 * SCHEDULING_SECONDS)
        .sum();
    joules / 3.6e6
}

/// At each of `times`: the instant, the fewest hosts and their draw.
pub fn steps(traces: &[Trace], hosts: &[HostModel], times: &[f64]) -> Vec<(f64, usize, f64)> {
    let mut finished = vec![false; traces.len()];
    let mut steps = Vec::with_capacity(times.len());
    for &now in times {
        let (mut cpu, mut memory) = (0.0, 0.0);
        for (i, t) in traces.iter().enumerate() {
            let u = t.utilisation_at(now);
            if u == 0.0 {
                // A VM whose demand reaches zero has finished (CloudSim's rule).
                finished[i] = true;
            }
            if !finished[i] {
                let kind = vm_type(i, traces.len());
                cpu += u * kind.mips;
                memory += f64::from(kind.ram_mb);
            }
        }
        let (count, draw) = fewest_hosts(hosts, cpu, memory);
        steps.push((now, count, draw));
    }
    steps
}

/// The fewest hosts that carry `cpu` MIPS and `memory` MB, and their draw.
pub fn fewest_hosts(hosts: &[HostModel], cpu: f64, memory: f64) -> (usize, f64) {
    if cpu <= 0.0 {
        return (0, 0.0);
    }
    let mut models: Vec<HostModel> = hosts.to_vec();
    // Most MIPS per watt at full load first.
    models.sort_by(|a, b| {
        (b.total_mips() / b.power.peak()).total_cmp(&(a.total_mips() / a.power.peak()))
    });
    let (mut chosen, mut have_cpu, mut have_memory) = (Vec::new(), 0.0, 0.0);
    for model in models {
        if have_cpu >= cpu && have_memory >= memory {
            break;
        }
        have_cpu += model.total_mips();
        have_memory += f64::from(model.ram_mb);
        chosen.push(model);
    }
    let u = (cpu / have_cpu).min(1.0);
    let draw = chosen
        .iter()
        .map(|m| m.power.watts_at(u).unwrap_or(m.power.peak()))
        .sum();
    (chosen.len(), draw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_most_efficient_hosts_are_chosen_first() {
        let hosts = [HostModel::HP_ML110_G4, HostModel::HP_ML110_G5];
        // 2660 MIPS fits one G5 at half load: 116 W.
        let (n, w) = fewest_hosts(&hosts, 2660.0, 1000.0);
        assert_eq!(n, 1);
        assert!((w - 116.0).abs() < 1e-9, "{w}");
        // Memory of two hosts forces both on.
        let (n, w) = fewest_hosts(&hosts, 100.0, 5000.0);
        assert_eq!(n, 2);
        assert!(w > 86.0 + 93.7, "{w}");
        assert_eq!(fewest_hosts(&hosts, 0.0, 0.0), (0, 0.0));
    }

    #[test]
    fn energy_counts_the_intervals_between_steps() {
        let steps = [(0.0, 1, 1000.0), (300.0, 1, 1000.0), (600.0, 1, 5.0)];
        let kwh = energy_kwh(&steps);
        assert!((kwh - 2.0 * 300_000.0 / 3.6e6).abs() < 1e-12, "{kwh}");
    }
}
