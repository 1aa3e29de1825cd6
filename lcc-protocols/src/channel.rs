//! How role instances talk: the [`Channel`] trait, and [`Hub`], the
//! in-process implementation used by tests, benchmarks and simulations.
//!
//! A channel belongs to one peer. It sends a message to another peer by its
//! id and hands over the messages addressed to its peer one by one, stamped
//! with the sender's id. It does not match messages against what the model
//! expects: the role instance keeps a mailbox and takes from it the first
//! message a receive can accept, so a message that arrives early waits
//! there instead of being lost.
//!
//! The NATS-backed channel implements the same trait; nothing in the
//! interpreter knows which one it runs on.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::sync::Locked;
use crate::term::{Symbol, Term};

/// A peer's name in an interaction: an atom in the model (`a(bidder, h1)`).
pub type PeerId = Symbol;

/// A message as delivered: who sent it, and the (ground) message term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub from: PeerId,
    pub message: Term,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("no peer `{0}` takes part in this interaction")]
    UnknownPeer(PeerId),
    #[error("the channel of `{0}` is closed")]
    Closed(PeerId),
    #[error("transport error: {0}")]
    Transport(String),
}

/// The transport of one peer.
pub trait Channel: Send {
    /// Sends `message` to peer `to`. Delivery to a peer that has finished is
    /// not an error (the message is dropped, as on a bus).
    fn send(
        &self,
        to: &PeerId,
        message: Term,
    ) -> impl Future<Output = Result<(), ChannelError>> + Send;

    /// The next message addressed to this peer. Must be cancel-safe: the
    /// interpreter races it against deadlines and drops it when a deadline
    /// comes first, and no message may be lost when that happens.
    fn recv(&mut self) -> impl Future<Output = Result<Envelope, ChannelError>> + Send;
}

/// In-process message routing: one mailbox per peer id.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    peers: Arc<Mutex<HashMap<PeerId, mpsc::UnboundedSender<Envelope>>>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Opens the channel of peer `me`. A peer that joins but never reads
    /// (a host that went silent) still accepts messages.
    pub fn join(&self, me: PeerId) -> HubChannel {
        let (tx, rx) = mpsc::unbounded_channel();
        self.lock().insert(me.clone(), tx);
        HubChannel {
            me,
            hub: self.clone(),
            inbox: rx,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, mpsc::UnboundedSender<Envelope>>> {
        // A panic while holding this lock cannot leave the map half-updated
        // (every critical section is one insert or one clone), so a poisoned
        // lock is still usable.
        self.peers.locked()
    }
}

/// One peer's end of a [`Hub`].
#[derive(Debug)]
pub struct HubChannel {
    me: PeerId,
    hub: Hub,
    inbox: mpsc::UnboundedReceiver<Envelope>,
}

impl HubChannel {
    pub fn me(&self) -> &PeerId {
        &self.me
    }
}

impl Channel for HubChannel {
    async fn send(&self, to: &PeerId, message: Term) -> Result<(), ChannelError> {
        let mailbox = self
            .hub
            .lock()
            .get(to)
            .cloned()
            .ok_or_else(|| ChannelError::UnknownPeer(to.clone()))?;
        // The receiver is gone when that peer has finished: dropped, as on a bus.
        let _ = mailbox.send(Envelope {
            from: self.me.clone(),
            message,
        });
        Ok(())
    }

    async fn recv(&mut self) -> Result<Envelope, ChannelError> {
        self.inbox
            .recv()
            .await
            .ok_or_else(|| ChannelError::Closed(self.me.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_reach_the_addressed_peer_stamped_with_the_sender() {
        let hub = Hub::new();
        let a = hub.join(Symbol::new("a"));
        let mut b = hub.join(Symbol::new("b"));
        a.send(&Symbol::new("b"), Term::atom("hello"))
            .await
            .unwrap();
        let got = b.recv().await.unwrap();
        assert_eq!(got.from, Symbol::new("a"));
        assert_eq!(got.message, Term::atom("hello"));
        let err = a
            .send(&Symbol::new("nobody"), Term::atom("x"))
            .await
            .unwrap_err();
        assert_eq!(err, ChannelError::UnknownPeer(Symbol::new("nobody")));
    }
}
