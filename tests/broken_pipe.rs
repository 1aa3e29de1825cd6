//! Every command that prints ends quietly when its reader goes away, as
//! Unix tools do (`market watch --json | head -3`): exit 141 (or 0), and
//! no panic or backtrace on stderr.
//!
//! - Each one-shot command (`simulate`, `ledger`, `audit`, `protocol`,
//!   `nats-config`, `replay`, `place`, and `--help` of both binaries)
//!   prints into a pipe whose reader closed before it started, so its
//!   first write fails: a reader that leaves later fails a later write
//!   the same way. What they do stands: the replay's plot and
//!   nats-config's files are written, the placement is made.
//! - `market watch --json` streams: its reader takes one line of a
//!   simulated zone publishing over nats-server, then leaves.
//! - A stdout that fails for another reason (`> /dev/full`) is an error
//!   said in words, exit 1.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, WANTS_MEMORY, ZONE, trades_in};
use market::bus::LocalNatsServer;
use market::ledger::{TradeKind, TradeState};

const MARKET: &str = env!("CARGO_BIN_EXE_market");

/// The signal a shell reports as 141 = 128 + 13.
const SIGPIPE: i32 = 13;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `program` run from the repository with `args`, its stdout a pipe whose
/// reader has already gone.
fn unread(program: &str, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Command::new(program)
        .current_dir(repo())
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(writer)
        .output()
        .unwrap()
}

/// How `command` failed to end as a Unix tool whose reader left does;
/// `None` when it ended so.
fn noise(command: &str, status: ExitStatus, stderr: &[u8]) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let quiet_status = matches!(status.code(), Some(0 | 141)) || status.signal() == Some(SIGPIPE);
    let quiet_words = ["panicked", "backtrace", "Broken pipe"]
        .iter()
        .all(|noise| !stderr.contains(noise));
    (!quiet_status || !quiet_words).then(|| format!("{command}: {status}\n{stderr}"))
}

