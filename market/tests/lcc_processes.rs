//! contract-net and double-auction across separate OS processes over a
//! real nats-server: the initiator here, each responder a child process
//! (this test executable run again as the ignored test `responder_process`),
//! recruited through invitations. The outcome is the in-process one; a
//! responder killed (by pid) mid-interaction leaves the others to complete
//! at the model's deadline.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod lcc_support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcc::interp::TokioClock;
use lcc::term::Term;
use lcc_support::{Log, SAYS, Scenario, Timing, in_process, settle};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{LocalNatsServer, NatsBus, NatsConfig};
use market::runtime::{Endpoint, InteractionIds, Offer, Participant, Recruitment, recruit};
use market::wire::WireLimits;
use tokio::sync::mpsc;

const TIMING: Timing = Timing {
    window_ms: 500,
    grace_ms: 500,
};

async fn peer(url: &str, me: &str) -> Endpoint {
    let config = NatsConfig::new([url], me);
    Endpoint {
        bus: Arc::new(NatsBus::connect(&config).await.unwrap()),
        space: SubjectSpace::in_zone(Token::new("procs").unwrap()),
        me: Token::new(me).unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    }
}

/// The child: a responder host (a contractor or a trader). Configured by
/// environment variables so that the test harness's own arguments stay
/// untouched; what its components do goes to stdout for the parent.
#[tokio::test]
#[ignore = "run by the tests of this file as a child process"]
async fn responder_process() {
    let url = std::env::var("BOURSE_TEST_NATS").unwrap();
    let scenario = Scenario::named(&std::env::var("BOURSE_TEST_MODEL").unwrap()).unwrap();
    let name = std::env::var("BOURSE_TEST_PEER").unwrap();
    let hang = std::env::var("BOURSE_TEST_HANG").is_ok();

    let log = Log::echoing();
    let offer = Offer {
        model: scenario.model(),
        role: scenario.responder_role().into(),
        components: scenario.responder_components(&name, hang, &log),
    };
    let participant = Participant::new(
        peer(&url, &name).await,
        vec![offer],
        Duration::from_secs(10),
    );
    let serving = participant.start().await.unwrap();
    log.push("ready".into());
    // Runs until the parent kills it.
    serving.await.unwrap();
}

/// A running child and the lines it said.
struct ChildPeer {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for ChildPeer {
    fn drop(&mut self) {
        // By pid; an error means it has exited already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_responder(
    url: &str,
    scenario: Scenario,
    name: &'static str,
    hang: bool,
    said: mpsc::UnboundedSender<String>,
) -> ChildPeer {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "responder_process", "--ignored", "--nocapture"])
        .env("BOURSE_TEST_NATS", url)
        .env("BOURSE_TEST_MODEL", scenario.name())
        .env("BOURSE_TEST_PEER", name)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if hang {
        command.env("BOURSE_TEST_HANG", "1");
    }
    let mut child = command.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(said_line) = line.strip_prefix(SAYS) {
                kept.lock().unwrap().push(said_line.to_owned());
                let _ = said.send(said_line.to_owned());
            }
        }
    });
    ChildPeer { name, child, lines }
}

/// Starts the responder processes, waits until each listens, recruits and
/// runs the initiator here; the responder named by `hang` hangs (in
/// `perform`, in `order_for`) and is killed by pid when it says so.
/// Returns the sorted log of the initiator and the children, waiting for
/// `lines` entries.
async fn round(scenario: Scenario, hang: Option<&str>, lines: usize) -> Vec<String> {
    let server = LocalNatsServer::start().unwrap();
    let responders = scenario.responders();
    let (said, mut hear) = mpsc::unbounded_channel();
    let mut children: Vec<ChildPeer> = responders
        .iter()
        .map(|name| {
            spawn_responder(
                &server.url(),
                scenario,
                name,
                hang == Some(*name),
                said.clone(),
            )
        })
        .collect();
    let mut ready = 0;
    while ready < responders.len() {
        let line = tokio::time::timeout(Duration::from_secs(30), hear.recv())
            .await
            .unwrap()
            .unwrap();
        if line == "ready" {
            ready += 1;
        }
    }

    let initiator = peer(&server.url(), scenario.initiator()).await;
    let model = scenario.model();
    let recruitment = Recruitment {
        role: scenario.responder_role().into(),
        within_ms: 300,
        reach: None,
    };
    let recruited = recruit(&initiator, &model, &recruitment).await.unwrap();
    assert_eq!(recruited.players.len(), responders.len());
    let log = Log::default();
    let components = scenario.initiator_components(&log);
    let run = recruited.run(
        &initiator,
        &model,
        |players: Vec<Term>| scenario.initiator_role(players, TIMING),
        &components,
    );
    let killer = async {
        if let Some(victim) = hang {
            let hangs = format!("{victim} hangs");
            while let Some(line) = hear.recv().await {
                if line == hangs {
                    let child = children.iter_mut().find(|c| c.name == victim).unwrap();
                    child.child.kill().unwrap();
                    break;
                }
            }
        }
    };
    let (result, ()) = tokio::join!(run, killer);
    result.unwrap();

    let everything = || {
        let mut all = log.sorted();
        for child in &children {
            all.extend(child.lines.lock().unwrap().iter().cloned());
        }
        all.retain(|l| l != "ready");
        all.sort();
        all
    };
    settle(everything, |entries| entries.len() >= lines).await
}

async fn same_outcome_as_in_process(scenario: Scenario) {
    let expected = scenario.expected();
    let outcome = round(scenario, None, expected.len()).await;
    assert_eq!(outcome, in_process(scenario, TIMING, &[]).await);
    assert_eq!(outcome, expected);
}

#[tokio::test]
async fn contractors_in_their_own_processes_reach_the_in_process_outcome() {
    same_outcome_as_in_process(Scenario::ContractNet).await;
}

#[tokio::test]
async fn traders_in_their_own_processes_reach_the_in_process_outcome() {
    same_outcome_as_in_process(Scenario::DoubleAuction).await;
}

/// The winner is killed while it performs: the manager closes the round
/// as `silent` at the grace deadline.
#[tokio::test]
async fn a_contractor_process_killed_while_it_performs_ends_the_round_as_silent() {
    let expected = [
        "c1 released rejected",
        "c2 hangs",
        "c2 performs",
        "c3 released rejected",
        "outcome task(vm42) c2 30 silent",
    ];
    let outcome = round(Scenario::ContractNet, Some("c2"), expected.len()).await;
    assert_eq!(outcome, expected);
}

/// The only seller that could trade is killed before it orders: the
/// auctioneer clears the others' orders at the collection deadline, as
/// the in-process round does with that trader silent.
#[tokio::test]
async fn a_trader_process_killed_before_it_orders_leaves_the_round_to_clear_at_the_deadline() {
    let expected = [
        "a cleared 2 orders",
        "t1 settles unmatched",
        "t2 hangs",
        "t3 settles unmatched",
    ];
    let outcome = round(Scenario::DoubleAuction, Some("t2"), expected.len()).await;
    assert_eq!(outcome, expected);
    let survivors: Vec<String> = outcome
        .into_iter()
        .filter(|l| !l.starts_with("t2 "))
        .collect();
    assert_eq!(
        survivors,
        in_process(Scenario::DoubleAuction, TIMING, &["t2"]).await
    );
}
