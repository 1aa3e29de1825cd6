//! The bus over a real nats-server, through async-nats.
//!
//! [`NatsConfig`] is the part of a bidder's configuration that says how to
//! reach the zone's server: addresses, credentials (user and password file,
//! a `.creds` file, or an nkey seed file), TLS, the inbox prefix, and the
//! reconnection backoff. Secrets are read from files so that configuration
//! files can be shared and versioned without them.
//!
//! Connection events (disconnects, server errors such as permission
//! violations, slow consumers) are logged and counted in
//! `bourse_bus_events_total{event=...}`: the server never tells a publisher
//! synchronously that a message was refused, so these are the only trace.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::pattern::{self, Pattern};
use super::subject::HostName;
use super::{Bus, BusError, Message, Subscription};

/// How to reach and authenticate to the zone's nats-server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    /// Server addresses (`nats://10.0.0.1:4222`, `tls://...`); the client
    /// picks among them and fails over.
    pub servers: Vec<String>,
    /// The connection's name as the server shows it (`/connz`): the host
    /// name, so an operator can tell connections apart.
    pub name: String,
    #[serde(default)]
    pub credentials: Credentials,
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Prefix of reply subjects. `market nats-config` lets host `h` listen
    /// only under `_INBOX.h`, so no host can read another's replies.
    #[serde(default = "default_inbox_prefix")]
    pub inbox_prefix: String,
    #[serde(default)]
    pub reconnect: Backoff,
    /// How long the server may stay silent before the client asks whether
    /// it is alive; after three such silences unanswered it gives the
    /// server up and reconnects (to another node of a cluster). A server
    /// process that dies closes the connection at once; this is for one
    /// whose machine or network died, which closes nothing.
    #[serde(default = "default_ping_interval_ms")]
    pub ping_interval_ms: NonZeroU64,
}

fn default_inbox_prefix() -> String {
    "_INBOX".to_owned()
}

/// A silent server is given up after about three of these: 6 s, where
/// async-nats's own 60 s would leave a host cut off for three minutes.
const DEFAULT_PING_INTERVAL_MS: NonZeroU64 = NonZeroU64::new(2_000).expect("2000 is not 0");

fn default_ping_interval_ms() -> NonZeroU64 {
    DEFAULT_PING_INTERVAL_MS
}

/// How a host proves who it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Credentials {
    /// No authentication (a private test server).
    #[default]
    None,
    /// User and password, the password read from a file (what
    /// `market nats-config` generates: one user per host).
    Password {
        user: String,
        password_file: PathBuf,
    },
    /// A NATS `.creds` file (JWT and nkey seed, for operator-mode servers).
    CredsFile { path: PathBuf },
    /// A file holding an nkey seed (`SU...`).
    NkeySeedFile { path: PathBuf },
}

/// TLS towards the server. Without a CA file the system's roots are used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA that signed the server's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key (PEM), when the server checks clients.
    #[serde(default)]
    pub client_cert: Option<ClientCertificate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Reconnection delay: doubles from `initial_ms` up to `max_ms`, forever.
/// A bidder whose server restarts keeps its subscriptions and resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    pub initial_ms: u64,
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial_ms: 10,
            max_ms: 4_000,
        }
    }
}

impl Backoff {
    /// The wait before reconnection attempt number `attempt` (1-based).
    pub fn delay(&self, attempt: usize) -> Duration {
        let doublings = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX)
            .min(32);
        let delay = self.initial_ms.saturating_mul(1u64 << doublings);
        Duration::from_millis(delay.min(self.max_ms))
    }
}

