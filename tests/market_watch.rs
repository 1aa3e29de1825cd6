//! `market watch` as an operator runs it, against `bidder` daemons as
//! separate processes over a real nats-server (libvirt's `test:///` driver,
//! ledgers on disk, as in tests/bidder_daemon.rs).
//!
//! - Under the observer user `market nats-config --observer` writes,
//!   `market watch --json` sees each host's status and the whole lifecycle
//!   of a trade between two daemons (agreed, migrating, settled) in order;
//!   the observer cannot publish anything (the server refuses and no host
//!   hears it); SIGTERM ends the watcher with exit 0.
//! - A bidder whose events cannot be published (their server is
//!   unreachable) keeps trading, and `/metrics` counts the dropped events.
//! - Bad input on a status subject (random bytes, a truncated envelope, an
//!   oversized payload, an unknown schema version, a status naming another
//!   host) is dropped and counted, each with its reason; the watcher goes
//!   on and shows the next good status.
//! - The live view in a real pseudo-terminal (`script`): it starts, draws
//!   the zone, and quits on `q` with exit 0.
//! - A watcher refused by the server (wrong password) or with no server
//!   says so and exits 1.
//! - `market simulate --watch URL` publishes a simulated cluster's events:
//!   the watcher sees every host and each trade's lifecycle in order, and
//!   an idle host's load as 0 (not -0, once shown as `-0.00`).
//! - An `[events]` mistake in a bidder's configuration is refused with its
//!   key.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use daemon_support::{
    Daemon, GIVES_ALL, Process, Settings, WANTS_MEMORY, ZONE, credentials, free_port, lines,
    sample, wait_for_settled, watch_zone,
};
use futures::StreamExt;
use market::bus::subject::Token;
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};
use market::events::HostStatus;
use market::policy::Classification;
use market::resources::Resources;
use market::wire::{Envelope, WireLimits, encode};
use serde_json::Value;

/// Starts host `name` with `policy` and `vms` at a half-second period;
/// `extra` goes into the `[nats]` table (credentials), `tables` at the end
/// of the file.
fn daemon(
    dir: &Path,
    url: &str,
    name: &str,
    (policy, vms): (&str, &[u8]),
    (extra, tables): (&str, &str),
) -> Daemon {
    let settings = Settings {
        nats: extra.to_string(),
        tables: tables.to_string(),
        period_ms: 500,
        ..Settings::default()
    };
    Daemon::start_with(dir, url, name, policy, vms, &settings)
}

/// `market watch --json` of zone dc1 with `args`, its lines in
/// `dir/<name>.jsonl`; returns once it is subscribed.
fn watch_json(dir: &Path, name: &str, args: &[&str]) -> (Process, PathBuf) {
    watch_zone(dir, name, ZONE, args)
}

