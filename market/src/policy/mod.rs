//! Host policies: what a host wants, declared in TOML, turned into a utility
//! (a real number, in credits) and a classification (underloaded, satisfied,
//! overloaded).
//!
//! # Vocabulary
//!
//! - A **policy** is one host's goal. It is a list of **terms**, one file
//!   each in this folder, named for what they ask of the host:
//!   [`condition`] (seed 002's threshold rules), [`power_saving`] and
//!   [`agility`] (seed 001), [`power_budget`] and [`maintenance`] (seed 004),
//!   [`placement`] (affinity and anti-affinity), plus two settings that are
//!   not terms: [`headroom`] (capacity kept free), [`overcommit`]
//!   (reservations beyond the hardware) and [`stability`] (hysteresis and
//!   migration cost).
//! - The **utility** of a host state is the sum of the terms' contributions.
//!   Penalties are zero when the term is content, so a satisfied host sits
//!   at its maximum and the change of utility prices every move
//!   ([`crate::valuation`]).
//! - The **classification** asks the terms in a fixed order and the first
//!   that is not content decides, which is exactly how the Java policies of
//!   seed 002 read (`if ... else if ...`): maintenance, placement, power
//!   budget, then the conditions in the order written in the file, then
//!   agility, then power saving. "Overloaded" means the host wants to give a
//!   VM away, "underloaded" that it wants to take one.
//!
//! # File format
//!
//! ```toml
//! [policy]
//! name = "seed002-scenario1"
//!
//! [[policy.condition]]      # checked in the order written
//! metric = "load_one"
//! underloaded_below = 0.50
//! overloaded_above = 1.50
//! ```
//!
//! Every table refuses unknown keys; every refusal names the key path
//! (`policy.condition[0].overloaded_above`) and the reason ([`PolicyError`]).

pub mod agility;
pub mod condition;
pub mod headroom;
pub mod maintenance;
pub mod overcommit;
pub mod placement;
pub mod power_budget;
pub mod power_saving;
pub mod stability;

use serde::{Deserialize, Serialize};

use crate::host::{Host, HostMetrics};
use crate::resources::{ResourceError, Resources};
use crate::vm::Vm;

use self::agility::{Agility, AgilitySpec};
use self::condition::{Condition, ConditionSpec};
use self::headroom::HeadroomSpec;
use self::maintenance::{Maintenance, MaintenanceSpec};
use self::overcommit::{Overcommit, OvercommitSpec};
use self::placement::{Placement, PlacementSpec};
use self::power_budget::{PowerBudget, PowerBudgetSpec};
use self::power_saving::{PowerSaving, PowerSavingSpec};
use self::stability::{Stability, StabilitySpec};

/// How a host judges its own state (seed 002's three states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Classification {
    /// Wants to take a VM.
    Underloaded,
    /// Neither: content as it is.
    Satisfied,
    /// Wants to give a VM away.
    Overloaded,
}

/// A policy file: one `[policy]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The policy.
    pub policy: PolicySpec,
}

/// A policy as written: every table optional except the name. Turned into a
/// [`Policy`] by [`Policy::from_spec`], which checks every value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// A name for logs and the ledger.
    pub name: String,
    /// What the policy is for, in words.
    #[serde(default)]
    pub description: Option<String>,
    /// Threshold rules, checked in the order written (seed 002).
    #[serde(default)]
    pub condition: Vec<ConditionSpec>,
    /// Pack VMs onto few hosts (seed 001 policy 1).
    #[serde(default)]
    pub power_saving: Option<PowerSavingSpec>,
    /// Keep hosts evenly loaded (seed 001 policy 2).
    #[serde(default)]
    pub agility: Option<AgilitySpec>,
    /// Stay under a power budget (seed 004).
    #[serde(default)]
    pub power_budget: Option<PowerBudgetSpec>,
    /// Evacuate the host (seed 004 maintenance; seed 002's shutdown peers).
    #[serde(default)]
    pub maintenance: Option<MaintenanceSpec>,
    /// Weights of the affinity and anti-affinity rules.
    #[serde(default)]
    pub placement: Option<PlacementSpec>,
    /// Capacity kept free of VMs.
    #[serde(default)]
    pub headroom: Option<HeadroomSpec>,
    /// Reservations beyond the hardware.
    #[serde(default)]
    pub overcommit: Option<OvercommitSpec>,
    /// Hysteresis and migration cost.
    #[serde(default)]
    pub stability: Option<StabilitySpec>,
}

