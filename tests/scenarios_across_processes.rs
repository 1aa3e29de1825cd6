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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor, with_workload};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use bourse::simulate::scenario::Scenario;
use daemon_support::{Daemon, Settings, stop_and_audit, trades_in};
use market::baseline::{Item, ffd, greedy_balance};
use market::bus::LocalNatsServer;
use market::host::{Host, HostId};
use market::ledger::{TradeKind, TradeState};
use market::resources::Resources;
use market::vm::{GroupRule, VmId};

fn scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("scenarios/{name}.toml"));
    Scenario::load(&path).unwrap()
}

/// Each VM's domain definition as `market simulate` writes it, with its
/// workload in the metadata.
fn domain_xml(spec: &DomainSpec, cpu_load: f64) -> String {
    with_workload(&spec.to_xml("test"), cpu_load)
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
        let vms = SimulatedHypervisor::open(path, &spec.name, capacity)
            .and_then(|hv| hv.domains())
            .map(|domains| {
                domains
                    .into_iter()
                    .filter(|d| d.state.is_active())
                    .map(|d| d.name)
                    .collect()
            })
            .unwrap_or_default();
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
    let host = &scenario.spec.host[i];
    let base = scenario.path.parent().unwrap();
    let policy = std::fs::read_to_string(base.join(&host.policy)).unwrap();
    let protocols = host.protocols.as_ref().unwrap_or(&scenario.spec.protocols);
    let file = dir.join(format!("{}.sim.json", host.name));
    let settings = Settings {
        hypervisor: Some(format!("simulated://{}", file.display())),
        capacity: (host.cpus, host.memory_mib),
        keys: format!("protocols = {protocols:?}"),
        zone: Some(host.zone().to_string()),
        tables: tables.to_string(),
        ..Settings::default()
    };
    let id = u32::try_from(i).unwrap() + 1;
    Daemon::start_with(dir, url, &host.name, id, &policy, &[], &settings)
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
        across_processes_playing(name, &["double-auction"]).await;
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
        across_processes_playing(name, &["double-auction"]).await;
    }
}

/// 200 bidder processes per cluster, one cluster after the other: about
/// three minutes each on a 2-core machine, more than the suite gives one
/// test. Run with `cargo test --test scenarios_across_processes -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "two clusters of 200 bidder processes, about six minutes: run with --ignored"]
async fn generated_200_hosts_under_both_policies() {
    across_processes("generated-200-power-saving").await;
    across_processes("generated-200-agility").await;
}

/// When a party of a call-market trade of two legs is killed.
#[derive(Debug, Clone, Copy)]
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

    /// Whether the daemons' logs show it (the round's first trade).
    fn seen(self, logs: &str) -> bool {
        logs.lines().any(|line| match self {
            Moment::Recorded => line.contains("recorded its trade"),
            Moment::FirstLegMoving => line.contains(".1.1 step=\"attempt_recorded\""),
            Moment::BetweenLegs => line.contains("leg carried out") && line.contains(" leg=1 "),
            Moment::SecondLegMoving => line.contains(".1.2 step=\"attempt_recorded\""),
        })
    }
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

/// The first leg's source and destination, from any ledger that lists it.
async fn first_leg(daemons: &[Daemon]) -> Option<(String, String)> {
    for d in daemons {
        let Ok(ledger) = market::ledger::Ledger::open_read_only(&d.ledger).await else {
            continue;
        };
        let legs = ledger.clearing_legs().await.unwrap_or_default();
        ledger.close().await;
        if let Some(leg) = legs.iter().find(|l| l.leg == 1) {
            return Some((leg.seller.clone(), leg.buyer.clone()));
        }
    }
    None
}

/// Runs `name` as a call market, SIGKILLs `victim` at `moment` of the first
/// trade, restarts it, and checks that once nothing is in flight every VM
/// runs exactly once and `market audit` passes.
async fn killed_at(name: &str, moment: Moment, victim: Victim) {
    let scenario = scenario(name);
    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    // Short windows: a party the auctioneer left waits less.
    let tables = "[protocol.double-auction]\nwindow_ms = 500\n";
    let (mut daemons, files) = start_hosts(&scenario, dir.path(), &server.url(), tables);
    let what = format!("{name}: {victim:?} killed at {moment:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let killed = loop {
        if moment.seen(&all_logs(&daemons)) {
            let host = match victim {
                Victim::Auctioneer => auctioneer_of(&daemons),
                Victim::FirstSource => first_leg(&daemons).await.map(|(s, _)| s),
                Victim::FirstDestination => first_leg(&daemons).await.map(|(_, d)| d),
            };
            if let Some(host) = host {
                break daemons.iter().position(|d| d.name == host).unwrap();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never came\n{}",
            all_logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    daemons[killed].child.kill().unwrap(); // SIGKILL
    daemons[killed].child.wait().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let log_before = daemons[killed].log();
    daemons[killed] = start_host(&scenario, dir.path(), &server.url(), tables, killed);
    // Quiet: nothing in flight, every VM once, no migration for 3 s.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stable = (usize::MAX, Instant::now());
    loop {
        let at = locations(&scenario, &files);
        let mut running: Vec<&String> = at.values().flatten().collect();
        running.sort();
        let once =
            running.len() == scenario.spec.vm.len() && running.windows(2).all(|w| w[0] != w[1]);
        let settled = migrations(&daemons).await;
        if settled != stable.0 {
            stable = (settled, Instant::now());
        }
        if once && in_flight(&daemons).await == 0 && stable.1.elapsed() > Duration::from_secs(3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: at {at:?}, {} in flight\nbefore the kill:\n{log_before}\n{}",
            in_flight(&daemons).await,
            all_logs(&daemons)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, report) = stop_and_audit(daemons);
    assert!(ok, "{what}: market audit:\n{report}");
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
