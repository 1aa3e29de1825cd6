//! The two shipped models as test scenarios, shared by the tests that run
//! them over the bus (`lcc_over_bus.rs`), across OS processes
//! (`lcc_processes.rs`) and in one process over `lcc`'s `Hub` (the
//! reference every other run is compared with).
//!
//! - contract net: manager `m`, contractors `c1` (30), `c2` (20), `c3`
//!   (25), `c4` (refuses); `c2` wins.
//! - double auction: auctioneer `a`, traders `t1` (buys at up to 50), `t2`
//!   (sells at 40 or more), `t3` (sells at 70 or more), `t4` (sits the
//!   round out); `t1` buys from `t2` at 45.
//!
//! What the components do is written to a [`Log`]; runs are compared by
//! their sorted logs.
#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // fixtures: a failure here is the test failing

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcc::ast::Mode;
use lcc::compile::Program;
use lcc::component::{Components, Failure};
use lcc::interp::{Clock, Interaction as InProcess, TokioClock};
use lcc::term::Term;
use market::bus::subject::Token;
use market::credits::Credits;
use market::mechanism::contract_net::{AwardRule, answer_award};
use market::runtime::Model;

/// What a child process prints before each log line meant for its parent.
pub const SAYS: &str = "peer-says: ";

/// What components did, for comparing runs. An echoing log also prints
/// each entry (after [`SAYS`]), for a parent process to read.
#[derive(Clone, Default)]
pub struct Log {
    entries: Arc<Mutex<Vec<String>>>,
    echo: bool,
}

impl Log {
    pub fn echoing() -> Self {
        Self {
            entries: Arc::default(),
            echo: true,
        }
    }

    pub fn push(&self, entry: String) {
        if self.echo {
            println!("{SAYS}{entry}");
        }
        self.entries.lock().unwrap().push(entry);
    }

    pub fn sorted(&self) -> Vec<String> {
        let mut entries = self.entries.lock().unwrap().clone();
        entries.sort();
        entries
    }
}

/// The deadlines of a round: how long the initiator collects answers, and
/// the grace after that for the last step.
#[derive(Clone, Copy)]
pub struct Timing {
    pub window_ms: i64,
    pub grace_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    ContractNet,
    DoubleAuction,
}

pub const SCENARIOS: [Scenario; 2] = [Scenario::ContractNet, Scenario::DoubleAuction];

/// How long a hanging component hangs: longer than any test.
const HANG: Duration = Duration::from_secs(60);

