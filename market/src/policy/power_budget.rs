//! Power budget (seed 004): a host has a power budget and "if the frequency
//! [of violations] crosses certain threshold, it requests ... to migrate one
//! or more VMs to bring down the load".
//!
//! Power is a linear model of cpu use: `idle_watts + watts_per_core * cores`,
//! where cores is the hosted VMs' measured cpu use. Over budget the host is
//! overloaded and loses `weight` credits per watt over; under budget the
//! term is content, so a host near its budget asks more to take a VM (the
//! watts it would go over).

use serde::{Deserialize, Serialize};

use super::{Classification, HostState, PolicyError, non_negative};

/// `[policy.power_budget]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerBudgetSpec {
    /// Draw of the host with no VM running, watts.
    pub idle_watts: f64,
    /// Extra draw per core of measured VM cpu use, watts.
    pub watts_per_core: f64,
    /// The budget, watts.
    pub budget_watts: f64,
    /// Credits per watt over budget. Default 0.01 (one credit per 100 W).
    #[serde(default)]
    pub weight: Option<f64>,
}

/// Checked power-budget term.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerBudget {
    idle_watts: f64,
    watts_per_core: f64,
    budget_watts: f64,
    weight: f64,
}

impl PowerBudget {
    /// Checks the watts are not negative and the budget covers idle.
    pub fn from_spec(spec: &PowerBudgetSpec, path: &str) -> Result<PowerBudget, PolicyError> {
        let idle_watts = non_negative(&format!("{path}.idle_watts"), spec.idle_watts, "power")?;
        let watts_per_core = non_negative(
            &format!("{path}.watts_per_core"),
            spec.watts_per_core,
            "power",
        )?;
        let budget_watts = non_negative(
            &format!("{path}.budget_watts"),
            spec.budget_watts,
            "a budget",
        )?;
        if budget_watts < idle_watts {
            return Err(PolicyError::invalid(
                format!("{path}.budget_watts"),
                format!(
                    "the budget ({budget_watts} W) is below the idle draw ({idle_watts} W): the host could never meet it"
                ),
            ));
        }
        let weight = match spec.weight {
            Some(w) => non_negative(&format!("{path}.weight"), w, "a weight")?,
            None => 0.01,
        };
        Ok(PowerBudget {
            idle_watts,
            watts_per_core,
            budget_watts,
            weight,
        })
    }

    /// The modelled draw in a state, watts.
    pub fn watts(&self, state: &HostState<'_>) -> f64 {
        self.idle_watts + self.watts_per_core * state.metrics.used.cpu_cores()
    }

    /// Minus the weighted watts over budget.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        -self.weight * (self.watts(state) - self.budget_watts).max(0.0)
    }

    /// Over budget: overloaded.
    pub fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        (self.watts(state) > self.budget_watts).then_some(Classification::Overloaded)
    }
}
