//! Shipped scenarios with each host a `bidder` process: a simulated host
//! (`hypervisor = "simulated://STATE"`, its clock following the wall
//! clock, each VM's workload in its domain's metadata so it travels with
//! every hand-off), a real nats-server, SQLite ledgers on disk; arriving
//! VMs placed by `market place`. Each scenario ends where `market
//! simulate` ends it in one process (its `[expect]`: VMs per host, named
//! placements, hosts running, groups apart, the first-fit-decreasing and
//! greedy-balance baselines, trades) and `market audit` passes on the
//! ledgers the daemons leave.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;
mod pause_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bidder::hypervisor::simulated::{Capacity, DomainLoad, SimulatedHypervisor, with_workload};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use bidder::migration::{MigrationStep, STEP_TARGET};
use bourse::simulate::scenario::Scenario;
use daemon_support::{Daemon, Launch, Settings, send_signal, stop_and_audit, trades_in};
use market::baseline::{Item, ffd, greedy_balance};
use market::bus::LocalNatsServer;
use market::host::{Host, HostId};
use market::ledger::{Ledger, LegRecord, TradeKind, TradeState};
use market::resources::Resources;
use market::vm::{GroupRule, VmId};
use pause_support::{PAUSED, PauseAt, Seen};
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    Scenario::load(&path).unwrap()
}

/// Each VM's domain definition as `market simulate` writes it, with its
/// workload in the metadata.
fn domain_xml(spec: &DomainSpec, cpu_load: f64) -> String {
    with_workload(&spec.to_xml("test"), &DomainLoad::steady(cpu_load))
        .expect("a definition DomainSpec writes is well formed")
}

/// VM `index`'s domain, as `market simulate`'s world defines it.
fn domain_of(scenario: &Scenario, index: usize) -> DomainSpec {
    let vm = &scenario.spec.vm[index];
    DomainSpec {
        uuid: DomainUuid::parse(&format!("00000000-0000-4000-8000-{:012x}", index + 1)).unwrap(),
        name: vm.name.clone(),
        vcpus: vm.vcpus,
        memory_kib: vm.memory_mib * 1024,
        interfaces: Vec::new(),
        group: scenario.groups[index].clone(),
    }
}

/// One host's simulated state file, holding the VMs that start on it.
fn state_file(dir: &Path, scenario: &Scenario, host: usize) -> PathBuf {
    let spec = &scenario.spec.host[host];
    let path = dir.join(format!("{}.sim.json", spec.name));
    let capacity = Capacity {
        cpus: spec.cpus,
        memory_mib: spec.memory_mib,
    };
    let hv = SimulatedHypervisor::open(&path, &spec.name, capacity).unwrap();
    for (index, vm) in scenario.spec.vm.iter().enumerate() {
        if vm.host.as_deref() != Some(spec.name.as_str()) {
            continue;
        }
        let domain = domain_of(scenario, index);
        let uuid = hv.define(&domain_xml(&domain, vm.cpu_load)).unwrap();
        hv.start(&uuid).unwrap();
    }
    path
}

/// The running VMs of each host, read from the state files.
fn locations(scenario: &Scenario, files: &[PathBuf]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (spec, path) in scenario.spec.host.iter().zip(files) {
        let capacity = Capacity {
            cpus: spec.cpus,
            memory_mib: spec.memory_mib,
        };
        // A host whose state cannot be read fails the test: read as empty,
        // it would hide a VM running there twice.
        let vms = SimulatedHypervisor::open(path, &spec.name, capacity)
            .and_then(|hv| hv.domains())
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
            .into_iter()
            .filter(|d| d.state.is_active())
            .map(|d| d.name)
            .collect();
        out.insert(spec.name.clone(), vms);
    }
    out
}

