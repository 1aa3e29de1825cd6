//! What a move is worth to a host: the change in its utility, less the
//! migration cost its policy declares, in micro-credits.
//!
//! One number covers every kind of order. The **limit** of a package "give
//! `v`, take `w`" (either may be absent) is the most the host would pay for
//! it; a negative limit is the least it must be paid. So:
//!
//! - the value of receiving a bundle is the limit of "take `w`": positive
//!   for an underloaded host, zero or negative for a satisfied one, which
//!   therefore asks *more* to take a VM than an underloaded host does;
//! - the cost of giving a bundle away is minus the limit of "give `v`": an
//!   overloaded host's cost is negative (it pays to be rid of `v`);
//! - a move the host cannot or will not make (no room in some dimension, an
//!   anti-affinity group, maintenance) is a [`Refusal`], never a price.
//!
//! Each side subtracts the migration cost its own policy sets, so a move
//! has to pay for itself twice over, which damps ping-pong (seed 004).
//! Utilities are real numbers; limits are rounded down to a micro-credit
//! ([`Credits::from_credits_floor`]), so no host ever bids more than its
//! utility says a move is worth.

use serde::{Deserialize, Serialize};

use crate::credits::Credits;
use crate::host::{Host, HostMetrics};
use crate::mechanism::Order;
use crate::policy::Policy;
use crate::resources::{Dimension, ResourceError};
use crate::vm::{Vm, VmId};

/// Why a host will not make a move.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// It was asked to give a VM it does not run.
    #[error("{0} is not on this host")]
    NotHosted(VmId),
    /// It was asked to take a VM it already runs.
    #[error("{0} is already on this host")]
    AlreadyHosted(VmId),
    /// Giving and taking the same VM is no move.
    #[error("a package cannot give and take the same VM ({0})")]
    SameVm(VmId),
    /// Taking the VM would exceed capacity (less headroom).
    #[error("no room: {0} would exceed the host's capacity")]
    NoRoom(Dimension),
    /// A hard rule of the policy forbids it.
    #[error("the policy forbids it: {0}")]
    Policy(String),
    /// The host's numbers do not add up (a VM larger than its host's sum).
    #[error("inconsistent host state: {0}")]
    Inconsistent(#[from] ResourceError),
    /// The policy's utility is not a number for this move.
    #[error("the policy's utility is not a number for this move")]
    NotANumber,
}

/// The VM a host offers when it wants to give one away, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The VM.
    pub vm: VmId,
    /// How much the host's utility rises when the VM leaves, credits.
    pub gain: f64,
    /// The migration cost of the VM under the host's policy, credits.
    pub migration_cost: f64,
    /// The least the host accepts for it (negative: it pays up to minus this).
    pub ask: Credits,
}

/// Prices moves for one host under one policy. Computes the host's current
/// metrics and utility once, so pricing many candidate moves is cheap.
#[derive(Debug, Clone)]
pub struct Valuer<'a> {
    policy: &'a Policy,
    host: &'a Host,
    metrics: HostMetrics,
    utility_now: f64,
}

impl<'a> Valuer<'a> {
    /// A valuer for `host` as it is now.
    pub fn new(policy: &'a Policy, host: &'a Host) -> Result<Self, ResourceError> {
        let metrics = host.metrics()?;
        let utility_now = policy.utility(&policy.state(host, &metrics, None, None)?);
        Ok(Valuer {
            policy,
            host,
            metrics,
            utility_now,
        })
    }

    /// The host's utility now, credits.
    pub fn utility_now(&self) -> f64 {
        self.utility_now
    }