fn assert_quiet(command: &str, status: ExitStatus, stderr: &[u8]) {
    if let Some(noise) = noise(command, status, stderr) {
        panic!("{noise}");
    }
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[tokio::test]
async fn every_command_ends_quietly_when_its_reader_has_gone() {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| path(&dir.path().join(name)).to_owned();
    let (run, run_json, nats, plot) = (at("run"), at("run-json"), at("nats"), at("replay.svg"));
    // Every command is tried, and every noisy one named.
    let mut noisy = Vec::new();
    let mut unread_quietly = |program: &str, args: &[&str]| {
        let out = unread(program, args);
        let command = format!("{program} {}", args.join(" "));
        noisy.extend(noise(&command, out.status, &out.stderr));
    };
    // The simulation leaves its ledgers for the commands that read them.
    let scenario = "scenarios/seed002-scenario1.toml";
    unread_quietly(
        MARKET,
        &["simulate", scenario, "--quiet", "--run-dir", &run],
    );
    let json = [
        "simulate",
        scenario,
        "--quiet",
        "--json",
        "--run-dir",
        &run_json,
    ];
    unread_quietly(MARKET, &json);
    let ledgers: Vec<String> = ["hp1", "hp2", "hp3", "hp4"]
        .iter()
        .map(|host| format!("{run}/{host}.ledger.sqlite"))
        .collect();
    let hp1 = ledgers[0].as_str();
    let settled = trades_in(Path::new(hp1), TradeState::Settled).await;
    let trade = &settled.first().expect("hp1 sold a VM").terms.trade_id;
    let trade = trade.to_string();
    unread_quietly(MARKET, &["ledger", "trades", hp1]);
    unread_quietly(MARKET, &["ledger", "trades", hp1, "--json"]);
    unread_quietly(MARKET, &["ledger", "show", hp1, &trade]);
    unread_quietly(MARKET, &["ledger", "show", hp1, &trade, "--json"]);
    let audit: Vec<&str> = std::iter::once("audit")
        .chain(ledgers.iter().map(String::as_str))
        .collect();
    unread_quietly(MARKET, &audit);

    let models: Vec<String> = std::fs::read_dir(repo().join("lcc-protocols/models"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lcc"))
        .map(|p| path(&p).to_owned())
        .collect();
    let models: Vec<&str> = models.iter().map(String::as_str).collect();
    unread_quietly(MARKET, &[&["protocol", "fmt"][..], &models].concat());
    let check = ["protocol", "check", "--json"];
    unread_quietly(MARKET, &[&check[..], &models].concat());

    let zone = ["nats-config", "--zone", ZONE, "--host", "a", "--out", &nats];
    unread_quietly(MARKET, &zone);
    let trace = [
        "replay",
        "--trace",
        "tests/fixtures/planetlab",
        "--day",
        "20110303",
    ];
    let small = [
        "--policy", "dvfs", "--hosts", "50", "--hours", "1", "--plot", &plot,
    ];
    unread_quietly(MARKET, &[&trace[..], &small].concat());
    unread_quietly(MARKET, &["--help"]);
    unread_quietly(MARKET, &["completions", "bash"]);
    let pages = format!("{}/man", dir.path().display());
    unread_quietly(MARKET, &["man", "--out", &pages]);
    let bidder = env!("CARGO_BIN_EXE_bidder");
    unread_quietly(bidder, &["--help"]);
    unread_quietly(bidder, &["--man"]);
    unread_quietly(bidder, &["--completions", "zsh"]);
    assert!(noisy.is_empty(), "{}", noisy.join("\n---\n"));
    // What the commands did stands without their reader.
    assert!(Path::new(&plot).exists(), "the replay wrote no plot");
    assert!(Path::new(&nats).join("nats-server.conf").exists());
}

#[test]
fn a_watcher_whose_reader_leaves_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let log = dir.path().join("watch.log");
    let mut watcher = Command::new(MARKET)
        .args(["watch", "--json", "--zone", "sim", "--server", &url])
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !said().contains("watching zone") {
        assert!(Instant::now() < deadline, "never subscribed:\n{}", said());
        std::thread::sleep(Duration::from_millis(20));
    }
    // A zone publishing, a round every 300 ms, while the watcher runs.
    let mut zone = Command::new(MARKET)
        .arg("simulate")
        .arg(repo().join("scenarios/seed002-scenario1.toml"))
        .args(["--quiet", "--pace-ms", "300", "--watch", &url, "--run-dir"])
        .arg(dir.path().join("run"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The reader takes one line and leaves, as `head -1` does.
    let stdout = watcher.stdout.take().unwrap();
    let (line_tx, line) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = BufReader::new(stdout).read_line(&mut first);
        let _ = line_tx.send(first);
    });
    let first = line.recv_timeout(Duration::from_secs(15));
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = watcher.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline || first.is_err() {
            let _ = watcher.kill();
            let _ = watcher.wait();
            panic!(
                "the watcher went on without its reader ({first:?}):\n{}",
                said()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let first: serde_json::Value = serde_json::from_str(&first.unwrap()).unwrap();
    assert_eq!(first["kind"], "status", "{first}");
    assert_quiet("market watch --json", status, said().as_bytes());
    zone.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_whose_reader_has_gone_is_made_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let a = Daemon::start(dir.path(), &url, "a", WANTS_MEMORY, &[]);
    let vm = ["--name", "web1", "--vcpus", "1", "--memory-mib", "512"];
    let zone = [
        "place",
        "--zone",
        ZONE,
        "--server",
        &url,
        "--domain-type",
        "test",
    ];
    let out = unread(MARKET, &[&zone[..], &vm].concat());
    assert_quiet("market place", out.status, &out.stderr);
    let placed = trades_in(&a.ledger, TradeState::Settled).await;
    assert!(
        placed.iter().any(|t| t.terms.kind == TradeKind::Placement),
        "{placed:?}"
    );
    a.stop();
}

#[test]
fn a_stdout_that_fails_otherwise_is_an_error_in_words() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = Command::new(MARKET)
        .current_dir(repo())
        .args(["protocol", "fmt", "lcc-protocols/models/placement.lcc"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("market: cannot write to stdout: No space left on device"),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
}