impl NatsConfig {
    /// The files the connection reads, each with its key under the
    /// connection's table (`credentials.password_file`): what an operator
    /// must make readable to the daemon.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let mut files = match &self.credentials {
            Credentials::None => Vec::new(),
            Credentials::Password { password_file, .. } => {
                vec![("credentials.password_file", password_file.as_path())]
            }
            Credentials::CredsFile { path } => vec![("credentials.path", path.as_path())],
            Credentials::NkeySeedFile { path } => vec![("credentials.path", path.as_path())],
        };
        if let Some(tls) = &self.tls {
            files.extend(tls.ca_file.as_deref().map(|ca| ("tls.ca_file", ca)));
            if let Some(client) = &tls.client_cert {
                files.push(("tls.client_cert.cert_file", client.cert_file.as_path()));
                files.push(("tls.client_cert.key_file", client.key_file.as_path()));
            }
        }
        files
    }

    /// An unauthenticated connection to `servers`.
    pub fn new(servers: impl IntoIterator<Item = impl Into<String>>, name: &str) -> Self {
        Self {
            servers: servers.into_iter().map(Into::into).collect(),
            name: name.to_owned(),
            credentials: Credentials::None,
            tls: None,
            inbox_prefix: default_inbox_prefix(),
            reconnect: Backoff::default(),
            ping_interval_ms: DEFAULT_PING_INTERVAL_MS,
        }
    }

    /// The configuration of `host` on a server generated by
    /// `market nats-config`: user `host`, its password file, inboxes under
    /// `_INBOX.<host>`.
    pub fn for_host(
        servers: impl IntoIterator<Item = impl Into<String>>,
        host: &HostName,
        password_file: &Path,
    ) -> Self {
        Self {
            credentials: Credentials::Password {
                user: host.to_string(),
                password_file: password_file.to_owned(),
            },
            inbox_prefix: super::permissions::inbox_prefix(host),
            ..Self::new(servers, host.as_str())
        }
    }
}

fn read_secret(path: &Path) -> Result<String, BusError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| BusError::Credentials {
            path: path.to_owned(),
            source,
        })
}

async fn options(
    config: &NatsConfig,
    errors: broadcast::Sender<String>,
) -> Result<async_nats::ConnectOptions, BusError> {
    let backoff = config.reconnect;
    let mut options = async_nats::ConnectOptions::new()
        .name(&config.name)
        .custom_inbox_prefix(&config.inbox_prefix)
        .reconnect_delay_callback(move |attempt| backoff.delay(attempt))
        .ping_interval(Duration::from_millis(config.ping_interval_ms.get()))
        .event_callback(move |event| {
            let errors = errors.clone();
            async move {
                record_event(&event);
                if let async_nats::Event::ServerError(error) = &event {
                    // Nobody listening is the usual case, not an error.
                    let _ = errors.send(error.to_string());
                }
            }
        });
    options = match &config.credentials {
        Credentials::None => options,
        Credentials::Password {
            user,
            password_file,
        } => options.user_and_password(user.clone(), read_secret(password_file)?),
        Credentials::CredsFile { path } => {
            options
                .credentials_file(path)
                .await
                .map_err(|source| BusError::Credentials {
                    path: path.clone(),
                    source,
                })?
        }
        Credentials::NkeySeedFile { path } => options.nkey(read_secret(path)?),
    };
    if let Some(tls) = &config.tls {
        options = options.require_tls(true);
        if let Some(ca) = &tls.ca_file {
            options = options.add_root_certificates(ca.clone());
        }
        if let Some(client) = &tls.client_cert {
            options =
                options.add_client_certificate(client.cert_file.clone(), client.key_file.clone());
        }
    }
    Ok(options)
}

/// Logs and counts what the connection reports.
fn record_event(event: &async_nats::Event) {
    let name = match event {
        async_nats::Event::Connected => "connected",
        async_nats::Event::Disconnected => "disconnected",
        async_nats::Event::LameDuckMode => "lame_duck_mode",
        async_nats::Event::Draining => "draining",
        async_nats::Event::Closed => "closed",
        async_nats::Event::SlowConsumer(_) => "slow_consumer",
        async_nats::Event::ServerError(_) => "server_error",
        async_nats::Event::ClientError(_) => "client_error",
    };
    metrics::counter!("bourse_bus_events_total", "event" => name).increment(1);
    match event {
        async_nats::Event::Connected => tracing::info!("NATS connection established"),
        async_nats::Event::ServerError(_)
        | async_nats::Event::ClientError(_)
        | async_nats::Event::SlowConsumer(_) => tracing::warn!(%event, "NATS connection"),
        _ => tracing::info!(%event, "NATS connection"),
    }
}

