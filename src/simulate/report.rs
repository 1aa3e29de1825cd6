//! What a run found, and how it reads: the hosts before and after, every
//! trade with its price, the market's placement against a centralised
//! baseline and a lower bound, the audit of every host's ledger, and each
//! expectation of the scenario file checked.
//!
//! Two checks hold for every scenario whatever its `[expect]` table says:
//! the ledgers audit consistent with no trade left in flight, and every VM
//! runs on exactly one host. A run passes when every check holds.
//!
//! The report reads as text ([`fmt::Display`]) or as one JSON object
//! ([`Report::to_json`], `market simulate --json`) for scripts and CI.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use bidder::agent::{Agent, TradeReport};
use bidder::migration::Outcome;
use bidder::protocol::placement::{Answer, CallReport, Ended};
use market::baseline::{Item, bounds, ffd, greedy_balance};
use market::ledger::Ledger;
use market::ledger::audit::{AuditReport, audit};
use market::policy::Classification;
use market::resources::{Dimension, Resources};
use market::vm::GroupRule;

use super::scenario::Scenario;
use super::world::World;
use super::{Options, SimulateError, plot};

/// One host at the end of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPoint {
    /// Host name.
    pub name: String,
    /// The VMs it runs, by domain name.
    pub vms: Vec<String>,
    /// Its one-minute load average.
    pub load: f64,
    /// Memory its VMs reserve, MiB.
    pub memory_mib: u64,
    /// How its policy classifies it.
    pub class: Classification,
}

/// One trade and the round it was made in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeRecord {
    /// The round (1 for the first).
    pub round: u32,
    /// Bus messages published from the interaction's start to the trade's
    /// end (all hosts).
    pub messages: u64,
    /// The trade as its manager saw it end.
    pub trade: TradeReport,
}

/// One arriving VM's placement call and the round it was made in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlacementRecord {
    /// The round (1 for the first).
    pub round: u32,
    /// Bus messages published during the call (all hosts).
    pub messages: u64,
    /// The call as the operator saw it end.
    #[serde(flatten)]
    pub call: CallReport,
}

impl PlacementRecord {
    /// The host that started the VM, if one did.
    pub fn placed_at(&self) -> Option<&str> {
        match &self.call.ended {
            Ended::Started { host, .. } => Some(host),
            _ => None,
        }
    }
}

/// What the rounds made: trades, and placements of arriving VMs.
pub(super) struct Made {
    /// Every trade, in order.
    pub trades: Vec<TradeRecord>,
    /// Every placement call, in order.
    pub placements: Vec<PlacementRecord>,
}

/// The state of the cluster after one round (round 0: before any trade).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundRecord {
    /// Round number.
    pub round: u32,
    /// Every host, in scenario order.
    pub hosts: Vec<HostPoint>,
    /// Trades made in the round.
    pub trades: Vec<TradeRecord>,
    /// Bus messages published in the round.
    pub messages: u64,
}

/// Why the run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// A round made no trade and no host is overloaded: nothing would change.
    Quiescent,
    /// A round made no trade although some host is overloaded: no peer
    /// would take what it offers.
    Stuck,
    /// The scenario's `rounds` ran out while hosts were still trading.
    RoundLimit,
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Quiescent => "quiescent (a round without a trade, no host overloaded)",
            Stop::Stuck => "stuck (an overloaded host found no taker)",
            Stop::RoundLimit => "round limit reached while hosts still traded",
        })
    }
}

/// One row of the comparison with the centralised baselines: the market's
/// figure, a heuristic's that sees the whole cluster, and a bound no
/// placement beats.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// What is compared.
    pub metric: &'static str,
    /// The market's final placement.
    pub market: f64,
    /// Which heuristic.
    pub baseline_name: &'static str,
    /// The heuristic's placement.
    pub baseline: f64,
    /// The lower bound.
    pub bound: f64,
}

/// One check of the run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was expected.
    pub what: String,
    /// Whether it holds.
    pub holds: bool,
    /// What was found.
    pub found: String,
}