/// What `[expect]` asks of where the VMs end, as a list of failures.
fn unmet(scenario: &Scenario, at: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let expect = &scenario.spec.expect;
    let mut failures = Vec::new();
    for (host, count) in &expect.vm_count {
        let n = at.get(host).map_or(0, Vec::len);
        if n != *count {
            failures.push(format!("{host} runs {n} VMs, expected {count}"));
        }
    }
    for (vm, host) in &expect.placement {
        if !at.get(host).is_some_and(|vms| vms.contains(vm)) {
            failures.push(format!("{vm} is not on {host}"));
        }
    }
    if let Some(most) = expect.hosts_running_at_most {
        let running = at.values().filter(|vms| !vms.is_empty()).count();
        if running > most {
            failures.push(format!("{running} hosts run VMs, expected at most {most}"));
        }
    }
    if expect.groups_apart {
        for (host, vms) in at {
            let mut apart = std::collections::BTreeSet::new();
            for vm in vms {
                let index = scenario.spec.vm.iter().position(|v| &v.name == vm);
                let group = index.and_then(|i| scenario.groups[i].as_ref());
                if let Some(g) = group.filter(|g| g.rule == GroupRule::Apart)
                    && !apart.insert(g.name.clone())
                {
                    failures.push(format!("two VMs of group {} on {host}", g.name));
                }
            }
        }
    }
    failures.extend(against_baselines(scenario, at));
    let total: usize = at.values().map(Vec::len).sum();
    if total != scenario.spec.vm.len() {
        failures.push(format!(
            "{total} VMs run, the scenario has {}",
            scenario.spec.vm.len()
        ));
    }
    failures
}

/// `hosts_at_most_ffd` and `share_at_most_greedy_plus`, computed as
/// `market simulate`'s report does: VMs by what they reserve, hosts by
/// their policy's capacity.
fn against_baselines(scenario: &Scenario, at: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let expect = &scenario.spec.expect;
    let reserved = |vm: &bourse::simulate::scenario::VmSpec| {
        Resources::new(u64::from(vm.vcpus) * 1000, vm.memory_mib, 0)
    };
    let items: Vec<Item> = scenario
        .spec
        .vm
        .iter()
        .enumerate()
        .map(|(i, vm)| (VmId(i as u64 + 1), reserved(vm)))
        .collect();
    let capacities: Vec<Resources> = scenario
        .spec
        .host
        .iter()
        .zip(&scenario.policies)
        .map(|(h, policy)| {
            let hardware = Resources::new(u64::from(h.cpus) * 1000, h.memory_mib, h.network_mbps);
            let host = Host {
                id: HostId(0),
                name: h.name.clone(),
                capacity: hardware,
                vms: Vec::new(),
                load_one: 0.0,
            };
            policy.capacity(&host)
        })
        .collect();
    let mut failures = Vec::new();
    if expect.hosts_at_most_ffd {
        let ffd = ffd::pack(&items, &capacities).hosts_used();
        let running = at.values().filter(|vms| !vms.is_empty()).count();
        if running > ffd {
            failures.push(format!(
                "{running} hosts run VMs, first-fit decreasing {ffd}"
            ));
        }
    }
    if let Some(plus) = expect.share_at_most_greedy_plus {
        let greedy = greedy_balance::spread(&items, &capacities).max_share(&capacities);
        let share = scenario
            .spec
            .host
            .iter()
            .zip(&capacities)
            .map(|(h, cap)| {
                let load =
                    at.get(&h.name)
                        .into_iter()
                        .flatten()
                        .fold(Resources::ZERO, |sum, name| {
                            let vm = scenario.spec.vm.iter().find(|v| &v.name == name);
                            sum.saturating_add(&vm.map_or(Resources::ZERO, reserved))
                        });
                load.dominant_share(cap)
            })
            .fold(0.0, f64::max);
        if share > greedy + plus {
            failures.push(format!(
                "largest share {share}, greedy balance {greedy} + {plus}"
            ));
        }
    }
    failures
}

