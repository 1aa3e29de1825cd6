//! `market watch` under a zone of 1,000 hosts, each publishing its status
//! once a second (docs/benchmarks.md, "Watching a zone").
//!
//! A real nats-server on a free loopback port; one publisher connection
//! sends the 1,000 hosts' statuses spread evenly over every second (ten
//! every 10 ms), as the hosts' periods would spread them. Two watchers, one
//! after the other, each measured over the same window:
//!
//! - `market watch --json`: keeps up when, at the end of the window, it
//!   has printed a line for every status sent in it but the last tenth of
//!   a second's;
//! - the live view, in a tmux pane of 160x50 (a real terminal, redrawn
//!   every 250 ms): keeps up when the screen says `1000 hosts (0 silent)`
//!   at the end (every host heard within its last three periods).
//!
//! CPU is the watcher process's user + system time over the window (from
//! `/proc/<pid>/stat`), divided by the window: 1.0 is one core.
//!
//! ```sh
//! cargo bench --bench watch            # 20 s windows
//! WATCH_BENCH_SECONDS=60 cargo bench --bench watch
//! ```
#![allow(clippy::unwrap_used)] // a benchmark's setup failing is a failed run

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use market::bus::subject::Token;
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};
use market::events::HostStatus;
use market::policy::Classification;
use market::resources::Resources;
use market::wire::{Envelope, WireLimits, encode};

const HOSTS: usize = 1000;
const ZONE: &str = "bench";
/// Statuses are sent in batches this often.
const TICK: Duration = Duration::from_millis(10);

fn statuses() -> Vec<(String, Bytes)> {
    (0..HOSTS)
        .map(|i| {
            let name = Token::new(format!("host{i:04}")).unwrap();
            let status = HostStatus {
                host: name.clone(),
                zone: Token::new(ZONE).unwrap(),
                class: Classification::Satisfied,
                holding: false,
                load_one: (i % 7) as f64 * 0.5,
                reserved: Resources::new(4000, 8192, 0),
                used: Resources::new(2500, 8192, 0),
                capacity: Resources::new(32_000, 131_072, 10_000),
                vm_count: 4,
                utility: (i % 11) as f64 - 5.0,
                protocols: vec![Token::new("contract-net").unwrap()],
                version: "0.1.0".into(),
                period_ms: 1000,
                at_ms: 0,
            };
            let envelope = Envelope {
                sender: name.clone(),
                recipient: None,
                interaction: None,
                sequence: 0,
                body: status,
            };
            (
                format!("bourse.{ZONE}.hosts.{name}.status"),
                encode(&envelope, &WireLimits::default()).unwrap(),
            )
        })
        .collect()
}

/// User + system time of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let per_second = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / per_second
}

/// Publishes every host's status once a second until `stop`; counts what
/// was sent.
async fn publish(bus: NatsBus, statuses: Arc<Vec<(String, Bytes)>>, sent: Arc<AtomicU64>) {
    let per_tick = HOSTS / (1000 / TICK.as_millis() as usize);
    let mut ticks = tokio::time::interval(TICK);
    let mut next = 0;
    loop {
        ticks.tick().await;
        for _ in 0..per_tick {
            let (subject, payload) = &statuses[next];
            bus.publish(subject, payload.clone()).await.unwrap();
            sent.fetch_add(1, Ordering::Relaxed);
            next = (next + 1) % HOSTS;
        }
    }
}

struct Measured {
    cpu: f64,
    sent: u64,
    kept_up: String,
}

async fn measure_json(url: &str, window: Duration, sent: &AtomicU64) -> Measured {
    let mut child = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["watch", "--json", "--zone", ZONE, "--server", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let received = Arc::new(AtomicU64::new(0));
    let counting = Arc::clone(&received);
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if line.is_err() {
                return;
            }
            counting.fetch_add(1, Ordering::Relaxed);
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, sent0, received0) = (
        cpu_seconds(pid),
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let (cpu1, sent1, received1) = (
        cpu_seconds(pid),
        sent.load(Ordering::Relaxed),
        received.load(Ordering::Relaxed),
    );
    let elapsed = start.elapsed().as_secs_f64();
    // A tenth of a second of statuses may be on the way at any moment.
    let lag_allowance = (HOSTS as u64) / 10;
    let received = received1 - received0;
    let _ = child.kill();
    let _ = child.wait();
    let sent = sent1 - sent0;
    Measured {
        cpu: (cpu1 - cpu0) / elapsed,
        sent,
        kept_up: format!(
            "{received} lines for {sent} sent{}",
            if received + lag_allowance >= sent {
                " (kept up)"
            } else {
                " (FELL BEHIND)"
            }
        ),
    }
}

fn tmux(args: &[&str]) -> String {
    let output = Command::new("tmux").args(args).output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn measure_view(url: &str, window: Duration, sent: &AtomicU64) -> Measured {
    let session = format!("bourse-watch-bench-{}", std::process::id());
    let command = format!(
        "exec {} watch --zone {ZONE} --server {url}",
        env!("CARGO_BIN_EXE_market")
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "50",
        &command,
    ]);
    let pid: u32 = tmux(&["list-panes", "-t", &session, "-F", "#{pane_pid}"])
        .trim()
        .parse()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu0, sent0) = (cpu_seconds(pid), sent.load(Ordering::Relaxed));
    let start = Instant::now();
    tokio::time::sleep(window).await;
    let (cpu1, sent1) = (cpu_seconds(pid), sent.load(Ordering::Relaxed));
    let elapsed = start.elapsed().as_secs_f64();
    let screen = tmux(&["capture-pane", "-p", "-t", &session]);
    tmux(&["send-keys", "-t", &session, "q"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    tmux(&["kill-session", "-t", &session]);
    let header = screen.lines().next().unwrap_or_default().trim().to_owned();
    let kept_up = if header.contains(&format!("{HOSTS} hosts (0 silent)")) {
        "(kept up)"
    } else {
        "(FELL BEHIND)"
    };
    Measured {
        cpu: (cpu1 - cpu0) / elapsed,
        sent: sent1 - sent0,
        kept_up: format!("screen: {header} {kept_up}"),
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = std::env::var("WATCH_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let window = Duration::from_secs(seconds);
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let bus = NatsBus::connect(&NatsConfig::new([url.as_str()], "bench-publishers"))
        .await
        .unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let publishing = tokio::spawn(publish(bus, Arc::new(statuses()), Arc::clone(&sent)));
    println!("watch: {HOSTS} hosts, one status a second each, {seconds} s windows");
    let json = measure_json(&url, window, &sent).await;
    println!(
        "watch/json: cpu {:.3} cores, {} statuses sent ({:.0}/s), {}",
        json.cpu,
        json.sent,
        json.sent as f64 / seconds as f64,
        json.kept_up
    );
    let view = measure_view(&url, window, &sent).await;
    println!(
        "watch/view: cpu {:.3} cores, {} statuses sent ({:.0}/s), {}",
        view.cpu,
        view.sent,
        view.sent as f64 / seconds as f64,
        view.kept_up
    );
    publishing.abort();
}
