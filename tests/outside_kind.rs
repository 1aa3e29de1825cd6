//! A protocol kind defined outside bourse: a lottery, contract net's call
//! in which the VM goes to a proposal drawn at random among those that
//! reach the seller's reserve. It is registered through the bidder's
//! public API (`bidder::protocol::register`) and played by a simulated
//! cluster through `bourse::simulate`, to settled, audited trades. Adding
//! it changes no file under `bidder/` or `src/`: docs/lcc.md ("Adding a
//! protocol kind") walks through this file.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;

use bidder::agent::{AgentConfig, AgentError, HostContext, Initiative};
use bidder::migration::Outcome;
use bidder::problem::ConfigProblem;
use bidder::protocol::contract_net::{self, Decision, MANAGER};
use bidder::protocol::terms::Task;
use bidder::protocol::vocabulary::OUTCOME;
use bidder::protocol::{
    self, Initiates, KindPlay, KindSettings, Play, Protocol, ProtocolKind, Role, Selection,
    Signature,
};
use bourse::simulate::scenario::Scenario;
use bourse::simulate::{self, Options, Time};
use futures::future::BoxFuture;
use lcc::ast::Mode::{In, Out};
use lcc::component::{Components, Failure};
use lcc::term::Term;
use market::policy::Classification;

/// The lottery's model: contract net's, calling `draw` for `award`.
const MODEL: lcc::models::Shipped = lcc::models::Shipped {
    name: "lottery",
    file: "../tests/fixtures/lottery.lcc",
    source: include_str!("fixtures/lottery.lcc"),
};

/// `draw(+Task, +Proposals, -Winner, -Price)`.
const DRAW: Signature = Signature {
    name: "draw",
    modes: &[In, In, Out, Out],
    meaning: "the manager's: a contractor drawn among the proposals that reach the task's \
              reserve, and what it pays (its proposal); does not hold when none does",
};

/// The kind: contract net's roles and timing, a drawn winner.
struct Lottery;

impl ProtocolKind for Lottery {
    fn name(&self) -> &'static str {
        "lottery"
    }

    fn shipped_model(&self) -> lcc::models::Shipped {
        MODEL
    }

    fn roles(&self) -> [Role; 2] {
        [
            Role {
                name: MANAGER,
                parameters: 4,
                signatures: &[DRAW, OUTCOME],
            },
            // Its contractors are contract net's: the same role, the
            // same components.
            protocol::CONTRACT_NET.roles()[1],
        ]
    }

    fn initiates(&self) -> Initiates {
        Initiates::When(Classification::Overloaded)
    }

    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        let drawing: Drawing = protocol::read_settings(table, |key| {
            (key == "award").then(|| "a lottery draws its winner: it has no award rule".into())
        })?;
        Ok(Arc::new(drawing))
    }

    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        Arc::new(Tickets(host))
    }
}

/// A lottery's one setting (`[protocol.<name>] salt = N`): a number mixed
/// into every draw, so that two zones draw differently.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Drawing {
    #[serde(default)]
    salt: u64,
}

impl KindSettings for Drawing {
    fn show(&self) -> Vec<(&'static str, String)> {
        vec![("salt", self.salt.to_string())]
    }
}

/// One host's part in lotteries: it answers as contract net's contractors
/// do, and calls as its managers do, with a drawn winner.
struct Tickets(Arc<HostContext>);

impl KindPlay for Tickets {
    fn respond(&self, _protocol: &Protocol) -> Components {
        contract_net::contractor(Arc::clone(&self.0))
    }

    fn initiate<'a>(
        &'a self,
        play: &'a Play<'a>,
        protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>> {
        let salt = protocol.settings::<Drawing>().salt;
        let drawn = Decision {
            signature: DRAW,
            decide: Arc::new(move |task, args| draw(task, args, salt)),
        };
        Box::pin(async move { contract_net::manage(play, protocol, drawn).await.map(Some) })
    }
}

