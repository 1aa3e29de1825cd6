//! `bidder --check`: everything the daemon would read at start, read and
//! checked without starting anything, so an operator learns of a wrong
//! configuration before the service does.
//!
//! It reads the configuration (every key's problem, not only the first),
//! the policy, each protocol's model, the files the bus connection reads
//! (passwords, credentials, certificates), the ledger when it exists, and
//! connects to the hypervisor to list its domains. It writes nothing: a
//! ledger or a simulated host's state file that does not exist yet is
//! reported as created at first start, not created. It does not connect to
//! NATS or listen for metrics, which a running daemon on the same host
//! would hold.

use std::path::Path;

use market::bus::{Credentials, NatsConfig};
use market::ledger::Ledger;

use super::config::{ConfigError, DaemonConfig, Migration, simulated_state};
use super::{load_policy, open_hypervisor};
use crate::hypervisor::DomainState;
use crate::problem::ConfigProblem;
use crate::protocol::{Initiates, Protocol};

/// What `bidder --check` found.
#[derive(Debug, Default)]
pub struct Report {
    /// What this host would play and with whom, a line each; empty when
    /// the configuration itself was refused.
    pub plan: Vec<String>,
    /// Every problem found, each with its key.
    pub problems: Vec<ConfigProblem>,
}

/// Checks the configuration at `path` and everything it names.
pub async fn check(path: &Path) -> Report {
    let config = match DaemonConfig::load(path) {
        Ok(config) => config,
        Err(ConfigError::Invalid { problems, .. }) => {
            return Report {
                plan: Vec::new(),
                problems,
            };
        }
        Err(ConfigError::Read { source, .. }) => {
            return Report {
                plan: Vec::new(),
                problems: vec![ConfigProblem::value(
                    ".",
                    path.display(),
                    format!("cannot read the configuration: {source}"),
                )],
            };
        }
    };
    let mut report = Report::default();
    report.identity(&config);
    report.bus("nats", &config.nats);
    if let Some(nats) = config.events.as_ref().and_then(|e| e.nats.as_ref()) {
        report.bus("events.nats", nats);
    }
    report.policy(&config);
    report.hypervisor(&config).await;
    report.ledger(&config).await;
    report.protocols(&config.protocols);
    report.rest(&config);
    report
}

