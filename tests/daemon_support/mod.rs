//! What the tests that run `bidder` daemons as processes share: their
//! libvirt test-driver nodes, their policies, free ports and the metrics
//! they scrape (tests/bidder_daemon.rs, tests/market_watch.rs), the
//! daemon harness itself (tests/bidder_daemon.rs, tests/market_place.rs,
//! tests/broken_pipe.rs), and `market watch --json` as a process
//! (tests/market_watch.rs, tests/nats_cluster.rs).
#![allow(dead_code)] // each test crate uses a different part

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use market::ledger::{Ledger, TradeState};

/// The zone every test daemon is in.
pub const ZONE: &str = "dc1";

/// Sends signal `name` (`STOP`, `CONT`, `TERM`) to process `pid`, with the
/// shell's own `kill`: no package beyond sh needed.
pub fn send_signal(pid: u32, name: &str) {
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// A libvirt test-driver node with these (name, uuid suffix) domains of
/// 512 MiB, running.
pub fn node_xml(vms: &[u8]) -> String {
    let domains: String = vms
        .iter()
        .map(|n| {
            format!(
                "<domain type='test'><name>vm{n}</name>\
                 <uuid>6695eb01-f6a4-4304-89aa-97f2502e19{n:02x}</uuid>\
                 <memory unit='MiB'>512</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type></os></domain>\n"
            )
        })
        .collect();
    format!(
        "<node>\n<cpu><mhz>2000</mhz><model>x86_64</model><active>4</active><total>4</total>\
         <nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>\n\
         <memory>16777216</memory>\n{domains}</node>\n"
    )
}

/// Wants no VM at all: overloaded while it has one.
pub const GIVES_ALL: &str = "[policy]\nname = \"gives-all\"\n\
    [[policy.condition]]\nmetric = \"vm_count\"\noverloaded_above = 0\n";

/// Wants 4 GiB of VMs: underloaded below.
pub const WANTS_MEMORY: &str = "[policy]\nname = \"wants-memory\"\n\
    [[policy.condition]]\nmetric = \"vm_memory_mib\"\nunderloaded_below = 4096\n";

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET path` from an HTTP server on `address` (a bidder's
/// /metrics, a nats-server's monitoring endpoint). Anything but a 200 (an
/// error page) fails the test: it would read as all zeros.
pub fn http_get(address: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1);
    assert_eq!(status, Some("200"), "{address}{path}: {response}");
    match response.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_owned(),
        None => panic!("no body from {address}{path}: {response}"),
    }
}

/// The value of one sample line of the Prometheus text, 0 when absent (a
/// counter appears once first incremented). A line that is there but
/// whose value does not read fails the test instead of counting as 0.
pub fn sample(metrics: &str, name_and_labels: &str) -> u64 {
    let Some(line) = metrics
        .lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
    else {
        return 0;
    };
    line.rsplit(' ')
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("the sample {line:?} has no whole number for its value"))
}

/// Content empty; any VM would overload it, so it declines every call.
pub const WANTS_NONE: &str = "[policy]\nname = \"wants-none\"\n\
    [[policy.condition]]\nmetric = \"vm_count\"\ntarget = 0\n";

/// What differs between the tests' daemons.
pub struct Settings {
    /// Added to the `[nats]` table (credentials, inbox prefix).
    pub nats: String,
    /// How long this host waits for contractors to join.
    pub recruit_ms: u64,
    /// How long contractors have to answer this host's calls.
    pub window_ms: u64,
    /// The trading period.
    pub period_ms: u64,
    /// A `[migration]` table, or nothing for the hand-off.
    pub migration: &'static str,
    /// Top-level keys (`protocols = [..]`), before the first table.
    pub keys: String,
    /// Tables appended at the end (`[protocol.<name>]`).
    pub tables: String,
    /// The hypervisor URI, instead of a libvirt test-driver node of the
    /// given VMs (`simulated://PATH` for a simulated host).
    pub hypervisor: Option<String>,
    /// `[capacity]`: cores and MiB.
    pub capacity: (u32, u64),
    /// The zone, instead of [`ZONE`].
    pub zone: Option<String>,
    /// The zone's servers, instead of the one URL a daemon is started
    /// with: every node of a cluster.
    pub servers: Vec<String>,
    /// What runs the daemon on its configuration file, instead of the
    /// `bidder` binary: a test's own child process (which sets its stdin
    /// and stdout; its stderr is the log).
    pub command: Option<Launch>,
}

/// Builds the command that runs a daemon on its configuration file.
pub type Launch = Box<dyn Fn(&Path) -> Command>;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            nats: String::new(),
            recruit_ms: 300,
            window_ms: 1000,
            period_ms: 1000,
            migration: "",
            keys: String::new(),
            tables: String::new(),
            hypervisor: None,
            capacity: (4, 16384),
            zone: None,
            servers: Vec::new(),
            command: None,
        }
    }
}

/// One daemon process and its files.
pub struct Daemon {
    pub name: String,
    pub child: Child,
    pub metrics: SocketAddr,
    pub ledger: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn start(dir: &Path, url: &str, name: &str, policy: &str, vms: &[u8]) -> Daemon {
        let settings = Settings::default();
        Daemon::start_with(dir, url, name, policy, vms, &settings)
    }