/// The states, in the order heard, of every trade event in `lines`.
fn trade_states(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["kind"] == "trade")
        .map(|l| {
            (
                l["trade"]["trade_id"].as_str().unwrap().to_owned(),
                l["trade"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn wait_for_lines(path: &Path, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = lines(path);
        if done(&now) {
            return now;
        }
        assert!(
            Instant::now() < deadline,
            "watcher never showed {what}:\n{now:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_observer_sees_every_host_and_a_whole_trade_and_cannot_publish() {
    let dir = tempfile::tempdir().unwrap();
    let nats_dir = dir.path().join("nats");
    let generated = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["nats-config", "--zone", ZONE, "--host", "a", "--host", "b"])
        .args(["--observer", "watch", "--out"])
        .arg(&nats_dir)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let server = LocalNatsServer::start_with_config(&nats_dir.join("nats-server.conf")).unwrap();
    let url = server.url();
    let password = |user: &str| nats_dir.join(format!("{user}.password"));
    let watch_password = password("watch");
    let (watcher, out) = watch_json(
        dir.path(),
        "watch",
        &[
            "--server",
            &url,
            "--user",
            "watch",
            "--password-file",
            watch_password.to_str().unwrap(),
        ],
    );
    let credentials = |host: &str| credentials(&nats_dir, host);
    let b = daemon(
        dir.path(),
        &url,
        "b",
        (WANTS_MEMORY, &[]),
        (&credentials("b"), ""),
    );
    let a = daemon(
        dir.path(),
        &url,
        "a",
        (GIVES_ALL, &[1]),
        (&credentials("a"), ""),
    );
    wait_for_settled(&a, 1, Duration::from_secs(15)).await;

    let seen = wait_for_lines(&out, "the settled trade", |l| {
        trade_states(l).iter().any(|(_, s)| s == "settled")
    });
    // Every host's status, as itself.
    for host in ["a", "b"] {
        let status = seen
            .iter()
            .find(|l| l["kind"] == "status" && l["status"]["host"] == host)
            .unwrap_or_else(|| panic!("no status of {host}: {seen:#?}"));
        assert_eq!(
            status["subject"],
            format!("bourse.{ZONE}.hosts.{host}.status")
        );
        assert_eq!(status["status"]["zone"], ZONE);
        assert_eq!(status["status"]["capacity"]["memory_mib"], 16384);
        assert_eq!(status["status"]["protocols"][0], "contract-net");
        assert_eq!(status["status"]["period_ms"], 500);
    }
    let first_a = seen
        .iter()
        .find(|l| l["kind"] == "status" && l["status"]["host"] == "a")
        .unwrap();
    assert_eq!(first_a["status"]["class"], "overloaded");
    assert_eq!(first_a["status"]["vm_count"], 1);
    assert_eq!(first_a["status"]["reserved"]["memory_mib"], 512);
    // The whole lifecycle, in order, of the one trade, as the ledgers have it.
    let states = trade_states(&seen);
    let id = states[0].0.clone();
    assert!(states.iter().all(|(t, _)| *t == id), "{states:?}");
    let order: Vec<&str> = states.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(order, ["agreed", "migrating", "settled"]);
    let reader = market::ledger::Ledger::open_read_only(&a.ledger)
        .await
        .unwrap();
    let record = reader
        .trade(&market::ledger::TradeId::new(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    reader.close().await;
    let settled = seen
        .iter()
        .find(|l| l["kind"] == "trade" && l["trade"]["state"] == "settled")
        .unwrap();
    let trade = &settled["trade"];
    assert_eq!(
        (trade["seller"].as_str(), trade["buyer"].as_str()),
        (Some("a"), Some("b"))
    );
    assert_eq!(trade["vms"][0], "vm1");
    assert_eq!(trade["price"], record.terms.price.micros());
    assert_eq!(trade["protocol"], "contract-net");
    assert!(trade["migration_ms"].is_u64(), "{trade}");
    assert_eq!(settled["subject"], format!("bourse.{ZONE}.trades.a"));
    // After the trade a is content; its later status says so.
    wait_for_lines(&out, "a after the trade", |l| {
        l.iter().any(|l| {
            l["kind"] == "status" && l["status"]["host"] == "a" && l["status"]["vm_count"] == 0
        })
    });
    let metrics = a.scrape();
    assert_eq!(
        sample(&metrics, r#"bourse_events_published_total{kind="trade"}"#),
        3,
        "{metrics}"
    );
    assert!(
        !metrics.contains("bourse_events_dropped_total"),
        "{metrics}"
    );

    // The observer may listen, not speak: the server refuses its publish
    // and no host hears it.
    let mut observer_config = NatsConfig::new([url.as_str()], "watch");
    observer_config.credentials = market::bus::Credentials::Password {
        user: "watch".into(),
        password_file: watch_password.clone(),
    };
    observer_config.inbox_prefix = "_INBOX.watch".into();
    let observer = NatsBus::connect(&observer_config).await.unwrap();
    let mut refusals = observer.server_errors();
    let listener = NatsBus::connect(&NatsConfig::for_host(
        [url.as_str()],
        &Token::new("b").unwrap(),
        &password("b"),
    ))
    .await
    .unwrap();
    let mut heard = listener
        .subscribe(&format!("bourse.{ZONE}.hosts.*.status"))
        .await
        .unwrap();
    listener.sync().await.unwrap();
    let forged = status_bytes("a", 0);
    observer
        .publish(&format!("bourse.{ZONE}.hosts.a.status"), forged.clone())
        .await
        .unwrap();
    observer.sync().await.unwrap();
    let refusal = tokio::time::timeout(Duration::from_secs(5), refusals.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        refusal.contains("Permissions Violation for Publish"),
        "{refusal}"
    );
    let until = Instant::now() + Duration::from_millis(1500);
    while let Ok(Some(message)) = tokio::time::timeout(
        until.saturating_duration_since(Instant::now()),
        heard.next(),
    )
    .await
    {
        assert_ne!(message.payload, forged, "a host heard the observer");
    }

    let status = watcher.terminate();
    assert!(status.success(), "market watch exited {status}");
    for daemon in [a, b] {
        daemon.stop();
    }
}

/// An encoded status of `host` (the envelope's sender) with `vm_count`.
fn status_bytes(host: &str, vm_count: u32) -> bytes::Bytes {
    status_naming(host, host, vm_count)
}

/// An encoded status sent by `sender` about `host`.
fn status_naming(sender: &str, host: &str, vm_count: u32) -> bytes::Bytes {
    let token = Token::new(sender).unwrap();
    let status = HostStatus {
        host: Token::new(host).unwrap(),
        zone: Token::new(ZONE).unwrap(),
        class: Classification::Satisfied,
        holding: false,
        load_one: 0.25,
        reserved: Resources::new(1000, 512, 0),
        used: Resources::new(250, 512, 0),
        capacity: Resources::new(4000, 16384, 1000),
        vm_count,
        utility: 1.5,
        protocols: vec![Token::new("contract-net").unwrap()],
        version: "0.1.0".into(),
        period_ms: 1000,
        at_ms: 0,
    };
    let envelope = Envelope {
        sender: token,
        recipient: None,
        interaction: None,
        sequence: 0,
        body: status,
    };
    encode(&envelope, &WireLimits::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidder_whose_events_cannot_be_published_keeps_trading() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    // Nothing listens on this port: the events' own server is down.
    let unreachable = format!(
        "[events]\nnats = {{ servers = [\"nats://127.0.0.1:{}\"], name = \"a-events\" }}\n",
        free_port()
    );
    let b = daemon(dir.path(), &url, "b", (WANTS_MEMORY, &[]), ("", ""));
    let a = daemon(dir.path(), &url, "a", (GIVES_ALL, &[1]), ("", &unreachable));
    wait_for_settled(&a, 1, Duration::from_secs(15)).await;
    wait_for_settled(&b, 1, Duration::from_secs(5)).await;
    // Its statuses (one a period) and its trade's three events are dropped
    // and counted; nothing was published.
    let deadline = Instant::now() + Duration::from_secs(5);
    let metrics = loop {
        let metrics = a.scrape();
        if sample(
            &metrics,
            r#"bourse_events_dropped_total{reason="unreachable"}"#,
        ) >= 4
        {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{metrics}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        !metrics.contains("bourse_events_published_total"),
        "{metrics}"
    );
    assert_eq!(
        sample(&metrics, r#"bourse_initiatives_total{outcome="settled"}"#),
        1,
        "{metrics}"
    );
    assert!(a.log().contains("cannot reach the events server"));
    // b's events went out on its trading connection as usual.
    assert!(
        b.scrape()
            .contains(r#"bourse_events_published_total{kind="status"}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_a_status_subject_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let (watcher, out) = watch_json(dir.path(), "watch", &["--server", &url]);
    let bus = NatsBus::connect(&NatsConfig::new([url.as_str()], "flood"))
        .await
        .unwrap();
    let subject = format!("bourse.{ZONE}.hosts.x.status");
    let good = status_bytes("x", 2);
    let mut unknown_version = good.to_vec();
    // The version is the first varint: 2 today, one byte.
    unknown_version[0] = 99;
    let sent: Vec<(bytes::Bytes, &str)> = vec![
        (bytes::Bytes::from_static(b"\xff\x00garbage"), "malformed"),
        (good.slice(..good.len() - 3), "truncated"),
        (bytes::Bytes::from(vec![0u8; 70 * 1024]), "oversized"),
        (bytes::Bytes::from(unknown_version), "wrong_version"),
        (status_bytes("y", 1), "sender_mismatch"),
        (status_naming("x", "y", 1), "address_mismatch"),
        (good.clone(), "status"),
    ];
    for (payload, _) in &sent {
        bus.publish(&subject, payload.clone()).await.unwrap();
    }
    bus.sync().await.unwrap();
    let seen = wait_for_lines(&out, "every message", |l| l.len() == sent.len());
    for (line, (_, expected)) in seen.iter().zip(&sent) {
        if *expected == "status" {
            assert_eq!(line["kind"], "status", "{line}");
            assert_eq!(line["status"]["vm_count"], 2);
        } else {
            assert_eq!(line["kind"], "dropped", "{line}");
            assert_eq!(line["reason"], *expected, "{line}");
            assert_eq!(line["subject"], subject.as_str());
        }
    }
    assert!(
        seen[3]["detail"]
            .as_str()
            .unwrap()
            .contains("schema version 99"),
        "{}",
        seen[3]
    );
    let status = watcher.terminate();
    assert!(status.success(), "market watch exited {status}");
}

#[test]
fn the_live_view_draws_in_a_terminal_and_quits_on_q() {
    let server = LocalNatsServer::start().unwrap();
    // `script` gives the watcher a real pseudo-terminal; what it draws
    // comes out on script's stdout, and what we write reaches its keyboard.
    let command = format!(
        "stty rows 30 cols 120; exec {} watch --zone {ZONE} --server {}",
        env!("CARGO_BIN_EXE_market"),
        server.url()
    );
    let mut child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (drawn_tx, drawn) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut screen = Vec::new();
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut chunk) {
            if n == 0 {
                break;
            }
            screen.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&screen);
            if text.contains("zone") && text.contains("HOST") && text.contains("TRADE") {
                let _ = drawn_tx.send(());
            }
        }
    });
    drawn
        .recv_timeout(Duration::from_secs(15))
        .expect("the view was never drawn");
    child.stdin.as_mut().unwrap().write_all(b"q").unwrap();
    child.stdin.as_mut().unwrap().flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("market watch did not quit on q");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "market watch exited {status}");
}

#[test]
fn a_watcher_that_cannot_connect_or_is_refused_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let nobody = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["watch", "--json", "--zone", ZONE, "--server"])
        .arg(format!("nats://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    let text = String::from_utf8_lossy(&nobody.stderr);
    assert!(text.contains("cannot connect to NATS"), "{text}");
    assert!(text.contains("is nats-server running there?"), "{text}");

    let nats_dir = dir.path().join("nats");
    let generated = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["nats-config", "--zone", ZONE, "--host", "a"])
        .args(["--observer", "watch", "--out"])
        .arg(&nats_dir)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    let server = LocalNatsServer::start_with_config(&nats_dir.join("nats-server.conf")).unwrap();
    let wrong = dir.path().join("wrong.password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let refused = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["watch", "--json", "--zone", ZONE, "--server", &server.url()])
        .args(["--user", "watch", "--password-file"])
        .arg(&wrong)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stderr);
    assert!(text.contains("authorization"), "{text}");
    assert!(text.contains("--password-file"), "{text}");

    // The observer may listen to its own zone only: the server refuses a
    // subscription to another.
    let other_zone = Command::new(env!("CARGO_BIN_EXE_market"))
        .args([
            "watch",
            "--json",
            "--zone",
            "elsewhere",
            "--server",
            &server.url(),
        ])
        .args(["--user", "watch", "--password-file"])
        .arg(nats_dir.join("watch.password"))
        .output()
        .unwrap();
    assert_eq!(other_zone.status.code(), Some(1));
    let text = String::from_utf8_lossy(&other_zone.stderr);
    assert!(
        text.contains("Permissions Violation for Subscription"),
        "{text}"
    );
}

#[test]
fn a_simulated_cluster_can_be_watched() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let (watcher, out) = watch_zone(dir.path(), "watch", "sim", &["--server", &url]);
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/seed002-scenario1.toml");
    let run = Command::new(env!("CARGO_BIN_EXE_market"))
        .arg("simulate")
        .arg(&scenario)
        .args(["--quiet", "--json", "--watch", &url, "--run-dir"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let report: Value = serde_json::from_slice(&run.stdout).unwrap();
    let trades = report["trades"].as_array().unwrap().len();
    assert_eq!(trades, 3, "{report}");
    let seen = wait_for_lines(&out, "every trade settled", |l| {
        trade_states(l)
            .iter()
            .filter(|(_, s)| s == "settled")
            .count()
            == trades
    });
    for host in ["hp1", "hp2", "hp3", "hp4"] {
        assert!(
            seen.iter()
                .any(|l| l["kind"] == "status" && l["status"]["host"] == host),
            "no status of {host}"
        );
    }
    // hp2..hp4 start idle: their load is 0, never the -0.0 shown as -0.00.
    let loads: Vec<f64> = seen
        .iter()
        .filter(|l| l["kind"] == "status")
        .map(|l| l["status"]["load_one"].as_f64().unwrap())
        .collect();
    assert!(loads.contains(&0.0), "{loads:?}");
    assert!(loads.iter().all(|l| l.is_sign_positive()), "{loads:?}");
    let states = trade_states(&seen);
    let mut ids: Vec<&String> = states.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), trades, "{states:?}");
    for id in ids {
        let order: Vec<&str> = states
            .iter()
            .filter(|(t, _)| t == id)
            .map(|(_, s)| s.as_str())
            .collect();
        assert_eq!(order, ["agreed", "migrating", "settled"], "{id}");
    }
    assert!(watcher.terminate().success());
}

#[test]
fn an_events_mistake_in_the_configuration_is_refused_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("h1.toml");
    std::fs::write(
        &config,
        "host = \"h1\"\nzone = \"dc1\"\nledger = \"h1.sqlite\"\npolicy = \"p.toml\"\n\
         hypervisor = \"test:///default\"\n\
         [capacity]\ncpus = 4\nmemory_mib = 4096\nnetwork_mbps = 1000\n\
         [nats]\nservers = [\"nats://127.0.0.1:4222\"]\nname = \"h1\"\n\
         [events]\nqueue = 0\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_bidder"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("events.queue: must be above 0"), "{text}");
}