/// Everything a run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario's name.
    pub name: String,
    /// The scenario's description.
    pub description: Option<String>,
    /// The scenario file.
    pub scenario: PathBuf,
    /// Where the ledgers and the plot are.
    pub run_dir: PathBuf,
    /// Every host's ledger file, in host order.
    pub ledgers: Vec<PathBuf>,
    /// The SVG of every round.
    pub plot: PathBuf,
    /// Round 0 (before trading) to the last round.
    pub history: Vec<RoundRecord>,
    /// Every trade, in order.
    pub trades: Vec<TradeRecord>,
    /// Every placement of an arriving VM, in order.
    pub placements: Vec<PlacementRecord>,
    /// Why the run stopped.
    pub stop: Stop,
    /// The market against the baselines.
    pub comparison: Vec<Comparison>,
    /// Each VM with the hosts whose hypervisor runs it at the end (one,
    /// when all is well).
    pub located: Vec<(String, Vec<String>)>,
    /// The cross-check of every host's ledger file.
    pub audit: AuditReport,
    /// Every check, invariants first, then the scenario's expectations.
    pub checks: Vec<Check>,
}

impl Report {
    /// True when every check holds.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.holds)
    }

    /// The cluster before any trade.
    pub fn before(&self) -> Option<&RoundRecord> {
        self.history.first()
    }

    /// The cluster at the end.
    pub fn after(&self) -> Option<&RoundRecord> {
        self.history.last()
    }

    /// Trades that settled (the VM runs at its buyer).
    pub fn settled(&self) -> usize {
        self.trades
            .iter()
            .filter(|t| t.trade.outcome == Outcome::Settled)
            .count()
    }

    /// VMs that moved: one per settled trade, as every trade the agents
    /// make moves one VM.
    pub fn migrations(&self) -> usize {
        self.settled()
    }

    /// Bus messages published over the whole run.
    pub fn messages(&self) -> u64 {
        self.history.iter().map(|r| r.messages).sum()
    }

    /// Hosts running at least one VM at the end.
    pub fn hosts_running(&self) -> usize {
        self.after()
            .map_or(0, |r| r.hosts.iter().filter(|h| !h.vms.is_empty()).count())
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        #[derive(Serialize)]
        struct Json<'a> {
            scenario: &'a str,
            description: Option<&'a str>,
            file: &'a PathBuf,
            run_dir: &'a PathBuf,
            ledgers: &'a [PathBuf],
            plot: &'a PathBuf,
            before: Option<&'a RoundRecord>,
            after: Option<&'a RoundRecord>,
            rounds: usize,
            stop: Stop,
            trades: &'a [TradeRecord],
            placements: &'a [PlacementRecord],
            settled: usize,
            migrations: usize,
            messages: u64,
            hosts_running: usize,
            baselines: &'a [Comparison],
            audit: serde_json::Value,
            checks: &'a [Check],
            result: &'static str,
        }
        let json = Json {
            scenario: &self.name,
            description: self.description.as_deref(),
            file: &self.scenario,
            run_dir: &self.run_dir,
            ledgers: &self.ledgers,
            plot: &self.plot,
            before: self.before(),
            after: self.after(),
            rounds: self.history.len().saturating_sub(1),
            stop: self.stop,
            trades: &self.trades,
            placements: &self.placements,
            settled: self.settled(),
            migrations: self.migrations(),
            messages: self.messages(),
            hosts_running: self.hosts_running(),
            baselines: &self.comparison,
            audit: serde_json::json!({
                "trades": self.audit.trades,
                "consistent": self.audit.is_consistent(),
                "discrepancies": self.audit.discrepancies.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
                "in_flight": self.audit.in_flight.len(),
            }),
            checks: &self.checks,
            result: if self.passed() { "pass" } else { "fail" },
        };
        serde_json::to_value(json).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
    }
}

/// Builds the report once the rounds are over, but for the audit: plot,
/// baselines, where every VM runs. The agents' ledgers must be closed
/// before [`Report::conclude`] audits their files.
pub(super) async fn assemble(
    scenario: &Scenario,
    options: &Options,
    world: &World,
    agents: &[Agent],
    history: Vec<RoundRecord>,
    made: Made,
    stop: Stop,
) -> Result<Report, SimulateError> {
    let plot = options.run_dir.join("hosts.svg");
    std::fs::write(&plot, plot::svg(&scenario.spec.name, &history)).map_err(|source| {
        SimulateError::Plot {
            path: plot.clone(),
            source,
        }
    })?;
    Ok(Report {
        name: scenario.spec.name.clone(),
        description: scenario.spec.description.clone(),
        scenario: scenario.path.clone(),
        run_dir: options.run_dir.clone(),
        ledgers: agents
            .iter()
            .map(|a| a.ledger().path().to_path_buf())
            .collect(),
        plot,
        history,
        trades: made.trades,
        placements: made.placements,
        stop,
        comparison: compare(agents).await?,
        located: world.locate()?,
        audit: AuditReport::default(),
        checks: Vec::new(),
    })
}

