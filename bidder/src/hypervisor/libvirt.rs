//! The hypervisor of a real host: a libvirt connection through the `virt`
//! crate. In tests the same code runs against libvirt's `test:///` driver
//! (one node file per simulated host, so each connection has its own state).
//!
//! libvirt has no load averages, so [`Hypervisor::host_stats`] reads `/proc`
//! of the machine the bidder runs on: a bidder connects to the libvirtd of
//! its own host (`qemu:///system`); remote URIs (`qemu+tls://peer/system`)
//! appear only as migration destinations.

use std::path::PathBuf;
use std::sync::Once;
use std::sync::mpsc::{self, RecvTimeoutError};

use virt::connect::Connect;
use virt::domain::{Domain, DomainState as VirState, MigrateParameters};
use virt::error::ErrorNumber;

use super::{
    DomainSpec, DomainState, DomainStats, DomainUuid, HostStats, Hypervisor, HypervisorError,
    InterfaceCounters, LiveTarget,
};

/// An open connection to one host's libvirt.
#[derive(Debug)]
pub struct LibvirtHypervisor {
    host: String,
    uri: String,
    connection: Connect,
    proc_root: PathBuf,
}

/// libvirt prints every error to stderr unless told not to; our errors carry
/// its message, so printing them again would only duplicate them.
static SILENCE_LIBVIRT: Once = Once::new();

impl LibvirtHypervisor {
    /// Connects to the libvirt at `uri` as host `host` (its market name).
    pub fn connect(host: &str, uri: &str) -> Result<LibvirtHypervisor, HypervisorError> {
        SILENCE_LIBVIRT.call_once(virt::error::clear_error_callback);
        let connection = Connect::open(Some(uri)).map_err(|e| libvirt_error(uri, "connect", &e))?;
        tracing::debug!(host, uri, "libvirt connected");
        Ok(LibvirtHypervisor {
            host: host.to_string(),
            uri: uri.to_string(),
            connection,
            proc_root: PathBuf::from("/proc"),
        })
    }

    /// The connection URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The domain with this UUID, or `None` when the host does not have it.
    pub(crate) fn lookup(&self, uuid: &DomainUuid) -> Result<Option<Domain>, HypervisorError> {
        match self.connection.lookup_domain_by_uuid_string(uuid.as_str()) {
            Ok(domain) => Ok(Some(domain)),
            Err(e) if e.code().is(ErrorNumber::NoDomain) => Ok(None),
            Err(e) => Err(self.error(&format!("look up domain {uuid}"), &e)),
        }
    }

    fn expect(&self, uuid: &DomainUuid) -> Result<Domain, HypervisorError> {
        self.lookup(uuid)?
            .ok_or_else(|| HypervisorError::NoSuchDomain {
                host: self.host.clone(),
                uuid: uuid.clone(),
            })
    }

    pub(crate) fn error(&self, operation: &str, error: &virt::error::Error) -> HypervisorError {
        libvirt_error(&self.uri, operation, error)
    }

    fn state_of(&self, domain: &Domain, uuid: &DomainUuid) -> Result<DomainState, HypervisorError> {
        let active = domain
            .is_active()
            .map_err(|e| self.error(&format!("state of domain {uuid}"), &e))?;
        if !active {
            return Ok(DomainState::ShutOff);
        }
        let (state, _reason) = domain
            .state()
            .map_err(|e| self.error(&format!("state of domain {uuid}"), &e))?;
        Ok(match state.known() {
            Some(VirState::Paused | VirState::PMSuspended) => DomainState::Paused,
            _ => DomainState::Running,
        })
    }

