//! The destination side of a migration over the bus, for hosts in separate
//! processes.
//!
//! The source's workflow calls [`Peer`] methods on a [`BusPeer`]; each call
//! is one request on `<prefix>.<zone>.migrate.<source>.<destination>` in the
//! versioned envelope of `market::wire`, and the destination's
//! [`DestinationService`] answers it on the request's reply subject by
//! calling the same [`Destination`] method the in-process peer calls. So
//! both ledgers and the hand-off behave exactly as in one process; only the
//! transport differs.
//!
//! - **Deadlines.** Every request carries `reply_by_ms` (the source's wall
//!   clock, which hosts of a zone agree on, as for LCC deadlines). The
//!   destination does not act on a request that arrives after it, so a
//!   source that has given up is not surprised by a late hand-off; a
//!   request that times out at the source is retried a few times, then
//!   reported as [`PeerError::Unavailable`], which leaves the trade
//!   migrating for recovery.
//! - **Replays.** Every `Destination` method is idempotent (recording the
//!   same terms, starting the same attempt, receiving a domain that already
//!   runs, settling a settled trade), and the service handles one request
//!   at a time, so a retried or duplicated request changes nothing more and
//!   gets the same answer.
//! - **Who may ask.** Only the trade's source (the seller named in the
//!   terms) may record or change a trade at the destination; the subject
//!   names the sender, the envelope must agree (`Decoder`), and
//!   nats-server permissions hold each host to its own name.
//! - **Bad input.** A request that does not decode is dropped and counted
//!   in `bourse_messages_dropped_total{kind="migrate"}` like any other
//!   message; a reply that does not decode fails the call.
//!
//! Requests are counted in `bourse_peer_requests_total{request,outcome}`
//! at the destination.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lcc::interp::Clock;
use market::bus::subject::{HostName, Route, SubjectSpace};
use market::bus::{Bus, BusError, Message};
use market::credits::Credits;
use market::ledger::{
    Ledger, MigrationMethod, ProtocolRef, TradeId, TradeState, TradeTerms, VmRef,
};
use market::wire::{Decoder, Envelope, Rejection, WireLimits, decode, encode, record_drop};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::destination::Destination;
use super::peer::{HandoffAck, Peer, PeerError, TradeStatus};
use crate::hypervisor::{DomainState, DomainUuid};

/// The terms of a trade as they travel (the ledger's types are checked
/// again on arrival: a trade id, UUIDs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireTerms {
    /// Shared trade id.
    pub trade_id: String,
    /// The interaction that agreed it.
    pub interaction_id: String,
    /// Model name.
    pub protocol_name: String,
    /// Model hash.
    pub protocol_hash: String,
    /// The source: its VMs leave, it is paid the price.
    pub seller: String,
    /// The destination: the VMs arrive, it pays the price.
    pub buyer: String,
    /// (UUID, name) of each VM, in the agreed order.
    pub vms: Vec<(String, String)>,
    /// The bundle: cpu millicores, memory MiB, network Mbit/s.
    pub bundle: [u64; 3],
    /// Micro-credits the buyer pays the seller.
    pub price: i64,
}

impl From<&TradeTerms> for WireTerms {
    fn from(terms: &TradeTerms) -> WireTerms {
        WireTerms {
            trade_id: terms.trade_id.to_string(),
            interaction_id: terms.interaction_id.clone(),
            protocol_name: terms.protocol.name.clone(),
            protocol_hash: terms.protocol.hash.clone(),
            seller: terms.seller.clone(),
            buyer: terms.buyer.clone(),
            vms: terms
                .vms
                .iter()
                .map(|vm| (vm.uuid.clone(), vm.name.clone()))
                .collect(),
            bundle: [
                terms.resources.cpu_millicores,
                terms.resources.memory_mib,
                terms.resources.network_mbps,
            ],
            price: terms.price.0,
        }
    }
}