impl Report {
    /// Audits the ledger files as `market audit` does (each opened read
    /// only, after the run closed it), then checks the invariants and the
    /// scenario's expectations.
    pub(super) async fn conclude(&mut self, scenario: &Scenario) -> Result<(), SimulateError> {
        let mut snapshots = Vec::new();
        for path in &self.ledgers {
            snapshots.push(Ledger::snapshot_file(path).await?);
        }
        self.audit = audit(&snapshots);
        self.checks = checks(scenario, self);
        Ok(())
    }
}

/// The baseline of the hosts-running comparison, by name.
const FFD: &str = "first-fit decreasing";
/// The baseline of the dominant-share comparison, by name.
const GREEDY: &str = "greedy balance";

/// The market's final placement against first-fit-decreasing (how few
/// hosts could hold the VMs) and greedy balancing (how even the load could
/// be), each with its lower bound. Both solve the hosts' own problem: VMs
/// sized by what they reserve, hosts by their capacity after the headroom
/// their policy keeps free, every dimension at once.
async fn compare(agents: &[Agent]) -> Result<Vec<Comparison>, SimulateError> {
    let mut items: Vec<Item> = Vec::new();
    let mut capacities = Vec::new();
    let mut loads = Vec::new();
    for agent in agents {
        let host = agent.view().await?;
        let load = host
            .vms
            .iter()
            .fold(Resources::ZERO, |sum, vm| sum.saturating_add(&vm.reserved));
        items.extend(host.vms.iter().map(|vm| (vm.id, vm.reserved)));
        capacities.push(agent.policy().capacity(&host));
        loads.push((load, !host.vms.is_empty()));
    }
    let market_hosts = loads.iter().filter(|(_, used)| *used).count();
    let market_share = loads
        .iter()
        .zip(&capacities)
        .map(|((load, _), cap)| load.dominant_share(cap))
        .fold(0.0, f64::max);
    // No host holds more than the largest capacity in each dimension, so
    // hosts of that size give a bound for the whole cluster.
    let largest = Dimension::ALL.map(|d| capacities.iter().map(|c| c.get(d)).max().unwrap_or(0));
    let largest = Resources::new(largest[0], largest[1], largest[2]);
    let packed = ffd::pack(&items, &capacities);
    let spread = greedy_balance::spread(&items, &capacities);
    Ok(vec![
        Comparison {
            metric: "hosts running VMs",
            market: market_hosts as f64,
            baseline_name: FFD,
            baseline: packed.hosts_used() as f64,
            bound: bounds::hosts_needed(&items, &largest).map_or(f64::INFINITY, |n| n as f64),
        },
        Comparison {
            metric: "largest dominant share",
            market: market_share,
            baseline_name: GREEDY,
            baseline: spread.max_share(&capacities),
            bound: bounds::best_max_share(&items, &capacities),
        },
    ])
}

/// The invariants, then each expectation of the scenario.
fn checks(scenario: &Scenario, report: &Report) -> Vec<Check> {
    let located = &report.located;
    let mut checks = vec![audit_check(&report.audit), location_check(located)];
    if !report.placements.is_empty() {
        checks.push(arrivals_check(report));
    }
    let Some(last) = report.after() else {
        return checks;
    };
    let expect = &scenario.spec.expect;
    if expect.every_host_satisfied {
        let unhappy: Vec<String> = last
            .hosts
            .iter()
            .filter(|h| h.class != Classification::Satisfied)
            .map(|h| format!("{} {}", h.name, class_name(h.class)))
            .collect();
        checks.push(Check {
            what: "every host satisfied".into(),
            holds: unhappy.is_empty(),
            found: if unhappy.is_empty() {
                "all satisfied".into()
            } else {
                unhappy.join(", ")
            },
        });
    }
    for (host, want) in &expect.vm_count {
        let have = last
            .hosts
            .iter()
            .find(|h| &h.name == host)
            .map_or(0, |h| h.vms.len());
        checks.push(Check {
            what: format!("{host} runs {want} VM(s)"),
            holds: have == *want,
            found: format!("{have}"),
        });
    }
    for (vm, want) in &expect.placement {
        let at: Vec<&str> = located
            .iter()
            .filter(|(name, _)| name == vm)
            .flat_map(|(_, hosts)| hosts.iter().map(String::as_str))
            .collect();
        checks.push(Check {
            what: format!("{vm} on {want}"),
            holds: at == [want.as_str()],
            found: if at.is_empty() {
                "nowhere".into()
            } else {
                at.join(", ")
            },
        });
    }
    if let Some(want) = expect.trades {
        checks.push(Check {
            what: format!("{want} trades settled"),
            holds: report.settled() == want,
            found: format!("{}", report.settled()),
        });
    }
    if let Some(most) = expect.hosts_running_at_most {
        checks.push(Check {
            what: format!("at most {most} hosts run VMs"),
            holds: report.hosts_running() <= most,
            found: format!("{}", report.hosts_running()),
        });
    }
    if let Some(most) = expect.migrations_at_most {
        checks.push(Check {
            what: format!("at most {most} migrations"),
            holds: report.migrations() <= most,
            found: format!("{}", report.migrations()),
        });
    }
    if expect.groups_apart {
        checks.push(groups_apart_check(scenario, located));
    }
    let baseline = |name: &str| report.comparison.iter().find(|c| c.baseline_name == name);
    if expect.hosts_at_most_ffd
        && let Some(hosts) = baseline(FFD)
    {
        checks.push(Check {
            what: "no more hosts run VMs than first-fit decreasing packs them onto".into(),
            holds: hosts.market <= hosts.baseline,
            found: format!("{} against {}", hosts.market, hosts.baseline),
        });
    }
    if let Some(slack) = expect.share_at_most_greedy_plus
        && let Some(share) = baseline(GREEDY)
    {
        checks.push(Check {
            what: format!("largest dominant share at most greedy balance's + {slack}"),
            holds: share.market <= share.baseline + slack,
            found: format!("{:.3} against {:.3}", share.market, share.baseline),
        });
    }
    checks
}

