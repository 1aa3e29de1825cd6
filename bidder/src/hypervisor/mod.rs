//! What a bidder needs from the hypervisor of its host, behind one trait
//! with two implementations that behave the same:
//!
//! - [`libvirt::LibvirtHypervisor`]: a real libvirt connection through the
//!   `virt` crate (QEMU hosts, or the `test:///` driver in tests);
//! - [`simulated::SimulatedHypervisor`]: an in-process host with a memory
//!   capacity, for simulations of many hosts; its state can be kept in a file
//!   so that it survives a crash of the process (the crash tests need that:
//!   libvirt's `test:///` state lives and dies with the process).
//!
//! The trait is synchronous because libvirt calls block; async code calls it
//! through [`blocking`], which moves the call to tokio's blocking pool.
//!
//! Domains are named by UUID everywhere: a name can be reused, a UUID is what
//! libvirt keeps across hosts, so it is what the ledger records and what
//! crash recovery asks about.

pub mod domain_xml;
pub mod host_stats;
pub mod libvirt;
pub mod simulated;

use std::fmt;
use std::sync::Arc;

pub use domain_xml::DomainSpec;
pub use host_stats::HostStats;

/// A domain's UUID in libvirt's canonical form (lower-case, hyphenated).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct DomainUuid(String);

impl DomainUuid {
    /// Accepts the 36-character hyphenated form (any case) and normalises it
    /// to lower case, as libvirt prints it.
    pub fn parse(text: &str) -> Result<DomainUuid, HypervisorError> {
        let lower = text.trim().to_ascii_lowercase();
        let well_formed = lower.len() == 36
            && lower.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if well_formed {
            Ok(DomainUuid(lower))
        } else {
            Err(HypervisorError::BadUuid {
                text: text.to_string(),
            })
        }
    }

    /// A fresh version-4 UUID, for a new VM (`market place --name`).
    pub fn random() -> Result<DomainUuid, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Ok(DomainUuid(format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )))
    }

    /// The canonical text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainUuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether a defined domain runs. libvirt knows more states; the ones that
/// matter for "where does this VM run" are these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DomainState {
    /// Has a running (or blocked, or briefly paused by a migration) process.
    Running,
    /// Suspended by someone: still holds its memory on this host.
    Paused,
    /// Defined but not running.
    ShutOff,
}

impl DomainState {
    /// True when the domain holds resources on the host (running or paused):
    /// the state that must be true on exactly one host.
    pub fn is_active(self) -> bool {
        matches!(self, DomainState::Running | DomainState::Paused)
    }
}

/// Byte counters of one virtual network interface (the host-side device).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceCounters {
    /// Host-side device name (`<target dev=.../>`), e.g. `tap0`.
    pub device: String,
    /// Bytes received by the guest since the device was created.
    pub rx_bytes: u64,
    /// Bytes sent by the guest since the device was created.
    pub tx_bytes: u64,
}

/// One domain as the policy loop and recovery see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DomainStats {
    /// Stable identity across hosts.
    pub uuid: DomainUuid,
    /// Name on this host.
    pub name: String,
    /// Running, paused or shut off.
    pub state: DomainState,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Memory in KiB (current allocation).
    pub memory_kib: u64,
    /// CPU time consumed, in nanoseconds (0 when not running).
    pub cpu_time_ns: u64,
    /// Counters of each interface; empty when the domain does not run.
    pub interfaces: Vec<InterfaceCounters>,
    /// The placement group its definition's metadata names, if any.
    #[serde(default)]
    pub group: Option<market::vm::PlacementGroup>,
}

