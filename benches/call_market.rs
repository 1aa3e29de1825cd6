//! A call-market round of 1,000 hosts, over a real nats-server beside the
//! in-process bus in the same run (docs/benchmarks.md, "A call market of
//! 1,000 hosts").
//!
//! The cluster is `scenarios/generated-200-power-saving.toml` at 1,000
//! hosts, every host playing the double auction: 8-core hosts under seed
//! 001's power-saving policy, each running one 2-vCPU VM at half load, so
//! every host is "fill me" and every one posts real orders from
//! `Valuer::orders` (asks for its VM, bids for the VMs listed that fit it).
//! It runs through `bourse::simulate::run`, the function `market simulate`
//! calls: once on the in-process bus, once with `--nats` to a nats-server
//! on a free loopback port (every host over a connection of its own).
//!
//! What is measured comes from the hosts' own logs, timed as they are
//! emitted:
//!
//! - the auctioneer's `cleared` event: orders, trades, and how long its
//!   clearing took after the last order was in (reading the orders,
//!   clearing, recording its own legs);
//! - the auctioneer's last `result` message sent (the runtime traces every
//!   LCC message it sends): the round cleared and every trader told. Less
//!   the moment the orders were all in, this is how long the round took to
//!   clear **beyond its collection**, the issue's bound being 200 ms. The
//!   gathering ends at its deadline or as soon as every trader answered,
//!   whichever is first; the time beyond is measured from whichever it was;
//! - each trader's step on hearing its result: `hears its trade` (filled)
//!   or `leaves the round` as unfilled, the last of these after collection
//!   too: here the 999 traders share two cores with the auctioneer (and
//!   the nats-server), where each would have a host of its own;
//! - each party's `recorded its trade` (its legs durable in its ledger, one
//!   fsync'd transaction each), the last of these after collection too:
//!   here every ledger shares the one disk of the machine, where hosts
//!   would each have their own;
//! - the messages the hosts published in each round of the run, per
//!   migration that settled in it.
//!
//! ```sh
//! cargo bench --bench call_market                 # 1,000 hosts
//! CALL_MARKET_HOSTS=200 cargo bench --bench call_market
//! ```
#![allow(clippy::unwrap_used)] // a benchmark's setup failing is a failed run

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bidder::agent::AgentConfig;
use bidder::migration::Outcome;
use bourse::simulate::report::Report;
use bourse::simulate::scenario::Scenario;
use bourse::simulate::{self, Options, Time};
use market::bus::LocalNatsServer;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Where the call market's auctioneer and traders log their steps.
const TARGET: &str = "bidder::protocol::call_market";
/// Where every LCC message sent is traced (`sent`, with `what` it is).
const SENT: &str = "market::runtime::channel";

/// The cluster: `hosts` half-empty power-saving hosts, one VM each, all
/// trading in call-market rounds. Ordering and listing windows are long so
/// that a round's collection ends when every trader has answered, not at
/// a deadline a slow machine could miss.
fn scenario_text(hosts: usize) -> String {
    format!(
        r#"name = "call-market-{hosts}"
protocols = ["call-market"]
rounds = 3

[protocol.call-market]
window_ms = 30000

[[host]]
name = "h"
count = {hosts}
cpus = 8
memory_mib = 16384
policy = "policies/seed001-power-saving.toml"

[[vm]]
name = "vm"
count = {hosts}
host = "h"
vcpus = 2
memory_mib = 2048
cpu_load = 0.5
"#
    )
}

/// One logged step of a call market, with when it was logged.
#[derive(Clone, Debug)]
struct Step {
    at: Instant,
    message: String,
    round: String,
    why: String,
    numbers: BTreeMap<String, u64>,
}

#[derive(Default)]
struct StepVisitor {
    message: String,
    round: String,
    why: String,
    what: String,
    numbers: BTreeMap<String, u64>,
}