/// A connection to a nats-server.
#[derive(Clone, Debug)]
pub struct NatsBus {
    client: async_nats::Client,
    /// The server's error messages (`-ERR`), for a caller that must tell
    /// its user when the server refuses it, as permissions do.
    errors: broadcast::Sender<String>,
}

impl NatsBus {
    /// Connects as `config` says. Fails if the first connection attempt
    /// fails (wrong address, refused credentials); once connected, lost
    /// connections are retried forever with the configured backoff.
    pub async fn connect(config: &NatsConfig) -> Result<Self, BusError> {
        let servers = config.servers.join(", ");
        let addresses = config
            .servers
            .iter()
            .map(|s| s.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BusError::Connect {
                servers: servers.clone(),
                reason: e.to_string(),
            })?;
        let (errors, _) = broadcast::channel(16);
        let client = options(config, errors.clone())
            .await?
            .connect(addresses)
            .await
            .map_err(|e| BusError::Connect {
                servers,
                reason: e.to_string(),
            })?;
        Ok(Self { client, errors })
    }

    /// The errors the server sends this connection from now on, such as
    /// `Permissions Violation for Subscription to "…"`: the server refuses
    /// a subscription or a publish only asynchronously, so this is how a
    /// client learns of it (after [`Bus::sync`], everything sent before has
    /// been judged).
    pub fn server_errors(&self) -> broadcast::Receiver<String> {
        self.errors.subscribe()
    }

    fn payload_error(&self, payload: &Bytes) -> BusError {
        BusError::PayloadTooLarge {
            size: payload.len(),
            max: self.client.max_payload(),
        }
    }

    async fn request_inner(
        &self,
        subject: &str,
        payload: Bytes,
        deadline: Instant,
    ) -> Result<Message, BusError> {
        use async_nats::RequestErrorKind as Kind;
        pattern::check_publish(subject)?;
        let size_error = self.payload_error(&payload);
        let timeout = deadline.saturating_duration_since(Instant::now());
        let request = async_nats::Request::new()
            .payload(payload)
            .timeout(Some(timeout));
        match self.client.send_request(subject.to_owned(), request).await {
            Ok(reply) => Ok(from_nats(reply)),
            Err(e) => Err(match e.kind() {
                Kind::NoResponders => BusError::NoResponders {
                    subject: subject.to_owned(),
                },
                Kind::TimedOut => BusError::TimedOut {
                    subject: subject.to_owned(),
                },
                Kind::MaxPayloadExceeded => size_error,
                Kind::InvalidSubject | Kind::Other => nats_error("request", e),
            }),
        }
    }

    async fn subscribe_inner(
        &self,
        pattern: &str,
        group: Option<&str>,
    ) -> Result<Subscription, BusError> {
        Pattern::parse(pattern)?;
        let subscribed = match group {
            Some(group) => {
                pattern::check_queue_group(group)?;
                self.client
                    .queue_subscribe(pattern.to_owned(), group.to_owned())
                    .await
            }
            None => self.client.subscribe(pattern.to_owned()).await,
        };
        let subscriber = subscribed.map_err(|e| nats_error("subscribe", e))?;
        Ok(Subscription::new(subscriber.map(from_nats)))
    }