/// Errors of a hypervisor adapter. libvirt's own message is kept verbatim:
/// it is the reason a failed migration records in the ledger.
#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    /// libvirt refused or failed an operation.
    #[error("libvirt at {uri}: {operation} failed: {message}")]
    Libvirt {
        /// Connection URI.
        uri: String,
        /// What we asked, e.g. "start domain 6695eb01-...".
        operation: String,
        /// libvirt's message.
        message: String,
    },
    /// No domain with this UUID is defined on the host.
    #[error("host {host}: no domain with UUID {uuid}")]
    NoSuchDomain {
        /// The host asked.
        host: String,
        /// The UUID asked for.
        uuid: DomainUuid,
    },
    /// The operation needs another state (e.g. starting a running domain).
    #[error("host {host}: domain {uuid} is {state:?}; cannot {operation}")]
    WrongState {
        /// The host asked.
        host: String,
        /// The domain.
        uuid: DomainUuid,
        /// Its state.
        state: DomainState,
        /// What was asked.
        operation: &'static str,
    },
    /// Another domain already uses this name on the host.
    #[error("host {host}: the name {name} is taken by domain {existing}")]
    NameTaken {
        /// The host asked.
        host: String,
        /// The name.
        name: String,
        /// The UUID of the domain that has it.
        existing: DomainUuid,
    },
    /// Starting the domain would need more memory than the host has free.
    #[error(
        "host {host}: not enough free memory to start {name}: needs {needed_mib} MiB, {free_mib} MiB free"
    )]
    InsufficientMemory {
        /// The host asked.
        host: String,
        /// The domain's name.
        name: String,
        /// Its memory.
        needed_mib: u64,
        /// What the host has left.
        free_mib: u64,
    },
    /// A domain XML document we could not understand.
    #[error("domain XML: {detail}")]
    BadXml {
        /// What is wrong.
        detail: String,
    },
    /// A UUID that is not in the 8-4-4-4-12 hex form.
    #[error("not a domain UUID: {text:?}")]
    BadUuid {
        /// The text given.
        text: String,
    },
    /// The file holding a simulated host's state could not be read or written.
    #[error("simulated host state {path}: {detail}")]
    SimulatedState {
        /// The state file.
        path: std::path::PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// /proc could not be read or parsed.
    #[error("host statistics: {0}")]
    HostStats(#[from] host_stats::HostStatsError),
    /// The host cannot live-migrate (simulated hosts hand domains off instead).
    #[error("host {host} cannot live-migrate: {why}")]
    LiveMigrationUnsupported {
        /// The host asked.
        host: String,
        /// Why not.
        why: &'static str,
    },
    /// The live migration ran past its timeout and was aborted.
    #[error("live migration of {uuid} aborted after {seconds} s (timeout); libvirt: {message}")]
    MigrationTimedOut {
        /// The domain.
        uuid: DomainUuid,
        /// The timeout, in seconds.
        seconds: u64,
        /// What the aborted job returned.
        message: String,
    },
    /// The blocking task running a hypervisor call panicked or was cancelled.
    #[error("hypervisor call did not complete: {0}")]
    Task(String),
}

impl HypervisorError {
    /// Host `host` cannot do `operation` to `uuid`, which is in `state`.
    pub fn wrong_state(
        host: &str,
        uuid: &DomainUuid,
        state: DomainState,
        operation: &'static str,
    ) -> HypervisorError {
        HypervisorError::WrongState {
            host: host.to_string(),
            uuid: uuid.clone(),
            state,
            operation,
        }
    }
}

/// The operations a bidder performs on its own host.
///
/// Both implementations keep libvirt's rules: `define` of a UUID that is
/// already defined replaces its definition, a name belongs to one UUID,
/// `start` needs a shut-off domain, `destroy` a running one, and `undefine`
/// of a running domain makes it transient (it disappears when it stops), so
/// callers destroy before they undefine.
pub trait Hypervisor: Send + Sync + 'static {
    /// The host this hypervisor runs (its name in the market).
    fn host(&self) -> &str;

    /// Every domain defined or running on the host.
    fn domains(&self) -> Result<Vec<DomainStats>, HypervisorError>;

    /// Where is this VM? `Some` when the host has it (running or not).
    fn find(&self, uuid: &DomainUuid) -> Result<Option<DomainStats>, HypervisorError>;

    /// The persistent definition of a domain, suitable to define it on
    /// another host (libvirt's inactive, migratable XML).
    fn domain_xml(&self, uuid: &DomainUuid) -> Result<String, HypervisorError>;

    /// Defines (or redefines) a domain from its XML; returns its UUID.
    fn define(&self, xml: &str) -> Result<DomainUuid, HypervisorError>;

    /// Starts a shut-off domain.
    fn start(&self, uuid: &DomainUuid) -> Result<(), HypervisorError>;

    /// Stops a running domain at once (power off), keeping its definition.
    fn destroy(&self, uuid: &DomainUuid) -> Result<(), HypervisorError>;

    /// Removes the definition of a domain.
    fn undefine(&self, uuid: &DomainUuid) -> Result<(), HypervisorError>;

    /// Load averages and memory of the host.
    fn host_stats(&self) -> Result<HostStats, HypervisorError>;

    /// Moves a running domain to another host while it runs, ending
    /// persistent there and undefined here. Blocks until the migration ended
    /// (or was aborted after `target.timeout`). Hosts that cannot do it (the
    /// simulated host, libvirt's `test:///` driver) return an error saying
    /// so: the workflow uses the hand-off for them.
    fn live_migrate(&self, uuid: &DomainUuid, target: &LiveTarget) -> Result<(), HypervisorError>;
}

/// Where and how to live-migrate (see docs/migration.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LiveTarget {
    /// libvirt URI of the destination host, as the source reaches it:
    /// `qemu+tls://host-b/system` in production (seed 002, 4.1.2),
    /// `qemu+tcp://...` or `qemu+unix://...` in tests.
    pub destination_uri: String,
    /// Peer-to-peer: the source libvirtd talks to the destination libvirtd
    /// itself (the URI must be reachable from the source daemon); otherwise
    /// this process opens the destination URI and drives both daemons.
    pub peer_to_peer: bool,
    /// Bandwidth cap in MiB/s; `None` leaves libvirt's default (unlimited).
    pub bandwidth_mib_s: Option<u64>,
    /// The job is aborted when it runs longer than this; the domain stays
    /// (running) at the source.
    pub timeout: std::time::Duration,
}

/// Runs a hypervisor call on tokio's blocking pool (libvirt calls block the
/// thread for as long as the daemon takes).
pub async fn blocking<H, T, F>(hypervisor: &Arc<H>, call: F) -> Result<T, HypervisorError>
where
    H: Hypervisor + ?Sized,
    T: Send + 'static,
    F: FnOnce(&H) -> Result<T, HypervisorError> + Send + 'static,
{
    let hypervisor = Arc::clone(hypervisor);
    tokio::task::spawn_blocking(move || call(&hypervisor))
        .await
        .map_err(|e| HypervisorError::Task(e.to_string()))?
}
