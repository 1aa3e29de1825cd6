//! The cross-check of many hosts' ledgers behind `market audit`.
//!
//! Pure: it reads [`LedgerSnapshot`]s (taken with [`Ledger::snapshot`]) and
//! returns every [`Discrepancy`], so the CLI and the tests share one
//! implementation. What it checks:
//!
//! 1. **Both sides agree.** A trade whose counterparty's ledger is audited
//!    too must be in it, with identical terms and the same state.
//! 2. **Credits are consistent.** Each ledger's balances equal what its
//!    settled trades moved, and the owners' balances sum to zero over the
//!    audited hosts once the payments to and from hosts outside the audit
//!    are taken away (the market keeps no surplus).
//! 3. **Every VM is in one place.** Per ledger, the settled trades of a VM
//!    alternate arrive / leave; the host a VM last arrived at (and did not
//!    leave) claims it, and no VM is claimed by two hosts.
//!
//! A placement (a new VM an operator asked for, `market place`) is in the
//! buyer's ledger only: its seller is the operator, who keeps no ledger, so
//! there is no counterpart to compare. It counts as the VM's arrival at
//! the buyer (rule 3), and its price as a payment to someone outside the
//! audit (rule 2).
//!
//! 4. **Trades of several legs agree.** Every party of a leg whose ledger
//!    is audited lists the clearing, with the same legs in the same order;
//!    each party has the trade of each of its legs; and no leg moved (or
//!    began to) while a leg before it had not settled.
//!
//! In-flight trades (agreed, migrating) are not discrepancies by themselves;
//! the report lists them so an audit of a quiet cluster can insist on none.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::clearing::LegRecord;
use super::events::LedgerEvent;
use super::trade::{Side, TradeId, TradeKind, TradeRecord, TradeState};
use super::{Ledger, LedgerError};
use crate::credits::Credits;

/// Everything the audit needs from one ledger, read at one moment.
#[derive(Debug, Clone)]
pub struct LedgerSnapshot {
    /// How to name the ledger in the report (its path).
    pub label: String,
    /// The host that owns it.
    pub owner: String,
    /// Every trade, in the order recorded.
    pub trades: Vec<TradeRecord>,
    /// Every balance on file.
    pub balances: BTreeMap<String, Credits>,
    /// The event log, oldest first (gives the order of settlements).
    pub events: Vec<LedgerEvent>,
    /// Every leg of every clearing it lists.
    pub legs: Vec<LegRecord>,
}

impl Ledger {
    /// Opens the ledger file at `path` read only, reads it whole for
    /// [`audit`] and closes it: how a finished run's files are audited.
    pub async fn snapshot_file(path: &std::path::Path) -> Result<LedgerSnapshot, LedgerError> {
        let ledger = Ledger::open_read_only(path).await?;
        let snapshot = ledger.snapshot().await;
        ledger.close().await;
        snapshot
    }

    /// Reads the whole ledger for [`audit`].
    pub async fn snapshot(&self) -> Result<LedgerSnapshot, LedgerError> {
        Ok(LedgerSnapshot {
            label: self.path().display().to_string(),
            owner: self.owner().to_string(),
            trades: self.trades(None).await?,
            balances: self.balances().await?,
            events: self.events(None).await?,
            legs: self.clearing_legs().await?,
        })
    }
}

