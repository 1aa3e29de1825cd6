//! A host that exists only in this process (and, optionally, in a state
//! file): the hypervisor of simulations of many hosts, of the crash tests,
//! and of a `bidder` daemon configured with `simulated://PATH` (its clock
//! then follows the wall clock, [`SimulatedHypervisor::following_wall_clock`]).
//!
//! It keeps libvirt's rules (see [`Hypervisor`]) and adds what a real host
//! would enforce: a domain starts only if its memory fits in what the
//! running domains leave free ([`HypervisorError::InsufficientMemory`]).
//! Usage is deterministic: each domain has a [`DomainLoad`] set by the
//! simulation, and [`SimulatedHypervisor::advance`] moves the host's clock,
//! accruing CPU time and interface bytes.
//!
//! With a state file, every change is written to a temporary file, synced
//! and renamed over the old one before the call returns, so a process killed
//! at any moment leaves the last completed operation on disk. One process
//! owns a state file at a time.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use lcc::sync::Locked;
use market::vm::PlacementGroup;

use super::domain_xml::metadata_element;
use super::{
    DomainSpec, DomainState, DomainStats, DomainUuid, HostStats, Hypervisor, HypervisorError,
    InterfaceCounters, LiveTarget,
};

/// What a simulated host can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capacity {
    /// Physical CPUs (load averages are relative to nothing; kept for policies).
    pub cpus: u32,
    /// Memory for domains, MiB.
    pub memory_mib: u64,
}

/// How busy a simulated domain is while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct DomainLoad {
    /// Busy fraction of each vCPU, 0.0 to 1.0 (the mean, when it swings).
    pub cpu_utilisation: f64,
    /// Bytes per second the guest receives, spread over its interfaces.
    pub rx_bytes_per_s: u64,
    /// Bytes per second the guest sends, spread over its interfaces.
    pub tx_bytes_per_s: u64,
    /// How the busy fraction moves over time; none: it stays put.
    #[serde(default)]
    pub swing: Option<Swing>,
}

/// A busy fraction that rises and falls as a sine wave around
/// [`DomainLoad::cpu_utilisation`], as a service's daily load does: what
/// keeps long-running zones (`market chaos`) crossing their policies'
/// thresholds without anyone touching the guests. The wave is a function
/// of the host's clock, so every host a guest moves to agrees on where in
/// its wave it is.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Swing {
    /// How far either side of the mean it goes; the result is clamped to
    /// 0.0 to 1.0.
    pub amplitude: f64,
    /// The length of one wave, seconds (more than 0).
    pub period_s: f64,
    /// Where in its wave the guest is at clock 0, as a fraction of a
    /// period (0.0 to 1.0).
    pub phase: f64,
}

impl DomainLoad {
    /// A guest busy at `cpu` all the time, with no network traffic.
    pub fn steady(cpu: f64) -> DomainLoad {
        DomainLoad {
            cpu_utilisation: cpu,
            ..DomainLoad::default()
        }
    }

    /// The busy fraction of each vCPU when the host's clock reads `clock`.
    pub fn cpu_at(&self, clock: Duration) -> f64 {
        let swing = self.swing.map_or(0.0, |s| {
            let turns = clock.as_secs_f64() / s.period_s + s.phase;
            s.amplitude * (std::f64::consts::TAU * turns).sin()
        });
        (self.cpu_utilisation + swing).clamp(0.0, 1.0)
    }
}

/// The namespace of a simulated guest's workload in its domain's
/// `<metadata>`: `<bourse:workload xmlns:bourse="urn:bourse:workload:1"
/// cpu="0.3"/>` (busy fraction of each vCPU, and optionally
/// `rx_bytes_per_s`, `tx_bytes_per_s`). A simulated host starts a domain
/// defined with it at that load, so the workload travels with the domain
/// from host to host, in the XML every hand-off copies, as a real guest's
/// does. libvirt keeps and ignores the element.
pub const WORKLOAD_NAMESPACE: &str = "urn:bourse:workload:1";