    fn stats(&self, domain: &Domain) -> Result<DomainStats, HypervisorError> {
        let uuid_text = domain
            .uuid_string()
            .map_err(|e| self.error("read a domain's UUID", &e))?;
        let uuid = DomainUuid::parse(&uuid_text)?;
        let what = |op: &str| format!("{op} of domain {uuid}");
        let name = domain.name().map_err(|e| self.error(&what("name"), &e))?;
        let info = domain.info().map_err(|e| self.error(&what("info"), &e))?;
        let state = self.state_of(domain, &uuid)?;
        let xml = domain
            .xml_desc(0)
            .map_err(|e| self.error(&what("XML"), &e))?;
        let spec = DomainSpec::parse(&xml).map_err(|e| match e {
            HypervisorError::BadXml { detail } => HypervisorError::BadXml {
                detail: format!("domain {name} ({uuid}): {detail}"),
            },
            other => other,
        })?;
        let interfaces = if state.is_active() {
            self.interface_counters(domain, &uuid, spec.interfaces)?
        } else {
            Vec::new()
        };
        Ok(DomainStats {
            uuid,
            name,
            state,
            vcpus: info.nr_virt_cpu,
            memory_kib: info.memory,
            cpu_time_ns: if state.is_active() { info.cpu_time } else { 0 },
            interfaces,
            group: spec.group,
        })
    }

    /// Byte counters of each interface device named in the domain's XML.
    fn interface_counters(
        &self,
        domain: &Domain,
        uuid: &DomainUuid,
        devices: Vec<String>,
    ) -> Result<Vec<InterfaceCounters>, HypervisorError> {
        devices
            .into_iter()
            .map(|device| {
                let counters = domain.interface_stats(&device).map_err(|e| {
                    self.error(&format!("statistics of {device} of domain {uuid}"), &e)
                })?;
                Ok(InterfaceCounters {
                    device,
                    rx_bytes: u64::try_from(counters.rx_bytes).unwrap_or(0),
                    tx_bytes: u64::try_from(counters.tx_bytes).unwrap_or(0),
                })
            })
            .collect()
    }
}

fn libvirt_error(uri: &str, operation: &str, error: &virt::error::Error) -> HypervisorError {
    HypervisorError::Libvirt {
        uri: uri.to_string(),
        operation: operation.to_string(),
        message: error.message().to_string(),
    }
}

impl Hypervisor for LibvirtHypervisor {
    fn host(&self) -> &str {
        &self.host
    }

    fn domains(&self) -> Result<Vec<DomainStats>, HypervisorError> {
        self.connection
            .list_all_domains(0)
            .map_err(|e| self.error("list domains", &e))?
            .iter()
            .map(|domain| self.stats(domain))
            .collect()
    }

    fn find(&self, uuid: &DomainUuid) -> Result<Option<DomainStats>, HypervisorError> {
        self.lookup(uuid)?
            .map(|domain| self.stats(&domain))
            .transpose()
    }

