//! The daemon's configuration file (TOML), read strictly: an unknown key, a
//! value of the wrong type or a value that means nothing is refused with
//! the key's path and the reason, so an operator sees what to fix.
//!
//! ```toml
//! host = "h1"                      # market name, unique in the zone: bus
//!                                  # name, ledger owner
//! zone = "eu1"
//! ledger = "/var/lib/bourse/h1.ledger.sqlite"
//! policy = "/etc/bourse/policy.toml"   # scenarios/policies/*.toml format
//! hypervisor = "qemu:///system"
//! metrics_listen = "127.0.0.1:9464"    # optional: Prometheus /metrics
//!
//! [capacity]
//! cpus = 32
//! memory_mib = 131072
//! network_mbps = 10000
//!
//! [nats]                           # market::bus::NatsConfig
//! servers = ["nats://10.0.0.1:4222"]
//! name = "h1"
//! inbox_prefix = "_INBOX.h1"
//! credentials = { kind = "password", user = "h1", password_file = "/etc/bourse/nats/h1.password" }
//!
//! protocols = ["contract-net"]     # optional, the default; see
//! [protocol.contract-net]          # bidder::protocol::config
//! award = "second-price"
//!
//! [trading]                        # optional, these are the defaults
//! period_ms = 10000
//!
//! [events]                         # optional, these are the defaults
//! publish = true                   # status and trades for `market watch`
//! queue = 1024                     # events held back before dropping
//! # nats = { servers = [...], ... } # a connection of their own
//!
//! [migration]                      # optional; the hand-off by default
//! method = "live"
//! destination_uri = "qemu+tls://{host}/system"
//! peer_to_peer = true
//! timeout_s = 300
//! ```
//!
//! Relative paths are taken from the configuration file's directory, so a
//! configuration and its policy can move together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use market::bus::NatsConfig;
use market::bus::subject::{HostName, SubjectSpace, Token};
use serde::Deserialize;

use crate::agent::AgentConfig;
use crate::hypervisor::LiveTarget;
use crate::migration::{CallPolicy, Method};
use crate::problem::{ConfigProblem, Problems, lines};
use crate::protocol::Protocol;
use crate::protocol::config::{ProtocolFile, Selection, check_unused};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Keys are missing, unknown, of the wrong type or of a wrong value:
    /// every one found, a line each.
    #[error("{}", lines(format_args!("configuration {}", path.display()), problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Each key's problem (at least one).
        problems: Vec<ConfigProblem>,
    },
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    host: String,
    /// A numeric id, which files written before a host was known by its
    /// name alone still carry: read with a warning, and not used.
    #[serde(default)]
    id: Option<u32>,
    zone: String,
    #[serde(default = "default_prefix")]
    prefix: String,
    ledger: PathBuf,
    policy: PathBuf,
    hypervisor: String,
    #[serde(default)]
    metrics_listen: Option<SocketAddr>,
    capacity: CapacityFile,
    nats: NatsConfig,
    #[serde(default = "crate::protocol::config::default_names")]
    protocols: Vec<String>,
    #[serde(default)]
    protocol: BTreeMap<String, ProtocolFile>,
    #[serde(default)]
    trading: TradingFile,
    #[serde(default)]
    migration: MigrationFile,
    #[serde(default)]
    events: EventsFile,
}

fn default_prefix() -> String {
    SubjectSpace::DEFAULT_PREFIX.to_string()
}

/// What the hardware offers to VMs.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct CapacityFile {
    cpus: u32,
    memory_mib: u64,
    network_mbps: u64,
}

/// Timing of the trading loop and of the interactions.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TradingFile {
    period_ms: u64,
    recruit_ms: i64,
    window_ms: i64,
    grace_ms: i64,
    arrival_ms: i64,
    peer_timeout_ms: u64,
    peer_attempts: u32,
}

impl Default for TradingFile {
    /// A round every ten seconds: a load average moves slower than that,
    /// and every round costs each peer a valuation.
    fn default() -> Self {
        let agent = AgentConfig::default();
        let call = CallPolicy::default();
        TradingFile {
            period_ms: 10_000,
            recruit_ms: agent.recruit_ms,
            window_ms: agent.window_ms,
            grace_ms: agent.grace_ms,
            arrival_ms: agent.arrival_ms,
            peer_timeout_ms: u64::try_from(call.timeout.as_millis()).unwrap_or(u64::MAX),
            peer_attempts: call.attempts,
        }
    }
}

/// What the host publishes for observers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EventsFile {
    publish: bool,
    queue: usize,
    nats: Option<NatsConfig>,
}