/// `xml` with `load` as the `<bourse:workload>` of its `<metadata>`, in
/// place of any it had: how a simulated guest is given its load, by
/// `market chaos`, by [`SimulatedHypervisor::set_load`] (so that the new
/// load travels with the guest) and by the tests that define domains as
/// `market simulate`'s world does.
pub fn with_workload(xml: &str, load: &DomainLoad) -> Result<String, HypervisorError> {
    let mut attributes = format!(
        "cpu='{}' rx_bytes_per_s='{}' tx_bytes_per_s='{}'",
        load.cpu_utilisation, load.rx_bytes_per_s, load.tx_bytes_per_s
    );
    if let Some(swing) = load.swing {
        attributes += &format!(
            " swing='{}' period_s='{}' phase='{}'",
            swing.amplitude, swing.period_s, swing.phase
        );
    }
    let workload = format!("<bw:workload xmlns:bw='{WORKLOAD_NAMESPACE}' {attributes}/>");
    let doc = roxmltree::Document::parse(xml).map_err(|e| HypervisorError::BadXml {
        detail: e.to_string(),
    })?;
    let root = doc.root_element();
    if let Some(old) = metadata_element(&root, WORKLOAD_NAMESPACE, "workload") {
        let range = old.range();
        return Ok(format!(
            "{}{workload}{}",
            &xml[..range.start],
            &xml[range.end..]
        ));
    }
    let (element, text) = match root.children().find(|n| n.has_tag_name("metadata")) {
        Some(metadata) => (metadata.range(), workload.clone()),
        None => (root.range(), format!("<metadata>{workload}</metadata>")),
    };
    let inside = &xml[element.clone()];
    Ok(match inside.rfind("</") {
        // Before the element's closing tag.
        Some(at) if !inside.ends_with("/>") => {
            let at = element.start + at;
            format!("{}{text}{}", &xml[..at], &xml[at..])
        }
        // An empty `<metadata/>`.
        _ => format!(
            "{}<metadata>{workload}</metadata>{}",
            &xml[..element.start],
            &xml[element.end..]
        ),
    })
}

/// A simulated host.
#[derive(Debug)]
pub struct SimulatedHypervisor {
    /// The host's name, also kept in the state (checked when a file is opened).
    host: String,
    state: Mutex<HostState>,
    state_file: Option<PathBuf>,
    /// When the clock follows the wall clock (a `bidder` daemon's
    /// simulated host): the moment it was last moved.
    wall: Option<Mutex<std::time::Instant>>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct HostState {
    host: String,
    capacity: Capacity,
    domains: BTreeMap<DomainUuid, SimDomain>,
    /// The host's clock, which [`Swing`]s follow: time since the start of
    /// a simulation, or since the Unix epoch for a host following the wall
    /// clock (so that hosts of a zone agree). Absent in files written
    /// before loads swung.
    #[serde(default)]
    clock: Duration,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct SimDomain {
    xml: String,
    spec_name: String,
    vcpus: u32,
    memory_kib: u64,
    running: bool,
    cpu_time_ns: u64,
    load: DomainLoad,
    interfaces: Vec<InterfaceCounters>,
    /// From the definition's metadata (absent in files written before
    /// groups were read).
    #[serde(default)]
    group: Option<PlacementGroup>,
}

impl SimulatedHypervisor {
    /// A host held in memory only (simulations).
    pub fn in_memory(host: &str, capacity: Capacity) -> SimulatedHypervisor {
        SimulatedHypervisor {
            host: host.to_string(),
            state: Mutex::new(HostState::empty(host, capacity)),
            state_file: None,
            wall: None,
        }
    }

    /// The same host with its clock following the wall clock: every read
    /// first moves it by the time since the last one. What a `bidder`
    /// daemon configured with `hypervisor = "simulated://PATH"` runs.
    pub fn following_wall_clock(mut self) -> SimulatedHypervisor {
        self.wall = Some(Mutex::new(std::time::Instant::now()));
        // A clock before 1970 is a broken host; its guests' waves then
        // start from 0, which harms nothing.
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.lock().clock = since_epoch;
        self
    }

    /// Moves the clock to the wall clock's time, when it follows it.
    fn catch_up(&self) -> Result<(), HypervisorError> {
        let Some(wall) = &self.wall else {
            return Ok(());
        };
        let elapsed = {
            let mut last = wall.locked();
            let now = std::time::Instant::now();
            let elapsed = now.duration_since(*last);
            *last = now;
            elapsed
        };
        self.advance(elapsed)
    }

    /// The host whose state is kept in `path`: loads it if the file exists
    /// (the host name must match), creates it otherwise. The capacity on file
    /// wins over `capacity` for an existing host.
    pub fn open(
        path: &Path,
        host: &str,
        capacity: Capacity,
    ) -> Result<SimulatedHypervisor, HypervisorError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => {
                let state: HostState = serde_json::from_slice(&bytes).map_err(|e| {
                    state_error(path, format!("not a simulated host state file: {e}"))
                })?;
                if state.host != host {
                    return Err(state_error(
                        path,
                        format!("it holds host {:?}, not {host:?}", state.host),
                    ));
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let state = HostState::empty(host, capacity);
                write_atomically(path, &state)?;
                state
            }
            Err(e) => return Err(state_error(path, e.to_string())),
        };
        Ok(SimulatedHypervisor {
            host: host.to_string(),
            state: Mutex::new(state),
            state_file: Some(path.to_path_buf()),
            wall: None,
        })
    }

    /// Sets how busy a domain is from now on. A domain whose definition
    /// declares its workload gets the new one written there too, so that
    /// it travels with the guest; a simulation that drives its guests'
    /// loads itself defines them without one, and their definitions stay
    /// as they were.
    pub fn set_load(&self, uuid: &DomainUuid, load: DomainLoad) -> Result<(), HypervisorError> {
        self.change(|state| {
            let domain = state.domain_mut(uuid)?;
            if domain.xml.contains(WORKLOAD_NAMESPACE) {
                domain.xml = with_workload(&domain.xml, &load)?;
            }
            domain.load = load;
            Ok(())
        })
    }

    /// Moves the host's clock: every running domain accrues CPU time and
    /// interface bytes at its [`DomainLoad`] (a swinging one at its value
    /// halfway through `elapsed`).
    pub fn advance(&self, elapsed: Duration) -> Result<(), HypervisorError> {
        self.change(|state| {
            let midway = state.clock + elapsed / 2;
            for domain in state.domains.values_mut().filter(|d| d.running) {
                domain.accrue(elapsed, midway);
            }
            state.clock += elapsed;
            Ok(())
        })
    }

    fn lock(&self) -> MutexGuard<'_, HostState> {
        // A panic while holding the lock cannot leave the state half-changed:
        // `change` mutates a copy and swaps it in.
        self.state.locked()
    }

