//! The message bus hosts talk over.
//!
//! [`Bus`] is the small set of operations bourse needs from NATS: publish,
//! subscribe with wildcards, queue groups, and request/reply with a
//! deadline. Two implementations behave the same (one conformance suite,
//! `market/tests/bus_conformance.rs`, runs against both):
//!
//! - [`NatsBus`] (`nats.rs`): a connection to a real nats-server through
//!   async-nats, with credentials, TLS and reconnection from [`NatsConfig`];
//! - [`MemoryBus`] (`memory.rs`): an in-process bus with the same subject
//!   semantics, for simulations and for running a whole cluster in one
//!   process.
//!
//! The subject syntax both follow is in [`pattern`]; where bourse's messages
//! travel is in [`subject`]; what they carry is in `crate::wire`.
//! [`permissions`] renders a zone's nats-server configuration that lets
//! each host publish only as itself; [`cluster`] the configuration of each
//! node of a zone's nats-server cluster, with the same users on every node.
//! [`LocalNatsServer`] (`local_server.rs`) runs Debian's `nats-server` on a
//! free loopback port, for tests, benchmarks and simulations over real NATS.
//! [`CountingBus`] (`counting.rs`) wraps either and counts the messages
//! sent, for the "messages per trade" of simulations and benchmarks.
//!
//! The trait is object safe (its methods return boxed futures) so that a
//! bidder can hold an `Arc<dyn Bus>` and not care which bus it was given.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use tokio::time::Instant;

pub mod cluster;
mod counting;
mod local_server;
mod memory;
mod nats;
pub mod pattern;
pub mod permissions;
pub mod subject;
mod sublist;

pub use counting::{CountingBus, Sent, Traffic};
pub use local_server::{LocalNatsServer, LocalServerError};
pub use memory::MemoryBus;
pub use nats::{Backoff, ClientCertificate, Credentials, NatsBus, NatsConfig, TlsConfig};

/// The largest payload a bus accepts unless configured otherwise: NATS's
/// default `max_payload` (1 MiB), so both buses refuse the same messages.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024;

/// A message as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject it was published on (never a pattern).
    pub subject: String,
    pub payload: Bytes,
    /// Where the publisher waits for an answer, for a request.
    pub reply: Option<String>,
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("invalid subject {subject:?}: {reason}")]
    InvalidSubject {
        subject: String,
        reason: &'static str,
    },
    #[error("invalid queue group {group:?}: it must be non-empty and without whitespace")]
    InvalidQueueGroup { group: String },
    #[error("payload of {size} bytes exceeds the bus limit of {max} bytes")]
    PayloadTooLarge { size: usize, max: usize },
    /// Nobody subscribes to the subject of a request: NATS answers at once
    /// instead of letting the requester wait for its deadline.
    #[error("no responders on {subject}: nobody subscribes to it")]
    NoResponders { subject: String },
    #[error("request on {subject} got no reply before its deadline")]
    TimedOut { subject: String },
    #[error("cannot read NATS credentials from {path}: {source}")]
    Credentials {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {servers}: {reason}")]
    Connect { servers: String, reason: String },
    #[error("NATS {operation} failed: {reason}")]
    Nats {
        operation: &'static str,
        reason: String,
    },
}

/// The messages of one subscription, in the order the bus delivered them.
/// Dropping it unsubscribes.
pub struct Subscription {
    messages: BoxStream<'static, Message>,
}

impl Subscription {
    fn new(messages: impl Stream<Item = Message> + Send + 'static) -> Self {
        Self {
            messages: Box::pin(messages),
        }
    }
}

impl Stream for Subscription {
    type Item = Message;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.messages.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subscription")
    }
}

/// One endpoint's view of the bus (a connection, for NATS).
///
/// Semantics shared by both implementations:
/// - subjects are dot-separated tokens; a subscription pattern may use `*`
///   (one token) and `>` (one or more trailing tokens); see [`pattern`];
/// - every plain subscription whose pattern matches receives the message;
///   of each queue group with a matching member, exactly one member does;
/// - an endpoint receives its own messages when it subscribes to them;
/// - messages from one endpoint reach a subscriber in the order published.
pub trait Bus: Send + Sync {
    /// Sends `payload` to every current subscriber of `subject`.
    ///
    /// The message is handed to the bus, not yet delivered: an endpoint
    /// that is dropped right after publishing should [`Bus::sync`] first,
    /// or its last messages may never leave (a NATS client's buffer).
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>>;

    /// Receives every message whose subject matches `pattern`.
    fn subscribe<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>>;

    /// Joins queue group `group` on `pattern`: each message goes to one
    /// member of the group.
    fn queue_subscribe<'a>(
        &'a self,
        pattern: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, BusError>>;

    /// Publishes with a fresh reply subject and waits for the first answer.
    /// Fails at once with [`BusError::NoResponders`] when nobody subscribes
    /// to `subject`, and with [`BusError::TimedOut`] at `deadline`.
    fn request<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>>;

    /// Returns once the bus has processed everything this endpoint sent
    /// before: its subscriptions are live and its messages routed. Needed
    /// before another endpoint counts on a subscription made here.
    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>>;
}
