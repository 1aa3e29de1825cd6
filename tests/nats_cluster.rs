//! A zone on a nats-server cluster of three nodes, as
//! `market nats-config --node` writes it: real `nats-server` processes on
//! loopback, `bidder` daemons on simulated hosts (`simulated://STATE`)
//! listing every node in `[nats] servers`, `market watch` as the observer.
//!
//! - The node a bidder is connected to (read from every node's `/connz`,
//!   never assumed) is SIGKILLed: the bidder shows up at another node
//!   within seconds, and a trade it is party to is agreed and settled
//!   after the kill, in both ledgers and on the simulated hosts.
//! - The node `market watch` is connected to then dies too: the watcher
//!   goes on, showing every host's status from the last node.
//! - A node that stops answering without closing anything (SIGSTOP, as a
//!   machine that hangs) is given up after the client's ping interval and
//!   the client moves to another node.
//! - A node named twice, listeners sharing a port on one machine, a host
//!   named as the routes' user: refused with what collides, before any
//!   file is written.
//!
//! The cluster is formed when every node's `/routez` lists the two others;
//! everything else waits for what it checks, within a deadline.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use daemon_support::{
    Daemon, GIVES_ALL, Settings, WANTS_MEMORY, WANTS_NONE, ZONE, credentials, free_port, http_get,
    lines, send_signal, stop_and_audit, trades_in, wait_for_settled, watch_zone,
};
use market::bus::{LocalNatsServer, NatsBus, NatsConfig};
use market::ledger::TradeState;
use serde_json::Value;

/// How long a client may take to show up at another node once its own
/// died: "within seconds".
const FAILOVER: Duration = Duration::from_secs(5);

/// One running node of the cluster.
struct Node {
    name: String,
    server: LocalNatsServer,
    monitor: SocketAddr,
}

impl Node {
    /// The JSON of one of its monitoring endpoints.
    fn monitoring(&self, path: &str) -> Value {
        serde_json::from_str(&http_get(self.monitor, path)).unwrap()
    }

