//! The destination's side: [`DestinationService`] answers the migration
//! requests addressed to this host by calling its [`Destination`], after
//! checking the deadline and that the sender is the trade's source.

use std::sync::atomic::{AtomicU64, Ordering};

use futures::StreamExt;
use market::bus::subject::HostName;
use market::bus::{BusError, Message};
use market::ledger::Ledger;
use market::wire::{Decoder, Envelope, Rejection, encode, record_drop};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::wire::{PeerCall, PeerReply, PeerRequest, WireStatus, trade_id};
use crate::hypervisor::DomainUuid;
use crate::migration::destination::Destination;
use crate::migration::peer::{Peer, PeerError};
use market::runtime::Endpoint;

/// Answers the migration requests addressed to this host with its
/// [`Destination`].
pub struct DestinationService {
    endpoint: Endpoint,
    destination: Destination,
    ledger: Ledger,
    sequence: AtomicU64,
}

impl DestinationService {
    /// The service of the host owning `ledger`; `destination` must be built
    /// on the same ledger.
    pub fn new(endpoint: Endpoint, destination: Destination, ledger: Ledger) -> Self {
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

    /// Only a trade's source may record or change it here; only its buyer
    /// may ask its seller how it holds it.
    async fn authorise(&self, sender: &HostName, request: &PeerRequest) -> Result<(), String> {
        let me = self.endpoint.me.as_str();
        if let PeerRequest::SellerStatus(terms) = request {
            if terms.buyer != sender.as_str() || terms.seller != me {
                return Err(format!(
                    "{sender} cannot ask {me} about a trade from {} to {}",
                    terms.seller, terms.buyer
                ));
            }
            return Ok(());
        }
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
            PeerRequest::SellerStatus(terms) => {
                let status = d.seller_status(&terms.to_terms().map_err(refused)?).await?;
                PeerReply::Status(Some(WireStatus {
                    state: status.state.as_str().to_string(),
                    reason: status.reason,
                }))
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