/// One inconsistency; its `Display` is one line naming the ledgers, the
/// trade and the difference.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Discrepancy {
    /// Two audited ledgers belong to the same host.
    SameOwner {
        /// The host.
        host: String,
        /// Both ledgers.
        ledgers: (String, String),
    },
    /// A trade records the owner on the wrong side.
    WrongSide {
        /// The ledger.
        ledger: String,
        /// The trade.
        trade_id: TradeId,
        /// The side on file.
        recorded: Side,
        /// The ledger's owner.
        owner: String,
    },
    /// A trade is in one party's ledger but not in the other's.
    MissingCounterpart {
        /// The trade.
        trade_id: TradeId,
        /// The ledger that has it.
        ledger: String,
        /// The ledger of the counterparty, which lacks it.
        counterparty_ledger: String,
    },
    /// Both ledgers have the trade, with different terms.
    TermsDiffer {
        /// The trade.
        trade_id: TradeId,
        /// The seller's ledger and the buyer's.
        ledgers: (String, String),
        /// Each differing field, `field: seller's vs buyer's`.
        differences: Vec<String>,
    },
    /// Both ledgers have the trade, in different states.
    StatesDiffer {
        /// The trade.
        trade_id: TradeId,
        /// The seller's ledger and its state.
        seller: (String, TradeState),
        /// The buyer's ledger and its state.
        buyer: (String, TradeState),
    },
    /// A balance on file is not what the ledger's settled trades moved.
    BalanceMismatch {
        /// The ledger.
        ledger: String,
        /// Whose balance.
        host: String,
        /// On file.
        recorded: Credits,
        /// The sum of its settled trades.
        expected: Credits,
    },
    /// The owners' balances do not sum to zero over the audited hosts.
    CreditsDoNotSum {
        /// Sum of the owners' balances.
        total: Credits,
        /// The part of it paid to or by hosts outside the audit.
        outside: Credits,
    },
    /// Per one ledger, a VM left (or arrived) twice in a row.
    VmMovedOutOfOrder {
        /// The VM's UUID.
        vm_uuid: String,
        /// The ledger.
        ledger: String,
        /// The earlier and the later settled trade.
        trades: (TradeId, TradeId),
        /// `left` or `arrived`.
        direction: &'static str,
    },
    /// Two ledgers list different legs for one clearing.
    LegsDiffer {
        /// The clearing.
        clearing_id: String,
        /// The two ledgers.
        ledgers: (String, String),
    },
    /// A party of a clearing's leg does not list the clearing, or lacks
    /// the trade of its own leg.
    LegMissing {
        /// The clearing.
        clearing_id: String,
        /// The leg's trade.
        trade_id: TradeId,
        /// The ledger that lacks it.
        ledger: String,
    },
    /// A leg moved, or began to, while a leg before it had not settled.
    LegOutOfOrder {
        /// The clearing.
        clearing_id: String,
        /// The leg that moved and its state.
        leg: (u32, TradeState),
        /// The earlier leg and its state.
        earlier: (u32, TradeState),
    },
    /// Two or more hosts hold a VM according to their settled trades.
    VmClaimedTwice {
        /// The VM's UUID.
        vm_uuid: String,
        /// Each claiming ledger with the trade that brought the VM there.
        claims: Vec<(String, TradeId)>,
    },
}