    /// Whether a client connection of that name is open here.
    fn has_client(&self, client: &str) -> bool {
        self.monitoring("/connz")["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == client)
    }
}

/// A zone's cluster: its nodes still running, every node's client URL,
/// and the directory of its configuration and password files.
struct Cluster {
    nodes: Vec<Node>,
    servers: Vec<String>,
    nats_dir: PathBuf,
}

/// `n` loopback ports nothing listens on, all different.
fn distinct_free_ports(n: usize) -> Vec<u16> {
    let mut ports = BTreeSet::new();
    while ports.len() < n {
        ports.insert(free_port());
    }
    ports.into_iter().collect()
}

/// Writes a 3-node cluster for hosts `hosts` and the observer `watch`
/// with `market nats-config`, starts the three nodes and waits until each
/// routes to the two others.
fn start_cluster(dir: &Path, hosts: &[&str]) -> Cluster {
    let nats_dir = dir.join("nats");
    let ports = distinct_free_ports(9);
    let specs: Vec<(String, u16, u16, u16)> = (0..3)
        .map(|i| {
            let [client, cluster, monitor] = [ports[3 * i], ports[3 * i + 1], ports[3 * i + 2]];
            (format!("n{}", i + 1), client, cluster, monitor)
        })
        .collect();
    let mut command = Command::new(env!("CARGO_BIN_EXE_market"));
    command.args(["nats-config", "--zone", ZONE, "--observer", "watch"]);
    for host in hosts {
        command.args(["--host", host]);
    }
    for (name, client, cluster, monitor) in &specs {
        command.arg("--node");
        command.arg(format!("{name}=127.0.0.1:{client}:{cluster}:{monitor}"));
    }
    let output = command.arg("--out").arg(&nats_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let servers: Vec<String> = specs
        .iter()
        .map(|(_, client, _, _)| format!("nats://127.0.0.1:{client}"))
        .collect();
    // What it tells the operator to put in every host's [nats] table.
    assert!(
        stdout.contains(&format!("servers = {servers:?}")),
        "{stdout}"
    );
    let nodes = specs
        .into_iter()
        .map(|(name, client, _, monitor)| {
            let config = nats_dir.join(format!("nats-server-{name}.conf"));
            assert!(stdout.contains(&format!("nats-server -c {}", config.display())));
            Node {
                server: LocalNatsServer::start_node(&config, client).unwrap(),
                monitor: SocketAddr::from((Ipv4Addr::LOCALHOST, monitor)),
                name,
            }
        })
        .collect();
    let cluster = Cluster {
        nodes,
        servers,
        nats_dir,
    };
    cluster.wait_until_formed();
    cluster
}

impl Cluster {
    /// Every node has a route to every other one.
    fn wait_until_formed(&self) {
        let others = self.nodes.len() - 1;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let routes: Vec<u64> = self
                .nodes
                .iter()
                .map(|n| n.monitoring("/routez")["num_routes"].as_u64().unwrap())
                .collect();
            if routes.iter().all(|&r| r as usize == others) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster did not form: routes per node {routes:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The index of the node `client` is connected to, once it is
    /// connected to exactly one; and how long that took.
    fn wait_for_client(&self, client: &str, within: Duration) -> (usize, Duration) {
        let started = Instant::now();
        loop {
            let at: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].has_client(client))
                .collect();
            if let [one] = at[..] {
                return (one, started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "{client} is connected to {} nodes after {within:?}",
                at.len()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// SIGKILLs the node `client` is connected to, then waits until
    /// `client` is connected to one of the nodes left. Returns when the
    /// node was killed (wall clock, ms since the Unix epoch) and how long
    /// the client took to move.
    fn kill_node_of(&mut self, client: &str) -> (i64, Duration) {
        let (at, _) = self.wait_for_client(client, FAILOVER);
        let node = self.nodes.remove(at);
        let killed_at = now_ms();
        let killed = Instant::now();
        // Dropping it SIGKILLs the process by its id.
        drop(node.server);
        let (now_at, _) = self.wait_for_client(client, FAILOVER);
        let took = killed.elapsed();
        eprintln!(
            "node {} killed: {client} connected to node {} {} ms later",
            node.name,
            self.nodes[now_at].name,
            took.as_millis()
        );
        (killed_at, took)
    }

    /// A bidder for `host` on its simulated host in `dir`, listing every
    /// node, with its own credentials.
    fn start(&self, dir: &Path, host: &str, policy: &str) -> Daemon {
        let settings = Settings {
            nats: credentials(&self.nats_dir, host),
            servers: self.servers.clone(),
            hypervisor: Some(format!(
                "simulated://{}",
                dir.join(format!("{host}.sim.json")).display()
            )),
            period_ms: 500,
            ..Settings::default()
        };
        Daemon::start_with(dir, "", host, policy, &[], &settings)
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- {}\n{}\n", n.name, n.server.log()))
            .collect()
    }
}

fn now_ms() -> i64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// The simulated host `host`, as its daemon's configuration names it.
fn simulated_host(dir: &Path, host: &str) -> SimulatedHypervisor {
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 16384,
    };
    SimulatedHypervisor::open(&dir.join(format!("{host}.sim.json")), host, capacity).unwrap()
}

/// Host `host` starts with VM `vm{n}` (1 vCPU, 512 MiB) running.
fn runs_vm(dir: &Path, host: &str, n: u8) {
    let spec = DomainSpec {
        uuid: DomainUuid::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap(),
        name: format!("vm{n}"),
        vcpus: 1,
        memory_kib: 512 * 1024,
        interfaces: Vec::new(),
        group: None,
    };
    let hv = simulated_host(dir, host);
    let uuid = hv.define(&spec.to_xml("test")).unwrap();
    hv.start(&uuid).unwrap();
}

/// The VMs running at `host`, read from its simulated host.
fn running_at(dir: &Path, host: &str) -> Vec<String> {
    let mut names: Vec<String> = simulated_host(dir, host)
        .domains()
        .unwrap()
        .into_iter()
        .filter(|d| d.state.is_active())
        .map(|d| d.name)
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_zone_trades_on_when_the_node_of_a_bidder_dies() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let mut cluster = start_cluster(dir, &["a", "b", "c", "e"]);

    // b takes VMs, c takes none, a gives its VM away: to b, whichever
    // nodes they are at.
    let b = cluster.start(dir, "b", WANTS_MEMORY);
    let c = cluster.start(dir, "c", WANTS_NONE);
    runs_vm(dir, "a", 1);
    let a = cluster.start(dir, "a", GIVES_ALL);
    wait_for_settled(&a, 1, Duration::from_secs(20)).await;
    for host in ["a", "b", "c"] {
        let (at, _) = cluster.wait_for_client(host, FAILOVER);
        eprintln!("{host} is connected to node {}", cluster.nodes[at].name);
    }
    let watch_password = cluster.nats_dir.join("watch.password");
    let mut watch_args = vec!["--user", "watch", "--password-file"];
    watch_args.push(watch_password.to_str().unwrap());
    for server in &cluster.servers {
        watch_args.extend(["--server", server.as_str()]);
    }
    let (watch, watched) = watch_zone(dir, "watch", ZONE, &watch_args);

    let (killed_at, _) = cluster.kill_node_of("b");

    // A seller that starts now: its VM can go to b alone, which must hear
    // its call and its migration requests at the node it moved to.
    runs_vm(dir, "e", 2);
    let e = cluster.start(dir, "e", GIVES_ALL);
    wait_for_settled(&e, 1, Duration::from_secs(20)).await;
    let sold = trades_in(&e.ledger, TradeState::Settled).await;
    assert_eq!(sold[0].terms.buyer, "b");
    assert!(sold[0].agreed_at_ms > killed_at, "agreed before the kill");
    let bought = trades_in(&b.ledger, TradeState::Settled).await;
    assert!(
        bought
            .iter()
            .any(|t| t.terms.trade_id == sold[0].terms.trade_id),
        "b's ledger does not hold e's trade as settled: {bought:?}"
    );

    // The watcher's node dies too (it may be the one left after the first
    // kill): it goes on at the last node, hearing every host there.
    let (watch_killed_at, _) = cluster.kill_node_of("market-watch");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let heard: BTreeSet<String> = lines(&watched)
            .iter()
            .filter(|l| l["kind"] == "status" && l["received_ms"].as_i64() > Some(watch_killed_at))
            .filter_map(|l| l["status"]["host"].as_str().map(str::to_owned))
            .collect();
        if heard.len() == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after its node died the watcher heard only {heard:?}:\n{}",
            watch.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(watch.terminate().success());

    let (ok, report) = stop_and_audit(vec![a, b, c, e]);
    assert!(ok, "market audit:\n{report}");
    assert_eq!(running_at(dir, "b"), ["vm1", "vm2"]);
    for host in ["a", "c", "e"] {
        assert!(running_at(dir, host).is_empty(), "{host} still runs VMs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaves_a_node_that_stops_answering() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = start_cluster(dir.path(), &["h1"]);
    let mut config = NatsConfig::for_host(
        cluster.servers.clone(),
        &"h1".parse().unwrap(),
        &cluster.nats_dir.join("h1.password"),
    );
    config.ping_interval_ms = NonZeroU64::new(200).unwrap();
    let _bus = NatsBus::connect(&config).await.unwrap();
    let (at, _) = cluster.wait_for_client("h1", FAILOVER);
    let pid = cluster.nodes[at].server.pid();
    send_signal(pid, "STOP");
    let stopped = Instant::now();
    // Its connection stays open but nothing answers: three pings go
    // unanswered (0.6 s), then the client tries the nodes in a random
    // order (the stopped one accepts the connection and says nothing
    // until async-nats's 5 s connection timeout, the others answer).
    let deadline = stopped + Duration::from_secs(10);
    let moved = loop {
        let elsewhere = (0..cluster.nodes.len())
            .filter(|&i| i != at)
            .any(|i| cluster.nodes[i].has_client("h1"));
        if elsewhere {
            break stopped.elapsed();
        }
        assert!(Instant::now() < deadline, "h1 stayed with the stopped node");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    send_signal(pid, "CONT");
    eprintln!(
        "h1 left the stopped node {} for another after {} ms",
        cluster.nodes[at].name,
        moved.as_millis()
    );
}

#[test]
fn mistakes_in_the_nodes_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nats");
    for (nodes, hosts, says) in [
        (
            &["n1=127.0.0.1:4222:6222", "n1=127.0.0.2:4222:6222"][..],
            &["h1"][..],
            "node n1 is named twice",
        ),
        (
            &["n1=127.0.0.1:4222:6222", "n2=127.0.0.1:4223:6222"],
            &["h1"],
            "node n1's cluster port and node n2's cluster port both listen on 127.0.0.1:6222",
        ),
        (
            &["n1=127.0.0.1:4222:6222:4222"],
            &["h1"],
            "node n1's client port and node n1's monitoring port both listen on 127.0.0.1:4222",
        ),
        (
            &["n1=127.0.0.1:4222:6222"],
            &["route"],
            "user route is named twice",
        ),
    ] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_market"));
        command.args(["nats-config", "--zone", ZONE]);
        for host in hosts {
            command.args(["--host", host]);
        }
        for node in nodes {
            command.args(["--node", node]);
        }
        let output = command.arg("--out").arg(&out).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{nodes:?}: {stderr}");
        assert!(stderr.contains(says), "{nodes:?}: {stderr}");
        assert!(!out.exists(), "{nodes:?} wrote files");
    }
}