    /// Applies `edit` to a copy of the state, persists the copy, then makes
    /// it current: a failed edit or write changes nothing.
    fn change<T>(
        &self,
        edit: impl FnOnce(&mut HostState) -> Result<T, HypervisorError>,
    ) -> Result<T, HypervisorError> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let result = edit(&mut next)?;
        if let Some(path) = &self.state_file {
            write_atomically(path, &next)?;
        }
        *guard = next;
        Ok(result)
    }
}

impl HostState {
    fn empty(host: &str, capacity: Capacity) -> HostState {
        HostState {
            host: host.to_string(),
            capacity,
            domains: BTreeMap::new(),
            clock: Duration::ZERO,
        }
    }

    fn domain(&self, uuid: &DomainUuid) -> Result<&SimDomain, HypervisorError> {
        self.domains.get(uuid).ok_or_else(|| self.no_such(uuid))
    }

    fn domain_mut(&mut self, uuid: &DomainUuid) -> Result<&mut SimDomain, HypervisorError> {
        let missing = self.no_such(uuid);
        self.domains.get_mut(uuid).ok_or(missing)
    }

    fn no_such(&self, uuid: &DomainUuid) -> HypervisorError {
        HypervisorError::NoSuchDomain {
            host: self.host.clone(),
            uuid: uuid.clone(),
        }
    }

    fn used_memory_kib(&self) -> u64 {
        self.domains
            .values()
            .filter(|d| d.running)
            .map(|d| d.memory_kib)
            .sum()
    }

    fn free_memory_kib(&self) -> u64 {
        (self.capacity.memory_mib * 1024).saturating_sub(self.used_memory_kib())
    }
}

impl SimDomain {
    fn state(&self) -> DomainState {
        if self.running {
            DomainState::Running
        } else {
            DomainState::ShutOff
        }
    }

    fn stats(&self, uuid: &DomainUuid) -> DomainStats {
        DomainStats {
            uuid: uuid.clone(),
            name: self.spec_name.clone(),
            state: self.state(),
            vcpus: self.vcpus,
            memory_kib: self.memory_kib,
            cpu_time_ns: if self.running { self.cpu_time_ns } else { 0 },
            interfaces: if self.running {
                self.interfaces.clone()
            } else {
                Vec::new()
            },
            group: self.group.clone(),
        }
    }

