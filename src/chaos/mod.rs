//! `market chaos`: a zone of `bidder` daemons on simulated hosts over a
//! 3-node nats-server cluster, trading while faults are injected at
//! random moments drawn from a seed, checked against invariants all along
//! and once the zone is quiet again (docs/reliability.md).
//!
//! The engine lives in the library so that tests drive the code the CLI
//! runs. Everything random (workloads, policies, faults, their moments,
//! the rogue peer's messages) comes from one [`crate::rng::Rng`] of the seed; the
//! processes' own timing is not, so a seed replays the same faults in the
//! same order, not the same interleaving to the millisecond.

mod checks;
mod faults;
mod rogue;
mod zone;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bidder::hypervisor::{Hypervisor, HypervisorError};
use market::bus::{BusError, LocalServerError};
use market::ledger::LedgerError;

use crate::rng::Rng;
pub use faults::FaultKind;
use faults::Recovery;
use rogue::Rogue;
use zone::{OPERATOR, WINDOW_MS, ZONE, Zone, ZoneSetup};

/// The fewest hosts a campaign runs: fewer would not make a zone in which
/// a quarter can be down and the rest still trade.
pub const MIN_HOSTS: usize = 12;
/// How often the hosts' state files are swept for lost or doubled VMs.
const SWEEP_EVERY: Duration = Duration::from_secs(2);
/// How often a host's workload changes (one host at a time).
const WORKLOAD_EVERY: Duration = Duration::from_secs(4);
/// How often `market place` is asked for a new VM.
const PLACE_EVERY: Duration = Duration::from_secs(3);
/// `market place` is asked for VMs while the zone holds fewer than this
/// many a host (each host has 4 cores, a VM 1 vCPU): a zone with room
/// left to move VMs into.
const PLACE_BELOW_PER_HOST: f64 = 2.5;
/// A workload change also ends one of its host's VMs (its tenant deleted
/// it) while the zone holds at least this many a host: VMs come and go,
/// and the zone never fills.
const END_FROM_PER_HOST: f64 = 2.0;
/// How long the quiet zone has to finish every trade once faults stop.
const QUIET_WITHIN: Duration = Duration::from_secs(120);

/// What a campaign is run with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The seed of every draw.
    pub seed: u64,
    /// How long faults are injected (the quiet end comes after).
    pub duration: Duration,
    /// How many bidders.
    pub hosts: usize,
    /// The mean time between two faults.
    pub fault_every: Duration,
    /// The `bidder` executable.
    pub bidder: PathBuf,
    /// The `market` executable (`nats-config`, `place`).
    pub market: PathBuf,
    /// Where the zone's files go (configurations, logs, state files, the
    /// ledgers' mount points).
    pub dir: PathBuf,
}

/// Why a campaign could not run (not a violation: those are in the
/// [`Summary`]).
#[derive(Debug, thiserror::Error)]
pub enum ChaosError {
    #[error(
        "the campaign must run as root: it mounts a small tmpfs under each bidder's ledger to fill it"
    )]
    NotRoot,
    #[error("a campaign needs at least {MIN_HOSTS} hosts, not {0}")]
    TooFewHosts(usize),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot mount a tmpfs on {dir}: {reason}")]
    Mount { dir: PathBuf, reason: String },
    #[error("market nats-config failed: {0}")]
    NatsConfig(String),
    #[error(transparent)]
    Nats(#[from] LocalServerError),
    #[error("a simulated host: {0}")]
    Hypervisor(#[from] HypervisorError),
    #[error("cannot read ledger {path}: {source}")]
    Ledger { path: PathBuf, source: LedgerError },
    #[error("the rogue peer: {0}")]
    Bus(#[from] BusError),
    #[error("not a subject token: {0}")]
    Name(String),
    #[error("bidder {host} did not get ready; its log ends:\n{log}")]
    NotReady { host: String, log: String },
}

impl ChaosError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> ChaosError {
        ChaosError::Io {
            what,
            path: path.to_owned(),
            source,
        }
    }
}

/// Trades of the zone by how they ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TradeCounts {
    /// Every trade recorded (placements included).
    pub agreed: usize,
    pub settled: usize,
    pub rolled_back: usize,
    /// Migrations that failed: the VMs stayed at the seller, as rolled back.
    pub failed: usize,
    /// Still agreed or migrating.
    pub in_flight: usize,
    /// How many of each protocol.
    pub by_protocol: BTreeMap<String, usize>,
}

