//! [`BusChannel`]: the transport of one peer in one interaction, over the
//! bus.
//!
//! A peer's messages in interaction `i` go to
//! `<prefix>.<zone>.lcc.<i>.<me>.<to>` in an [`Envelope`] whose body is the
//! message term; the peer listens on `lcc.<i>.*.<me>`. What arrives is
//! decoded strictly (`crate::wire::Decoder`), checked against the
//! interaction's model hash, and de-duplicated by (sender, sequence), so a
//! redelivered message is seen once. Order is not restored: the
//! interpreter's mailbox takes the first message a receive accepts, which
//! makes the outcome independent of arrival order within a deadline.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::StreamExt;
use lcc::channel::{Channel, ChannelError, Envelope as Delivery, PeerId};
use lcc::term::{Symbol, Term};

use crate::bus::subject::{HostName, Route, SubjectSpace, Token};
use crate::bus::{Bus, BusError, Message, Subscription};
use crate::wire::{
    Decoder, Envelope, Interaction, MessageTerm, Rejection, WireLimits, encode, record_drop,
};

/// One peer's end of one interaction, over a [`Bus`].
pub struct BusChannel {
    bus: Arc<dyn Bus>,
    space: SubjectSpace,
    me: HostName,
    interaction: Interaction,
    limits: WireLimits,
    decoder: Decoder,
    /// The sequence number of the next message this peer sends.
    next_sequence: AtomicU64,
    inbox: Subscription,
    /// (sender, sequence) of every message delivered so far.
    seen: HashSet<(HostName, u64)>,
}

impl BusChannel {
    /// Starts listening for `me`'s messages in `interaction`. When this
    /// returns, the subscription is live on the bus: it is safe to tell
    /// the other peers that `me` is ready.
    pub async fn open(
        bus: Arc<dyn Bus>,
        space: SubjectSpace,
        me: HostName,
        interaction: Interaction,
        limits: WireLimits,
    ) -> Result<Self, BusError> {
        let pattern = space.lcc_interaction_to(&interaction.id.token(), &me);
        let inbox = bus.subscribe(&pattern).await?;
        bus.sync().await?;
        Ok(Self {
            decoder: Decoder::new(space.clone(), limits),
            bus,
            space,
            me,
            interaction,
            limits,
            next_sequence: AtomicU64::new(0),
            inbox,
            seen: HashSet::new(),
        })
    }

    /// The subject and encoded envelope of a message to `to`.
    fn prepare(&self, to: &PeerId, message: Term) -> Result<(String, Bytes), ChannelError> {
        let to = Token::new(to.as_str()).map_err(|_| ChannelError::UnknownPeer(to.clone()))?;
        let subject = self.space.subject(&Route::Lcc {
            interaction: self.interaction.id.token(),
            from: self.me.clone(),
            to: to.clone(),
        });
        let envelope = Envelope {
            sender: self.me.clone(),
            recipient: Some(to),
            interaction: Some(self.interaction),
            sequence: self.next_sequence.fetch_add(1, Ordering::Relaxed),
            body: MessageTerm(message),
        };
        let payload =
            encode(&envelope, &self.limits).map_err(|e| ChannelError::Transport(e.to_string()))?;
        Ok((subject, payload))
    }

    /// The message as the interpreter gets it, or `None` (counted and
    /// logged) when it is malformed, of another model, or a duplicate.
    fn accept(&mut self, message: &Message) -> Option<Delivery> {
        let envelope: Envelope<MessageTerm> = self
            .decoder
            .decode_or_drop(&message.subject, &message.payload)?;
        let rejection = if envelope.interaction.map(|i| i.model) != Some(self.interaction.model) {
            Some(Rejection::AddressMismatch { field: "model" })
        } else if !self
            .seen
            .insert((envelope.sender.clone(), envelope.sequence))
        {
            Some(Rejection::Duplicate {
                sender: envelope.sender.clone(),
                sequence: envelope.sequence,
            })
        } else {
            None
        };
        if let Some(rejection) = rejection {
            record_drop(&message.subject, &rejection);
            return None;
        }
        Some(Delivery {
            from: Symbol::new(envelope.sender.as_str()),
            message: envelope.body.0,
        })
    }
}

/// A role instance drops its channel as soon as its clause closes, often
/// right after its last send; if that was the last handle on the bus
/// endpoint, a NATS client would drop what is still in its buffer. The
/// endpoint is kept alive until a round trip has flushed it.
impl Drop for BusChannel {
    fn drop(&mut self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let bus = Arc::clone(&self.bus);
            runtime.spawn(async move {
                if let Err(e) = bus.sync().await {
                    tracing::warn!(error = %e, "last LCC messages may not have left");
                }
            });
        }
    }
}

impl Channel for BusChannel {
    fn send(
        &self,
        to: &PeerId,
        message: Term,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send {
        // What is sent, for a trace of an interaction's messages (the call
        // market's benchmark times when its results are out); nothing is
        // built unless that trace is on.
        let sent = tracing::enabled!(tracing::Level::TRACE).then(|| {
            let what = message.functor().map_or("", |f| f.as_str()).to_string();
            (what, self.interaction.id, to.clone())
        });
        // Prepared before the future so that it does not borrow `self`
        // (whose subscription is not `Sync`) across an await.
        let prepared = self.prepare(to, message);
        let bus = Arc::clone(&self.bus);
        async move {
            let (subject, payload) = prepared?;
            bus.publish(&subject, payload)
                .await
                .map_err(|e| ChannelError::Transport(e.to_string()))?;
            if let Some((what, interaction, to)) = sent {
                tracing::trace!(round = %interaction, %to, what = %what, "sent");
            }
            Ok(())
        }
    }

    /// Cancel-safe: a message is only taken from the subscription inside
    /// one poll that also returns it (or drops it for good).
    async fn recv(&mut self) -> Result<Delivery, ChannelError> {
        loop {
            let Some(message) = self.inbox.next().await else {
                return Err(ChannelError::Closed(Symbol::new(self.me.as_str())));
            };
            if let Some(delivery) = self.accept(&message) {
                return Ok(delivery);
            }
        }
    }
}