impl Scenario {
    /// The model's file name and the name it is advertised under.
    pub fn name(self) -> &'static str {
        match self {
            Self::ContractNet => "contract-net",
            Self::DoubleAuction => "double-auction",
        }
    }

    pub fn named(name: &str) -> Option<Self> {
        SCENARIOS.into_iter().find(|s| s.name() == name)
    }

    pub fn source(self) -> &'static str {
        lcc::models::find(self.name()).unwrap().source
    }

    pub fn program(self) -> Arc<Program> {
        let model = lcc::syntax::parse(self.source()).unwrap();
        Arc::new(Program::compile(&model).unwrap())
    }

    /// The model as a host loads it, from `source` (the shipped text, or
    /// another text under the same name).
    pub fn model_from(self, source: &str) -> Model {
        Model::load(Token::new(self.name()).unwrap(), source).unwrap()
    }

    pub fn model(self) -> Model {
        self.model_from(self.source())
    }

    /// The peer that starts the interaction.
    pub fn initiator(self) -> &'static str {
        match self {
            Self::ContractNet => "m",
            Self::DoubleAuction => "a",
        }
    }

    /// The role the initiator recruits.
    pub fn responder_role(self) -> &'static str {
        match self {
            Self::ContractNet => "contractor",
            Self::DoubleAuction => "trader",
        }
    }

    pub fn responders(self) -> &'static [&'static str] {
        match self {
            Self::ContractNet => &["c1", "c2", "c3", "c4"],
            Self::DoubleAuction => &["t1", "t2", "t3", "t4"],
        }
    }

    /// A name the initiator is told about that never answers: a host that
    /// is gone.
    pub fn absent(self) -> &'static str {
        match self {
            Self::ContractNet => "c5",
            Self::DoubleAuction => "t5",
        }
    }

    /// The victim of the kill tests: the contract net's winner, the
    /// auction's only seller that could trade.
    pub fn victim(self) -> &'static str {
        match self {
            Self::ContractNet => "c2",
            Self::DoubleAuction => "t2",
        }
    }

    pub fn initiator_role(self, players: Vec<Term>, timing: Timing) -> Term {
        let (functor, first) = match self {
            Self::ContractNet => ("manager", Term::apply("task", vec![Term::atom("vm42")])),
            Self::DoubleAuction => ("auctioneer", Term::atom("round1")),
        };
        Term::apply(
            functor,
            vec![
                first,
                Term::list(players),
                Term::Int(timing.window_ms),
                Term::Int(timing.grace_ms),
            ],
        )
    }

    pub fn initiator_components(self, log: &Log) -> Components {
        let mut components = Components::new();
        let log = log.clone();
        match self {
            Self::ContractNet => {
                components.register_fn(
                    "award",
                    &[Mode::In, Mode::In, Mode::Out, Mode::Out],
                    |args| answer_award(args, Credits(i64::MIN), AwardRule::FirstPrice),
                );
                components.register_fn("outcome", &[Mode::In; 4], move |args| {
                    log.push(format!(
                        "outcome {} {} {} {}",
                        args[0], args[1], args[2], args[3]
                    ));
                    Ok(vec![])
                });
            }
            Self::DoubleAuction => {
                components.register_fn("clear", &[Mode::In, Mode::Out], move |args| {
                    let results = clear(&args[0])?;
                    log.push(format!(
                        "a cleared {} orders",
                        args[0].as_list().map_or(0, |o| o.len())
                    ));
                    Ok(vec![args[0].clone(), results])
                });
            }
        }
        components
    }

    /// The components of responder `name`; a hanging one says
    /// `<name> hangs` at the step where it hangs (the contract net's
    /// `perform`, the auction's `order_for`), so that it can be killed
    /// there.
    pub fn responder_components(self, name: &str, hang: bool, log: &Log) -> Components {
        match self {
            Self::ContractNet => contractor(name, hang, log),
            Self::DoubleAuction => trader(name, hang, log),
        }
    }

    /// The sorted log of a round in which everybody answers.
    pub fn expected(self) -> Vec<String> {
        let lines: &[&str] = match self {
            Self::ContractNet => &[
                "c1 released rejected",
                "c2 performs",
                "c3 released rejected",
                "outcome task(vm42) c2 30 done",
            ],
            Self::DoubleAuction => &[
                "a cleared 3 orders",
                "t1 settles bought_from(t2, 45)",
                "t2 settles sold_to(t1, 45)",
                "t3 settles unmatched",
            ],
        };
        lines.iter().map(|l| (*l).to_owned()).collect()
    }
}

fn contractor(name: &str, hang: bool, log: &Log) -> Components {
    let price = match name {
        "c1" => Some(20),
        "c2" => Some(30),
        "c3" => Some(25),
        _ => None,
    };
    let name = name.to_owned();
    let mut components = Components::new();
    components.register_fn(
        "offer",
        &[Mode::In, Mode::In, Mode::Out],
        move |args| match price {
            Some(p) => Ok(vec![args[0].clone(), args[1].clone(), Term::Int(p)]),
            None => Err(Failure::no("no room for it")),
        },
    );
    let (performer, performed) = (name.clone(), log.clone());
    components.register_async("perform", &[Mode::In, Mode::In], move |_| {
        let (name, log) = (performer.clone(), performed.clone());
        async move {
            log.push(format!("{name} performs"));
            if hang {
                // A migration that never ends.
                log.push(format!("{name} hangs"));
                tokio::time::sleep(HANG).await;
            }
            Ok(vec![])
        }
    });
    let released = log.clone();
    components.register_fn("release", &[Mode::In, Mode::In], move |args| {
        released.push(format!("{name} released {}", args[1]));
        Ok(vec![])
    });
    components
}

