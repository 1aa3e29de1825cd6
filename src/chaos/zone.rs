//! The zone a campaign runs: a 3-node nats-server cluster on loopback as
//! `market nats-config --node` writes it, and `bidder` daemons on
//! simulated hosts, each with its ledger on a small tmpfs of its own (so
//! that a fault can fill it).

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bidder::hypervisor::simulated::{
    Capacity, DomainLoad, SimulatedHypervisor, Swing, with_workload,
};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use market::bus::LocalNatsServer;

use super::ChaosError;
use crate::rng::Rng;

/// The zone's name on the bus.
pub const ZONE: &str = "chaos";
/// The peer that sends malformed and replayed messages: a host of the
/// zone's configuration with no bidder.
pub const ROGUE: &str = "rogue";
/// The operator user `market place` runs as.
pub const OPERATOR: &str = "ops";
/// What every simulated host offers.
pub const CAPACITY: Capacity = Capacity {
    cpus: 4,
    memory_mib: 8192,
};
/// The trading period of every host (the call market needs one period).
pub const PERIOD_MS: u64 = 700;
/// How long contractors and traders have to answer a call: a bidder
/// SIGSTOPped longer than this misses a whole call.
pub const WINDOW_MS: u64 = 500;
/// The size of each ledger's tmpfs: room for a long campaign's trades,
/// small enough to fill in a moment.
const LEDGER_DISK: &str = "size=32m";
/// How long a bidder may take to say it is ready.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// One node of the cluster: its configuration file and client port, and
/// its process while it runs.
pub struct Node {
    config: PathBuf,
    port: u16,
    pub server: Option<LocalNatsServer>,
}

impl Node {
    /// Starts it again after a kill, on its port with its file.
    pub fn restart(&mut self) -> Result<(), ChaosError> {
        self.server = Some(LocalNatsServer::start_node(&self.config, self.port)?);
        Ok(())
    }
}

/// A tmpfs mounted for one ledger, unmounted (lazily, a daemon may still
/// hold the file) when dropped.
pub struct LedgerDisk {
    pub dir: PathBuf,
}

impl LedgerDisk {
    fn mount(dir: PathBuf) -> Result<LedgerDisk, ChaosError> {
        std::fs::create_dir_all(&dir).map_err(|e| ChaosError::io("create", &dir, e))?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", LEDGER_DISK, "bourse-chaos-ledger"])
            .arg(&dir)
            .output()
            .map_err(|e| ChaosError::io("run mount for", &dir, e))?;
        if !output.status.success() {
            return Err(ChaosError::Mount {
                dir,
                reason: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(LedgerDisk { dir })
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Fills the disk to its last byte with a file of zeros.
    pub fn fill(&self) -> Result<(), ChaosError> {
        let path = self.filler();
        let mut file = File::create(&path).map_err(|e| ChaosError::io("create", &path, e))?;
        let chunk = vec![0u8; 64 * 1024];
        // Until the file system says it is full: that is the point.
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        Ok(())
    }

    /// Gives the space back.
    pub fn free(&self) -> Result<(), ChaosError> {
        let path = self.filler();
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(ChaosError::io("remove", &path, e))
            }
            _ => Ok(()),
        }
    }
}

impl Drop for LedgerDisk {
    /// Unmounts the tmpfs and keeps the ledger where the summary's
    /// violations name it: copied aside, then moved back under the mount
    /// point once the tmpfs is gone. Best effort: nothing is left to report
    /// a failure to.
    fn drop(&mut self) {
        let aside = self.dir.with_extension("kept");
        let _ = std::fs::create_dir_all(&aside);
        let files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| *path != self.filler())
            .collect();
        for path in &files {
            if let Some(name) = path.file_name() {
                let _ = std::fs::copy(path, aside.join(name));
            }
        }
        let _ = Command::new("umount").arg("--lazy").arg(&self.dir).status();
        for path in &files {
            if let Some(name) = path.file_name() {
                let _ = std::fs::rename(aside.join(name), path);
            }
        }
        let _ = std::fs::remove_dir(&aside);
    }
}

/// One host: its files and its daemon while it runs.
pub struct Host {
    pub name: String,
    pub config: PathBuf,
    pub state_file: PathBuf,
    pub ledger: PathBuf,
    pub log: PathBuf,
    pub disk: LedgerDisk,
    pub child: Option<Child>,
    /// Its configuration for the quiet end: it plays `placement` alone, so
    /// it starts no trade, and recovers and answers its peers as ever.
    quiet_config: String,
    /// Where its log stood when its daemon was last started, and whether
    /// that daemon has said it is ready since.
    started_at: u64,
    ready: bool,
}

impl Host {
    /// The simulated host, read from its state file (what the daemon wrote
    /// last), or written while the daemon is down.
    pub fn hypervisor(&self) -> Result<SimulatedHypervisor, ChaosError> {
        Ok(SimulatedHypervisor::open(
            &self.state_file,
            &self.name,
            CAPACITY,
        )?)
    }