impl fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discrepancy::SameOwner { host, ledgers } => write!(
                f,
                "{} and {}: both are ledgers of host {host}",
                ledgers.0, ledgers.1
            ),
            Discrepancy::WrongSide {
                ledger,
                trade_id,
                recorded,
                owner,
            } => write!(
                f,
                "{ledger}: trade {trade_id} records {owner} as {recorded}, but the terms say otherwise"
            ),
            Discrepancy::MissingCounterpart {
                trade_id,
                ledger,
                counterparty_ledger,
            } => write!(
                f,
                "{ledger}: trade {trade_id} is missing from the counterparty's ledger {counterparty_ledger}"
            ),
            Discrepancy::TermsDiffer {
                trade_id,
                ledgers,
                differences,
            } => write!(
                f,
                "{} vs {}: trade {trade_id} has different terms: {}",
                ledgers.0,
                ledgers.1,
                differences.join("; ")
            ),
            Discrepancy::StatesDiffer {
                trade_id,
                seller,
                buyer,
            } => write!(
                f,
                "{} vs {}: trade {trade_id} is {} at the seller but {} at the buyer",
                seller.0, buyer.0, seller.1, buyer.1
            ),
            Discrepancy::BalanceMismatch {
                ledger,
                host,
                recorded,
                expected,
            } => write!(
                f,
                "{ledger}: balance of {host} is {recorded}, but its settled trades add up to {expected}"
            ),
            Discrepancy::CreditsDoNotSum { total, outside } => write!(
                f,
                "all ledgers: owners' balances sum to {total}, of which {outside} was paid to or by hosts outside the audit; the rest should be 0"
            ),
            Discrepancy::VmMovedOutOfOrder {
                vm_uuid,
                ledger,
                trades,
                direction,
            } => write!(
                f,
                "{ledger}: VM {vm_uuid} {direction} in trade {} and again in trade {} without moving back in between",
                trades.0, trades.1
            ),
            Discrepancy::LegsDiffer {
                clearing_id,
                ledgers,
            } => write!(
                f,
                "{} vs {}: clearing {clearing_id} has different legs",
                ledgers.0, ledgers.1
            ),
            Discrepancy::LegMissing {
                clearing_id,
                trade_id,
                ledger,
            } => write!(
                f,
                "{ledger}: leg {trade_id} of clearing {clearing_id} is missing, though this host is a party of it"
            ),
            Discrepancy::LegOutOfOrder {
                clearing_id,
                leg,
                earlier,
            } => write!(
                f,
                "clearing {clearing_id}: leg {} is {} while leg {} before it is {}",
                leg.0, leg.1, earlier.0, earlier.1
            ),
            Discrepancy::VmClaimedTwice { vm_uuid, claims } => {
                let claims: Vec<String> = claims
                    .iter()
                    .map(|(ledger, trade)| format!("{ledger} (trade {trade})"))
                    .collect();
                write!(
                    f,
                    "VM {vm_uuid} is held by more than one host: {}",
                    claims.join(", ")
                )
            }
        }
    }
}

/// A trade not yet final in some ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The ledger.
    pub ledger: String,
    /// The trade.
    pub trade_id: TradeId,
    /// Its state there.
    pub state: TradeState,
}

/// What the audit found.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Every inconsistency, sorted; empty when the ledgers agree.
    pub discrepancies: Vec<Discrepancy>,
    /// Trades still agreed or migrating (not a discrepancy by themselves).
    pub in_flight: Vec<InFlight>,
    /// Counterparties whose ledgers were not audited: their side of the
    /// trades was not checked.
    pub outside_hosts: BTreeSet<String>,
    /// Operators who placed VMs: they keep no ledger.
    pub operators: BTreeSet<String>,
    /// Number of distinct trades seen.
    pub trades: usize,
    /// How many of them are placements.
    pub placements: usize,
}

impl AuditReport {
    /// True when nothing is inconsistent.
    pub fn is_consistent(&self) -> bool {
        self.discrepancies.is_empty()
    }
}

/// Cross-checks the ledgers of many hosts.
pub fn audit(ledgers: &[LedgerSnapshot]) -> AuditReport {
    let mut report = AuditReport::default();
    let mut by_owner: BTreeMap<&str, &LedgerSnapshot> = BTreeMap::new();
    for snapshot in ledgers {
        if let Some(first) = by_owner.insert(&snapshot.owner, snapshot) {
            report.discrepancies.push(Discrepancy::SameOwner {
                host: snapshot.owner.clone(),
                ledgers: (first.label.clone(), snapshot.label.clone()),
            });
        }
    }
    let mut trade_ids = BTreeSet::new();
    let mut placements = BTreeSet::new();
    for snapshot in ledgers {
        for trade in &snapshot.trades {
            trade_ids.insert(trade.terms.trade_id.clone());
            check_side(snapshot, trade, &mut report);
            let counterparty = trade.terms.counterparty(trade.our_side);
            if trade.terms.kind == TradeKind::Placement {
                placements.insert(trade.terms.trade_id.clone());
                report.operators.insert(counterparty.to_string());
            } else {
                match by_owner.get(counterparty) {
                    Some(other) => check_counterpart(snapshot, trade, other, &mut report),
                    None => {
                        report.outside_hosts.insert(counterparty.to_string());
                    }
                }
            }
            if !trade.state.is_final() {
                report.in_flight.push(InFlight {
                    ledger: snapshot.label.clone(),
                    trade_id: trade.terms.trade_id.clone(),
                    state: trade.state,
                });
            }
        }
        check_balances(snapshot, &mut report);
    }
    report.trades = trade_ids.len();
    report.placements = placements.len();
    check_credit_sum(ledgers, &by_owner, &mut report);
    check_vm_locations(ledgers, &mut report);
    check_clearings(ledgers, &by_owner, &mut report);
    report.discrepancies.sort();
    report.discrepancies.dedup();
    report
}

