//! How a report reads as text: the hosts before and after, the trades,
//! the placements, the baselines, the audit and the checks.

use std::fmt;

use bidder::migration::Outcome;
use bidder::protocol::placement::{Answer, Ended};
use market::policy::Classification;

use super::{Report, RoundRecord, Stop};

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stop::Quiescent => {
                "quiescent (no trade in the last round, two for a call market; no host overloaded)"
            }
            Stop::Stuck => {
                "stuck (no trade in the last round, two for a call market; an overloaded host \
                 found no taker)"
            }
            Stop::RoundLimit => "round limit reached while hosts still traded",
        })
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
            "trades ({}, {} migrations, {} bus messages, at most {} bytes a round):",
            self.trades.len(),
            self.migrations(),
            self.messages(),
            self.most_bytes_in_a_round()
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
                t.trade.seller,
                t.trade.buyer,
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
                Ended::Started { host, price } => {
                    format!("-> {host:<6} price {:>16}", price.to_string())
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