/// Every VM that was to arrive was placed.
fn arrivals_check(report: &Report) -> Check {
    let refused: Vec<String> = report
        .placements
        .iter()
        .filter(|p| p.placed_at().is_none())
        .map(|p| format!("{} ({:?})", p.call.vm, p.call.ended))
        .collect();
    Check {
        what: "every arriving VM placed".into(),
        holds: refused.is_empty(),
        found: if refused.is_empty() {
            format!("{} placed", report.placements.len())
        } else {
            refused.join("; ")
        },
    }
}

/// No two VMs of one `apart` group on one host at the end.
fn groups_apart_check(scenario: &Scenario, located: &[(String, Vec<String>)]) -> Check {
    let mut members: std::collections::BTreeMap<(&str, &str), Vec<&str>> = Default::default();
    for (vm, group) in scenario.spec.vm.iter().zip(&scenario.groups) {
        let Some(group) = group.as_ref().filter(|g| g.rule == GroupRule::Apart) else {
            continue;
        };
        for (_, hosts) in located.iter().filter(|(name, _)| *name == vm.name) {
            for host in hosts {
                members
                    .entry((group.name.as_str(), host.as_str()))
                    .or_default()
                    .push(vm.name.as_str());
            }
        }
    }
    let together: Vec<String> = members
        .iter()
        .filter(|(_, vms)| vms.len() > 1)
        .map(|((group, host), vms)| format!("{} of {group} on {host}", vms.join(" and ")))
        .collect();
    Check {
        what: "no two VMs of an apart group on one host".into(),
        holds: together.is_empty(),
        found: if together.is_empty() {
            "every apart group spread".into()
        } else {
            together.join("; ")
        },
    }
}

fn audit_check(audit: &AuditReport) -> Check {
    let problems = audit.discrepancies.len() + audit.in_flight.len();
    let mut found = format!(
        "{} trades, {} discrepancies, {} in flight",
        audit.trades,
        audit.discrepancies.len(),
        audit.in_flight.len()
    );
    for d in &audit.discrepancies {
        found.push_str(&format!("; {d}"));
    }
    Check {
        what: "ledgers audit consistent, no trade in flight".into(),
        holds: problems == 0,
        found,
    }
}

fn location_check(located: &[(String, Vec<String>)]) -> Check {
    let wrong: Vec<String> = located
        .iter()
        .filter(|(_, at)| at.len() != 1)
        .map(|(vm, at)| format!("{vm} runs on {} hosts", at.len()))
        .collect();
    Check {
        what: "every VM runs on exactly one host".into(),
        holds: wrong.is_empty(),
        found: if wrong.is_empty() {
            format!("{} VMs, each once", located.len())
        } else {
            wrong.join(", ")
        },
    }
}

/// A classification as the report and the plot print it.
pub fn class_name(class: Classification) -> &'static str {
    match class {
        Classification::Underloaded => "underloaded",
        Classification::Satisfied => "satisfied",
        Classification::Overloaded => "overloaded",
    }
}

