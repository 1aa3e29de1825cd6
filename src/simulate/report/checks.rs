//! The market's final placement against the centralised baselines and
//! their bounds, and every check of a run: the invariants, then the
//! scenario's expectations.

use bidder::agent::Agent;
use market::baseline::{Item, bounds, ffd, greedy_balance};
use market::ledger::audit::AuditReport;
use market::policy::Classification;
use market::resources::{Dimension, Resources};
use market::vm::GroupRule;
use serde::Serialize;

use super::Report;
use super::render::class_name;
use crate::simulate::SimulateError;
use crate::simulate::scenario::Scenario;

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

/// The baseline of the hosts-running comparison, by name.
const FFD: &str = "first-fit decreasing";
/// The baseline of the dominant-share comparison, by name.
const GREEDY: &str = "greedy balance";

/// The market's final placement against first-fit-decreasing (how few
/// hosts could hold the VMs) and greedy balancing (how even the load could
/// be), each with its lower bound. Both solve the hosts' own problem: VMs
/// sized by what they reserve, hosts by their capacity after the headroom
/// their policy keeps free, every dimension at once.
pub(super) async fn compare(agents: &[Agent]) -> Result<Vec<Comparison>, SimulateError> {
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
pub(super) fn checks(scenario: &Scenario, report: &Report) -> Vec<Check> {
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