/// Rule 4: the parties of every clearing list the same legs, hold the
/// trades of their own legs once any leg moved, and no leg moved ahead of
/// an unsettled one.
fn check_clearings(
    ledgers: &[LedgerSnapshot],
    by_owner: &BTreeMap<&str, &LedgerSnapshot>,
    report: &mut AuditReport,
) {
    let mut clearings: BTreeMap<&str, Vec<(&LedgerSnapshot, Vec<&LegRecord>)>> = BTreeMap::new();
    for snapshot in ledgers {
        let mut of: BTreeMap<&str, Vec<&LegRecord>> = BTreeMap::new();
        for leg in &snapshot.legs {
            of.entry(leg.clearing_id.as_str()).or_default().push(leg);
        }
        for (id, legs) in of {
            clearings.entry(id).or_default().push((snapshot, legs));
        }
    }
    for (id, listings) in clearings {
        let (first, legs) = &listings[0];
        for (other, theirs) in &listings[1..] {
            if theirs != legs {
                report.discrepancies.push(Discrepancy::LegsDiffer {
                    clearing_id: id.to_string(),
                    ledgers: (first.label.clone(), other.label.clone()),
                });
            }
        }
        let state_of = |leg: &LegRecord| -> Option<TradeState> {
            [leg.seller.as_str(), leg.buyer.as_str()]
                .iter()
                .filter_map(|party| by_owner.get(party))
                .flat_map(|s| s.trades.iter())
                .find(|t| t.terms.trade_id == leg.trade_id)
                .map(|t| t.state)
        };
        // A clearing some party never recorded was never agreed: the
        // parties that did call it off before anything moves. Only once a
        // leg moved must every party hold it.
        let moved = legs.iter().any(|leg| {
            matches!(
                state_of(leg),
                Some(TradeState::Settled | TradeState::Migrating)
            )
        });
        for leg in legs.iter().filter(|_| moved) {
            for party in [leg.seller.as_str(), leg.buyer.as_str()] {
                let Some(snapshot) = by_owner.get(party) else {
                    continue;
                };
                let listed = snapshot.legs.iter().any(|l| l.clearing_id == id);
                let held = snapshot
                    .trades
                    .iter()
                    .any(|t| t.terms.trade_id == leg.trade_id);
                if !listed || !held {
                    report.discrepancies.push(Discrepancy::LegMissing {
                        clearing_id: id.to_string(),
                        trade_id: leg.trade_id.clone(),
                        ledger: snapshot.label.clone(),
                    });
                }
            }
        }
        let states: Vec<(u32, Option<TradeState>)> =
            legs.iter().map(|leg| (leg.leg, state_of(leg))).collect();
        for (k, (leg, state)) in states.iter().enumerate() {
            let Some(state) = state else { continue };
            if !matches!(state, TradeState::Settled | TradeState::Migrating) {
                continue;
            }
            if let Some((earlier, Some(before))) = states[..k]
                .iter()
                .find(|(_, s)| s.is_some_and(|s| s != TradeState::Settled))
            {
                report.discrepancies.push(Discrepancy::LegOutOfOrder {
                    clearing_id: id.to_string(),
                    leg: (*leg, *state),
                    earlier: (*earlier, *before),
                });
            }
        }
    }
}