impl WireTerms {
    /// The ledger's terms, or why these are not terms.
    fn to_terms(&self) -> Result<TradeTerms, String> {
        Ok(TradeTerms {
            trade_id: trade_id(&self.trade_id)?,
            interaction_id: self.interaction_id.clone(),
            protocol: ProtocolRef {
                name: self.protocol_name.clone(),
                hash: self.protocol_hash.clone(),
            },
            seller: self.seller.clone(),
            buyer: self.buyer.clone(),
            vms: self
                .vms
                .iter()
                .map(|(uuid, name)| {
                    DomainUuid::parse(uuid).map(|uuid| VmRef {
                        uuid: uuid.as_str().to_string(),
                        name: name.clone(),
                    })
                })
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?,
            resources: market::resources::Resources {
                cpu_millicores: self.bundle[0],
                memory_mib: self.bundle[1],
                network_mbps: self.bundle[2],
            },
            price: Credits(self.price),
        })
    }
}

fn trade_id(text: &str) -> Result<TradeId, String> {
    TradeId::new(text).map_err(|e| e.to_string())
}

/// How the VMs move, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireMethod {
    /// libvirt live migration.
    Live,
    /// Hand-off of the domain definition.
    Handoff,
}

impl From<MigrationMethod> for WireMethod {
    fn from(method: MigrationMethod) -> WireMethod {
        match method {
            MigrationMethod::Live => WireMethod::Live,
            MigrationMethod::Handoff => WireMethod::Handoff,
        }
    }
}

impl From<WireMethod> for MigrationMethod {
    fn from(method: WireMethod) -> MigrationMethod {
        match method {
            WireMethod::Live => MigrationMethod::Live,
            WireMethod::Handoff => MigrationMethod::Handoff,
        }
    }
}

/// One [`Peer`] call, as the source asks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerRequest {
    /// [`Peer::agree`].
    Agree(WireTerms),
    /// [`Peer::attempt_started`].
    AttemptStarted {
        /// The trade.
        trade_id: String,
        /// Attempt number.
        attempt: u32,
        /// How.
        method: WireMethod,
    },
    /// [`Peer::receive_domains`].
    ReceiveDomains {
        /// The trade.
        trade_id: String,
        /// Each domain's inactive XML.
        domains: Vec<String>,
    },
    /// [`Peer::trade_status`].
    TradeStatus {
        /// The trade.
        trade_id: String,
    },
    /// [`Peer::locate`].
    Locate {
        /// The VM.
        uuid: String,
    },
    /// [`Peer::discard`].
    Discard {
        /// The trade.
        trade_id: String,
        /// The VM.
        uuid: String,
    },
    /// [`Peer::settle`].
    Settle {
        /// The trade.
        trade_id: String,
    },
    /// [`Peer::fail`].
    Fail {
        /// The trade.
        trade_id: String,
        /// The refusal.
        reason: String,
    },
    /// [`Peer::roll_back`].
    RollBack {
        /// The trade.
        trade_id: String,
        /// Why.
        reason: String,
    },
}

impl PeerRequest {
    /// The `request` label of the counter.
    fn name(&self) -> &'static str {
        match self {
            PeerRequest::Agree(_) => "agree",
            PeerRequest::AttemptStarted { .. } => "attempt_started",
            PeerRequest::ReceiveDomains { .. } => "receive_domains",
            PeerRequest::TradeStatus { .. } => "trade_status",
            PeerRequest::Locate { .. } => "locate",
            PeerRequest::Discard { .. } => "discard",
            PeerRequest::Settle { .. } => "settle",
            PeerRequest::Fail { .. } => "fail",
            PeerRequest::RollBack { .. } => "roll_back",
        }
    }

    /// The trade the request is about, if any.
    fn trade(&self) -> Option<&str> {
        match self {
            PeerRequest::Agree(terms) => Some(&terms.trade_id),
            PeerRequest::AttemptStarted { trade_id, .. }
            | PeerRequest::ReceiveDomains { trade_id, .. }
            | PeerRequest::TradeStatus { trade_id }
            | PeerRequest::Discard { trade_id, .. }
            | PeerRequest::Settle { trade_id }
            | PeerRequest::Fail { trade_id, .. }
            | PeerRequest::RollBack { trade_id, .. } => Some(trade_id),
            PeerRequest::Locate { .. } => None,
        }
    }
}

