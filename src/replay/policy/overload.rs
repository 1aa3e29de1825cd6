//! Overload detectors: when a host must shed VMs.

use super::Datacenter;
use crate::replay::stats::median;

/// Utilisation the adaptive detectors fall back to while a host has too
/// little history (CloudSim's fallback policy).
const FALLBACK_THRESHOLD: f64 = 0.7;
/// Samples local regression fits.
const REGRESSION_WINDOW: usize = 10;
/// Samples the robust detectors (MAD, IQR) need: 12, "suggested as a
/// safe value" in CloudSim.
const ROBUST_MINIMUM: usize = 12;

/// How a host is judged overloaded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Overload {
    /// Demand over capacity above this share.
    Threshold(f64),
    /// The utilisation a line through the last ten steps predicts for the
    /// step after the next migration, times this safety factor, reaches 1.
    LocalRegression(f64),
    /// Demand above 1 - safety x median absolute deviation of history.
    MedianAbsoluteDeviation(f64),
    /// Demand above 1 - safety x interquartile range of history.
    InterQuartileRange(f64),
}

impl Overload {
    /// The detector named `code` (`thr`, `lr`, `mad`, `iqr`) with its
    /// parameter.
    pub fn from_code(code: &str, parameter: f64) -> Option<Overload> {
        match code {
            "thr" => Some(Overload::Threshold(parameter)),
            "lr" => Some(Overload::LocalRegression(parameter)),
            "mad" => Some(Overload::MedianAbsoluteDeviation(parameter)),
            "iqr" => Some(Overload::InterQuartileRange(parameter)),
            _ => None,
        }
    }

    /// Its name on the command line and its parameter.
    pub fn code(&self) -> (&'static str, f64) {
        match *self {
            Overload::Threshold(t) => ("thr", t),
            Overload::LocalRegression(s) => ("lr", s),
            Overload::MedianAbsoluteDeviation(s) => ("mad", s),
            Overload::InterQuartileRange(s) => ("iqr", s),
        }
    }

    /// Whether `host` is overloaded with the VMs it holds in the plan.
    pub fn is_overloaded(&self, dc: &Datacenter, host: usize) -> bool {
        let share = dc.requested_share(host);
        match *self {
            Overload::Threshold(_) => self.is_overloaded_without_history(share),
            Overload::LocalRegression(safety) => match regression_forecast(&history(dc, host)) {
                Some(predicted) => predicted * safety >= 1.0,
                None => self.is_overloaded_without_history(share),
            },
            Overload::MedianAbsoluteDeviation(safety) => {
                self.above_robust_threshold(dc, host, share, |h| safety * mad(h))
            }
            Overload::InterQuartileRange(safety) => {
                self.above_robust_threshold(dc, host, share, |h| safety * iqr(h))
            }
        }
    }

    /// Whether `share` is above 1 - `margin` of the host's history, or
    /// above the fallback threshold while the history is short.
    fn above_robust_threshold(
        &self,
        dc: &Datacenter,
        host: usize,
        share: f64,
        margin: impl Fn(&[f64]) -> f64,
    ) -> bool {
        // The history up to its last non-zero value (CloudSim's
        // `countNonZeroBeginning`), zeros in between included.
        let h = history(dc, host);
        if h.len() >= ROBUST_MINIMUM {
            share > 1.0 - margin(&h)
        } else {
            self.is_overloaded_without_history(share)
        }
    }

    /// Whether demand of `share` of capacity overloads a host with no
    /// history yet: the threshold, or the fallback one for the adaptive
    /// detectors.
    pub fn is_overloaded_without_history(&self, share: f64) -> bool {
        match *self {
            Overload::Threshold(t) => share > t,
            _ => share > FALLBACK_THRESHOLD,
        }
    }
}

/// The host's utilisation at past steps (most recent first) from the
/// histories of the VMs it holds, trailing zeros trimmed.
fn history(dc: &Datacenter, host: usize) -> Vec<f64> {
    let h = &dc.hosts[host];
    let total = h.model.total_mips();
    let mut sum = [0.0; crate::replay::datacenter::HISTORY_LENGTH];
    for &v in &h.vms {
        let vm = &dc.vms[v];
        for (slot, u) in sum.iter_mut().zip(&vm.history) {
            *slot += u * vm.kind.mips / total;
        }
    }
    let len = sum.iter().rposition(|&x| x != 0.0).map_or(0, |i| i + 1);
    sum[..len].to_vec()
}

/// Utilisation predicted one step past the window by least squares over
/// the last ten steps, or `None` with fewer than ten.
fn regression_forecast(history: &[f64]) -> Option<f64> {
    if history.len() < REGRESSION_WINDOW {
        return None;
    }
    let n = REGRESSION_WINDOW as f64;
    // Oldest first, at x = 1..=10.
    let points: Vec<(f64, f64)> = (0..REGRESSION_WINDOW)
        .map(|i| ((i + 1) as f64, history[REGRESSION_WINDOW - 1 - i]))
        .collect();
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points
        .iter()
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    // One migration interval ahead: VMs take under 300 s to copy.
    Some(intercept + slope * (n + 1.0))
}

/// The interquartile range as CloudSim takes it: the values at ranks
/// round(n + 1) / 4 and round(3 (n + 1) / 4) of the sorted sample.
fn iqr(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = |q: f64| {
        // A rank within 1..=n for n >= 1: the cast cannot wrap.
        let r = (q * (sorted.len() + 1) as f64).round() as usize;
        sorted
            .get(r.clamp(1, sorted.len().max(1)) - 1)
            .copied()
            .unwrap_or(0.0)
    };
    rank(0.75) - rank(0.25)
}

fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    median(&deviations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regression_extrapolates_a_line() {
        // Most recent first: 1.0, 0.9, ..., 0.1 is a rise of 0.1 a step.
        let h: Vec<f64> = (0..10).map(|i| 1.0 - 0.1 * i as f64).collect();
        let p = regression_forecast(&h).unwrap_or(f64::NAN);
        assert!((p - 1.1).abs() < 1e-9, "{p}");
        assert_eq!(regression_forecast(&h[..9]), None);
    }

    #[test]
    fn iqr_takes_cloudsims_ranks() {
        // n = 12: ranks round(3.25) = 3 and round(9.75) = 10.
        let values: Vec<f64> = (1..=12).rev().map(f64::from).collect();
        assert_eq!(iqr(&values), 10.0 - 3.0);
        // n = 13: ranks round(3.5) = 4 and round(10.5) = 11 (halves up).
        let values: Vec<f64> = (1..=13).map(f64::from).collect();
        assert_eq!(iqr(&values), 11.0 - 4.0);
    }

    #[test]
    fn mad_of_a_small_sample() {
        assert!((mad(&[1.0, 2.0, 3.0, 4.0, 10.0]) - 1.0).abs() < 1e-12);
    }
}