    fn accrue(&mut self, elapsed: Duration, midway: Duration) {
        let ns = elapsed.as_nanos() as f64 * f64::from(self.vcpus) * self.load.cpu_at(midway);
        self.cpu_time_ns = self.cpu_time_ns.saturating_add(ns as u64);
        let devices = self.interfaces.len() as u64;
        if devices > 0 {
            let per_device = |rate: u64| ((rate as f64 * elapsed.as_secs_f64()) as u64) / devices;
            let (rx, tx) = (
                per_device(self.load.rx_bytes_per_s),
                per_device(self.load.tx_bytes_per_s),
            );
            for interface in &mut self.interfaces {
                interface.rx_bytes = interface.rx_bytes.saturating_add(rx);
                interface.tx_bytes = interface.tx_bytes.saturating_add(tx);
            }
        }
    }
}

impl Hypervisor for SimulatedHypervisor {
    fn host(&self) -> &str {
        &self.host
    }

    fn domains(&self) -> Result<Vec<DomainStats>, HypervisorError> {
        self.catch_up()?;
        let state = self.lock();
        Ok(state
            .domains
            .iter()
            .map(|(uuid, d)| d.stats(uuid))
            .collect())
    }

    fn find(&self, uuid: &DomainUuid) -> Result<Option<DomainStats>, HypervisorError> {
        self.catch_up()?;
        Ok(self.lock().domains.get(uuid).map(|d| d.stats(uuid)))
    }

    fn domain_xml(&self, uuid: &DomainUuid) -> Result<String, HypervisorError> {
        Ok(self.lock().domain(uuid)?.xml.clone())
    }

    fn define(&self, xml: &str) -> Result<DomainUuid, HypervisorError> {
        let spec = DomainSpec::parse(xml)?;
        let workload = workload(xml)?;
        self.change(|state| {
            if let Some((existing, _)) = state
                .domains
                .iter()
                .find(|(uuid, d)| d.spec_name == spec.name && **uuid != spec.uuid)
            {
                return Err(HypervisorError::NameTaken {
                    host: state.host.clone(),
                    name: spec.name.clone(),
                    existing: existing.clone(),
                });
            }
            let previous = state.domains.remove(&spec.uuid);
            let running = previous.as_ref().is_some_and(|p| p.running);
            state.domains.insert(
                spec.uuid.clone(),
                SimDomain {
                    xml: xml.to_string(),
                    spec_name: spec.name.clone(),
                    group: spec.group.clone(),
                    vcpus: spec.vcpus,
                    memory_kib: spec.memory_kib,
                    running,
                    cpu_time_ns: previous.as_ref().map_or(0, |p| p.cpu_time_ns),
                    load: previous
                        .as_ref()
                        .map(|p| p.load)
                        .or(workload)
                        .unwrap_or_default(),
                    interfaces: spec
                        .interfaces
                        .iter()
                        .map(|device| InterfaceCounters {
                            device: device.clone(),
                            rx_bytes: 0,
                            tx_bytes: 0,
                        })
                        .collect(),
                },
            );
            Ok(spec.uuid.clone())
        })
    }

    fn start(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        self.change(|state| {
            let free_kib = state.free_memory_kib();
            let host = state.host.clone();
            let domain = state.domain(uuid)?;
            if domain.running {
                return Err(HypervisorError::wrong_state(
                    &state.host,
                    uuid,
                    DomainState::Running,
                    "start",
                ));
            }
            if domain.memory_kib > free_kib {
                return Err(HypervisorError::InsufficientMemory {
                    host,
                    name: domain.spec_name.clone(),
                    needed_mib: domain.memory_kib.div_ceil(1024),
                    free_mib: free_kib / 1024,
                });
            }
            let domain = state.domain_mut(uuid)?;
            domain.running = true;
            domain.cpu_time_ns = 0;
            Ok(())
        })
    }

    fn destroy(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        self.change(|state| {
            if !state.domain(uuid)?.running {
                return Err(HypervisorError::wrong_state(
                    &state.host,
                    uuid,
                    DomainState::ShutOff,
                    "destroy",
                ));
            }
            let domain = state.domain_mut(uuid)?;
            domain.running = false;
            for interface in &mut domain.interfaces {
                interface.rx_bytes = 0;
                interface.tx_bytes = 0;
            }
            Ok(())
        })
    }

    fn undefine(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        self.change(|state| {
            if state.domain(uuid)?.running {
                // libvirt would make it transient; the market never relies on
                // that, and a simulation that does is a bug worth seeing.
                return Err(HypervisorError::wrong_state(
                    &state.host,
                    uuid,
                    DomainState::Running,
                    "undefine",
                ));
            }
            state.domains.remove(uuid);
            Ok(())
        })
    }