/// The body of a request envelope: the call and its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerCall {
    /// The destination must not act on the call after this (ms since the
    /// Unix epoch, the source's clock).
    pub reply_by_ms: i64,
    /// The call.
    pub request: PeerRequest,
}

/// A trade's state at the destination, as it travels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireStatus {
    /// `agreed`, `migrating`, `settled`, `failed`, `rolled_back`.
    pub state: String,
    /// The reason on file.
    pub reason: Option<String>,
}

/// The destination's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PeerReply {
    /// Recorded (or already was).
    Done,
    /// Hand-off: these domains run at the destination.
    Running(Vec<String>),
    /// The trade in the destination's ledger (`None`: not recorded).
    Status(Option<WireStatus>),
    /// The VM at the destination (`None`: not defined there).
    Located(Option<DomainState>),
    /// [`PeerError::Refused`].
    Refused(String),
    /// [`PeerError::Unavailable`].
    Unavailable(String),
}

/// How a [`BusPeer`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// How long one request may take, the destination's work included
    /// (defining and starting a domain).
    pub timeout: Duration,
    /// How many times a request that got no answer is sent (at least once).
    pub attempts: u32,
}

impl Default for CallPolicy {
    /// A hand-off defines and starts a domain: seconds on a busy libvirtd.
    fn default() -> Self {
        CallPolicy {
            timeout: Duration::from_secs(30),
            attempts: 3,
        }
    }
}

/// This host's endpoint for calling peers over the bus.
#[derive(Clone)]
pub struct BusEndpoint {
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// The zone's subjects.
    pub space: SubjectSpace,
    /// This host.
    pub me: HostName,
    /// The clock deadlines are written in.
    pub clock: Arc<dyn Clock>,
    /// Envelope size limit.
    pub limits: WireLimits,
}

/// The destination of a migration reached over the bus (see the module
/// documentation).
#[derive(Clone)]
pub struct BusPeer {
    endpoint: BusEndpoint,
    to: HostName,
    policy: CallPolicy,
    sequence: Arc<AtomicU64>,
}

/// A pause between attempts, so a destination that is restarting has time
/// to subscribe again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