/// The draw: uniform among the proposals at or above the reserve, the
/// winner paying its own proposal. Drawn from a hash of the VM and the
/// proposals and the salt, so the same run draws the same.
fn draw(task: &Task, args: &[Term], salt: u64) -> Result<Vec<Term>, Failure> {
    let bids = args[1]
        .as_list()
        .ok_or_else(|| Failure::broken(format!("proposals {} are not a list", args[1])))?;
    let acceptable: Vec<(&Term, i64)> = bids
        .iter()
        .filter_map(|bid| match bid.args() {
            [peer, Term::Int(price)] if *price >= task.reserve.0 => Some((peer, *price)),
            _ => None,
        })
        .collect();
    if acceptable.is_empty() {
        return Err(Failure::no(format!(
            "no proposal reaches the reserve {}",
            task.reserve
        )));
    }
    let mut hasher = DefaultHasher::new();
    (&task.uuid, args[1].to_string(), salt).hash(&mut hasher);
    let ticket = usize::try_from(hasher.finish() % acceptable.len() as u64).unwrap();
    let (winner, price) = acceptable[ticket];
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        winner.clone(),
        Term::Int(price),
    ])
}

static LOTTERY: Lottery = Lottery;

/// A configuration's `[protocol.lottery]` reaches the lottery's own
/// `configure`: its setting is read, and a key it does not take is
/// refused with the key.
fn lottery_settings_are_read_and_checked_by_the_kind() {
    let resolve = |tables: &str| {
        let settings = toml::from_str(tables).unwrap();
        Selection {
            names: &["lottery".to_string()],
            names_key: "protocols",
            settings: &settings,
            base: std::path::Path::new("."),
        }
        .resolve()
    };
    let salted = resolve("[lottery]\nsalt = 5").unwrap();
    assert_eq!(salted[0].shown_settings(), [("salt", "5".to_string())]);
    for (table, key) in [
        (
            "[lottery]\naward = \"first-price\"",
            "protocol.lottery.award",
        ),
        ("[lottery]\nsalt = \"five\"", "protocol.lottery.salt"),
        ("[lottery]\ntickets = 3", "protocol.lottery.tickets"),
    ] {
        let problems = resolve(table).unwrap_err();
        assert_eq!(problems[0].key, key, "{table}: {problems:?}");
    }
}

#[tokio::test]
async fn a_kind_defined_outside_bourse_trades_in_a_simulated_cluster() {
    protocol::register(&LOTTERY).unwrap();
    let err = protocol::register(&LOTTERY).unwrap_err();
    assert!(err.to_string().contains("\"lottery\""), "{err}");
    lottery_settings_are_read_and_checked_by_the_kind();

    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/seed002-scenario1.toml");
    let scenario = Scenario::playing(&file, &["lottery".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        run_dir: dir.path().join("run"),
        agent: AgentConfig::default(),
        events: None,
        pace: std::time::Duration::ZERO,
        nats: None,
        time: Time::Simulated,
    };
    let report = simulate::run(&scenario, &options, |_| {}).await.unwrap();

    let trades: Vec<_> = report
        .history
        .iter()
        .flat_map(|round| &round.trades)
        .map(|t| &t.trade)
        .collect();
    assert!(!trades.is_empty(), "{report}");
    for trade in &trades {
        assert_eq!(trade.protocol, "lottery", "{report}");
        assert_eq!(trade.outcome, Outcome::Settled, "{report}");
    }
    assert!(report.audit.is_consistent(), "{report}");
    assert!(report.audit.in_flight.is_empty(), "{report}");
    // The scenario's own expectations hold (the VMs spread one a host, the
    // hosts end satisfied) but its count of trades: that is contract net's,
    // whose best offer never sends a VM to a host that must pass it on.
    let held = |c: &&bourse::simulate::report::Check| c.holds || c.what.ends_with("trades settled");
    assert!(report.checks.iter().all(|c| held(&c)), "{report}");
}