    fn host_stats(&self) -> Result<HostStats, HypervisorError> {
        self.catch_up()?;
        let state = self.lock();
        // Folded from +0.0: `Sum` for floats starts from -0.0, so an idle
        // host would report a load of -0.0, shown as `-0.00` by every view
        // and as `-0.0` in JSON, where a real host's /proc says 0.00.
        let demand = state
            .domains
            .values()
            .filter(|d| d.running)
            .map(|d| f64::from(d.vcpus) * d.load.cpu_at(state.clock))
            .fold(0.0, |load, busy| load + busy);
        Ok(HostStats {
            load_average: [demand; 3],
            memory_total_kib: state.capacity.memory_mib * 1024,
            memory_available_kib: state.free_memory_kib(),
        })
    }

    fn live_migrate(
        &self,
        _uuid: &DomainUuid,
        _target: &LiveTarget,
    ) -> Result<(), HypervisorError> {
        Err(HypervisorError::LiveMigrationUnsupported {
            host: self.host.clone(),
            why: "a simulated host has no memory image to stream; it hands domains off",
        })
    }
}

fn state_error(path: &Path, detail: String) -> HypervisorError {
    HypervisorError::SimulatedState {
        path: path.to_path_buf(),
        detail,
    }
}

/// Writes `state` to `path` so that a crash leaves either the old or the new
/// content: temporary file, fsync, rename, fsync of the directory.
fn write_atomically(path: &Path, state: &HostState) -> Result<(), HypervisorError> {
    let err = |e: std::io::Error| state_error(path, e.to_string());
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| state_error(path, e.to_string()))?;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::File::create(&temporary).map_err(err)?;
    file.write_all(&bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&temporary, path).map_err(err)?;
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::File::open(directory)
        .and_then(|d| d.sync_all())
        .map_err(err)
}

/// The workload in a domain's `<metadata>` ([`WORKLOAD_NAMESPACE`]), if
/// it has one; a value that is not a number in range refuses the document.
fn workload(xml: &str) -> Result<Option<DomainLoad>, HypervisorError> {
    let bad = |detail: String| HypervisorError::BadXml { detail };
    let doc = roxmltree::Document::parse(xml).map_err(|e| bad(e.to_string()))?;
    let Some(element) = metadata_element(&doc.root_element(), WORKLOAD_NAMESPACE, "workload")
    else {
        return Ok(None);
    };
    let cpu: f64 = element
        .attribute("cpu")
        .unwrap_or("0")
        .parse()
        .map_err(|e| bad(format!("<bourse:workload> cpu: {e}")))?;
    if !(0.0..=1.0).contains(&cpu) {
        return Err(bad(format!(
            "<bourse:workload> cpu must be between 0 and 1, not {cpu}"
        )));
    }
    let rate = |name: &str| -> Result<u64, HypervisorError> {
        element
            .attribute(name)
            .unwrap_or("0")
            .parse()
            .map_err(|e| bad(format!("<bourse:workload> {name}: {e}")))
    };
    Ok(Some(DomainLoad {
        cpu_utilisation: cpu,
        rx_bytes_per_s: rate("rx_bytes_per_s")?,
        tx_bytes_per_s: rate("tx_bytes_per_s")?,
        swing: swing(&element)?,
    }))
}

/// The [`Swing`] of a `<bourse:workload>`: none without `swing`; with it,
/// `period_s` is required and more than 0, `phase` defaults to 0.
fn swing(element: &roxmltree::Node<'_, '_>) -> Result<Option<Swing>, HypervisorError> {
    let number = |name: &str| -> Result<Option<f64>, HypervisorError> {
        element
            .attribute(name)
            .map(|text| {
                text.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| HypervisorError::BadXml {
                        detail: format!("<bourse:workload> {name}: {text:?} is not a number"),
                    })
            })
            .transpose()
    };
    let bad = |detail: &str| HypervisorError::BadXml {
        detail: format!("<bourse:workload> {detail}"),
    };
    let Some(amplitude) = number("swing")? else {
        return Ok(None);
    };
    if !(0.0..=1.0).contains(&amplitude) {
        return Err(bad(&format!(
            "swing must be between 0 and 1, not {amplitude}"
        )));
    }
    let period_s = number("period_s")?.ok_or_else(|| bad("swing needs period_s"))?;
    if period_s <= 0.0 {
        return Err(bad(&format!(
            "period_s must be more than 0, not {period_s}"
        )));
    }
    let phase = number("phase")?.unwrap_or(0.0);
    Ok(Some(Swing {
        amplitude,
        period_s,
        phase,
    }))
}
