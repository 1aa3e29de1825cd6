//! contract-net across separate OS processes over a real nats-server: the
//! manager here, each contractor a child process (this test executable run
//! again as the ignored test `contractor_process`), recruited through
//! invitations. The outcome is the in-process one; a contractor killed
//! (by pid) while it performs leaves the manager to close the round as
//! `silent` at the grace deadline.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcc::ast::Mode;
use lcc::component::{Components, Failure};
use lcc::interp::TokioClock;
use lcc::term::Term;
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{LocalNatsServer, NatsBus, NatsConfig};
use market::runtime::{Model, Offer, Participant, Peer, Recruitment, recruit};
use market::wire::WireLimits;
use tokio::sync::mpsc;

const WINDOW_MS: i64 = 500;
const GRACE_MS: i64 = 500;
/// What a child prints before each line meant for the parent.
const SAYS: &str = "peer-says: ";

fn source() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../lcc-protocols/models/contract-net.lcc"
    );
    std::fs::read_to_string(path).unwrap()
}

fn model() -> Model {
    Model::load(Token::new("contract-net").unwrap(), &source()).unwrap()
}

async fn peer(url: &str, me: &str) -> Peer {
    let config = NatsConfig::new([url], me);
    Peer {
        bus: Arc::new(NatsBus::connect(&config).await.unwrap()),
        space: SubjectSpace::in_zone(Token::new("procs").unwrap()),
        me: Token::new(me).unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
    }
}

fn say(line: String) {
    println!("{SAYS}{line}");
}

/// The child: a contractor host. Configured by environment variables so
/// that the test harness's own arguments stay untouched.
#[tokio::test]
#[ignore = "run by the tests of this file as a child process"]
async fn contractor_process() {
    let url = std::env::var("BOURSE_TEST_NATS").unwrap();
    let name: &'static str = std::env::var("BOURSE_TEST_PEER").unwrap().leak();
    let price: Option<i64> = std::env::var("BOURSE_TEST_PRICE").unwrap().parse().ok();
    let hang = std::env::var("BOURSE_TEST_HANG").is_ok();

    let mut components = Components::new();
    components.register_fn("price", &[Mode::In, Mode::Out], move |args| match price {
        Some(p) => Ok(vec![args[0].clone(), Term::Int(p)]),
        None => Err(Failure::no("no room for it")),
    });
    components.register_async("perform", &[Mode::In], move |_| async move {
        say(format!("{name} performs"));
        if hang {
            // A migration that never ends: the parent kills this process.
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(vec![])
    });
    components.register_fn("release", &[Mode::In, Mode::In], move |args| {
        say(format!("{name} released {}", args[1]));
        Ok(vec![])
    });
    let offer = Offer {
        model: model(),
        role: "contractor".into(),
        components,
    };
    let participant =
        Participant::new(peer(&url, name).await, vec![offer], Duration::from_secs(10));
    let serving = participant.start().await.unwrap();
    say("ready".into());
    // Runs until the parent kills it.
    serving.await.unwrap();
}

/// A running child and the lines it said.
struct ChildPeer {
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

fn spawn_contractor(
    url: &str,
    name: &str,
    price: Option<i64>,
    hang: bool,
    said: mpsc::UnboundedSender<String>,
) -> ChildPeer {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "contractor_process", "--ignored", "--nocapture"])
        .env("BOURSE_TEST_NATS", url)
        .env("BOURSE_TEST_PEER", name)
        .env(
            "BOURSE_TEST_PRICE",
            price.map_or("none".to_owned(), |p| p.to_string()),
        )
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
    ChildPeer { child, lines }
}

/// Starts the contractor processes, waits until each listens, recruits and
/// runs the manager; the contractor named by `hang` hangs in `perform` and
/// is killed then. Returns every line said (the children's and the
/// manager's outcome).
async fn round(hang: Option<&str>) -> Vec<String> {
    let server = LocalNatsServer::start().unwrap();
    let contractors = [
        ("c1", Some(30)),
        ("c2", Some(20)),
        ("c3", Some(25)),
        ("c4", None),
    ];
    let (said, mut hear) = mpsc::unbounded_channel();
    let mut children: Vec<(&str, ChildPeer)> = contractors
        .iter()
        .map(|(name, price)| {
            let hangs = hang == Some(*name);
            (
                *name,
                spawn_contractor(&server.url(), name, *price, hangs, said.clone()),
            )
        })
        .collect();
    let mut ready = 0;
    while ready < contractors.len() {
        let line = tokio::time::timeout(Duration::from_secs(30), hear.recv())
            .await
            .unwrap()
            .unwrap();
        if line == "ready" {
            ready += 1;
        }
    }

    let manager = peer(&server.url(), "m").await;
    let contract_net = model();
    let recruitment = Recruitment {
        role: "contractor".into(),
        within_ms: 300,
    };
    let recruited = recruit(&manager, &contract_net, &recruitment)
        .await
        .unwrap();
    assert_eq!(recruited.players.len(), contractors.len());
    let outcome = Arc::new(Mutex::new(Vec::new()));
    let mut manager_components = Components::new();
    let recorded = Arc::clone(&outcome);
    manager_components.register_fn("outcome", &[Mode::In; 4], move |args| {
        recorded.lock().unwrap().push(format!(
            "outcome {} {} {} {}",
            args[0], args[1], args[2], args[3]
        ));
        Ok(vec![])
    });
    let role = |players: Vec<Term>| {
        Term::apply(
            "manager",
            vec![
                Term::apply("task", vec![Term::atom("vm42")]),
                Term::list(players),
                Term::Int(WINDOW_MS),
                Term::Int(GRACE_MS),
            ],
        )
    };
    let run = recruited.run(&manager, &contract_net, role, &manager_components);
    let killer = async {
        if let Some(victim) = hang {
            let performs = format!("{victim} performs");
            while let Some(line) = hear.recv().await {
                if line == performs {
                    let (_, child) = children.iter_mut().find(|(n, _)| *n == victim).unwrap();
                    child.child.kill().unwrap();
                    break;
                }
            }
        }
    };
    let (result, ()) = tokio::join!(run, killer);
    result.unwrap();

    // The rejected contractors release after the manager may have ended.
    let mut lines = Vec::new();
    for _ in 0..500 {
        lines = outcome.lock().unwrap().clone();
        for (_, child) in &children {
            lines.extend(child.lines.lock().unwrap().iter().cloned());
        }
        lines.retain(|l| l != "ready");
        if lines.iter().filter(|l| l.contains("released")).count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    lines.sort();
    lines
}

#[tokio::test]
async fn contractors_in_their_own_processes_reach_the_in_process_outcome() {
    assert_eq!(
        round(None).await,
        [
            "c1 released rejected",
            "c2 performs",
            "c3 released rejected",
            "outcome task(vm42) c2 20 done",
        ]
    );
}

#[tokio::test]
async fn a_contractor_process_killed_while_it_performs_ends_the_round_as_silent() {
    assert_eq!(
        round(Some("c2")).await,
        [
            "c1 released rejected",
            "c2 performs",
            "c3 released rejected",
            "outcome task(vm42) c2 20 silent",
        ]
    );
}