    /// From its next start on, it trades no more (the quiet end).
    pub fn go_quiet(&self) -> Result<(), ChaosError> {
        write(&self.config, &self.quiet_config)
    }

    /// Starts its `bidder` (`program`), its stderr appended to its log.
    pub fn start(&mut self, program: &Path) -> Result<(), ChaosError> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| ChaosError::io("open", &self.log, e))?;
        self.started_at = log.metadata().map_or(0, |m| m.len());
        self.ready = false;
        let child = Command::new(program)
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| ChaosError::io("start", program, e))?;
        self.child = Some(child);
        Ok(())
    }

    /// Whether its daemon has said it is ready since it was last started:
    /// one SIGTERMed before it listens for signals dies of the signal, as
    /// any process would, which says nothing of how it stops.
    pub fn is_ready(&mut self) -> bool {
        if !self.ready {
            let mut since = String::new();
            if let Ok(mut log) = File::open(&self.log)
                && log.seek(SeekFrom::Start(self.started_at)).is_ok()
            {
                let _ = log.read_to_string(&mut since);
            }
            self.ready = since.contains("bidder ready");
        }
        self.ready
    }

    /// The process id of its running daemon.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILLs its daemon, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has exited already: the check of exits
            // reports that.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERMs its daemon and waits for it: its exit status, or `None`
    /// when it ignored the signal (then it is killed).
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pid = self.pid()?;
        signal(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut child = self.child.take()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Its exit status if its daemon has exited by itself.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok()??;
        self.child = None;
        Some(status)
    }

    /// The last lines of its log, to show with a violation.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }

    /// Destroys and undefines one running VM of its simulated host, drawn
    /// from `rng` among those not in `busy` (the daemon must be down); its
    /// UUID, or none when every VM is busy.
    pub fn end_a_vm(
        &self,
        rng: &mut Rng,
        busy: &BTreeSet<String>,
    ) -> Result<Option<String>, ChaosError> {
        let hv = self.hypervisor()?;
        let free: Vec<DomainUuid> = hv
            .domains()?
            .into_iter()
            .filter(|d| d.state.is_active() && !busy.contains(d.uuid.as_str()))
            .map(|d| d.uuid)
            .collect();
        if free.is_empty() {
            return Ok(None);
        }
        let uuid = &free[rng.below(free.len())];
        hv.destroy(uuid)?;
        hv.undefine(uuid)?;
        Ok(Some(uuid.to_string()))
    }

    /// Gives every VM on its simulated host a new load drawn from `rng`
    /// (the daemon must be down: one process owns a state file).
    pub fn change_workloads(&self, rng: &mut Rng) -> Result<(), ChaosError> {
        let hv = self.hypervisor()?;
        for domain in hv.domains()? {
            hv.set_load(&domain.uuid, random_load(rng))?;
        }
        Ok(())
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // A campaign that stops on an error leaves no bidder behind.
        self.kill();
    }
}

/// Sends signal `name` (`STOP`, `CONT`, `TERM`) to process `pid`, through
/// the shell's `kill`: no package beyond sh, and by process id only.
pub fn signal(pid: u32, name: &str) {
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -{name} {pid}")])
        .status();
    if !matches!(sent, Ok(s) if s.success()) {
        tracing::warn!(pid, name, "could not signal the process");
    }
}

/// The whole zone.
pub struct Zone {
    pub nodes: Vec<Node>,
    pub servers: Vec<String>,
    pub nats_dir: PathBuf,
    pub hosts: Vec<Host>,
}

/// What the zone is started from.
pub struct ZoneSetup<'a> {
    pub dir: &'a Path,
    pub hosts: usize,
    pub market: &'a Path,
    pub bidder: &'a Path,
}

