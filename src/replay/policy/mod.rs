//! Consolidation policies the replay can run: where each VM starts, and
//! which migrations to start at every 5-minute step.
//!
//! - [`dvfs`]: first fit, never migrates (hosts only slow down when idle);
//! - [`migration`]: CloudSim's dynamic consolidation: an overload detector
//!   ([`overload`]), a VM selection policy ([`selection`]), power-aware
//!   best-fit-decreasing placement, and evacuation of under-used hosts;
//! - [`market`]: no central policy: a bidder on every host.
//!
//! A new policy is one more implementation of [`Consolidation`] and one
//! more [`PolicyName`].

pub mod dvfs;
pub mod market;
pub mod migration;
pub mod overload;
pub mod selection;

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

use super::datacenter::Datacenter;
use market::MarketSetup;
use overload::Overload;
use selection::Selection;

/// One migration to start: the VM and the host it goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub vm: usize,
    pub target: usize,
}

/// What `market audit` finds in the ledgers a policy's hosts kept (the
/// market's bidders keep one each).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LedgerAudit {
    /// Where they are.
    pub dir: std::path::PathBuf,
    pub ledgers: usize,
    pub trades: usize,
    /// No discrepancy between any two ledgers.
    pub consistent: bool,
    /// Each discrepancy, one line each.
    pub discrepancies: Vec<String>,
    /// Trades still agreed or migrating when the replay ended.
    pub in_flight: usize,
}

/// Why a policy could not go on (the market's bidders failed; the
/// centralised policies never do).
#[derive(Debug, Error)]
#[error("{0}")]
pub struct ConsolidationError(pub String);

/// A centralised or distributed way of placing and moving VMs.
pub trait Consolidation {
    /// The host a new VM starts on, or `None` when none has room.
    fn place(
        &mut self,
        dc: &mut Datacenter,
        vm: usize,
    ) -> Result<Option<usize>, ConsolidationError>;
    /// Places every VM at the start, adding each to its host's plan before
    /// the next is placed: by default one at a time, in order.
    fn place_initial(
        &mut self,
        dc: &mut Datacenter,
    ) -> Result<Vec<Option<usize>>, ConsolidationError> {
        let mut hosts = Vec::new();
        for vm in 0..dc.vms.len() {
            let host = self.place(dc, vm)?;
            if let Some(h) = host {
                dc.plan_add(h, vm);
            }
            hosts.push(host);
        }
        Ok(hosts)
    }
    /// The migrations to start now. May plan tentatively on `dc`, but must
    /// leave it as it found it.
    fn plan(&mut self, dc: &mut Datacenter) -> Result<Vec<Migration>, ConsolidationError>;
    /// The replay is over: what the policy leaves behind (the market's
    /// ledgers) is made complete and checked. Nothing by default.
    fn finish(&mut self) -> Result<Option<LedgerAudit>, ConsolidationError> {
        Ok(None)
    }
}

/// A policy named on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyName {
    /// `dvfs`: no migration.
    Dvfs,
    /// `<detector>-<selection>-<parameter>`: CloudSim's dynamic
    /// consolidation, e.g. `thr-mmt-0.8`, `lr-mc-1.2`, `iqr-mmt-1.5`.
    Dynamic(Overload, Selection),
    /// `market`: a bidder on every host.
    Market,
}

/// A policy name the replay does not know.
#[derive(Debug, Error, PartialEq)]
#[error(
    "unknown policy `{0}`: expected dvfs, market or <detector>-<selection>-<parameter> with detector thr, lr, mad or iqr and selection mmt, mc, rs or mu (e.g. thr-mmt-0.8, lr-mc-1.2, iqr-mmt-1.5)"
)]
pub struct UnknownPolicy(pub String);

impl FromStr for PolicyName {
    type Err = UnknownPolicy;

    fn from_str(text: &str) -> Result<PolicyName, UnknownPolicy> {
        let unknown = || UnknownPolicy(text.to_string());
        match text {
            "dvfs" => return Ok(PolicyName::Dvfs),
            "market" => return Ok(PolicyName::Market),
            _ => {}
        }
        let (name, parameter) = text.rsplit_once('-').ok_or_else(unknown)?;
        let (detector, selection) = name.split_once('-').ok_or_else(unknown)?;
        let value: f64 = parameter.parse().map_err(|_| unknown())?;
        if !value.is_finite() || value <= 0.0 {
            return Err(unknown());
        }
        let overload = Overload::from_code(detector, value).ok_or_else(unknown)?;
        let selection = Selection::from_code(selection).ok_or_else(unknown)?;
        Ok(PolicyName::Dynamic(overload, selection))
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyName::Dvfs => write!(f, "dvfs"),
            PolicyName::Market => write!(f, "market"),
            PolicyName::Dynamic(overload, selection) => {
                let (detector, parameter) = overload.code();
                write!(f, "{detector}-{}-{parameter}", selection.code())
            }
        }
    }
}

impl PolicyName {
    /// The policy itself, for the cluster of `dc`; `seed` feeds random
    /// selection; the market's bidders start on `market`'s policy and
    /// ledgers.
    pub fn build(
        self,
        dc: &Datacenter,
        seed: u64,
        market: &MarketSetup,
    ) -> Result<Box<dyn Consolidation>, ConsolidationError> {
        Ok(match self {
            PolicyName::Dvfs => Box::new(dvfs::Dvfs),
            PolicyName::Market => Box::new(market::Market::start(dc, market)?),
            PolicyName::Dynamic(overload, selection) => {
                Box::new(migration::Dynamic::new(overload, selection, seed))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print_back() {
        for name in [
            "dvfs",
            "market",
            "thr-mmt-0.8",
            "lr-mmt-1.2",
            "mad-mmt-2.5",
            "lr-mc-1.2",
            "lr-rs-1.2",
            "lr-mu-1.2",
            "iqr-mmt-1.5",
        ] {
            let parsed: PolicyName = name.parse().unwrap_or(PolicyName::Dvfs);
            assert_eq!(parsed.to_string(), name);
        }
        for bad in [
            "markets",
            "thr-mmt-x",
            "lr-xx-1.2",
            "xx-mmt-1.2",
            "mmt-1.2",
            "lr-mc-0",
        ] {
            assert!(bad.parse::<PolicyName>().is_err(), "{bad}");
        }
    }
}