/// Places the VMs that arrive, round by round, as `market place` does
/// for an operator: each with its workload in its definition.
fn place_arrivals(scenario: &Scenario, dir: &Path, url: &str) {
    let mut arriving: Vec<usize> = (0..scenario.spec.vm.len())
        .filter(|&i| scenario.spec.vm[i].arrive.is_some())
        .collect();
    arriving.sort_by_key(|&i| scenario.spec.vm[i].arrive);
    for index in arriving {
        let vm = &scenario.spec.vm[index];
        let file = dir.join(format!("{}.xml", vm.name));
        std::fs::write(&file, domain_xml(&domain_of(scenario, index), vm.cpu_load)).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_market"))
            .args([
                "place",
                "--zone",
                scenario.arrival_zone(index),
                "--server",
                url,
            ])
            .arg("--domain")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "placing {}: {}{}",
            vm.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Settled migrations in every ledger, counted once (by their seller).
async fn migrations(daemons: &[Daemon]) -> usize {
    let mut n = 0;
    for d in daemons {
        n += trades_in(&d.ledger, TradeState::Settled)
            .await
            .iter()
            .filter(|t| t.terms.kind == TradeKind::Migration && t.terms.seller == d.name)
            .count();
    }
    n
}

async fn in_flight(daemons: &[Daemon]) -> usize {
    let mut n = 0;
    for d in daemons {
        n += trades_in(&d.ledger, TradeState::Agreed).await.len();
        n += trades_in(&d.ledger, TradeState::Migrating).await.len();
    }
    n
}

/// Runs `name` with a daemon per host until its expectations hold and no
/// trade is in flight, then checks that nothing more moves for three
/// periods, the trade count, and the audit.
async fn across_processes(name: &str) {
    let scenario = scenario(name);
    run_across_processes(name, scenario).await;
}

/// [`across_processes`] with every host playing `protocols` instead (as
/// `market simulate --protocols` plays it).
async fn across_processes_playing(name: &str, protocols: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    let protocols: Vec<String> = protocols.iter().map(|p| p.to_string()).collect();
    run_across_processes(name, Scenario::playing(&path, &protocols).unwrap()).await;
}

/// Each host of `scenario` as a daemon on a simulated host in `dir`, with
/// `tables` added to its configuration; the state files too.
fn start_hosts(
    scenario: &Scenario,
    dir: &Path,
    url: &str,
    tables: &str,
) -> (Vec<Daemon>, Vec<PathBuf>) {
    let mut files = Vec::new();
    let mut daemons = Vec::new();
    for i in 0..scenario.spec.host.len() {
        let file = state_file(dir, scenario, i);
        daemons.push(start_host(scenario, dir, url, tables, i));
        files.push(file);
    }
    (daemons, files)
}

/// Host `i` of `scenario` as a daemon, on the state file in `dir` (as it is
/// now: a restarted host finds what its last run left).
fn start_host(scenario: &Scenario, dir: &Path, url: &str, tables: &str, i: usize) -> Daemon {
    let settings = host_settings(scenario, dir, tables, i);
    start_host_with(scenario, dir, url, i, &settings)
}

/// What host `i` of `scenario` runs with: its simulated host's state file
/// in `dir`, its capacity, protocols and zone, and `tables`.
fn host_settings(scenario: &Scenario, dir: &Path, tables: &str, i: usize) -> Settings {
    let host = &scenario.spec.host[i];
    let protocols = host.protocols.as_ref().unwrap_or(&scenario.spec.protocols);
    let file = dir.join(format!("{}.sim.json", host.name));
    Settings {
        hypervisor: Some(format!("simulated://{}", file.display())),
        capacity: (host.cpus, host.memory_mib),
        keys: format!("protocols = {protocols:?}"),
        zone: Some(host.zone().to_string()),
        tables: tables.to_string(),
        ..Settings::default()
    }
}

/// Host `i` of `scenario` as a daemon with its policy and `settings`.
fn start_host_with(
    scenario: &Scenario,
    dir: &Path,
    url: &str,
    i: usize,
    settings: &Settings,
) -> Daemon {
    let host = &scenario.spec.host[i];
    let base = scenario.path.parent().unwrap();
    let policy = std::fs::read_to_string(base.join(&host.policy)).unwrap();
    Daemon::start_with(dir, url, &host.name, &policy, &[], settings)
}

async fn run_across_processes(name: &str, scenario: Scenario) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let (daemons, files) = start_hosts(&scenario, dir.path(), &server.url(), "");
    place_arrivals(&scenario, dir.path(), &server.url());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let at = locations(&scenario, &files);
        // A scenario whose VMs end as many per host as they start (a swap)
        // is done when its trades are.
        let settled = migrations(&daemons).await;
        let traded = scenario.spec.expect.trades.is_none_or(|t| settled >= t);
        if unmet(&scenario, &at).is_empty() && in_flight(&daemons).await == 0 && traded {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: {:?}, at {at:?}",
            unmet(&scenario, &at)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Three periods more: nothing else moves.
    let settled = migrations(&daemons).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let at = locations(&scenario, &files);
    assert!(unmet(&scenario, &at).is_empty(), "{name}: at {at:?}");
    assert_eq!(migrations(&daemons).await, settled, "{name}: still trading");
    if let Some(trades) = scenario.spec.expect.trades {
        assert_eq!(settled, trades, "{name}: at {at:?}");
    }
    if let Some(most) = scenario.spec.expect.migrations_at_most {
        assert!(
            settled <= most,
            "{name}: {settled} migrations, at most {most}"
        );
    }
    let (ok, report) = stop_and_audit(daemons);
    assert!(ok, "{name}: market audit:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_scenario1_load_balancing() {
    across_processes("seed002-scenario1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_scenario2_memory() {
    across_processes("seed002-scenario2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_scenario3_vm_count_and_shutdown() {
    across_processes("seed002-scenario3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_scenario4_mixed_policies() {
    across_processes("seed002-scenario4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_stuck_case_solved_by_one_swap() {
    across_processes("seed002-stuck-swap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_three_no_pair_can_make() {
    across_processes("chain-of-three").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed004_maintenance_empties_the_host() {
    across_processes("seed004-maintenance").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_ends_apart() {
    across_processes("anti-affinity").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_saving_where_every_host_starts_fill_me() {
    across_processes("power-saving-fill-me").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agility_keeps_the_same_cluster_spread() {
    across_processes("agility-same-cluster").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_consolidate_each_on_its_own() {
    across_processes("zones-power-saving").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_saving_arrivals_fill_the_fullest_host() {
    across_processes("power-saving-arrivals").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agility_arrivals_spread() {
    across_processes("agility-arrivals").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_calls_for_one_room_move_one_vm() {
    across_processes("two-calls-one-room").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed002_scenarios_in_the_call_market() {
    for name in [
        "seed002-scenario1",
        "seed002-scenario2",
        "seed002-scenario3",
        "seed002-scenario4",
    ] {
        across_processes_playing(name, &["call-market"]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consolidation_maintenance_and_anti_affinity_in_the_call_market() {
    for name in [
        "power-saving-fill-me",
        "seed004-maintenance",
        "anti-affinity",
        "agility-same-cluster",
    ] {
        across_processes_playing(name, &["call-market"]).await;
    }
}

/// 200 bidder processes per cluster, one cluster after the other: about
/// three minutes each on a 2-core machine, more than the suite gives one
/// test. Run with `cargo test --test scenarios_across_processes --
/// --ignored --exact generated_200_hosts_under_both_policies`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "two clusters of 200 bidder processes, about six minutes: run with --ignored --exact"]
async fn generated_200_hosts_under_both_policies() {
    across_processes("generated-200-power-saving").await;
    across_processes("generated-200-agility").await;
}

/// When a party of a call-market trade of two legs is killed: a step of
/// the round's first trade that one host logs (the witness), which pauses
/// there (tests/pause_support) until the victim is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    /// A party has recorded the trade; no leg moved.
    Recorded,
    /// The first leg's migration began.
    FirstLegMoving,
    /// The first leg moved; the second did not begin.
    BetweenLegs,
    /// The second leg's migration began.
    SecondLegMoving,
}

impl Moment {
    const ALL: [Moment; 4] = [
        Moment::Recorded,
        Moment::FirstLegMoving,
        Moment::BetweenLegs,
        Moment::SecondLegMoving,
    ];

    fn named(name: &str) -> Option<Moment> {
        Moment::ALL.into_iter().find(|m| format!("{m:?}") == name)
    }

    /// Whether this host's event is the moment: then which trade it pins,
    /// as `round <id>` (a party recorded its part of the round's trade) or
    /// `clearing <id>`. The host that logs it is the witness:
    /// - recorded: any party but the auctioneer (which records its legs as
    ///   it clears), before it tells the auctioneer, so no leg can move;
    /// - a leg moving: its source, once its ledger has the leg migrating,
    ///   before it asks the destination to record it;
    /// - between the legs: the first leg's source, once both ledgers
    ///   settled it, before it reports to the auctioneer.
    fn pinned_by(self, seen: &Seen) -> Option<String> {
        match self {
            Moment::Recorded => {
                if seen.message() != Some("recorded its trade") {
                    return None;
                }
                Some(format!("round {}", seen.field("round")?))
            }
            Moment::FirstLegMoving => leg_moving(seen, ".1.1"),
            Moment::BetweenLegs => {
                if seen.message() != Some("leg carried out") || seen.field("leg") != Some("1") {
                    return None;
                }
                Some(format!("clearing {}", seen.field("clearing")?))
            }
            Moment::SecondLegMoving => leg_moving(seen, ".1.2"),
        }
    }

    /// What a party's ledger may hold of leg `leg` at this moment, as its
    /// source or its destination (nothing: it has not recorded it yet).
    fn allows(self, leg: u32, at_source: bool) -> &'static [Option<TradeState>] {
        const NOT_YET: &[Option<TradeState>] = &[None, Some(TradeState::Agreed)];
        const AGREED: &[Option<TradeState>] = &[Some(TradeState::Agreed)];
        const MIGRATING: &[Option<TradeState>] = &[Some(TradeState::Migrating)];
        const SETTLED: &[Option<TradeState>] = &[Some(TradeState::Settled)];
        let (current, moving) = match self {
            Moment::Recorded => return NOT_YET,
            Moment::FirstLegMoving => (1, true),
            Moment::BetweenLegs => (1, false),
            Moment::SecondLegMoving => (2, true),
        };
        match leg.cmp(&current) {
            std::cmp::Ordering::Less => SETTLED,
            std::cmp::Ordering::Equal if !moving => SETTLED,
            std::cmp::Ordering::Equal if at_source => MIGRATING,
            _ => AGREED,
        }
    }

    /// Fails unless `host`'s ledger holds every leg it is a party of as
    /// this moment allows.
    async fn assert_held(self, legs: &[LegRecord], host: &Daemon, what: &str) {
        let ledger = Ledger::open_read_only(&host.ledger)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        for leg in legs
            .iter()
            .filter(|l| [&l.seller, &l.buyer].contains(&&host.name))
        {
            let held = ledger.trade(&leg.trade_id).await.unwrap().map(|t| t.state);
            let allowed = self.allows(leg.leg, leg.seller == host.name);
            assert!(
                allowed.contains(&held),
                "{what}: {} holds leg {} ({}) {held:?}, the moment allows {allowed:?}",
                host.name,
                leg.leg,
                leg.trade_id
            );
        }
        ledger.close().await;
    }
}

/// Whether `seen` is the source's step that starts the migration of the
/// leg whose id ends with `leg`: then its clearing.
fn leg_moving(seen: &Seen, leg: &str) -> Option<String> {
    let trade = seen.field("trade")?;
    let started = seen.target == STEP_TARGET
        && seen.field("step") == Some(MigrationStep::AttemptRecorded.as_str())
        && trade.ends_with(leg);
    if !started {
        return None;
    }
    Some(format!("clearing {}", trade.rsplit_once('.')?.0))
}

const DAEMON_CONFIG: &str = "BOURSE_PAUSED_DAEMON_CONFIG";
const DAEMON_PAUSE_AT: &str = "BOURSE_PAUSED_DAEMON_AT";

/// A `bidder` daemon as the binary runs it (the library's `daemon::run`,
/// its log on stderr, stopped by SIGTERM), on a current-thread runtime and
/// pausing at the moment [`killed_at`] names: every host of its zone, so
/// that whichever logs the moment is held there. Run by it only; it
/// refuses to run without its environment.
#[test]
#[ignore = "child process of killed_at"]
fn paused_daemon() {
    let (Ok(config), Ok(moment)) = (std::env::var(DAEMON_CONFIG), std::env::var(DAEMON_PAUSE_AT))
    else {
        panic!("run by killed_at only: no {DAEMON_CONFIG} or {DAEMON_PAUSE_AT}");
    };
    let moment = Moment::named(&moment).unwrap_or_else(|| panic!("no moment {moment}"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_filter(EnvFilter::from_default_env());
    tracing_subscriber::registry()
        .with(log)
        .with(PauseAt::new(move |seen| moment.pinned_by(seen)))
        .init();
    let config = bidder::daemon::DaemonConfig::load(Path::new(&config)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut terminate = signal(SignalKind::terminate()).unwrap();
        let stopped = async move {
            terminate.recv().await;
        };
        bidder::daemon::run(config, stopped).await.unwrap();
    });
}

/// How [`killed_at`] runs a host: [`paused_daemon`] at `moment`.
fn paused_at(moment: Moment) -> Launch {
    Box::new(move |config| {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--ignored", "--exact", "paused_daemon", "--nocapture"])
            .env(DAEMON_CONFIG, config)
            .env(DAEMON_PAUSE_AT, format!("{moment:?}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        command
    })
}

/// Which party is killed.
#[derive(Debug, Clone, Copy)]
enum Victim {
    /// The host the first leg's VM leaves.
    FirstSource,
    /// The host it goes to.
    FirstDestination,
    /// The host that holds the round.
    Auctioneer,
}

fn all_logs(daemons: &[Daemon]) -> String {
    daemons.iter().map(Daemon::log).collect()
}

/// The host that cleared the round's trade, from its log.
fn auctioneer_of(daemons: &[Daemon]) -> Option<String> {
    let logs = all_logs(daemons);
    let line = logs
        .lines()
        .rfind(|l| l.contains(": cleared ") && !l.contains(" trades=0 "))?;
    let host = line.split("host=").nth(1)?.split(' ').next()?;
    Some(host.to_string())
}

/// The legs of the trade `pinned` names (see [`Moment::pinned_by`]), from
/// the ledger of the witness, a party of it.
async fn legs_pinned(witness: &Daemon, pinned: &str) -> Vec<LegRecord> {
    let ledger = Ledger::open_read_only(&witness.ledger).await.unwrap();
    let mut legs = ledger.clearing_legs().await.unwrap();
    ledger.close().await;
    legs.retain(|leg| match pinned.split_once(' ') {
        Some(("round", round)) => leg.clearing_id.rsplit_once('.').map(|(r, _)| r) == Some(round),
        Some(("clearing", id)) => leg.clearing_id == id,
        _ => panic!("not a pinned trade: {pinned}"),
    });
    assert!(
        !legs.is_empty(),
        "{} lists no leg of {pinned}",
        witness.name
    );
    legs.sort_by_key(|leg| leg.leg);
    legs
}

/// Sends each `PAUSED` line of the daemon's stdout, with its index.
fn forward_pauses(daemon: &mut Daemon, index: usize, to: &mpsc::Sender<(usize, String)>) {
    let stdout = BufReader::new(daemon.child.stdout.take().unwrap());
    let to = to.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(pinned) = line.strip_prefix(PAUSED)
                && to.send((index, pinned.to_string())).is_err()
            {
                break;
            }
        }
    });
}

/// Runs `name` as a call market with every host a [`paused_daemon`]; when
/// a host logs `moment` of the first trade it pauses, `victim` is
/// SIGKILLed, and the step is asserted on the ledgers that cannot move
/// then (the victim's and the paused witness's). The others go on, the
/// victim restarts (the `bidder` binary), and once nothing is in flight
/// every VM runs exactly once and `market audit` passes.
async fn killed_at(name: &str, moment: Moment, victim: Victim) {
    let scenario = scenario(name);
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    // Short windows: a party the auctioneer left waits less.
    let tables = "[protocol.call-market]\nwindow_ms = 500\n";
    let (paused, pauses) = mpsc::channel();
    let mut daemons = Vec::new();
    let mut files = Vec::new();
    for i in 0..scenario.spec.host.len() {
        files.push(state_file(dir.path(), &scenario, i));
        let mut settings = host_settings(&scenario, dir.path(), tables, i);
        settings.command = Some(paused_at(moment));
        let mut daemon = start_host_with(&scenario, dir.path(), &server.url(), i, &settings);
        forward_pauses(&mut daemon, i, &paused);
        daemons.push(daemon);
    }
    let what = format!("{name}: {victim:?} killed at {moment:?}");
    let (witness, pinned) = pauses
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("{what}: never came ({e})\n{}", all_logs(&daemons)));
    let legs = legs_pinned(&daemons[witness], &pinned).await;
    let host = match victim {
        Victim::Auctioneer => auctioneer_of(&daemons).expect("a host cleared the trade"),
        Victim::FirstSource => legs[0].seller.clone(),
        Victim::FirstDestination => legs[0].buyer.clone(),
    };
    let killed = daemons.iter().position(|d| d.name == host).unwrap();
    daemons[killed].child.kill().unwrap(); // SIGKILL
    daemons[killed].child.wait().unwrap();
    let what = format!("{what} ({} paused at {pinned})", daemons[witness].name);
    moment.assert_held(&legs, &daemons[killed], &what).await;
    moment.assert_held(&legs, &daemons[witness], &what).await;
    // Let the paused go on (closing stdin), and any other that would pause.
    for daemon in &mut daemons {
        drop(daemon.child.stdin.take());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log_before = daemons[killed].log();
    daemons[killed] = start_host(&scenario, dir.path(), &server.url(), tables, killed);
    until_quiet(&scenario, &daemons, &files, &what, &log_before).await;
    let (ok, report) = stop_and_audit(daemons);
    assert!(ok, "{what}: market audit:\n{report}");
}

/// Waits until the zone is quiet: nothing in flight, every VM running
/// once, no migration for 3 s (at most 90 s); `log_before` is the log of
/// a host restarted meanwhile, shown if it never is.
async fn until_quiet(
    scenario: &Scenario,
    daemons: &[Daemon],
    files: &[PathBuf],
    what: &str,
    log_before: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stable = (usize::MAX, Instant::now());
    loop {
        let at = locations(scenario, files);
        let mut running: Vec<&String> = at.values().flatten().collect();
        running.sort();
        let once =
            running.len() == scenario.spec.vm.len() && running.windows(2).all(|w| w[0] != w[1]);
        let settled = migrations(daemons).await;
        if settled != stable.0 {
            stable = (settled, Instant::now());
        }
        if once && in_flight(daemons).await == 0 && stable.1.elapsed() > Duration::from_secs(3) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: at {at:?}, {} in flight\nbefore the restart:\n{log_before}\n{}",
            in_flight(daemons).await,
            all_logs(daemons)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_s_first_source_killed_at_every_leg_step() {
    for moment in Moment::ALL {
        killed_at("seed002-stuck-swap", moment, Victim::FirstSource).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_s_first_destination_killed_at_every_leg_step() {
    for moment in Moment::ALL {
        killed_at("seed002-stuck-swap", moment, Victim::FirstDestination).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_s_auctioneer_killed_at_every_leg_step() {
    for moment in Moment::ALL {
        killed_at("seed002-stuck-swap", moment, Victim::Auctioneer).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_s_parties_and_auctioneer_killed_at_every_leg_step() {
    for victim in [
        Victim::FirstSource,
        Victim::FirstDestination,
        Victim::Auctioneer,
    ] {
        for moment in Moment::ALL {
            killed_at("chain-of-three", moment, victim).await;
        }
    }
}

/// What `host`'s ledger holds of the legs that are not over.
async fn unfinished_legs(host: &Daemon) -> Vec<String> {
    let mut out = Vec::new();
    for state in [TradeState::Agreed, TradeState::Migrating] {
        for t in trades_in(&host.ledger, state).await {
            out.push(format!("{} {state:?}", t.terms.trade_id));
        }
    }
    out
}

/// Found by `a_chain_s_parties_and_auctioneer_killed_at_every_leg_step`
/// (one run in four): the zone was quiet between a chain called off and
/// the same chain cleared again, and the hosts were stopped (SIGTERM) as
/// a new round went on. A trader stopped once it had recorded its part
/// left the round there: its leg stayed agreed in its ledger, and in the
/// auctioneer's, and `market audit` found it at the end. A host stopped
/// now plays the call-market round it is in to its end before it exits.
///
/// The exact interleaving: both traders of the chain pause as they record
/// their part and the round's auctioneer is stopped (SIGSTOP), so that
/// nothing of the round moves; one trader is told to stop (SIGTERM) and
/// let go. It must log that it is stopping while its legs are still
/// agreed (the step); then the auctioneer goes on (SIGCONT), and the
/// trader must exit with none of its legs agreed.
///
/// The trader stopped is one whose turn it is not to hold the next round:
/// a host due to hold one waits for the round it is in to end first, and
/// would play it out anyway. Periods of 5 s keep the record (about a
/// second into the round) within the round's period or the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trader_stopped_after_recording_its_part_plays_the_round_out_before_it_exits() {
    let scenario = scenario("chain-of-three");
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let tables = "[protocol.call-market]\nwindow_ms = 500\n";
    let settings = |i: usize, command: Option<Launch>| Settings {
        period_ms: 5000,
        command,
        ..host_settings(&scenario, dir.path(), tables, i)
    };
    let moment = Moment::Recorded;
    let (paused, pauses) = mpsc::channel();
    let mut daemons = Vec::new();
    let mut files = Vec::new();
    for i in 0..scenario.spec.host.len() {
        files.push(state_file(dir.path(), &scenario, i));
        let settings = settings(i, Some(paused_at(moment)));
        let mut daemon = start_host_with(&scenario, dir.path(), &server.url(), i, &settings);
        forward_pauses(&mut daemon, i, &paused);
        daemons.push(daemon);
    }
    let (first, pinned) = pauses
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("no trader recorded ({e})\n{}", all_logs(&daemons)));
    let auctioneer = auctioneer_of(&daemons).expect("a host cleared the trade");
    let auctioneer = daemons.iter().position(|d| d.name == auctioneer).unwrap();
    send_signal(daemons[auctioneer].child.id(), "STOP");
    let (second, also) = pauses
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("one trader recorded ({e})\n{}", all_logs(&daemons)));
    assert_eq!(pinned, also, "{}", all_logs(&daemons));
    let mut traders = [first, second];
    traders.sort_unstable();
    let round = pinned.strip_prefix("round ").unwrap();
    let seq: u64 = daemons[auctioneer]
        .log()
        .lines()
        .find(|l| l.contains("holds a call-market round") && l.contains(round))
        .and_then(|l| l.split(" seq=").nth(1)?.split(' ').next()?.parse().ok())
        .expect("the auctioneer logged the round's number");
    // The rotation's roster, sorted by name: every host of the scenario.
    let mut roster: Vec<usize> = (0..daemons.len()).collect();
    roster.sort_by(|a, b| daemons[*a].name.cmp(&daemons[*b].name));
    let next = roster[usize::try_from((seq + 1) % roster.len() as u64).unwrap()];
    let trader = traders.into_iter().find(|t| *t != next).unwrap();
    let legs = legs_pinned(&daemons[trader], &pinned).await;
    let what = format!(
        "{} stopped as it recorded {pinned}, {} the auctioneer",
        daemons[trader].name, daemons[auctioneer].name
    );
    moment.assert_held(&legs, &daemons[trader], &what).await;
    let recorded = unfinished_legs(&daemons[trader]).await;
    assert!(
        !recorded.is_empty() && recorded.iter().all(|l| l.ends_with(" Agreed")),
        "{what}: it holds {recorded:?}"
    );
    send_signal(daemons[trader].child.id(), "TERM");
    for daemon in &mut daemons {
        drop(daemon.child.stdin.take());
    }
    // The step: it stops with the round under way, its legs agreed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !daemons[trader].log().contains("bidder::daemon: stopping") {
        assert!(
            Instant::now() < deadline,
            "{what}: the step never came (it did not stop while the round was under way)\n{}",
            daemons[trader].log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(unfinished_legs(&daemons[trader]).await, recorded, "{what}");
    send_signal(daemons[auctioneer].child.id(), "CONT");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemons[trader].child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: did not exit\n{}",
            all_logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{what}: exited {status}");
    let left = unfinished_legs(&daemons[trader]).await;
    assert!(
        left.is_empty(),
        "{what}: it exited with {left:?} in its ledger\n{}",
        all_logs(&daemons)
    );
    // Back, it finds nothing to recover; the zone ends as every kill test's.
    let log_before = daemons[trader].log();
    let restart = settings(trader, None);
    daemons[trader] = start_host_with(&scenario, dir.path(), &server.url(), trader, &restart);
    until_quiet(&scenario, &daemons, &files, &what, &log_before).await;
    let (ok, report) = stop_and_audit(daemons);
    assert!(ok, "{what}: market audit:\n{report}");
}