impl Visit for StepVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        match field.name() {
            "message" => self.message = text,
            "round" => self.round = text,
            "why" => self.why = text,
            "what" => self.what = text,
            name => {
                if let Ok(n) = text.parse() {
                    self.numbers.insert(name.to_string(), n);
                }
            }
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.numbers.insert(field.name().to_string(), value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(n) = u64::try_from(value) {
            self.numbers.insert(field.name().to_string(), n);
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if let Ok(n) = u64::try_from(value) {
            self.numbers.insert(field.name().to_string(), n);
        }
    }
}

/// Keeps every call-market step of the run, timed on arrival.
#[derive(Clone, Default)]
struct Steps(Arc<Mutex<Vec<Step>>>);

impl<S: Subscriber> Layer<S> for Steps {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let at = Instant::now();
        let mut visitor = StepVisitor::default();
        event.record(&mut visitor);
        if visitor.message == "sent" && visitor.what != "result" {
            return; // of the messages sent, only results are timed
        }
        let step = Step {
            at,
            message: visitor.message,
            round: visitor.round,
            why: visitor.why,
            numbers: visitor.numbers,
        };
        self.0.lock().unwrap().push(step);
    }
}

impl Steps {
    fn take(&self) -> Vec<Step> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// One call-market round that cleared, as its steps tell it.
struct Cleared {
    orders: u64,
    trades: u64,
    /// Reading the orders into the market, after the last was in.
    reading_ms: u64,
    clearing_ms: u64,
    /// Until the auctioneer had cleared and recorded its own legs.
    recorded_ms: u64,
    /// Traders that heard their result.
    heard: usize,
    /// Traders that timed out waiting for it.
    unheard: usize,
    /// From the last order in to the auctioneer's last result sent: the
    /// round cleared and every trader told.
    last_sent: Duration,
    /// From the last order in to the last trader hearing its result.
    last_heard: Duration,
    /// From the last order in to the last party's trade durable in its
    /// ledger.
    last_recorded: Duration,
}

fn rounds_cleared(steps: &[Step]) -> Vec<Cleared> {
    let mut cleared = Vec::new();
    for c in steps.iter().filter(|s| s.message == "cleared") {
        let number = |k: &str| c.numbers.get(k).copied().unwrap_or(0);
        let collected = c.at - Duration::from_millis(number("recorded_ms"));
        let of_round: Vec<&Step> = steps.iter().filter(|s| s.round == c.round).collect();
        let unfilled = |s: &&&Step| s.message == "leaves the round" && s.why == "unfilled";
        let heard: Vec<&&Step> = of_round
            .iter()
            .filter(|s| s.message == "hears its trade" || unfilled(s))
            .collect();
        let settled: Vec<&&Step> = of_round
            .iter()
            .filter(|s| {
                s.message == "recorded its trade"
                    || unfilled(s)
                    || (s.message == "leaves the round" && s.why == "declined")
            })
            .collect();
        let sent: Vec<&&Step> = of_round.iter().filter(|s| s.message == "sent").collect();
        assert!(
            !sent.is_empty(),
            "round {}: no result traced as sent",
            c.round
        );
        let unheard = of_round
            .iter()
            .filter(|s| s.message == "leaves the round" && s.why == "no_result")
            .count();
        let since = |steps: &[&&Step]| {
            let last = steps.iter().map(|s| s.at).max().unwrap_or(c.at);
            last.saturating_duration_since(collected)
        };
        cleared.push(Cleared {
            orders: number("orders"),
            trades: number("trades"),
            reading_ms: number("collected_ms"),
            clearing_ms: number("clearing_ms"),
            recorded_ms: number("recorded_ms"),
            heard: heard.len(),
            unheard,
            last_sent: since(&sent),
            last_heard: since(&heard),
            last_recorded: since(&settled),
        });
    }
    cleared
}

/// Messages per settled migration, per round of the run that settled any:
/// (round, messages, migrations).
fn messages_per_migration(report: &Report) -> Vec<(u32, u64, usize)> {
    report
        .history
        .iter()
        .filter_map(|round| {
            let settled = report
                .trades
                .iter()
                .filter(|t| t.round == round.round)
                .filter(|t| matches!(t.trade.outcome, Outcome::Settled))
                .count();
            (settled > 0).then_some((round.round, round.messages, settled))
        })
        .collect()
}

/// What the runs found, as Markdown tables.
struct Tables {
    /// A row per round that cleared.
    rounds: String,
    /// A row per round of the run that settled migrations.
    messages: String,
}

async fn run(
    transport: &str,
    hosts: usize,
    nats: Option<String>,
    steps: &Steps,
    tables: &mut Tables,
) -> bool {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/call-market-bench.toml");
    let scenario = Scenario::parse(&base, &scenario_text(hosts)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        run_dir: dir.path().join("run"),
        // A thousand peers join a round over one machine's loopback: room
        // to recruit them and to answer.
        agent: AgentConfig {
            recruit_ms: 5_000,
            grace_ms: 10_000,
            ..AgentConfig::default()
        },
        events: None,
        pace: Duration::ZERO,
        nats,
        time: Time::Wall,
    };
    steps.take();
    let started = Instant::now();
    let report = simulate::run(&scenario, &options, |round| {
        eprintln!(
            "  {transport}: round {} done after {:.1} s, {} trades",
            round.round,
            started.elapsed().as_secs_f64(),
            round.trades.len()
        );
    })
    .await
    .unwrap();
    let cleared = rounds_cleared(&steps.take());
    let mut within = !cleared.is_empty();
    for c in &cleared {
        within &= c.last_sent < Duration::from_millis(200) && c.unheard == 0;
        writeln!(
            tables.rounds,
            "| {transport} | {hosts} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} |",
            c.orders,
            c.trades,
            c.reading_ms,
            c.clearing_ms,
            c.recorded_ms,
            c.heard,
            c.unheard,
            c.last_sent.as_secs_f64() * 1000.0,
            c.last_heard.as_secs_f64() * 1000.0,
            c.last_recorded.as_secs_f64() * 1000.0,
        )
        .unwrap();
    }
    for (round, messages, migrations) in messages_per_migration(&report) {
        writeln!(
            tables.messages,
            "| {transport} | {round} | {messages} | {migrations} | {:.0} |",
            messages as f64 / migrations as f64
        )
        .unwrap();
    }
    eprintln!(
        "  {transport}: {} rounds cleared, {} migrations, audit {}",
        cleared.len(),
        report.trades.len(),
        if report.audit.is_consistent() {
            "clean"
        } else {
            "NOT clean"
        }
    );
    within && report.audit.is_consistent()
}

fn main() {
    let hosts = std::env::var("CALL_MARKET_HOSTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let steps = Steps::default();
    tracing_subscriber::registry()
        .with(
            steps.clone().with_filter(
                Targets::new()
                    .with_target(TARGET, Level::DEBUG)
                    .with_target(SENT, Level::TRACE),
            ),
        )
        .with(
            tracing_subscriber::fmt::layer().with_filter(Targets::new().with_default(Level::WARN)),
        )
        .init();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let mut tables = Tables {
        rounds: String::from(
            "| transport | hosts | orders | trades | reading orders, ms | clearing, ms | cleared, own legs recorded, ms | traders heard | traders unheard | last result sent, ms after collection | last result heard, ms after collection | last trade recorded, ms after collection |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        ),
        messages: String::from(
            "| transport | round of the run | messages | migrations settled | messages per migration |\n|---|---|---|---|---|\n",
        ),
    };
    let mut within = true;
    runtime.block_on(async {
        eprintln!("call market of {hosts} hosts, in-process bus");
        within &= run("in-process", hosts, None, &steps, &mut tables).await;
        eprintln!(
            "call market of {hosts} hosts, over nats-server {}",
            server.url()
        );
        within &= run("nats", hosts, Some(server.url()), &steps, &mut tables).await;
    });
    println!("{}\n{}", tables.rounds, tables.messages);
    println!(
        "every round cleared with every result sent within 200 ms of its collection, every trader heard its result, audits clean: {}",
        if within { "yes" } else { "NO" }
    );
}