impl Zone {
    /// Writes the cluster's configuration, starts its three nodes, gives
    /// each host its disk, policy, first VMs and configuration, and starts
    /// every bidder, returning once each says it is ready.
    pub fn start(setup: &ZoneSetup<'_>, rng: &mut Rng) -> Result<Zone, ChaosError> {
        let names: Vec<String> = (1..=setup.hosts).map(|i| format!("h{i:02}")).collect();
        let nats_dir = setup.dir.join("nats");
        let (nodes, servers) = start_cluster(setup, &names, &nats_dir)?;
        let mut zone = Zone {
            nodes,
            servers,
            nats_dir,
            hosts: Vec::new(),
        };
        for name in &names {
            let host = zone.prepare_host(setup.dir, name, rng)?;
            zone.hosts.push(host);
        }
        for host in &mut zone.hosts {
            host.start(setup.bidder)?;
        }
        for host in &zone.hosts {
            wait_until_ready(host)?;
        }
        Ok(zone)
    }

    /// A host's files: its ledger's disk, a policy whose thresholds are
    /// drawn from `rng`, 1 to 4 VMs of random loads, its configuration.
    fn prepare_host(&self, dir: &Path, name: &str, rng: &mut Rng) -> Result<Host, ChaosError> {
        let disk = LedgerDisk::mount(dir.join("ledgers").join(name))?;
        let mut host = Host {
            name: name.to_owned(),
            config: dir.join(format!("{name}.toml")),
            state_file: dir.join(format!("{name}.sim.json")),
            ledger: disk.dir.join(format!("{name}.ledger.sqlite")),
            log: dir.join(format!("{name}.log")),
            disk,
            child: None,
            quiet_config: String::new(),
            started_at: 0,
            ready: false,
        };
        let hv = host.hypervisor()?;
        for n in 0..1 + rng.below(4) {
            let uuid = random_uuid(rng);
            let xml = domain_xml(&uuid, &format!("{name}-vm{n}"), &random_load(rng))?;
            let defined = hv.define(&xml)?;
            hv.start(&defined)?;
        }
        let policy = dir.join(format!("{name}.policy.toml"));
        write(&policy, &policy_text(rng))?;
        write(&host.config, &self.config_text(&host, &policy, true))?;
        host.quiet_config = self.config_text(&host, &policy, false);
        Ok(host)
    }

    /// A host's configuration; without `trading`, it plays `placement`
    /// alone.
    fn config_text(&self, host: &Host, policy: &Path, trading: bool) -> String {
        let name = &host.name;
        let protocols = if trading {
            format!(
                "protocols = [\"contract-net\", \"reverse-call\", \"call-market\", \"placement\"]\n\
                 [protocol.call-market]\nwindow_ms = {WINDOW_MS}\n"
            )
        } else {
            "protocols = [\"placement\"]\n".to_owned()
        };
        format!(
            "host = \"{name}\"\nzone = \"{ZONE}\"\n\
             ledger = \"{ledger}\"\npolicy = \"{policy}\"\n\
             hypervisor = \"simulated://{state}\"\n\
             {protocols}\
             [capacity]\ncpus = {cpus}\nmemory_mib = {memory}\nnetwork_mbps = 1000\n\
             [nats]\nservers = {servers:?}\nname = \"{name}\"\ninbox_prefix = \"_INBOX.{name}\"\n\
             credentials = {{ kind = \"password\", user = \"{name}\", password_file = \"{password}\" }}\n\
             [trading]\nperiod_ms = {PERIOD_MS}\nrecruit_ms = 200\nwindow_ms = {WINDOW_MS}\n\
             grace_ms = 2000\npeer_timeout_ms = 3000\n",
            ledger = host.ledger.display(),
            policy = policy.display(),
            state = host.state_file.display(),
            cpus = CAPACITY.cpus,
            memory = CAPACITY.memory_mib,
            servers = self.servers,
            password = self.nats_dir.join(format!("{name}.password")).display(),
        )
    }

    /// The password file of `user`.
    pub fn password_file(&self, user: &str) -> PathBuf {
        self.nats_dir.join(format!("{user}.password"))
    }

    /// How many nodes run now.
    pub fn nodes_up(&self) -> usize {
        self.nodes.iter().filter(|n| n.server.is_some()).count()
    }
}