impl Default for EventsFile {
    /// Published on the trading connection: an operator can watch a zone
    /// without configuring anything on its hosts.
    fn default() -> Self {
        EventsFile {
            publish: true,
            queue: crate::events::DEFAULT_QUEUE,
            nats: None,
        }
    }
}

/// How the host publishes its status and trades (`crate::events`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Events {
    /// Events held back while the bus is slow, before new ones are dropped.
    pub queue: usize,
    /// A connection of their own (a monitoring server apart from the
    /// trading one); `None`: the trading connection.
    pub nats: Option<NatsConfig>,
}

/// How VMs leave this host.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
enum MigrationFile {
    /// Send the domain definition (no shared storage needed).
    #[default]
    Handoff,
    /// libvirt live migration.
    Live {
        /// The destination's libvirt URI, `{host}` standing for its name.
        destination_uri: String,
        #[serde(default)]
        peer_to_peer: bool,
        #[serde(default)]
        bandwidth_mib_s: Option<u64>,
        timeout_s: u64,
    },
}

/// How this host moves VMs to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Migration {
    /// The hand-off.
    Handoff,
    /// Live migration; `{host}` in the URI is the destination's name.
    Live {
        /// The URI template.
        destination_uri: String,
        /// Peer-to-peer (see `LiveTarget`).
        peer_to_peer: bool,
        /// Bandwidth cap.
        bandwidth_mib_s: Option<u64>,
        /// The job is aborted after this.
        timeout: Duration,
    },
}

impl Migration {
    /// The method for a trade whose VMs go to `host`.
    pub fn to(&self, host: &str) -> Method {
        match self {
            Migration::Handoff => Method::Handoff,
            Migration::Live {
                destination_uri,
                peer_to_peer,
                bandwidth_mib_s,
                timeout,
            } => Method::Live(LiveTarget {
                destination_uri: destination_uri.replace("{host}", host),
                peer_to_peer: *peer_to_peer,
                bandwidth_mib_s: *bandwidth_mib_s,
                timeout: *timeout,
            }),
        }
    }
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// This host's name on the market, the bus and in its ledger.
    pub host: HostName,
    /// The zone's subjects.
    pub space: SubjectSpace,
    /// The ledger file.
    pub ledger: PathBuf,
    /// The policy file.
    pub policy: PathBuf,
    /// libvirt URI of this host.
    pub hypervisor: String,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// cpu millicores, memory MiB, network Mbit/s offered to VMs.
    pub capacity: market::resources::Resources,
    /// The bus connection.
    pub nats: NatsConfig,
    /// The protocols it plays, loaded and checked, in the order it tries
    /// them.
    pub protocols: Vec<Protocol>,
    /// Interaction timing.
    pub agent: AgentConfig,
    /// How calls to a destination wait.
    pub calls: CallPolicy,
    /// How VMs leave this host.
    pub migration: Migration,
    /// How it publishes events; `None` when it does not.
    pub events: Option<Events>,
}

impl DaemonConfig {
    /// How often the host samples, classifies and trades
    /// (`trading.period_ms`).
    pub fn period(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.agent.period_ms).unwrap_or_default())
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<DaemonConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        DaemonConfig::parse(&text, base).map_err(|problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        })
    }

    /// Parses and checks a configuration; relative paths are joined to
    /// `base`. The error is every problem found: the file's syntax and
    /// types stop the reading at the first, the checks of its values are
    /// all made.
    pub fn parse(text: &str, base: &Path) -> Result<DaemonConfig, Vec<ConfigProblem>> {
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| vec![ConfigProblem::at(".", e.message().trim())])?;
        let file: ConfigFile = serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            let key = if key.is_empty() { ".".into() } else { key };
            vec![ConfigProblem::at(key, e.inner().message().trim())]
        })?;
        file.check(base)
    }
}

fn token(key: &str, value: &str) -> Result<Token, ConfigProblem> {
    // The token's error names the value already.
    Token::new(value).map_err(|e| ConfigProblem::at(key, e.to_string()))
}

fn positive(key: &str, value: i64) -> Result<i64, ConfigProblem> {
    if value > 0 {
        Ok(value)
    } else {
        Err(ConfigProblem::value(key, value, "must be above 0"))
    }
}

/// A count in milliseconds or seconds, above 0.
fn positive_u64(key: &str, value: u64) -> Result<i64, ConfigProblem> {
    positive(key, i64::try_from(value).unwrap_or(i64::MAX))
}

/// The scheme of a simulated host's URI: `simulated://PATH`, PATH its
/// state file (relative to the configuration file's directory).
pub const SIMULATED: &str = "simulated://";