    fn domain_xml(&self, uuid: &DomainUuid) -> Result<String, HypervisorError> {
        self.expect(uuid)?
            .xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE | virt::sys::VIR_DOMAIN_XML_MIGRATABLE)
            .map_err(|e| self.error(&format!("XML of domain {uuid}"), &e))
    }

    fn define(&self, xml: &str) -> Result<DomainUuid, HypervisorError> {
        let spec = DomainSpec::parse(xml)?;
        let domain = self
            .connection
            .define_domain_xml(xml)
            .map_err(|e| self.error(&format!("define domain {} ({})", spec.uuid, spec.name), &e))?;
        let uuid = domain
            .uuid_string()
            .map_err(|e| self.error("read a defined domain's UUID", &e))?;
        DomainUuid::parse(&uuid)
    }

    fn start(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        let domain = self.expect(uuid)?;
        if self.state_of(&domain, uuid)?.is_active() {
            return Err(HypervisorError::wrong_state(
                &self.host,
                uuid,
                DomainState::Running,
                "start",
            ));
        }
        domain
            .create()
            .map_err(|e| self.error(&format!("start domain {uuid}"), &e))
    }

    fn destroy(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        let domain = self.expect(uuid)?;
        if !self.state_of(&domain, uuid)?.is_active() {
            return Err(HypervisorError::wrong_state(
                &self.host,
                uuid,
                DomainState::ShutOff,
                "destroy",
            ));
        }
        domain
            .destroy()
            .map_err(|e| self.error(&format!("destroy domain {uuid}"), &e))
    }

    fn undefine(&self, uuid: &DomainUuid) -> Result<(), HypervisorError> {
        let domain = self.expect(uuid)?;
        // libvirt would turn a running domain transient; the market never
        // wants that (a transient domain vanishes on the next stop), so the
        // adapter refuses like the simulated host does.
        let state = self.state_of(&domain, uuid)?;
        if state.is_active() {
            return Err(HypervisorError::wrong_state(
                &self.host, uuid, state, "undefine",
            ));
        }
        domain
            .undefine()
            .map_err(|e| self.error(&format!("undefine domain {uuid}"), &e))
    }

    fn host_stats(&self) -> Result<HostStats, HypervisorError> {
        Ok(HostStats::read(&self.proc_root)?)
    }

    /// libvirt's `VIR_MIGRATE_LIVE | PERSIST_DEST | UNDEFINE_SOURCE` (and
    /// `PEER2PEER` when configured), with the bandwidth cap as a migration
    /// parameter. A watchdog thread aborts the job when the timeout passes;
    /// libvirt then resumes the domain at the source and the migration call
    /// returns its "canceled" error.
    fn live_migrate(&self, uuid: &DomainUuid, target: &LiveTarget) -> Result<(), HypervisorError> {
        let domain = self.expect(uuid)?;
        let operation = format!("live-migrate domain {uuid} to {}", target.destination_uri);
        let mut flags = virt::sys::VIR_MIGRATE_LIVE
            | virt::sys::VIR_MIGRATE_PERSIST_DEST
            | virt::sys::VIR_MIGRATE_UNDEFINE_SOURCE;
        let parameters = MigrateParameters {
            bandwidth: target.bandwidth_mib_s,
            ..MigrateParameters::default()
        };
        // Client-driven: this process holds both connections; open the
        // destination before the clock starts.
        let destination = if target.peer_to_peer {
            flags |= virt::sys::VIR_MIGRATE_PEER2PEER;
            None
        } else {
            Some(
                Connect::open(Some(&target.destination_uri))
                    .map_err(|e| self.error(&operation, &e))?,
            )
        };
        let (finished, finished_signal) = mpsc::channel::<()>();
        let watched = domain.clone();
        let timeout = target.timeout;
        let watchdog = std::thread::spawn(move || match finished_signal.recv_timeout(timeout) {
            Err(RecvTimeoutError::Timeout) => {
                tracing::warn!(
                    ?timeout,
                    "live migration passed its timeout; aborting the job"
                );
                abort_job(&watched)
            }
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Ok(false),
        });
        let result = match &destination {
            None => domain.migrate_to_uri3(Some(&target.destination_uri), parameters, flags),
            Some(destination) => domain.migrate3(destination, parameters, flags).map(drop),
        };
        // The watchdog may already have fired; a send to a finished thread fails harmlessly.
        let _ = finished.send(());
        let aborted = watchdog.join().unwrap_or(Ok(false));
        match (result, aborted) {
            (Ok(()), _) => Ok(()),
            (Err(e), Ok(true)) => Err(HypervisorError::MigrationTimedOut {
                uuid: uuid.clone(),
                seconds: target.timeout.as_secs(),
                message: e.message().to_string(),
            }),
            (Err(e), Ok(false)) => Err(self.error(&operation, &e)),
            (Err(e), Err(abort)) => {
                tracing::warn!(%uuid, error = abort.message(), "aborting the timed-out migration failed");
                Err(self.error(&operation, &e))
            }
        }
    }
}

/// Aborts the domain's current job (the migration). virt 0.5 does not wrap
/// `virDomainAbortJob`, so this is the crate's one FFI call.
/// Returns `Ok(true)` when libvirt accepted the abort.
#[allow(unsafe_code)]
fn abort_job(domain: &Domain) -> Result<bool, virt::error::Error> {
    // SAFETY: `domain` holds a libvirt reference for the whole call, so the
    // pointer is valid; virDomainAbortJob neither frees nor keeps it, and
    // reading the thread-local last error right after is libvirt's protocol.
    let status = unsafe { virt::sys::virDomainAbortJob(domain.as_ptr()) };
    if status < 0 {
        Err(virt::error::Error::last_error())
    } else {
        Ok(true)
    }
}