/// A guest's load: a mean busy fraction and a wave around it, each
/// guest's of its own amplitude, length and phase, so that the hosts'
/// loads keep crossing their policies' thresholds and the zone keeps
/// trading for as long as a campaign runs.
pub fn random_load(rng: &mut Rng) -> DomainLoad {
    DomainLoad {
        swing: Some(Swing {
            amplitude: rng.between(0.15, 0.45),
            period_s: rng.between(5.0, 20.0),
            phase: rng.between(0.0, 1.0),
        }),
        ..DomainLoad::steady(rng.between(0.2, 0.8))
    }
}

/// A domain of 1 vCPU and 512 MiB named `name` running at `load`.
pub fn domain_xml(uuid: &DomainUuid, name: &str, load: &DomainLoad) -> Result<String, ChaosError> {
    let spec = DomainSpec {
        uuid: uuid.clone(),
        name: name.to_owned(),
        vcpus: 1,
        memory_kib: 512 * 1024,
        interfaces: Vec::new(),
        group: None,
    };
    Ok(with_workload(&spec.to_xml("test"), load)?)
}

/// A version 4 UUID from `rng`: the same seed names the same VMs.
pub fn random_uuid(rng: &mut Rng) -> DomainUuid {
    let (a, b) = (rng.next_u64(), rng.next_u64());
    let text = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    );
    // Always well formed: built from hex digits in the layout above.
    DomainUuid::parse(&text).unwrap_or_else(|_| unreachable!("{text} is a UUID"))
}

/// A policy that sheds above a load and takes below another: loads that
/// change keep a host moving between the two, so it keeps trading.
fn policy_text(rng: &mut Rng) -> String {
    let under = rng.between(0.6, 1.4);
    let over = under + rng.between(0.6, 1.6);
    format!(
        "[policy]\nname = \"chaos\"\n\
         [[policy.condition]]\nmetric = \"load_one\"\n\
         underloaded_below = {under:.2}\noverloaded_above = {over:.2}\n"
    )
}

fn write(path: &Path, text: &str) -> Result<(), ChaosError> {
    std::fs::write(path, text).map_err(|e| ChaosError::io("write", path, e))
}

/// Runs `market nats-config --node` for three nodes on free loopback
/// ports and starts each node from the file it wrote.
fn start_cluster(
    setup: &ZoneSetup<'_>,
    hosts: &[String],
    nats_dir: &Path,
) -> Result<(Vec<Node>, Vec<String>), ChaosError> {
    let ports = free_ports(6)?;
    let mut command = Command::new(setup.market);
    command.args(["nats-config", "--zone", ZONE, "--operator", OPERATOR]);
    for host in hosts.iter().map(String::as_str).chain([ROGUE]) {
        command.args(["--host", host]);
    }
    for i in 0..3 {
        command.arg("--node");
        command.arg(format!(
            "n{}=127.0.0.1:{}:{}",
            i + 1,
            ports[2 * i],
            ports[2 * i + 1]
        ));
    }
    let output = command
        .arg("--out")
        .arg(nats_dir)
        .output()
        .map_err(|e| ChaosError::io("run", setup.market, e))?;
    if !output.status.success() {
        return Err(ChaosError::NatsConfig(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let mut nodes = Vec::new();
    let mut servers = Vec::new();
    for i in 0..3 {
        let name = format!("n{}", i + 1);
        let config = nats_dir.join(format!("nats-server-{name}.conf"));
        let port = ports[2 * i];
        servers.push(format!("nats://127.0.0.1:{port}"));
        nodes.push(Node {
            server: Some(LocalNatsServer::start_node(&config, port)?),
            config,
            port,
        });
    }
    Ok((nodes, servers))
}

/// `n` different loopback ports nothing listens on now.
fn free_ports(n: usize) -> Result<Vec<u16>, ChaosError> {
    let mut ports = BTreeSet::new();
    while ports.len() < n {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| ChaosError::io("bind", Path::new("127.0.0.1:0"), e))?
            .port();
        ports.insert(port);
    }
    Ok(ports.into_iter().collect())
}

/// Waits until `host`'s log says it is ready (recovery done, answering).
fn wait_until_ready(host: &Host) -> Result<(), ChaosError> {
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        let log = std::fs::read_to_string(&host.log).unwrap_or_default();
        if log.contains("bidder ready") {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(ChaosError::NotReady {
                host: host.name.clone(),
                log: host.log_tail(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