/// The state file of a simulated host's URI, if `uri` is one.
pub fn simulated_state(uri: &str) -> Option<&str> {
    uri.strip_prefix(SIMULATED).filter(|path| !path.is_empty())
}

impl ConfigFile {
    /// Checks every value, collecting every problem; the configuration
    /// only when there is none.
    fn check(self, base: &Path) -> Result<DaemonConfig, Vec<ConfigProblem>> {
        let mut problems = Problems::default();
        let host = problems.take(token("host", &self.host));
        if let Some(id) = self.id {
            tracing::warn!(
                key = "id",
                id,
                "`id` is no longer read: a host is known by its name (`host`), unique in \
                 the zone; remove the line"
            );
        }
        let prefix = problems.take(token("prefix", &self.prefix));
        let zone = problems.take(token("zone", &self.zone));
        if self.hypervisor.trim().is_empty() {
            problems.take::<()>(Err(ConfigProblem::value(
                "hypervisor",
                format!("{:?}", self.hypervisor),
                "must be a libvirt URI, or simulated://PATH for a simulated host",
            )));
        }
        if self.nats.servers.is_empty() {
            problems.take::<()>(Err(ConfigProblem::at(
                "nats.servers",
                "must name at least one server",
            )));
        }
        let agent = problems.take(self.trading.agent());
        let calls = problems.take(self.trading.calls());
        problems.take_all(check_unused(&self.protocol, &[&self.protocols]));
        let protocols = problems.take_all(
            Selection {
                names: &self.protocols,
                names_key: "protocols",
                settings: &self.protocol,
                base,
            }
            .resolve(),
        );
        let capacity = self.capacity;
        if capacity.cpus == 0 || capacity.memory_mib == 0 {
            problems.take::<()>(Err(ConfigProblem::at(
                "capacity",
                "cpus and memory_mib must be above 0",
            )));
        }
        let migration = problems.take(self.migration.check());
        let events = problems.take(self.events.check());
        let checked = || {
            Some((
                host?, prefix?, zone?, agent?, calls?, protocols?, migration?, events?,
            ))
        };
        let (host, prefix, zone, agent, calls, protocols, migration, events) =
            problems.finish(checked())?;
        Ok(DaemonConfig {
            host,
            space: SubjectSpace::new(prefix, zone),
            ledger: base.join(&self.ledger),
            policy: base.join(&self.policy),
            hypervisor: match simulated_state(&self.hypervisor) {
                Some(path) => format!("{SIMULATED}{}", base.join(path).display()),
                None => self.hypervisor,
            },
            metrics_listen: self.metrics_listen,
            capacity: market::resources::Resources::new(
                u64::from(capacity.cpus) * 1000,
                capacity.memory_mib,
                capacity.network_mbps,
            ),
            nats: self.nats,
            protocols,
            agent,
            calls,
            migration,
            events,
        })
    }
}

impl TradingFile {
    /// The interactions' timing; the first value that is not above 0.
    fn agent(&self) -> Result<AgentConfig, ConfigProblem> {
        Ok(AgentConfig {
            recruit_ms: positive("trading.recruit_ms", self.recruit_ms)?,
            window_ms: positive("trading.window_ms", self.window_ms)?,
            grace_ms: positive("trading.grace_ms", self.grace_ms)?,
            arrival_ms: positive("trading.arrival_ms", self.arrival_ms)?,
            period_ms: positive_u64("trading.period_ms", self.period_ms)?,
        })
    }

    /// How calls to a peer wait and retry.
    fn calls(&self) -> Result<CallPolicy, ConfigProblem> {
        let timeout_ms = positive_u64("trading.peer_timeout_ms", self.peer_timeout_ms)?;
        positive("trading.peer_attempts", i64::from(self.peer_attempts))?;
        Ok(CallPolicy {
            timeout: Duration::from_millis(timeout_ms.unsigned_abs()),
            attempts: self.peer_attempts,
        })
    }
}

impl EventsFile {
    fn check(self) -> Result<Option<Events>, ConfigProblem> {
        if !self.publish {
            return Ok(None);
        }
        if self.queue == 0 {
            return Err(ConfigProblem::value("events.queue", 0, "must be above 0"));
        }
        if self.nats.as_ref().is_some_and(|n| n.servers.is_empty()) {
            return Err(ConfigProblem::at(
                "events.nats.servers",
                "must name at least one server",
            ));
        }
        Ok(Some(Events {
            queue: self.queue,
            nats: self.nats,
        }))
    }
}

