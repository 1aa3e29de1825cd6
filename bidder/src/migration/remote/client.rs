//! The source's side: [`BusPeer`], a [`Peer`] whose every call is one
//! request to the destination's [`DestinationService`](super::DestinationService),
//! retried when nobody answers (every call is idempotent there).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use market::bus::subject::{HostName, Route};
use market::bus::{BusError, Message};
use market::ledger::{MigrationMethod, TradeId, TradeState, TradeTerms};
use market::wire::{Envelope, Rejection, decode, encode, record_drop};
use tokio::time::Instant;

use super::wire::{PeerCall, PeerReply, PeerRequest};
use crate::hypervisor::{DomainState, DomainUuid};
use crate::migration::peer::{HandoffAck, Peer, PeerError, TradeStatus};
use market::runtime::Endpoint;

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

/// The destination of a migration reached over the bus (deadlines,
/// replays and who may ask: [`super`]).
#[derive(Clone)]
pub struct BusPeer {
    endpoint: Endpoint,
    to: HostName,
    policy: CallPolicy,
    sequence: Arc<AtomicU64>,
}

/// A pause between attempts, so a destination that is restarting has time
/// to subscribe again.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

impl BusPeer {
    /// Calls on host `to` through `endpoint`.
    pub fn new(endpoint: Endpoint, to: HostName, policy: CallPolicy) -> BusPeer {
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

impl BusPeer {
    /// Sends a request answered with a trade's status.
    async fn status(&self, request: PeerRequest) -> Result<Option<TradeStatus>, PeerError> {
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
        self.status(request).await
    }

    async fn seller_status(&self, terms: &TradeTerms) -> Result<TradeStatus, PeerError> {
        self.status(PeerRequest::SellerStatus(terms.into()))
            .await?
            .ok_or_else(|| self.unavailable("the seller answered that it holds no record"))
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