fn trader(name: &str, hang: bool, log: &Log) -> Components {
    let order = match name {
        "t1" => Some(Term::apply("buy", vec![Term::Int(50)])),
        "t2" => Some(Term::apply("sell", vec![Term::Int(40)])),
        "t3" => Some(Term::apply("sell", vec![Term::Int(70)])),
        _ => None,
    };
    let name = name.to_owned();
    let mut components = Components::new();
    let (quoter, quoted) = (name.clone(), log.clone());
    components.register_async("order_for", &[Mode::In, Mode::Out], move |args| {
        let (name, log, order) = (quoter.clone(), quoted.clone(), order.clone());
        async move {
            if hang {
                // A trader that stops before it orders.
                log.push(format!("{name} hangs"));
                tokio::time::sleep(HANG).await;
            }
            match order {
                Some(order) => Ok(vec![args[0].clone(), order]),
                None => Err(Failure::no("sitting this round out")),
            }
        }
    });
    let settled = log.clone();
    components.register_fn("settle", &[Mode::In, Mode::In], move |args| {
        settled.push(format!("{name} settles {}", args[1]));
        Ok(vec![])
    });
    components
}

/// A small clearing rule for the tests (the market crate has the real
/// mechanisms): the highest buy meets the lowest sell when the buy's limit
/// covers the sell's, at the midpoint; every other order is unmatched.
/// Independent of the order in which the orders arrived.
fn clear(orders: &Term) -> Result<Term, Failure> {
    let orders = orders
        .as_list()
        .ok_or_else(|| Failure::broken("orders must be a list"))?;
    let parsed: Vec<(Term, String, i64)> = orders
        .iter()
        .map(|o| {
            let (trader, order) = (o.args().first()?, o.args().get(1)?);
            match order.args().first()? {
                Term::Int(limit) => Some((trader.clone(), order.functor()?.to_string(), *limit)),
                _ => None,
            }
        })
        .collect::<Option<_>>()
        .ok_or_else(|| Failure::broken("an order is not order(Trader, buy|sell(Limit))"))?;
    let best_buy = parsed.iter().filter(|o| o.1 == "buy").max_by_key(|o| o.2);
    let best_sell = parsed.iter().filter(|o| o.1 == "sell").min_by_key(|o| o.2);
    let deal = match (best_buy, best_sell) {
        (Some(b), Some(s)) if b.2 >= s.2 => Some((&b.0, &s.0, (b.2 + s.2) / 2)),
        _ => None,
    };
    let results = parsed
        .iter()
        .map(|(trader, _, _)| {
            let outcome = match deal {
                Some((b, s, price)) if trader == b => {
                    Term::apply("bought_from", vec![s.clone(), Term::Int(price)])
                }
                Some((b, s, price)) if trader == s => {
                    Term::apply("sold_to", vec![b.clone(), Term::Int(price)])
                }
                _ => Term::atom("unmatched"),
            };
            Term::apply("result", vec![trader.clone(), outcome])
        })
        .collect();
    Ok(Term::list(results))
}

pub fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::system())
}

/// The reference: the round in one process over `lcc`'s `Hub`. The
/// initiator's list is every responder and `silent`; a responder named in
/// `silent` is addressable but never answers.
pub async fn in_process(scenario: Scenario, timing: Timing, silent: &[&str]) -> Vec<String> {
    let log = Log::default();
    let mut names: Vec<&str> = scenario.responders().to_vec();
    let extra: Vec<&str> = silent
        .iter()
        .filter(|s| !names.contains(s))
        .copied()
        .collect();
    names.extend(extra);
    let players = names.iter().map(|n| Term::atom(n)).collect();
    let mut interaction = InProcess::new(scenario.program(), clock()).peer(
        scenario.initiator(),
        scenario.initiator_role(players, timing),
        scenario.initiator_components(&log),
    );
    for name in names {
        interaction = if silent.contains(&name) {
            interaction.silent_peer(name)
        } else {
            interaction.peer(
                name,
                Term::atom(scenario.responder_role()),
                scenario.responder_components(name, false, &log),
            )
        };
    }
    for outcome in interaction.run().await {
        assert!(outcome.result.is_ok(), "{outcome:?}");
    }
    log.sorted()
}

/// Waits (up to 5 s) until `log` holds what `enough` asks for (so many
/// entries, one entry): peers run in their own tasks or processes, so the
/// responders' last steps may come after the initiator has ended, and a
/// victim reaches its step when it does. Returns the entries as they are
/// then, for the caller to check.
pub async fn settle(
    log: impl Fn() -> Vec<String>,
    enough: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let started = tokio::time::Instant::now();
    loop {
        let entries = log();
        if enough(&entries) || started.elapsed() > Duration::from_secs(5) {
            return entries;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