/// Why a policy file was refused: the key path and the reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not TOML, or a key is unknown, or a value has the wrong
    /// type.
    #[error("{path}: {reason}{}", location(*.line_column))]
    Syntax {
        /// Where in the document (`policy.condition[0]`), `.` for the top.
        path: String,
        /// What the parser said.
        reason: String,
        /// One-based line and column, when the parser knows them.
        line_column: Option<(usize, usize)>,
    },
    /// The value parses but means nothing sensible (a negative capacity, a
    /// threshold pair in the wrong order, ...).
    #[error("{path}: {reason}")]
    Invalid {
        /// The key path of the offending value.
        path: String,
        /// What is wrong with it and what would be right.
        reason: String,
    },
}

fn location(line_column: Option<(usize, usize)>) -> String {
    match line_column {
        Some((line, column)) => format!(" (line {line}, column {column})"),
        None => String::new(),
    }
}

impl PolicyError {
    /// The key path the error is about.
    pub fn path(&self) -> &str {
        match self {
            PolicyError::Syntax { path, .. } | PolicyError::Invalid { path, .. } => path,
        }
    }

    pub(crate) fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        PolicyError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

/// A finite number, or an error naming `path`.
pub(crate) fn finite(path: &str, value: f64) -> Result<f64, PolicyError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(PolicyError::invalid(
            path,
            format!("must be a finite number, not {value}"),
        ))
    }
}

/// A finite number at least zero, or an error naming `path` and `what`.
pub(crate) fn non_negative(path: &str, value: f64, what: &str) -> Result<f64, PolicyError> {
    let value = finite(path, value)?;
    if value < 0.0 {
        Err(PolicyError::invalid(
            path,
            format!("{what} cannot be negative (got {value})"),
        ))
    } else {
        Ok(value)
    }
}

/// One term of a policy's utility, in classification order.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Maintenance(Maintenance),
    Placement(Placement),
    PowerBudget(PowerBudget),
    Condition(Condition),
    Agility(Agility),
    PowerSaving(PowerSaving),
}

impl Term {
    fn utility(&self, state: &HostState<'_>) -> f64 {
        match self {
            Term::Maintenance(t) => t.utility(state),
            Term::Placement(t) => t.utility(state),
            Term::PowerBudget(t) => t.utility(state),
            Term::Condition(t) => t.utility(state),
            Term::Agility(t) => t.utility(state),
            Term::PowerSaving(t) => t.utility(state),
        }
    }

    fn classify(&self, state: &HostState<'_>) -> Option<Classification> {
        match self {
            Term::Maintenance(t) => t.classify(state),
            Term::Placement(t) => t.classify(state),
            Term::PowerBudget(t) => t.classify(state),
            Term::Condition(t) => t.classify(state),
            Term::Agility(t) => t.classify(state),
            Term::PowerSaving(t) => t.classify(state),
        }
    }

    fn refusal(&self, state: &HostState<'_>) -> Option<String> {
        match self {
            Term::Maintenance(t) => t.refusal(state),
            Term::Placement(t) => t.refusal(state),
            _ => None,
        }
    }
}

/// A host state, actual or hypothetical, as the terms see it.
#[derive(Debug, Clone, Copy)]
pub struct HostState<'a> {
    /// The host as it is now.
    pub host: &'a Host,
    /// Its numbers after the move under consideration.
    pub metrics: HostMetrics,
    /// What the VMs' reservations may add up to: hardware times the
    /// policy's overcommit, less its headroom.
    pub capacity: Resources,
    /// Hardware less headroom: what measured use is a share of.
    pub usable: Resources,
    /// The VM the move gives away, if any.
    pub gives: Option<&'a Vm>,
    /// The VM the move takes in, if any.
    pub takes: Option<&'a Vm>,
}

impl<'a> HostState<'a> {
    /// The VMs the host would run after the move.
    pub fn vms(&self) -> impl Iterator<Item = &'a Vm> + use<'a> {
        let gives = self.gives.map(|vm| vm.id);
        self.host
            .vms
            .iter()
            .filter(move |vm| Some(vm.id) != gives)
            .chain(self.takes)
    }
}

/// A checked policy, ready to classify and price.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// From the file.
    pub name: String,
    /// From the file.
    pub description: Option<String>,
    terms: Vec<Term>,
    headroom: Resources,
    overcommit: Overcommit,
    stability: Stability,
}