    pub fn start_with(
        dir: &Path,
        url: &str,
        name: &str,
        policy: &str,
        vms: &[u8],
        settings: &Settings,
    ) -> Daemon {
        let Settings {
            nats,
            recruit_ms,
            window_ms,
            period_ms,
            migration,
            keys,
            tables,
            hypervisor,
            capacity: (cpus, memory_mib),
            zone,
            servers,
            command,
        } = settings;
        let servers = if servers.is_empty() {
            vec![url.to_owned()]
        } else {
            servers.clone()
        };
        let hypervisor = hypervisor.clone().unwrap_or_else(|| {
            let node = dir.join(format!("{name}.node.xml"));
            std::fs::write(&node, node_xml(vms)).unwrap();
            format!("test://{}", node.display())
        });
        let zone = zone.as_deref().unwrap_or(ZONE);
        std::fs::write(dir.join(format!("{name}.policy.toml")), policy).unwrap();
        let metrics = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()));
        let config = format!(
            "host = \"{name}\"\nzone = \"{zone}\"\n\
             ledger = \"{name}.ledger.sqlite\"\npolicy = \"{name}.policy.toml\"\n\
             hypervisor = \"{hypervisor}\"\nmetrics_listen = \"{metrics}\"\n{keys}\n\
             [capacity]\ncpus = {cpus}\nmemory_mib = {memory_mib}\nnetwork_mbps = 1000\n\
             [nats]\nservers = {servers:?}\nname = \"{name}\"\n{nats}\n\
             [trading]\nperiod_ms = {period_ms}\nrecruit_ms = {recruit_ms}\nwindow_ms = {window_ms}\ngrace_ms = 2000\n\
             peer_timeout_ms = 5000\n{migration}\n{tables}\n"
        );
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join(format!("{name}.log"));
        let mut command = match command {
            Some(command) => command(&config_path),
            None => {
                let mut bidder = Command::new(env!("CARGO_BIN_EXE_bidder"));
                bidder.arg("--config").arg(&config_path);
                bidder.stdin(Stdio::null()).stdout(Stdio::null());
                bidder
            }
        };
        let child = command
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let daemon = Daemon {
            name: name.into(),
            child,
            metrics,
            ledger: dir.join(format!("{name}.ledger.sqlite")),
            log,
        };
        daemon.wait_until_ready();
        daemon
    }

    /// What it logged so far. A log that cannot be read fails the test: read
    /// as empty, it would pass every check that something was not logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.log.display()))
    }

    /// Ready once it logged so (after recovery, serving as contractor).
    pub fn wait_until_ready(&self) {
        self.wait_for_log("bidder ready", Duration::from_secs(10));
    }

    /// Returns once it has logged `text`, within `within`.
    pub fn wait_for_log(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{} never logged {text:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The Prometheus text at /metrics.
    pub fn scrape(&self) -> String {
        http_get(self.metrics, "/metrics")
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> String {
        send_signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "{} exited {status}:\n{}",
                    self.name,
                    self.log()
                );
                return self.log();
            }
            assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Kills this child by its pid if a test failed before stopping it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed by its pid if the test fails before it is
/// stopped, with its stderr in a file.
pub struct Process {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn wait_for_log(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.log().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{} never logged {text:?}:\n{}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (the shell's `kill`, by pid) and returns the exit
    /// status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        send_signal(self.child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "{} ignored SIGTERM", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `market watch --json` of `zone` with `args`, its lines in
/// `dir/<name>.jsonl`; returns once it is subscribed.
pub fn watch_zone(dir: &Path, name: &str, zone: &str, args: &[&str]) -> (Process, PathBuf) {
    let out = dir.join(format!("{name}.jsonl"));
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["watch", "--json", "--zone", zone])
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let process = Process {
        name: name.into(),
        child,
        log,
    };
    process.wait_for_log("watching zone");
    (process, out)
}

/// The JSON lines `market watch --json` wrote to `path` so far.
pub fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The trades of a ledger in `state` (the daemon keeps writing; SQLite's
/// WAL lets this reader in). A ledger that cannot be opened or read fails
/// the test: read as empty, it would pass every check that nothing was
/// recorded.
pub async fn trades_in(ledger: &Path, state: TradeState) -> Vec<market::ledger::TradeRecord> {
    let reader = Ledger::open_read_only(ledger)
        .await
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", ledger.display()));
    let trades = reader.trades(Some(state)).await.unwrap_or_else(|e| {
        panic!(
            "cannot read the {state:?} trades of {}: {e}",
            ledger.display()
        )
    });
    reader.close().await;
    trades
}

pub async fn wait_for_settled(daemon: &Daemon, count: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while trades_in(&daemon.ledger, TradeState::Settled).await.len() < count {
        assert!(
            Instant::now() < deadline,
            "{} settled fewer than {count} trades:\n{}",
            daemon.name,
            daemon.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops every daemon (SIGTERM, a clean exit) and runs `market audit
/// --no-in-flight` on the ledgers they leave.
pub fn stop_and_audit(daemons: Vec<Daemon>) -> (bool, String) {
    let ledgers: Vec<PathBuf> = daemons.iter().map(|d| d.ledger.clone()).collect();
    for daemon in daemons {
        daemon.stop();
    }
    market_audit(&ledgers.iter().map(PathBuf::as_path).collect::<Vec<_>>())
}

pub fn market_audit(ledgers: &[&Path]) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["audit", "--no-in-flight"])
        .args(ledgers)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// The `[nats]` keys of `host` on a server configured by
/// `market nats-config` (files in `nats_dir`).
pub fn credentials(nats_dir: &Path, host: &str) -> String {
    format!(
        "inbox_prefix = \"_INBOX.{host}\"\n\
         credentials = {{ kind = \"password\", user = \"{host}\", password_file = \"{}\" }}",
        nats_dir.join(format!("{host}.password")).display()
    )
}