    /// The change in utility from giving `gives` and taking `takes`, before
    /// migration costs, or why the move is refused.
    pub fn utility_change(
        &self,
        gives: Option<VmId>,
        takes: Option<&'a Vm>,
    ) -> Result<f64, Refusal> {
        let given = match gives {
            Some(id) => Some(self.host.vm(id).ok_or(Refusal::NotHosted(id))?),
            None => None,
        };
        if let Some(vm) = takes {
            if gives == Some(vm.id) {
                return Err(Refusal::SameVm(vm.id));
            }
            if self.host.vm(vm.id).is_some() {
                return Err(Refusal::AlreadyHosted(vm.id));
            }
        }
        let state = self.policy.state(self.host, &self.metrics, given, takes)?;
        if takes.is_some()
            && let Some(dimension) = state.metrics.reserved.first_excess(&state.capacity)
        {
            return Err(Refusal::NoRoom(dimension));
        }
        if let Some(reason) = self.policy.refusal(&state) {
            return Err(Refusal::Policy(reason));
        }
        let change = self.policy.utility(&state) - self.utility_now;
        if change.is_nan() {
            return Err(Refusal::NotANumber);
        }
        Ok(change)
    }

    /// The limit of the package "give `gives`, take `takes`": the most the
    /// host pays for it (negative: the least it must be paid).
    pub fn package(&self, gives: Option<VmId>, takes: Option<&'a Vm>) -> Result<Credits, Refusal> {
        let change = self.utility_change(gives, takes)?;
        let stability = self.policy.stability();
        let given_cost = gives
            .and_then(|id| self.host.vm(id))
            .map_or(0.0, |vm| stability.migration_cost(vm));
        let taken_cost = takes.map_or(0.0, |vm| stability.migration_cost(vm));
        Credits::from_credits_floor(change - given_cost - taken_cost).ok_or(Refusal::NotANumber)
    }

    /// The most the host pays to receive `vm` (negative: the least it must
    /// be paid to take it).
    pub fn value_of_taking(&self, vm: &'a Vm) -> Result<Credits, Refusal> {
        self.package(None, Some(vm))
    }

    /// The least the host accepts for giving `vm` away (negative: the most
    /// it pays to be rid of it).
    pub fn ask_for_giving(&self, vm: VmId) -> Result<Credits, Refusal> {
        let limit = self.package(Some(vm), None)?;
        Ok(Credits(limit.0.saturating_neg()))
    }

    /// The VM whose departure raises the host's utility most per unit of
    /// migration cost (seed 002 section 6.1 asks for this instead of a
    /// random pick), among the VMs whose departure raises it at all. Ties go
    /// to the smaller VM id. `None` when no departure helps.
    pub fn best_offer(&self) -> Option<Offer> {
        let stability = self.policy.stability();
        let mut best: Option<(f64, Offer)> = None;
        for vm in &self.host.vms {
            let Ok(gain) = self.utility_change(Some(vm.id), None) else {
                continue;
            };
            if gain <= 0.0 {
                continue;
            }
            let migration_cost = stability.migration_cost(vm);
            let per_cost = if migration_cost > 0.0 {
                gain / migration_cost
            } else {
                f64::INFINITY
            };
            let better = match &best {
                None => true,
                Some((b, offer)) => per_cost > *b || (per_cost == *b && vm.id < offer.vm),
            };
            if better && let Ok(ask) = self.ask_for_giving(vm.id) {
                let offer = Offer {
                    vm: vm.id,
                    gain,
                    migration_cost,
                    ask,
                };
                best = Some((per_cost, offer));
            }
        }
        best.map(|(_, offer)| offer)
    }

    /// Every order this host would post for a double-auction round at its
    /// true valuation: an ask for each VM it runs, a bid for each VM in
    /// `wanted`, and a package for each (own VM, wanted VM) pair; moves it
    /// refuses are left out. Ids are taken from `next_id` upwards.
    pub fn orders(&self, next_id: &mut u64, wanted: &[&'a Vm]) -> Vec<Order> {
        let mut out = Vec::new();
        let mut push = |gives: Option<VmId>, takes: Option<&'a Vm>| {
            if let Ok(limit) = self.package(gives, takes) {
                out.push(Order {
                    id: crate::mechanism::OrderId(*next_id),
                    host: self.host.id,
                    gives,
                    takes: takes.map(|vm| vm.id),
                    limit,
                });
                *next_id += 1;
            }
        };
        for own in &self.host.vms {
            push(Some(own.id), None);
        }
        for &vm in wanted {
            push(None, Some(vm));
            for own in &self.host.vms {
                push(Some(own.id), Some(vm));
            }
        }
        out
    }
}