    /// A message to a fresh inbox of our own comes back only after the
    /// server has processed everything we sent before it.
    async fn round_trip(&self) -> Result<(), BusError> {
        let inbox = self.client.new_inbox();
        let mut echo = self
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| nats_error("sync", e))?;
        self.client
            .publish(inbox.clone(), Bytes::new())
            .await
            .map_err(|e| nats_error("sync", e))?;
        match tokio::time::timeout(ROUND_TRIP_TIMEOUT, echo.next()).await {
            Ok(Some(_)) => Ok(()),
            Ok(None) | Err(_) => Err(BusError::TimedOut { subject: inbox }),
        }
    }
}

fn nats_error(operation: &'static str, error: impl std::fmt::Display) -> BusError {
    BusError::Nats {
        operation,
        reason: error.to_string(),
    }
}

/// How long [`Bus::sync`] waits for the server to echo.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(10);

fn from_nats(message: async_nats::Message) -> Message {
    Message {
        subject: message.subject.to_string(),
        payload: message.payload,
        reply: message.reply.map(|r| r.to_string()),
    }
}

impl Bus for NatsBus {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        async move {
            pattern::check_publish(subject)?;
            let size_error = self.payload_error(&payload);
            self.client
                .publish(subject.to_owned(), payload)
                .await
                .map_err(|e| match e.kind() {
                    async_nats::client::PublishErrorKind::MaxPayloadExceeded => size_error,
                    _ => nats_error("publish", e),
                })
        }
        .boxed()
    }

    fn subscribe<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.subscribe_inner(pattern, None).boxed()
    }

    fn queue_subscribe<'a>(
        &'a self,
        pattern: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.subscribe_inner(pattern, Some(group)).boxed()
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>> {
        self.request_inner(subject, payload, deadline).boxed()
    }

    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        self.round_trip().boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let backoff = Backoff {
            initial_ms: 10,
            max_ms: 1_000,
        };
        let delays: Vec<u64> = (1..=9)
            .map(|a| backoff.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1_000, 1_000]);
        assert_eq!(backoff.delay(usize::MAX), Duration::from_millis(1_000));
    }

    #[test]
    fn configuration_reads_from_toml() {
        let config: NatsConfig = toml::from_str(
            r#"
            servers = ["nats://10.0.0.1:4222"]
            name = "h1"
            inbox_prefix = "_INBOX.h1"
            credentials = { kind = "password", user = "h1", password_file = "/etc/bourse/h1.password" }
            tls = { ca_file = "/etc/bourse/ca.pem" }
            reconnect = { initial_ms = 50, max_ms = 2000 }
            ping_interval_ms = 500
            "#,
        )
        .unwrap();
        let host = crate::bus::subject::Token::new("h1").unwrap();
        let mut expected = NatsConfig::for_host(
            ["nats://10.0.0.1:4222"],
            &host,
            Path::new("/etc/bourse/h1.password"),
        );
        expected.tls = Some(TlsConfig {
            ca_file: Some("/etc/bourse/ca.pem".into()),
            client_cert: None,
        });
        expected.reconnect = Backoff {
            initial_ms: 50,
            max_ms: 2000,
        };
        expected.ping_interval_ms = NonZeroU64::new(500).unwrap();
        assert_eq!(config, expected);
    }

    #[test]
    fn a_ping_interval_of_zero_is_refused() {
        let error = toml::from_str::<NatsConfig>(
            "servers = [\"nats://10.0.0.1:4222\"]\nname = \"h1\"\nping_interval_ms = 0\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("nonzero"), "{error}");
    }

    #[tokio::test]
    async fn a_missing_password_file_is_reported_with_its_path() {
        let host = crate::bus::subject::Token::new("h1").unwrap();
        let config = NatsConfig::for_host(
            ["nats://127.0.0.1:1"],
            &host,
            Path::new("/nonexistent/h1.password"),
        );
        let error = NatsBus::connect(&config).await.unwrap_err();
        assert!(
            matches!(&error, BusError::Credentials { path, .. } if path == Path::new("/nonexistent/h1.password")),
            "{error}"
        );
    }
}