/// One broken invariant, and when (seconds into the campaign).
#[derive(Debug, Clone)]
pub struct Violation {
    pub at_s: f64,
    pub what: String,
}

/// What a campaign did and found.
#[derive(Debug, Clone)]
pub struct Summary {
    pub seed: u64,
    pub hosts: usize,
    pub duration: Duration,
    pub trades: TradeCounts,
    pub faults: BTreeMap<FaultKind, usize>,
    /// `market place` calls that placed their VM, and those that did not.
    pub placed: usize,
    pub not_placed: usize,
    /// Hosts whose workloads were changed (each by a clean restart).
    pub workload_changes: usize,
    /// VMs ended by their tenant at a workload change.
    pub vms_ended: usize,
    pub violations: Vec<Violation>,
}

/// Where a running campaign is, for a progress bar.
#[derive(Debug, Clone)]
pub struct Tick {
    pub elapsed: Duration,
    pub settled: usize,
    pub faults: usize,
    pub violations: usize,
}

/// Runs a campaign: starts the zone, injects faults for `duration`, lets
/// the zone quiet down, checks it, and stops it. `progress` hears where
/// it is every few seconds.
pub async fn run(settings: &Settings, progress: impl FnMut(&Tick)) -> Result<Summary, ChaosError> {
    if settings.hosts < MIN_HOSTS {
        return Err(ChaosError::TooFewHosts(settings.hosts));
    }
    if !is_root() {
        return Err(ChaosError::NotRoot);
    }
    std::fs::create_dir_all(&settings.dir)
        .map_err(|e| ChaosError::io("create", &settings.dir, e))?;
    let mut rng = Rng::new(settings.seed);
    let setup = ZoneSetup {
        dir: &settings.dir,
        hosts: settings.hosts,
        market: &settings.market,
        bidder: &settings.bidder,
    };
    let zone = Zone::start(&setup, &mut rng)?;
    let names = zone.hosts.iter().map(|h| h.name.clone()).collect();
    let rogue = Rogue::connect(&zone, names, rng.fork()).await?;
    let mut campaign = Campaign {
        settings,
        zone,
        rng,
        started: Instant::now(),
        pending: Vec::new(),
        faults: FaultKind::ALL.iter().map(|&k| (k, 0)).collect(),
        violations: Vec::new(),
        vms: checks::VmWatch::default(),
        placement: None,
        placed: 0,
        not_placed: 0,
        workload_changes: 0,
        vms_ended: 0,
    };
    campaign.vms.sweep(&campaign.zone.hosts, false)?;
    let outcome = campaign.faults_for_a_while(&rogue, progress).await;
    rogue.stop();
    outcome?;
    campaign.quiet_end().await
}

/// Whether this process runs as root (mounting a tmpfs needs it).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|uids| uids.split_whitespace().nth(1))
        == Some("0")
}

/// A `market place` call under way.
struct Placement {
    child: Child,
    uuid: String,
}

struct Campaign<'a> {
    settings: &'a Settings,
    zone: Zone,
    rng: Rng,
    started: Instant,
    /// What ends each fault under way, and when.
    pending: Vec<(Instant, Recovery)>,
    faults: BTreeMap<FaultKind, usize>,
    violations: Vec<Violation>,
    vms: checks::VmWatch,
    placement: Option<Placement>,
    placed: usize,
    not_placed: usize,
    workload_changes: usize,
    vms_ended: usize,
}