/// How a trade ended, in a few words.
pub fn outcome_name(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Settled => "settled".into(),
        Outcome::Failed { reason } => format!("failed: {reason}"),
        Outcome::RolledBack { reason } => format!("rolled back: {reason}"),
    }
}

fn write_hosts(f: &mut fmt::Formatter<'_>, title: &str, round: &RoundRecord) -> fmt::Result {
    writeln!(f, "{title}")?;
    writeln!(
        f,
        "  {:<10} {:>6} {:>9}  {:<12} vms",
        "host", "load", "mem MiB", "class"
    )?;
    for h in &round.hosts {
        let vms = if h.vms.is_empty() {
            "-".to_string()
        } else {
            h.vms.join(" ")
        };
        writeln!(
            f,
            "  {:<10} {:>6.2} {:>9}  {:<12} {vms}",
            h.name,
            h.load,
            h.memory_mib,
            class_name(h.class)
        )?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "scenario {} ({})", self.name, self.scenario.display())?;
        if let Some(description) = &self.description {
            writeln!(f, "  {}", description.trim())?;
        }
        writeln!(f)?;
        if let Some(before) = self.before() {
            write_hosts(f, "before:", before)?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "trades ({}, {} migrations, {} bus messages):",
            self.trades.len(),
            self.migrations(),
            self.messages()
        )?;
        if self.trades.is_empty() {
            writeln!(f, "  none")?;
        }
        for t in &self.trades {
            writeln!(
                f,
                "  round {:>2}  {:<8} {} -> {:<6} price {:>16}  {:>3} messages  {}",
                t.round,
                t.trade.vm,
                t.trade.from,
                t.trade.to,
                t.trade.price.to_string(),
                t.messages,
                outcome_name(&t.trade.outcome)
            )?;
        }
        if !self.placements.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "arriving VMs placed by the market ({}):",
                self.placements.len()
            )?;
        }
        for p in &self.placements {
            let offers = p
                .call
                .answers
                .iter()
                .filter(|a| matches!(a.answer, Answer::Offer { .. }))
                .count();
            let ended = match &p.call.ended {
                Ended::Started { host, pays } => {
                    format!("-> {host:<6} price {:>16}", pays.to_string())
                }
                Ended::Failed { host, reason, .. } => {
                    format!("{host} could not start it: {reason}")
                }
                Ended::Silent { host, .. } => format!("{host} did not report"),
                Ended::Refused { reason } => format!("not placed: {reason}"),
            };
            writeln!(
                f,
                "  round {:>2}  {:<8} {ended}  {offers} offer(s) of {} host(s)  {:>3} messages",
                p.round,
                p.call.vm,
                p.call.hosts.len(),
                p.messages
            )?;
        }
        writeln!(f)?;
        if let Some(after) = self.after() {
            write_hosts(f, &format!("after round {}:", after.round), after)?;
        }
        writeln!(f, "  stopped: {}", self.stop)?;
        writeln!(f)?;
        writeln!(f, "against a centralised baseline:")?;
        writeln!(
            f,
            "  {:<24} {:>8} {:>10}  {:<22} {:>11}",
            "metric", "market", "baseline", "(which)", "lower bound"
        )?;
        for c in &self.comparison {
            writeln!(
                f,
                "  {:<24} {:>8.3} {:>10.3}  {:<22} {:>11.3}",
                c.metric, c.market, c.baseline, c.baseline_name, c.bound
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "ledger audit over {} ledgers: {} trades, {}",
            self.ledgers.len(),
            self.audit.trades,
            if self.audit.is_consistent() {
                "consistent".to_string()
            } else {
                format!("{} discrepancies", self.audit.discrepancies.len())
            }
        )?;
        writeln!(f)?;
        writeln!(f, "checks:")?;
        for c in &self.checks {
            let mark = if c.holds { "ok  " } else { "FAIL" };
            writeln!(f, "  {mark} {} (found: {})", c.what, c.found)?;
        }
        writeln!(f)?;
        writeln!(f, "run directory: {}", self.run_dir.display())?;
        writeln!(
            f,
            "  ledgers: <host>.ledger.sqlite (check: market audit --no-in-flight {}/*.ledger.sqlite)",
            self.run_dir.display()
        )?;
        writeln!(f, "  plot:    {}", self.plot.display())?;
        let failed = self.checks.iter().filter(|c| !c.holds).count();
        if failed == 0 {
            writeln!(f, "result: PASS ({} checks hold)", self.checks.len())
        } else {
            writeln!(
                f,
                "result: FAIL ({failed} of {} checks do not hold)",
                self.checks.len()
            )
        }
    }
}
