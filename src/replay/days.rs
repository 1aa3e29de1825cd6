//! Several days in one run (`market replay --days`): every day's outcomes
//! side by side, and each policy's median over the days, the figure the
//! policies are compared by (one day can favour one policy by chance).

use serde::Serialize;

use super::Outcome;
use super::stats::median;

/// One day's replays, one outcome per policy in the order asked.
#[derive(Debug, Clone, Serialize)]
pub struct Day {
    pub day: String,
    pub outcomes: Vec<Outcome>,
}

/// A policy's medians over the days, each taken on its own column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Median {
    pub policy: String,
    pub energy_kwh: f64,
    pub migrations: f64,
    pub slav: f64,
    /// The bound's median under the same rules.
    pub lower_bound_kwh: f64,
}

/// The medians of every policy of `days` (the policies of the first day;
/// every day runs the same ones).
pub fn medians(days: &[Day]) -> Vec<Median> {
    let Some(first) = days.first() else {
        return Vec::new();
    };
    (0..first.outcomes.len())
        .map(|k| {
            let column = |figure: fn(&Outcome) -> f64| {
                let values: Vec<f64> = days
                    .iter()
                    .filter_map(|d| d.outcomes.get(k))
                    .map(figure)
                    .collect();
                median(&values)
            };
            Median {
                policy: first.outcomes[k].policy.clone(),
                energy_kwh: column(|o| o.energy_kwh),
                migrations: column(|o| o.migrations as f64),
                slav: column(|o| o.slav),
                lower_bound_kwh: column(|o| o.lower_bound_kwh),
            }
        })
        .collect()
}
