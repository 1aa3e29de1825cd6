//! The invariants a campaign checks: where the VMs run, read from the
//! simulated hosts' state files (never from the ledgers), and what the
//! ledgers say once the zone is quiet.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bidder::hypervisor::Hypervisor;
use market::credits::Credits;
use market::ledger::audit::{LedgerSnapshot, audit};
use market::ledger::{Ledger, TradeKind, TradeState};

use super::zone::Host;
use super::{ChaosError, TradeCounts};

/// How long a VM may run on two hosts at once while the zone is under
/// faults: a hand-off starts it at the buyer before the seller destroys
/// its copy, and a seller killed or stopped in between leaves both until
/// it is back and recovery runs.
const DOUBLED_FOR_AT_MOST: Duration = Duration::from_secs(90);

/// Where every VM the zone ever ran was seen, sweep after sweep.
#[derive(Default)]
pub struct VmWatch {
    /// Every VM ever seen or placed: none may disappear.
    known: BTreeSet<String>,
    /// VMs missing everywhere at the last sweep (a sweep reads the hosts
    /// one after another, so a VM moving between two reads may be missed
    /// once; missing at two sweeps in a row is lost).
    missing: BTreeSet<String>,
    /// Since when each VM runs on two or more hosts.
    doubled: BTreeMap<String, Instant>,
    /// VMs already reported, so a violation is reported once.
    reported: BTreeSet<String>,
    /// VMs their tenants ended: no longer watched.
    ended: BTreeSet<String>,
}

impl VmWatch {
    /// A VM `market place` reported as placed: it must run somewhere,
    /// unless its tenant has ended it since.
    pub fn expect(&mut self, uuid: String) {
        if !self.ended.contains(&uuid) {
            self.known.insert(uuid);
        }
    }

    /// A VM its tenant ended: it runs nowhere from now on, rightly.
    pub fn retire(&mut self, uuid: &str) {
        self.ended.insert(uuid.to_string());
        self.known.remove(uuid);
        self.missing.remove(uuid);
        self.doubled.remove(uuid);
    }

    /// How many VMs the zone holds.
    pub fn count(&self) -> usize {
        self.known.len()
    }

    /// Reads every host and returns the violations found: a VM lost
    /// (missing in two sweeps in a row) or on two hosts for too long;
    /// `strict` (the quiet zone at the end): any VM not on exactly one.
    pub fn sweep(&mut self, hosts: &[Host], strict: bool) -> Result<Vec<String>, ChaosError> {
        let mut at: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for host in hosts {
            for domain in host.hypervisor()?.domains()? {
                if domain.state.is_active() {
                    at.entry(domain.uuid.to_string())
                        .or_default()
                        .push(host.name.clone());
                }
            }
        }
        self.known.extend(at.keys().cloned());
        let mut violations = Vec::new();
        let now = Instant::now();
        let mut missing = BTreeSet::new();
        for uuid in &self.known {
            let hosts = at.get(uuid).map(Vec::as_slice).unwrap_or_default();
            let broken = match hosts {
                [] if strict || self.missing.contains(uuid) => {
                    Some(format!("VM {uuid} runs on no host"))
                }
                [] => {
                    missing.insert(uuid.clone());
                    None
                }
                [_] => {
                    self.doubled.remove(uuid);
                    None
                }
                many => {
                    let since = *self.doubled.entry(uuid.clone()).or_insert(now);
                    (strict || now.duration_since(since) > DOUBLED_FOR_AT_MOST).then(|| {
                        format!(
                            "VM {uuid} runs on {} hosts: {}",
                            many.len(),
                            many.join(", ")
                        )
                    })
                }
            };
            // Once per VM while the zone runs; at the end, everything.
            if let Some(broken) = broken
                && (strict || self.reported.insert(uuid.clone()))
            {
                violations.push(broken);
            }
        }
        self.missing = missing;
        Ok(violations)
    }
}

/// Every host's ledger, read now (the daemons may be writing: SQLite's
/// WAL lets a reader in).
pub async fn snapshots(hosts: &[Host]) -> Result<Vec<LedgerSnapshot>, ChaosError> {
    let mut all = Vec::new();
    for host in hosts {
        let snapshot = Ledger::snapshot_file(&host.ledger)
            .await
            .map_err(|source| ChaosError::Ledger {
                path: host.ledger.clone(),
                source,
            })?;
        all.push(snapshot);
    }
    Ok(all)
}

/// Every trade of the zone once, in the state its seller's ledger gives
/// (a placement's, its host's: the operator keeps none), and its protocol.
fn trades(ledgers: &[LedgerSnapshot]) -> BTreeMap<String, (TradeState, String)> {
    let mut trades = BTreeMap::new();
    for ledger in ledgers {
        for trade in &ledger.trades {
            let authority = match trade.terms.kind {
                TradeKind::Placement => &trade.terms.buyer,
                TradeKind::Migration => &trade.terms.seller,
            };
            let id = trade.terms.trade_id.to_string();
            if *authority == ledger.owner || !trades.contains_key(&id) {
                trades.insert(id, (trade.state, trade.terms.protocol.name.clone()));
            }
        }
    }
    trades
}

/// How many trades were agreed and how each ended so far, and how many
/// of each protocol.
pub fn count(ledgers: &[LedgerSnapshot]) -> TradeCounts {
    let mut counts = TradeCounts::default();
    for (state, protocol) in trades(ledgers).into_values() {
        counts.agreed += 1;
        match state {
            TradeState::Settled => counts.settled += 1,
            TradeState::RolledBack => counts.rolled_back += 1,
            TradeState::Failed => counts.failed += 1,
            TradeState::Agreed | TradeState::Migrating => counts.in_flight += 1,
        }
        *counts.by_protocol.entry(protocol).or_default() += 1;
    }
    counts
}

/// The ledgers' invariants once the zone is quiet: `market audit`'s
/// rules with nothing in flight, credits conserved, every trade ended.
pub fn ledgers(ledgers: &[LedgerSnapshot]) -> Vec<String> {
    let report = audit(ledgers);
    let mut violations: Vec<String> = report
        .discrepancies
        .iter()
        .map(|d| format!("audit: {d}"))
        .collect();
    violations.extend(report.in_flight.iter().map(|t| {
        format!(
            "trade {} is still {} in {} after recovery",
            t.trade_id, t.state, t.ledger
        )
    }));
    let balances: i64 = ledgers
        .iter()
        .map(|l| l.balances.get(&l.owner).copied().unwrap_or(Credits(0)).0)
        .sum();
    let placements: i64 = ledgers
        .iter()
        .flat_map(|l| &l.trades)
        .filter(|t| t.terms.kind == TradeKind::Placement && t.state == TradeState::Settled)
        .map(|t| t.terms.price.0)
        .sum();
    if balances + placements != 0 {
        violations.push(format!(
            "credits not conserved: the hosts' balances add up to {} but placements paid {}",
            Credits(balances),
            Credits(placements)
        ));
    }
    violations
}