/// A leg of a clearing its counterparty never recorded, rolled back
/// without moving: the clearing was never agreed (as for `LegMissing`),
/// and the party that recorded it called it off. Not a missing
/// counterpart: nothing moved, no credits did.
fn never_agreed_leg(snapshot: &LedgerSnapshot, trade: &TradeRecord) -> bool {
    trade.state == TradeState::RolledBack
        && snapshot
            .legs
            .iter()
            .any(|leg| leg.trade_id == trade.terms.trade_id)
}

fn check_side(snapshot: &LedgerSnapshot, trade: &TradeRecord, report: &mut AuditReport) {
    if trade.terms.side_of(&snapshot.owner) != Some(trade.our_side) {
        report.discrepancies.push(Discrepancy::WrongSide {
            ledger: snapshot.label.clone(),
            trade_id: trade.terms.trade_id.clone(),
            recorded: trade.our_side,
            owner: snapshot.owner.clone(),
        });
    }
}

/// Compares one trade with the counterparty's copy. Each pair is seen from
/// both ledgers; differences are reported once, from the seller's side (or
/// from either side when only one has it).
fn check_counterpart(
    snapshot: &LedgerSnapshot,
    trade: &TradeRecord,
    other: &LedgerSnapshot,
    report: &mut AuditReport,
) {
    let id = &trade.terms.trade_id;
    let Some(theirs) = other.trades.iter().find(|t| &t.terms.trade_id == id) else {
        if never_agreed_leg(snapshot, trade) {
            return;
        }
        report.discrepancies.push(Discrepancy::MissingCounterpart {
            trade_id: id.clone(),
            ledger: snapshot.label.clone(),
            counterparty_ledger: other.label.clone(),
        });
        return;
    };
    if !reports_pair(snapshot, trade, other, theirs) {
        return;
    }
    let differences = trade.terms.differences(&theirs.terms);
    if !differences.is_empty() {
        report.discrepancies.push(Discrepancy::TermsDiffer {
            trade_id: id.clone(),
            ledgers: (snapshot.label.clone(), other.label.clone()),
            differences,
        });
    }
    if trade.state != theirs.state {
        report.discrepancies.push(Discrepancy::StatesDiffer {
            trade_id: id.clone(),
            seller: (snapshot.label.clone(), trade.state),
            buyer: (other.label.clone(), theirs.state),
        });
    }
}

/// Whether this copy is the one that reports the pair's differences: the
/// seller's (the source, whose ledger the workflow finalises last), or,
/// when both copies claim the same side (which is itself a
/// difference in the terms), the one whose label sorts first.
fn reports_pair(
    snapshot: &LedgerSnapshot,
    trade: &TradeRecord,
    other: &LedgerSnapshot,
    theirs: &TradeRecord,
) -> bool {
    if trade.our_side == theirs.our_side {
        snapshot.label <= other.label
    } else {
        trade.our_side == Side::Seller
    }
}

/// What the settled trades of one ledger moved, per host.
fn settled_flows(snapshot: &LedgerSnapshot) -> BTreeMap<&str, i128> {
    let mut flows: BTreeMap<&str, i128> = BTreeMap::new();
    for trade in snapshot
        .trades
        .iter()
        .filter(|t| t.state == TradeState::Settled)
    {
        let price = i128::from(trade.terms.price.0);
        *flows.entry(trade.terms.seller.as_str()).or_default() += price;
        *flows.entry(trade.terms.buyer.as_str()).or_default() -= price;
    }
    flows
}