impl Campaign<'_> {
    /// The campaign's busy part: faults, workloads, placements, sweeps.
    async fn faults_for_a_while(
        &mut self,
        rogue: &Rogue,
        mut progress: impl FnMut(&Tick),
    ) -> Result<(), ChaosError> {
        let end = self.started + self.settings.duration;
        let every = self.settings.fault_every;
        let mut next_fault = self.started + self.rng.duration(every / 2, every * 3 / 2);
        let mut next_workload = self.started + WORKLOAD_EVERY;
        let mut next_place = self.started;
        let mut next_sweep = self.started + SWEEP_EVERY;
        let mut next_tick = self.started;
        loop {
            let now = Instant::now();
            if now >= end {
                return Ok(());
            }
            self.check_exits();
            self.recover(now)?;
            if now >= next_fault {
                self.inject(rogue)?;
                next_fault = now + self.rng.duration(every / 2, every * 3 / 2);
            }
            if now >= next_workload {
                self.change_a_workload().await?;
                next_workload = now
                    + self
                        .rng
                        .duration(WORKLOAD_EVERY / 2, WORKLOAD_EVERY * 3 / 2);
            }
            self.finish_placement();
            if now >= next_place && self.placement.is_none() {
                self.place()?;
                next_place = now + self.rng.duration(PLACE_EVERY / 2, PLACE_EVERY * 3 / 2);
            }
            if now >= next_sweep {
                let found = self.vms.sweep(&self.zone.hosts, false)?;
                self.violate(found);
                next_sweep = now + SWEEP_EVERY;
            }
            if now >= next_tick {
                let ledgers = checks::snapshots(&self.zone.hosts).await?;
                progress(&Tick {
                    elapsed: now - self.started,
                    settled: checks::count(&ledgers).settled,
                    faults: self.faults.values().sum(),
                    violations: self.violations.len(),
                });
                next_tick = now + Duration::from_secs(5);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn violate(&mut self, found: Vec<String>) {
        let at_s = self.started.elapsed().as_secs_f64();
        for what in found {
            tracing::warn!(at_s, %what, "violation");
            self.violations.push(Violation { at_s, what });
        }
    }

    /// Hosts a fault is on now.
    fn busy(&self) -> Vec<usize> {
        self.pending.iter().filter_map(|(_, r)| r.host()).collect()
    }

    /// A host no fault is on, drawn from the seed; none when a quarter of
    /// the zone is under faults already.
    fn idle_host(&mut self) -> Option<usize> {
        let busy = self.busy();
        if busy.len() >= self.zone.hosts.len() / 4 {
            return None;
        }
        let idle: Vec<usize> = (0..self.zone.hosts.len())
            .filter(|h| !busy.contains(h))
            .collect();
        Some(idle[self.rng.below(idle.len())])
    }

    /// Injects one fault of a kind drawn from the seed, when the zone
    /// allows it (two nodes up, three quarters of the hosts free of faults).
    fn inject(&mut self, rogue: &Rogue) -> Result<(), ChaosError> {
        let kind = FaultKind::ALL[self.rng.below(FaultKind::ALL.len())];
        let now = Instant::now();
        let ms = Duration::from_millis;
        let recovery = match kind {
            FaultKind::RoguePeer => {
                rogue.burst();
                None
            }
            FaultKind::NodeKilled => {
                if self.zone.nodes_up() < self.zone.nodes.len() {
                    return Ok(());
                }
                let node = self.rng.below(self.zone.nodes.len());
                // Dropping the server SIGKILLs it by its process id.
                drop(self.zone.nodes[node].server.take());
                let after = self.rng.duration(ms(2000), ms(10_000));
                Some((now + after, Recovery::RestartNode(node)))
            }
            FaultKind::BidderKilled => {
                let Some(host) = self.idle_host() else {
                    return Ok(());
                };
                self.zone.hosts[host].kill();
                let after = self.rng.duration(ms(300), ms(5000));
                Some((now + after, Recovery::RestartBidder(host)))
            }
            FaultKind::BidderStopped => {
                let Some(host) = self.idle_host() else {
                    return Ok(());
                };
                let Some(pid) = self.zone.hosts[host].pid() else {
                    return Ok(());
                };
                zone::signal(pid, "STOP");
                let after = self.rng.duration(ms(WINDOW_MS * 3 / 2), ms(WINDOW_MS * 5));
                Some((now + after, Recovery::ContinueBidder(host)))
            }
            FaultKind::LedgerFull => {
                let Some(host) = self.idle_host() else {
                    return Ok(());
                };
                self.zone.hosts[host].disk.fill()?;
                let after = self.rng.duration(ms(2000), ms(8000));
                Some((now + after, Recovery::FreeDisk(host)))
            }
        };
        tracing::info!(%kind, "fault");
        *self.faults.entry(kind).or_default() += 1;
        self.pending.extend(recovery);
        Ok(())
    }

    /// Ends every fault whose moment has come (all of them: `now` far
    /// ahead).
    fn recover(&mut self, now: Instant) -> Result<(), ChaosError> {
        let (due, later): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|(at, _)| *at <= now);
        self.pending = later;
        for (_, recovery) in due {
            match recovery {
                Recovery::RestartBidder(h) => self.zone.hosts[h].start(&self.settings.bidder)?,
                Recovery::ContinueBidder(h) => {
                    if let Some(pid) = self.zone.hosts[h].pid() {
                        zone::signal(pid, "CONT");
                    }
                }
                Recovery::RestartNode(n) => self.zone.nodes[n].restart()?,
                Recovery::FreeDisk(h) => self.zone.hosts[h].disk.free()?,
            }
        }
        Ok(())
    }

    /// A bidder that exited without being killed breaks an invariant; it
    /// is started again so the campaign goes on.
    fn check_exits(&mut self) {
        let mut found = Vec::new();
        for host in &mut self.zone.hosts {
            if let Some(status) = host.exited() {
                found.push(format!(
                    "bidder {} exited by itself ({status}); its log ends:\n{}",
                    host.name,
                    host.log_tail()
                ));
                if let Err(e) = host.start(&self.settings.bidder) {
                    found.push(format!("bidder {} could not start again: {e}", host.name));
                }
            }
        }
        self.violate(found);
    }

    /// Changes the loads of one host's VMs: its daemon is stopped cleanly
    /// (one process owns a state file), the loads drawn anew, one of its
    /// VMs ended while the zone is full enough, the daemon started again.
    async fn change_a_workload(&mut self) -> Result<(), ChaosError> {
        let Some(h) = self.idle_host() else {
            return Ok(());
        };
        // Stopped cleanly only once it is up: the next change may take it.
        if !self.zone.hosts[h].is_ready() {
            return Ok(());
        }
        let host = &mut self.zone.hosts[h];
        let stopped = host.stop();
        if !matches!(stopped, Some(status) if status.success()) {
            let what = format!(
                "bidder {} did not stop cleanly on SIGTERM ({stopped:?}); its log ends:\n{}",
                host.name,
                host.log_tail()
            );
            self.violate(vec![what]);
        }
        let full = self.vms.count() as f64 >= self.zone.hosts.len() as f64 * END_FROM_PER_HOST;
        if full && let Some(uuid) = self.end_a_vm(h).await? {
            self.vms.retire(&uuid);
            self.vms_ended += 1;
        }
        let host = &mut self.zone.hosts[h];
        host.change_workloads(&mut self.rng)?;
        host.start(&self.settings.bidder)?;
        self.workload_changes += 1;
        Ok(())
    }

    /// Ends one VM of host `h` (its daemon down), as its tenant would: one
    /// that no unfinished trade of any host names, no other host runs and
    /// no placement under way starts, so that nothing moving or being
    /// reported is taken away.
    async fn end_a_vm(&mut self, h: usize) -> Result<Option<String>, ChaosError> {
        let mut busy: BTreeSet<String> = checks::snapshots(&self.zone.hosts)
            .await?
            .iter()
            .flat_map(|ledger| &ledger.trades)
            .filter(|t| !t.state.is_final())
            .flat_map(|t| t.terms.vms.iter().map(|vm| vm.uuid.clone()))
            .collect();
        busy.extend(self.placement.iter().map(|p| p.uuid.clone()));
        let others = self.zone.hosts.iter().enumerate().filter(|(i, _)| *i != h);
        for other in others.map(|(_, host)| host) {
            let running = other.hypervisor()?.domains()?;
            busy.extend(running.into_iter().map(|d| d.uuid.to_string()));
        }
        self.zone.hosts[h].end_a_vm(&mut self.rng, &busy)
    }

    /// Asks `market place`, as the operator, for a new VM of a random load.
    fn place(&mut self) -> Result<(), ChaosError> {
        if self.vms.count() as f64 >= self.zone.hosts.len() as f64 * PLACE_BELOW_PER_HOST {
            return Ok(());
        }
        let uuid = zone::random_uuid(&mut self.rng);
        let dir = self.settings.dir.join("placements");
        std::fs::create_dir_all(&dir).map_err(|e| ChaosError::io("create", &dir, e))?;
        let n = self.placed + self.not_placed;
        let file = dir.join(format!("p{n}.xml"));
        let load = zone::random_load(&mut self.rng);
        let xml = zone::domain_xml(&uuid, &format!("p{n}"), &load)?;
        std::fs::write(&file, xml).map_err(|e| ChaosError::io("write", &file, e))?;
        let log_path = self.settings.dir.join("place.log");
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| ChaosError::io("open", &log_path, e))?;
        let mut command = Command::new(&self.settings.market);
        command.args(["place", "--zone", ZONE, "--user", OPERATOR]);
        command
            .arg("--password-file")
            .arg(self.zone.password_file(OPERATOR));
        for server in &self.zone.servers {
            command.args(["--server", server]);
        }
        let child = command
            .arg("--domain")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| ChaosError::io("run", &self.settings.market, e))?;
        self.placement = Some(Placement {
            child,
            uuid: uuid.to_string(),
        });
        Ok(())
    }

    /// Counts the placement under way once it has ended; a VM placed must
    /// run somewhere from then on.
    fn finish_placement(&mut self) {
        let Some(placement) = &mut self.placement else {
            return;
        };
        let Ok(Some(status)) = placement.child.try_wait() else {
            return;
        };
        if status.success() {
            self.vms.expect(placement.uuid.clone());
            self.placed += 1;
        } else {
            self.not_placed += 1;
        }
        self.placement = None;
    }

    /// Ends every fault, restarts the zone so that no host trades any
    /// more and each recovers its unfinished trades, waits until nothing
    /// is in flight, stops every bidder cleanly and checks it all.
    /// Stops host `h` with SIGTERM; anything but a clean exit is a
    /// violation.
    fn stop_cleanly(&mut self, h: usize) {
        let host = &mut self.zone.hosts[h];
        // One just started (recovered from a fault) is let come up first:
        // see `Host::is_ready`.
        let deadline = Instant::now() + Duration::from_secs(30);
        while host.child.is_some() && !host.is_ready() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let stopped = host.stop();
        let name = host.name.clone();
        if !matches!(stopped, Some(status) if status.success()) {
            self.violate(vec![format!(
                "bidder {name} did not stop cleanly on SIGTERM ({stopped:?})"
            )]);
        }
    }

    async fn quiet_end(mut self) -> Result<Summary, ChaosError> {
        if let Some(mut placement) = self.placement.take() {
            // Its outcome is in the winner's ledger; wait for it to say.
            let _ = placement.child.wait();
            self.placement = Some(placement);
            self.finish_placement();
        }
        let far = Instant::now() + Duration::from_secs(3600);
        self.recover(far)?;
        self.check_exits();
        for h in 0..self.zone.hosts.len() {
            self.stop_cleanly(h);
            let host = &mut self.zone.hosts[h];
            host.go_quiet()?;
            host.start(&self.settings.bidder)?;
        }
        let deadline = Instant::now() + QUIET_WITHIN;
        loop {
            self.check_exits();
            let ledgers = checks::snapshots(&self.zone.hosts).await?;
            if checks::count(&ledgers).in_flight == 0 || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        for h in 0..self.zone.hosts.len() {
            self.stop_cleanly(h);
        }
        let found = self.vms.sweep(&self.zone.hosts, true)?;
        self.violate(found);
        let ledgers = checks::snapshots(&self.zone.hosts).await?;
        self.violate(checks::ledgers(&ledgers));
        Ok(Summary {
            seed: self.settings.seed,
            hosts: self.zone.hosts.len(),
            duration: self.settings.duration,
            trades: checks::count(&ledgers),
            faults: self.faults,
            placed: self.placed,
            not_placed: self.not_placed,
            workload_changes: self.workload_changes,
            vms_ended: self.vms_ended,
            violations: self.violations,
        })
    }
}