/// The directory a file is in, `.` for a bare file name.
fn directory_of(file: &Path) -> &Path {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

impl Report {
    fn line(&mut self, line: String) {
        self.plan.push(line);
    }

    fn problem(&mut self, problem: ConfigProblem) {
        self.problems.push(problem);
    }

    fn identity(&mut self, config: &DaemonConfig) {
        let space = &config.space;
        self.line(format!(
            "host {} in zone {}: trades with every host of the zone that plays \
             the same models (subjects {}.{}.>)",
            config.host,
            space.zone(),
            space.prefix(),
            space.zone(),
        ));
    }

    /// The servers, who the host is to them, and the files the connection
    /// reads, each checked readable.
    fn bus(&mut self, key: &str, nats: &NatsConfig) {
        let who = match &nats.credentials {
            Credentials::None => "without credentials".to_string(),
            Credentials::Password { user, .. } => format!("as user {user}"),
            Credentials::CredsFile { .. } => "with a credentials file".to_string(),
            Credentials::NkeySeedFile { .. } => "with an nkey".to_string(),
        };
        self.line(format!(
            "{key}: {} {who}, connection name {}, inboxes {}",
            nats.servers.join(", "),
            nats.name,
            nats.inbox_prefix,
        ));
        for (file_key, file) in nats.files() {
            if let Err(e) = std::fs::File::open(file) {
                self.problem(ConfigProblem::value(
                    format!("{key}.{file_key}"),
                    file.display(),
                    format!("cannot read it: {e}"),
                ));
            }
        }
    }

    fn policy(&mut self, config: &DaemonConfig) {
        let capacity = &config.capacity;
        match load_policy(&config.policy) {
            Ok(_) => self.line(format!(
                "policy {}, on {} cpus, {} MiB, {} Mbit/s offered to VMs",
                config.policy.display(),
                capacity.cpu_millicores / 1000,
                capacity.memory_mib,
                capacity.network_mbps,
            )),
            Err(e) => self.problem(ConfigProblem::value(
                "policy",
                config.policy.display(),
                e.to_string(),
            )),
        }
    }

    /// Connects and lists the domains; a simulated host's state file that
    /// does not exist yet is not created.
    async fn hypervisor(&mut self, config: &DaemonConfig) {
        let uri = &config.hypervisor;
        if let Some(state) = simulated_state(uri).map(Path::new)
            && !state.exists()
        {
            self.created_at_first_start(
                "hypervisor",
                uri,
                state,
                "a simulated host, its state file",
            );
            return;
        }
        let domains = match open_hypervisor(config).await {
            Ok(hypervisor) => tokio::task::spawn_blocking(move || hypervisor.domains()).await,
            Err(e) => {
                return self.problem(ConfigProblem::value("hypervisor", uri, e.to_string()));
            }
        };
        match domains {
            Ok(Ok(domains)) => {
                let running = domains
                    .iter()
                    .filter(|d| d.state == DomainState::Running)
                    .count();
                let names: Vec<&str> = domains.iter().map(|d| d.name.as_str()).collect();
                self.line(format!(
                    "hypervisor {uri}: {} domains defined, {running} running{}{}",
                    domains.len(),
                    if names.is_empty() { "" } else { ": " },
                    names.join(", ")
                ));
            }
            Ok(Err(e)) => self.problem(ConfigProblem::value("hypervisor", uri, e.to_string())),
            Err(e) => self.problem(ConfigProblem::value(
                "hypervisor",
                uri,
                format!("listing the domains did not finish: {e}"),
            )),
        }
    }

    /// An existing ledger must be this host's and readable by this build;
    /// a missing one is created at first start, in a directory that must
    /// exist.
    async fn ledger(&mut self, config: &DaemonConfig) {
        let path = &config.ledger;
        if !path.exists() {
            let shown = path.display().to_string();
            self.created_at_first_start("ledger", &shown, path, "the ledger");
            return;
        }
        let ledger = match Ledger::open_read_only(path).await {
            Ok(ledger) => ledger,
            Err(e) => {
                return self.problem(ConfigProblem::value(
                    "ledger",
                    path.display(),
                    e.to_string(),
                ));
            }
        };
        if ledger.owner() != config.host.as_str() {
            self.problem(ConfigProblem::value(
                "ledger",
                path.display(),
                format!(
                    "it is the ledger of host {}, not of {}",
                    ledger.owner(),
                    config.host
                ),
            ));
        } else {
            match ledger.unfinished_trades().await {
                Ok(unfinished) => self.line(format!(
                    "ledger {}: this host's, {} unfinished trades (recovered at start)",
                    path.display(),
                    unfinished.len()
                )),
                Err(e) => self.problem(ConfigProblem::value(
                    "ledger",
                    path.display(),
                    e.to_string(),
                )),
            }
        }
        ledger.close().await;
    }

    /// A file the daemon creates at its first start: fine where its
    /// directory exists.
    fn created_at_first_start(&mut self, key: &str, value: &str, file: &Path, what: &str) {
        let directory = directory_of(file);
        if directory.is_dir() {
            self.line(format!("{key} {value}: {what}, created at first start"));
        } else {
            self.problem(ConfigProblem::value(
                key,
                value,
                format!(
                    "{what} goes in {}, which does not exist",
                    directory.display()
                ),
            ));
        }
    }

    /// Each protocol: its model, what starts it and what it answers.
    fn protocols(&mut self, protocols: &[Protocol]) {
        for protocol in protocols {
            let kind = protocol.kind();
            let [starts, answers] = kind.roles().map(|role| role.name);
            let when = match kind.initiates() {
                Initiates::When(state) => format!("starts {starts} when {state:?}").to_lowercase(),
                Initiates::ByTurn => format!("starts {starts} in its turn every period"),
                Initiates::Never => format!("{starts} is someone else's (`market place`)"),
            };
            let priced: String = protocol
                .shown_settings()
                .into_iter()
                .map(|(key, value)| format!(", {key} {value}"))
                .collect();
            // Peers compare the whole hash; its start tells models apart
            // for a person comparing hosts.
            let hash = protocol.model().hash().to_string();
            self.line(format!(
                "protocol {} (kind {}, model sha256 {}…): {when}, answers as {answers}{priced}",
                protocol.name(),
                kind.name(),
                hash.get(..16).unwrap_or(&hash),
            ));
        }
    }

    /// The period, how VMs leave, and what the host tells observers.
    fn rest(&mut self, config: &DaemonConfig) {
        let parts = [
            format!("every {} ms", config.agent.period_ms),
            match &config.migration {
                Migration::Handoff => "VMs leave by the hand-off".to_string(),
                Migration::Live {
                    destination_uri, ..
                } => format!("VMs leave by live migration to {destination_uri}"),
            },
            match &config.events {
                Some(_) => "events published for `market watch`".to_string(),
                None => "no events published".to_string(),
            },
            match config.metrics_listen {
                Some(address) => format!("metrics at http://{address}/metrics"),
                None => "no metrics endpoint".to_string(),
            },
        ];
        self.line(parts.join("; "));
    }
}