fn check_balances(snapshot: &LedgerSnapshot, report: &mut AuditReport) {
    let flows = settled_flows(snapshot);
    let hosts: BTreeSet<&str> = flows
        .keys()
        .copied()
        .chain(snapshot.balances.keys().map(String::as_str))
        .collect();
    for host in hosts {
        let recorded = snapshot.balances.get(host).copied().unwrap_or_default();
        let expected = flows.get(host).copied().unwrap_or(0);
        if i128::from(recorded.0) != expected {
            report.discrepancies.push(Discrepancy::BalanceMismatch {
                ledger: snapshot.label.clone(),
                host: host.to_string(),
                recorded,
                expected: Credits(saturate(expected)),
            });
        }
    }
}

fn check_credit_sum(
    ledgers: &[LedgerSnapshot],
    by_owner: &BTreeMap<&str, &LedgerSnapshot>,
    report: &mut AuditReport,
) {
    let mut total: i128 = 0;
    let mut outside: i128 = 0;
    for (owner, snapshot) in by_owner {
        total += i128::from(snapshot.balances.get(*owner).copied().unwrap_or_default().0);
        for trade in snapshot
            .trades
            .iter()
            .filter(|t| t.state == TradeState::Settled)
        {
            if !by_owner.contains_key(trade.terms.counterparty(trade.our_side)) {
                let price = i128::from(trade.terms.price.0);
                outside += match trade.our_side {
                    Side::Seller => price,
                    Side::Buyer => -price,
                };
            }
        }
    }
    if total != outside && !ledgers.is_empty() {
        report.discrepancies.push(Discrepancy::CreditsDoNotSum {
            total: Credits(saturate(total)),
            outside: Credits(saturate(outside)),
        });
    }
}

/// Walks each ledger's settled trades of every VM in settlement order.
fn check_vm_locations(ledgers: &[LedgerSnapshot], report: &mut AuditReport) {
    let mut claims: BTreeMap<String, Vec<(String, TradeId)>> = BTreeMap::new();
    for snapshot in ledgers {
        // VM uuid -> (direction, trade) of its last settled move here.
        let mut last: BTreeMap<&str, (Side, &TradeId)> = BTreeMap::new();
        for trade in settled_in_order(snapshot) {
            for vm in &trade.terms.vms {
                let id = &trade.terms.trade_id;
                if let Some((side, previous)) = last.insert(&vm.uuid, (trade.our_side, id))
                    && side == trade.our_side
                {
                    report.discrepancies.push(Discrepancy::VmMovedOutOfOrder {
                        vm_uuid: vm.uuid.clone(),
                        ledger: snapshot.label.clone(),
                        trades: (previous.clone(), id.clone()),
                        direction: match side {
                            Side::Seller => "left",
                            Side::Buyer => "arrived",
                        },
                    });
                }
            }
        }
        for (vm, (side, trade)) in last {
            if side == Side::Buyer {
                claims
                    .entry(vm.to_string())
                    .or_default()
                    .push((snapshot.label.clone(), trade.clone()));
            }
        }
    }
    for (vm_uuid, claims) in claims {
        if claims.len() > 1 {
            report
                .discrepancies
                .push(Discrepancy::VmClaimedTwice { vm_uuid, claims });
        }
    }
}

/// Settled trades in the order their settlement was committed.
fn settled_in_order(snapshot: &LedgerSnapshot) -> Vec<&TradeRecord> {
    let settled_seq: BTreeMap<&TradeId, i64> = snapshot
        .events
        .iter()
        .filter(|e| e.to_state == TradeState::Settled && e.from_state != Some(TradeState::Settled))
        .map(|e| (&e.trade_id, e.seq))
        .collect();
    let mut settled: Vec<&TradeRecord> = snapshot
        .trades
        .iter()
        .filter(|t| t.state == TradeState::Settled)
        .collect();
    settled.sort_by_key(|t| {
        settled_seq
            .get(&t.terms.trade_id)
            .copied()
            .unwrap_or(i64::MAX)
    });
    settled
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}