impl MigrationFile {
    fn check(self) -> Result<Migration, ConfigProblem> {
        Ok(match self {
            MigrationFile::Handoff => Migration::Handoff,
            MigrationFile::Live {
                destination_uri,
                peer_to_peer,
                bandwidth_mib_s,
                timeout_s,
            } => {
                if !destination_uri.contains("{host}") {
                    return Err(ConfigProblem::value(
                        "migration.destination_uri",
                        format!("{destination_uri:?}"),
                        "must contain {host}, which stands for the destination's name",
                    ));
                }
                positive_u64("migration.timeout_s", timeout_s)?;
                Migration::Live {
                    destination_uri,
                    peer_to_peer,
                    bandwidth_mib_s,
                    timeout: Duration::from_secs(timeout_s),
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        host = "h1"
        zone = "eu1"
        ledger = "h1.ledger.sqlite"
        policy = "/etc/bourse/policy.toml"
        hypervisor = "test:///default"
        metrics_listen = "127.0.0.1:9464"
        [capacity]
        cpus = 4
        memory_mib = 8192
        network_mbps = 1000
        [nats]
        servers = ["nats://127.0.0.1:4222"]
        name = "h1"
        [trading]
        period_ms = 500
    "#;

    fn error(text: &str) -> (String, String) {
        let problems = DaemonConfig::parse(text, Path::new("/etc/bourse")).unwrap_err();
        (problems[0].key.clone(), problems[0].to_string())
    }

    #[test]
    fn a_good_file_reads_with_defaults_and_paths_from_its_directory() {
        let config = DaemonConfig::parse(GOOD, Path::new("/etc/bourse")).unwrap();
        assert_eq!(config.host.as_str(), "h1");
        assert_eq!(config.ledger, Path::new("/etc/bourse/h1.ledger.sqlite"));
        assert_eq!(config.policy, Path::new("/etc/bourse/policy.toml"));
        assert_eq!(config.period(), Duration::from_millis(500));
        assert_eq!(
            config.agent,
            AgentConfig {
                period_ms: 500,
                ..AgentConfig::default()
            }
        );
        assert_eq!(config.migration, Migration::Handoff);
        assert_eq!(config.space.prefix().as_str(), "bourse");
        assert_eq!(config.capacity.cpu_millicores, 4000);
    }

    /// A file written when a host also had a numeric id still loads: the
    /// key is accepted (with a warning) and read for nothing.
    #[test]
    fn a_file_that_still_carries_the_deprecated_id_loads() {
        let text = format!("id = 1\n{GOOD}");
        let config = DaemonConfig::parse(&text, Path::new("/etc/bourse")).unwrap();
        let without = DaemonConfig::parse(GOOD, Path::new("/etc/bourse")).unwrap();
        assert_eq!(config.host, without.host);
        assert_eq!(config.ledger, without.ledger);
        assert_eq!(config.policy, without.policy);
        assert_eq!(config.period(), without.period());
        assert_eq!(config.capacity, without.capacity);
        assert_eq!(config.migration, without.migration);
    }

    #[test]
    fn a_simulated_host_state_file_is_taken_from_the_config_directory() {
        let text = GOOD.replace("test:///default", "simulated://h1.sim.json");
        let config = DaemonConfig::parse(&text, Path::new("/etc/bourse")).unwrap();
        assert_eq!(config.hypervisor, "simulated:///etc/bourse/h1.sim.json");
        assert_eq!(
            simulated_state(&config.hypervisor),
            Some("/etc/bourse/h1.sim.json")
        );
        assert_eq!(simulated_state("simulated://"), None);
        assert_eq!(simulated_state("qemu:///system"), None);
    }

    #[test]
    fn live_migration_names_the_destination_by_its_host() {
        let text = format!(
            "{GOOD}\n[migration]\nmethod = \"live\"\ndestination_uri = \"qemu+tls://{{host}}/system\"\ntimeout_s = 60\n"
        );
        let config = DaemonConfig::parse(&text, Path::new("/")).unwrap();
        let Method::Live(target) = config.migration.to("h2") else {
            panic!("not live");
        };
        assert_eq!(target.destination_uri, "qemu+tls://h2/system");
        assert_eq!(target.timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_example_of_docs_operations_reads() {
        let doc = include_str!("../../../docs/operations.md");
        let example = doc
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let config = DaemonConfig::parse(example, Path::new("/")).unwrap();
        assert_eq!(config.host.as_str(), "h1");
        assert_eq!(config.period(), Duration::from_secs(10));
        assert_eq!(config.calls, CallPolicy::default());
        assert_eq!(config.migration, Migration::Handoff);
        // The live variant shown in its comments reads too.
        let live = example
            .replace("method = \"handoff\"", "")
            .replace("# method = \"live\"", "method = \"live\"")
            .replace("# destination_uri", "destination_uri")
            .replace("# peer_to_peer", "peer_to_peer")
            .replace("# bandwidth_mib_s", "bandwidth_mib_s")
            .replace("# timeout_s", "timeout_s");
        let config = DaemonConfig::parse(&live, Path::new("/")).unwrap();
        assert!(matches!(
            config.migration,
            Migration::Live {
                peer_to_peer: true,
                ..
            }
        ));
    }

    #[test]
    fn each_mistake_names_its_key() {
        let cases = [
            (
                GOOD.replace("period_ms = 500", "period_ms = 0"),
                "trading.period_ms",
            ),
            (
                GOOD.replace("period_ms = 500", "period = 5"),
                "trading.period",
            ),
            (GOOD.replace("host = \"h1\"", "host = \"h.1\""), "host"),
            (GOOD.replace("cpus = 4", "cpus = -4"), "capacity.cpus"),
            (GOOD.replace("name = \"h1\"", "nam = \"h1\""), "nats"),
            (
                GOOD.replace(
                    "metrics_listen = \"127.0.0.1:9464\"",
                    "metrics_listen = \"nowhere\"",
                ),
                "metrics_listen",
            ),
            (GOOD.replace("zone = \"eu1\"\n", ""), "."),
            (
                format!("protocols = [\"contract-net\", \"auction-x\"]\n{GOOD}"),
                "protocols[1]",
            ),
            (format!("protocols = []\n{GOOD}"), "protocols"),
            (
                format!("{GOOD}\n[protocol.contract-net]\naward = \"third-price\"\n"),
                "protocol.contract-net.award",
            ),
            (
                format!("{GOOD}\n[protocol.sealed-bid]\nmodel = \"sealed.lcc\"\n"),
                "protocol.sealed-bid",
            ),
            (
                format!(
                    "protocols = [\"sealed-bid\"]\n{GOOD}\n[protocol.sealed-bid]\nmodel = \"no/such/sealed.lcc\"\nkind = \"contract-net\"\n"
                ),
                "protocol.sealed-bid.model",
            ),
            (
                format!(
                    "{GOOD}\n[migration]\nmethod = \"live\"\ndestination_uri = \"qemu:///system\"\ntimeout_s = 5\n"
                ),
                "migration.destination_uri",
            ),
            (
                format!("{GOOD}\n[migration]\nmethod = \"teleport\"\n"),
                "migration",
            ),
        ];
        for (text, key) in cases {
            let (found, reason) = error(&text);
            assert!(found.starts_with(key), "{key}: got {found}: {reason}");
            assert!(!reason.is_empty());
        }
        let (_, reason) = error(&GOOD.replace("zone = \"eu1\"\n", ""));
        assert!(reason.contains("zone"), "{reason}");
    }

    /// A model of one's own is checked when the configuration is read: a
    /// syntax error, or a call to a component the bidder does not provide,
    /// is refused with the model's file, line and column.
    #[test]
    fn a_model_the_bidder_cannot_play_is_refused_with_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let with_model = |text: &str| {
            std::fs::write(dir.path().join("sealed.lcc"), text).unwrap();
            let config = format!(
                "protocols = [\"sealed-bid\"]\n{GOOD}\n[protocol.sealed-bid]\n\
                 model = \"sealed.lcc\"\nkind = \"contract-net\"\n"
            );
            let problems = DaemonConfig::parse(&config, dir.path()).unwrap_err();
            (problems[0].key.clone(), problems[0].to_string())
        };
        let (key, reason) = with_model("a(manager(T, Cs, W, G), M) :: cfp(T) => ");
        assert_eq!(key, "protocol.sealed-bid.model");
        assert!(reason.contains("sealed.lcc:1:"), "{reason}");
        let lacking = lcc::models::CONTRACT_NET
            .source
            .replace(
                "award(Task, Proposals, Winner, Price)",
                "best(Proposals, Winner, Price)",
            )
            .replace(
                "component award(+Task, +Proposals, -Winner, -Price)",
                "component best(+Proposals, -Winner, -Price)",
            );
        let (key, reason) = with_model(&lacking);
        assert_eq!(key, "protocol.sealed-bid.model");
        assert!(reason.contains("E0112"), "{reason}");
        assert!(reason.contains("best/3"), "{reason}");
        let line = lacking
            .lines()
            .position(|l| l.contains("<- best("))
            .unwrap()
            + 1;
        assert!(reason.contains(&format!("sealed.lcc:{line}:")), "{reason}");
    }
}