impl BusPeer {
    /// Calls on host `to` through `endpoint`.
    pub fn new(endpoint: BusEndpoint, to: HostName, policy: CallPolicy) -> BusPeer {
        BusPeer {
            endpoint,
            to,
            policy,
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    fn unavailable(&self, detail: impl Into<String>) -> PeerError {
        PeerError::Unavailable {
            host: self.to.to_string(),
            detail: detail.into(),
        }
    }

    /// Sends `request` and waits for the reply, retrying when nobody
    /// answered (every call is idempotent at the destination).
    async fn call(&self, request: PeerRequest) -> Result<PeerReply, PeerError> {
        let endpoint = &self.endpoint;
        let subject = endpoint.space.subject(&Route::Migrate {
            from: endpoint.me.clone(),
            to: self.to.clone(),
        });
        let timeout_ms = i64::try_from(self.policy.timeout.as_millis()).unwrap_or(i64::MAX);
        let attempts = self.policy.attempts.max(1);
        let mut last = None;
        for attempt in 1..=attempts {
            let envelope = Envelope {
                sender: endpoint.me.clone(),
                recipient: Some(self.to.clone()),
                interaction: None,
                sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
                body: PeerCall {
                    reply_by_ms: endpoint.clock.now_ms().saturating_add(timeout_ms),
                    request: request.clone(),
                },
            };
            let payload = encode(&envelope, &endpoint.limits)
                .map_err(|e| self.unavailable(format!("cannot send {}: {e}", request.name())))?;
            let deadline = Instant::now() + self.policy.timeout;
            match endpoint.bus.request(&subject, payload, deadline).await {
                Ok(reply) => return self.read(&reply),
                Err(e @ (BusError::NoResponders { .. } | BusError::TimedOut { .. })) => {
                    tracing::warn!(to = %self.to, request = request.name(), attempt, error = %e, "peer did not answer");
                    last = Some(e);
                    if attempt < attempts {
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
                Err(e) => return Err(self.unavailable(e.to_string())),
            }
        }
        Err(self.unavailable(match last {
            Some(e) => format!("{attempts} attempts: {e}"),
            None => "no attempt was made".into(),
        }))
    }

    /// The reply's body, from the destination to this host, or why not.
    fn read(&self, message: &Message) -> Result<PeerReply, PeerError> {
        let checked = decode::<PeerReply>(&message.payload, &self.endpoint.limits).and_then(|e| {
            if e.sender != self.to {
                Err(Rejection::SenderMismatch {
                    in_subject: self.to.clone(),
                    in_envelope: e.sender,
                })
            } else if e.recipient.as_ref() != Some(&self.endpoint.me) {
                Err(Rejection::AddressMismatch { field: "recipient" })
            } else {
                Ok(e.body)
            }
        });
        let body = checked.map_err(|rejection| {
            record_drop(&message.subject, &rejection);
            self.unavailable(format!("unreadable reply: {rejection}"))
        })?;
        match body {
            PeerReply::Refused(reason) => Err(PeerError::Refused {
                host: self.to.to_string(),
                reason,
            }),
            PeerReply::Unavailable(detail) => Err(self.unavailable(detail)),
            other => Ok(other),
        }
    }

    fn unexpected(&self, reply: &PeerReply) -> PeerError {
        self.unavailable(format!("unexpected reply {reply:?}"))
    }

    async fn done(&self, request: PeerRequest) -> Result<(), PeerError> {
        match self.call(request).await? {
            PeerReply::Done => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }
}

impl Peer for BusPeer {
    fn host(&self) -> &str {
        self.to.as_str()
    }

    async fn agree(&self, terms: &TradeTerms) -> Result<(), PeerError> {
        self.done(PeerRequest::Agree(terms.into())).await
    }

    async fn attempt_started(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        method: MigrationMethod,
    ) -> Result<(), PeerError> {
        self.done(PeerRequest::AttemptStarted {
            trade_id: trade_id.to_string(),
            attempt,
            method: method.into(),
        })
        .await
    }

    async fn receive_domains(
        &self,
        trade_id: &TradeId,
        domains: &[String],
    ) -> Result<HandoffAck, PeerError> {
        let request = PeerRequest::ReceiveDomains {
            trade_id: trade_id.to_string(),
            domains: domains.to_vec(),
        };
        match self.call(request).await? {
            PeerReply::Running(uuids) => {
                let running = uuids
                    .iter()
                    .map(|u| DomainUuid::parse(u))
                    .collect::<Result<_, _>>()
                    .map_err(|e| self.unavailable(e.to_string()))?;
                Ok(HandoffAck {
                    host: self.to.to_string(),
                    running,
                })
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn trade_status(&self, trade_id: &TradeId) -> Result<Option<TradeStatus>, PeerError> {
        let request = PeerRequest::TradeStatus {
            trade_id: trade_id.to_string(),
        };
        match self.call(request).await? {
            PeerReply::Status(None) => Ok(None),
            PeerReply::Status(Some(status)) => {
                let state = TradeState::ALL
                    .into_iter()
                    .find(|s| s.as_str() == status.state)
                    .ok_or_else(|| {
                        self.unavailable(format!("unknown trade state {:?}", status.state))
                    })?;
                Ok(Some(TradeStatus {
                    state,
                    reason: status.reason,
                }))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn locate(&self, uuid: &DomainUuid) -> Result<Option<DomainState>, PeerError> {
        let request = PeerRequest::Locate {
            uuid: uuid.to_string(),
        };
        match self.call(request).await? {
            PeerReply::Located(state) => Ok(state),
            other => Err(self.unexpected(&other)),
        }
    }

    async fn discard(&self, trade_id: &TradeId, uuid: &DomainUuid) -> Result<(), PeerError> {
        self.done(PeerRequest::Discard {
            trade_id: trade_id.to_string(),
            uuid: uuid.to_string(),
        })
        .await
    }

    async fn settle(&self, trade_id: &TradeId) -> Result<(), PeerError> {
        self.done(PeerRequest::Settle {
            trade_id: trade_id.to_string(),
        })
        .await
    }

    async fn fail(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        self.done(PeerRequest::Fail {
            trade_id: trade_id.to_string(),
            reason: reason.to_string(),
        })
        .await
    }

    async fn roll_back(&self, trade_id: &TradeId, reason: &str) -> Result<(), PeerError> {
        self.done(PeerRequest::RollBack {
            trade_id: trade_id.to_string(),
            reason: reason.to_string(),
        })
        .await
    }
}

/// Answers the migration requests addressed to this host with its
/// [`Destination`].
pub struct DestinationService {
    endpoint: BusEndpoint,
    destination: Destination,
    ledger: Ledger,
    sequence: AtomicU64,
}

impl DestinationService {
    /// The service of the host owning `ledger`; `destination` must be built
    /// on the same ledger.
    pub fn new(endpoint: BusEndpoint, destination: Destination, ledger: Ledger) -> Self {
        DestinationService {
            endpoint,
            destination,
            ledger,
            sequence: AtomicU64::new(0),
        }
    }

    /// Subscribes to `migrate.*.<me>` and returns once the subscription is
    /// live; the task answers requests one at a time until `stop` turns
    /// true (the request in hand is finished first) or the bus closes.
    pub async fn start(self, mut stop: watch::Receiver<bool>) -> Result<JoinHandle<()>, BusError> {
        let pattern = self.endpoint.space.migrate_to(&self.endpoint.me);
        let mut requests = self.endpoint.bus.subscribe(&pattern).await?;
        self.endpoint.bus.sync().await?;
        Ok(tokio::spawn(async move {
            let decoder = Decoder::new(self.endpoint.space.clone(), self.endpoint.limits);
            loop {
                tokio::select! {
                    biased;
                    changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
                    message = requests.next() => match message {
                        Some(message) => self.handle(&decoder, message).await,
                        None => break,
                    },
                }
            }
        }))
    }

    async fn handle(&self, decoder: &Decoder, message: Message) {
        let Some(envelope) = decoder.decode_or_drop::<PeerCall>(&message.subject, &message.payload)
        else {
            return;
        };
        let Some(reply_to) = message.reply.as_deref() else {
            record_drop(
                &message.subject,
                &Rejection::Unexpected {
                    what: "a migration request without a reply subject".into(),
                },
            );
            return;
        };
        let request = &envelope.body.request;
        let now = self.endpoint.clock.now_ms();
        if now > envelope.body.reply_by_ms {
            count(request, "late");
            tracing::warn!(from = %envelope.sender, request = request.name(), late_ms = now - envelope.body.reply_by_ms, "migration request arrived after its deadline; not acted on");
            return;
        }
        let reply = match self.authorise(&envelope.sender, request).await {
            Ok(()) => self.answer(request).await,
            Err(refusal) => PeerReply::Refused(refusal),
        };
        count(
            request,
            match &reply {
                PeerReply::Refused(_) => "refused",
                PeerReply::Unavailable(_) => "unavailable",
                _ => "done",
            },
        );
        self.send(reply_to, &envelope.sender, reply).await;
    }

    /// Only a trade's source may record or change it here.
    async fn authorise(&self, sender: &HostName, request: &PeerRequest) -> Result<(), String> {
        let me = self.endpoint.me.as_str();
        if let PeerRequest::Agree(terms) = request {
            if terms.seller != sender.as_str() || terms.buyer != me {
                return Err(format!(
                    "{sender} cannot record a trade from {} to {} at {me}",
                    terms.seller, terms.buyer
                ));
            }
            return Ok(());
        }
        let Some(id) = request.trade() else {
            return Ok(());
        };
        let id = trade_id(id)?;
        match self.ledger.trade(&id).await {
            Ok(Some(record)) if record.terms.source() != sender.as_str() => Err(format!(
                "trade {id} belongs to {}, not {sender}",
                record.terms.source()
            )),
            // Unknown trades are refused by the destination itself.
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Calls the destination.
    async fn answer(&self, request: &PeerRequest) -> PeerReply {
        let result = self.dispatch(request).await;
        match result {
            Ok(reply) => reply,
            Err(PeerError::Refused { reason, .. }) => PeerReply::Refused(reason),
            Err(PeerError::Unavailable { detail, .. }) => PeerReply::Unavailable(detail),
        }
    }

    async fn dispatch(&self, request: &PeerRequest) -> Result<PeerReply, PeerError> {
        let d = &self.destination;
        let refused = |reason: String| PeerError::Refused {
            host: self.endpoint.me.to_string(),
            reason,
        };
        let id = |text: &str| trade_id(text).map_err(refused);
        let uuid = |text: &str| DomainUuid::parse(text).map_err(|e| refused(e.to_string()));
        Ok(match request {
            PeerRequest::Agree(terms) => {
                d.agree(&terms.to_terms().map_err(refused)?).await?;
                PeerReply::Done
            }
            PeerRequest::AttemptStarted {
                trade_id,
                attempt,
                method,
            } => {
                d.attempt_started(&id(trade_id)?, *attempt, (*method).into())
                    .await?;
                PeerReply::Done
            }
            PeerRequest::ReceiveDomains { trade_id, domains } => {
                let ack = d.receive_domains(&id(trade_id)?, domains).await?;
                PeerReply::Running(ack.running.iter().map(|u| u.to_string()).collect())
            }
            PeerRequest::TradeStatus { trade_id } => {
                let status = d.trade_status(&id(trade_id)?).await?;
                PeerReply::Status(status.map(|s| WireStatus {
                    state: s.state.as_str().to_string(),
                    reason: s.reason,
                }))
            }
            PeerRequest::Locate { uuid: u } => PeerReply::Located(d.locate(&uuid(u)?).await?),
            PeerRequest::Discard { trade_id, uuid: u } => {
                d.discard(&id(trade_id)?, &uuid(u)?).await?;
                PeerReply::Done
            }
            PeerRequest::Settle { trade_id } => {
                d.settle(&id(trade_id)?).await?;
                PeerReply::Done
            }
            PeerRequest::Fail { trade_id, reason } => {
                d.fail(&id(trade_id)?, reason).await?;
                PeerReply::Done
            }
            PeerRequest::RollBack { trade_id, reason } => {
                d.roll_back(&id(trade_id)?, reason).await?;
                PeerReply::Done
            }
        })
    }

    async fn send(&self, reply_to: &str, to: &HostName, reply: PeerReply) {
        let envelope = Envelope {
            sender: self.endpoint.me.clone(),
            recipient: Some(to.clone()),
            interaction: None,
            sequence: self.sequence.fetch_add(1, Ordering::Relaxed),
            body: reply,
        };
        let sent = match encode(&envelope, &self.endpoint.limits) {
            Ok(payload) => self
                .endpoint
                .bus
                .publish(reply_to, payload)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(to = %to, error = %e, "cannot answer a migration request");
        }
    }
}

fn count(request: &PeerRequest, outcome: &'static str) {
    metrics::counter!(
        "bourse_peer_requests_total",
        "request" => request.name(),
        "outcome" => outcome,
    )
    .increment(1);
}