impl Policy {
    /// Parses and checks a policy file.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| syntax(".".into(), &e, text))?;
        let file: PolicyFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let path = e.path().to_string();
            syntax(path, e.inner(), text)
        })?;
        Policy::from_spec(file.policy)
    }

    /// Checks every value of a parsed policy.
    pub fn from_spec(spec: PolicySpec) -> Result<Policy, PolicyError> {
        if spec.name.trim().is_empty() {
            return Err(PolicyError::invalid("policy.name", "must not be empty"));
        }
        let mut terms = Vec::new();
        if let Some(m) = &spec.maintenance {
            terms.push(Term::Maintenance(Maintenance::from_spec(
                m,
                "policy.maintenance",
            )?));
        }
        terms.push(Term::Placement(Placement::from_spec(
            spec.placement.as_ref(),
            "policy.placement",
        )?));
        if let Some(p) = &spec.power_budget {
            terms.push(Term::PowerBudget(PowerBudget::from_spec(
                p,
                "policy.power_budget",
            )?));
        }
        for (i, c) in spec.condition.iter().enumerate() {
            let path = format!("policy.condition[{i}]");
            terms.push(Term::Condition(Condition::from_spec(c, &path)?));
        }
        if let Some(a) = &spec.agility {
            terms.push(Term::Agility(Agility::from_spec(a, "policy.agility")?));
        }
        if let Some(p) = &spec.power_saving {
            terms.push(Term::PowerSaving(PowerSaving::from_spec(
                p,
                "policy.power_saving",
            )?));
        }
        let headroom = match &spec.headroom {
            Some(h) => h.to_resources("policy.headroom")?,
            None => Resources::ZERO,
        };
        let overcommit = Overcommit::from_spec(spec.overcommit.as_ref(), "policy.overcommit")?;
        let stability = Stability::from_spec(spec.stability.as_ref(), "policy.stability")?;
        Ok(Policy {
            name: spec.name,
            description: spec.description,
            terms,
            headroom,
            overcommit,
            stability,
        })
    }

    /// What the host offers to VM reservations: hardware times the
    /// overcommit ratios, less headroom.
    pub fn capacity(&self, host: &Host) -> Resources {
        self.overcommit
            .scale(&host.capacity)
            .saturating_sub(&self.headroom)
    }

    /// What the host's measured use is a share of: hardware less headroom.
    pub fn usable(&self, host: &Host) -> Resources {
        host.capacity.saturating_sub(&self.headroom)
    }

    /// The stability settings (hysteresis, migration cost).
    pub fn stability(&self) -> &Stability {
        &self.stability
    }

    /// The state of `host` after giving `gives` and taking `takes`.
    pub fn state<'a>(
        &self,
        host: &'a Host,
        metrics: &HostMetrics,
        gives: Option<&'a Vm>,
        takes: Option<&'a Vm>,
    ) -> Result<HostState<'a>, ResourceError> {
        Ok(HostState {
            host,
            metrics: metrics.after(gives, takes)?,
            capacity: self.capacity(host),
            usable: self.usable(host),
            gives,
            takes,
        })
    }

    /// The host's utility in `state`, in credits: zero or below when every
    /// term is a penalty, higher is better.
    pub fn utility(&self, state: &HostState<'_>) -> f64 {
        self.terms.iter().map(|t| t.utility(state)).sum()
    }

    /// Underloaded, satisfied or overloaded: the first term that is not
    /// content decides (see the module doc for the order).
    pub fn classify(&self, state: &HostState<'_>) -> Classification {
        self.terms
            .iter()
            .find_map(|t| t.classify(state))
            .unwrap_or(Classification::Satisfied)
    }

    /// Classifies the host as it is now.
    pub fn classify_host(&self, host: &Host) -> Result<Classification, ResourceError> {
        let metrics = host.metrics()?;
        Ok(self.classify(&self.state(host, &metrics, None, None)?))
    }

    /// A hard rule of the policy that forbids the move in `state`, in words.
    pub fn refusal(&self, state: &HostState<'_>) -> Option<String> {
        self.terms.iter().find_map(|t| t.refusal(state))
    }
}

fn syntax(path: String, error: &toml::de::Error, text: &str) -> PolicyError {
    let line_column = error.span().map(|span| line_column(text, span.start));
    PolicyError::Syntax {
        path: if path.is_empty() { ".".into() } else { path },
        reason: error.message().trim().to_string(),
        line_column,
    }
}

/// One-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}
