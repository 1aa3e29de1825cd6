//! How the operator commands (`market watch`, `market place`) reach a
//! zone's NATS servers: the options they share, turned into the same
//! `market::bus::NatsConfig` a bidder's `[nats]` table is.

use std::path::PathBuf;

use market::bus::{BusError, ClientCertificate, Credentials, NatsBus, NatsConfig, TlsConfig};

/// The connection options of an operator command.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// The connection as a TOML file in the format of the bidder's `[nats]`
    /// table (docs/bus.md); the options below are for the usual cases.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["servers", "user", "creds", "nkey_seed", "tls_ca", "inbox_prefix"])]
    nats: Option<PathBuf>,
    /// A NATS server; repeat for several. Default: nats://127.0.0.1:4222.
    #[arg(long = "server", value_name = "URL")]
    servers: Vec<String>,
    /// User name, as `market nats-config` writes them (`--observer` for
    /// watching, `--operator` for placing).
    #[arg(long, requires = "password_file")]
    user: Option<String>,
    /// The file holding the user's password (`<user>.password`).
    #[arg(long, requires = "user")]
    password_file: Option<PathBuf>,
    /// A NATS `.creds` file.
    #[arg(long, conflicts_with_all = ["user", "nkey_seed"])]
    creds: Option<PathBuf>,
    /// A file holding an nkey seed.
    #[arg(long, conflicts_with = "user")]
    nkey_seed: Option<PathBuf>,
    /// Require TLS and trust this CA (PEM).
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// A client certificate (PEM), with --tls-key.
    #[arg(long, requires_all = ["tls_key", "tls_ca"])]
    tls_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Prefix of reply subjects. Default: `_INBOX.<user>` with --user (what
    /// `market nats-config` allows), `_INBOX` otherwise.
    #[arg(long)]
    inbox_prefix: Option<String>,
}

/// Why the zone could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read the connection file {path}: {reason}")]
    NatsFile { path: PathBuf, reason: String },
    #[error("{0}{hint}", hint = hint(.0))]
    Bus(#[from] BusError),
}

impl ConnectArgs {
    /// The connection these arguments describe; `name` is the client
    /// name the server shows.
    pub fn config(&self, name: &str) -> Result<NatsConfig, ConnectError> {
        if let Some(path) = &self.nats {
            let error = |reason: String| ConnectError::NatsFile {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
            return toml::from_str(&text).map_err(|e| error(e.message().to_owned()));
        }
        let servers = if self.servers.is_empty() {
            vec!["nats://127.0.0.1:4222".to_owned()]
        } else {
            self.servers.clone()
        };
        let mut config = NatsConfig::new(servers, name);
        config.credentials = match (
            &self.user,
            &self.password_file,
            &self.creds,
            &self.nkey_seed,
        ) {
            (Some(user), Some(password_file), _, _) => Credentials::Password {
                user: user.clone(),
                password_file: password_file.clone(),
            },
            (_, _, Some(path), _) => Credentials::CredsFile { path: path.clone() },
            (_, _, _, Some(path)) => Credentials::NkeySeedFile { path: path.clone() },
            _ => Credentials::None,
        };
        config.inbox_prefix = match (&self.inbox_prefix, &self.user) {
            (Some(prefix), _) => prefix.clone(),
            (None, Some(user)) => format!("_INBOX.{user}"),
            (None, None) => config.inbox_prefix,
        };
        config.tls =
            self.tls_ca.as_ref().map(|ca| TlsConfig {
                ca_file: Some(ca.clone()),
                client_cert: self.tls_cert.as_ref().zip(self.tls_key.as_ref()).map(
                    |(cert, key)| ClientCertificate {
                        cert_file: cert.clone(),
                        key_file: key.clone(),
                    },
                ),
            });
        Ok(config)
    }

    /// Connects to the zone's servers.
    pub async fn bus(&self, name: &str) -> Result<NatsBus, ConnectError> {
        Ok(NatsBus::connect(&self.config(name)?).await?)
    }

    /// The user these options connect as, if they name one.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }
}

/// What to check when the server cannot be reached or says no.
fn hint(error: &BusError) -> &'static str {
    match error {
        BusError::Connect { reason, .. } if reason.contains("authorization") => {
            " (check --user and --password-file: `market nats-config` writes <user>.password)"
        }
        BusError::Connect { .. } => " (is nats-server running there? see --server)",
        _ => "",
    }
}
