//! An endpoint that counts the messages it sends and their bytes, so a run
//! can say what an interaction cost on the wire ("messages per trade" and
//! "bytes per round" in `market simulate` and in the benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::{Bus, BusError, Message, Subscription};

/// Another endpoint, unchanged, except that every message it sends adds one
/// to a [`Traffic`] count, and its payload's bytes to another.
///
/// A publication counts one and so does a request (its message; the reply
/// is counted by the endpoint that answers, if that one counts too).
/// Subscribing and [`Bus::sync`] send no message of bourse's and count
/// nothing. Endpoints sharing one [`Traffic`] add to the same counts,
/// which is how a whole simulated cluster is counted at once.
pub struct CountingBus {
    inner: Arc<dyn Bus>,
    sent: Arc<Traffic>,
}

/// What endpoints sent, counted as they send it.
#[derive(Debug, Default)]
pub struct Traffic {
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl Traffic {
    /// The counts so far, by every endpoint sharing this.
    pub fn read(&self) -> Sent {
        // Relaxed: the counts are statistics read between interactions,
        // not a synchronisation point.
        Sent {
            messages: self.messages.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// Messages sent and their payloads' bytes (subjects and headers aside).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Messages.
    pub messages: u64,
    /// Payload bytes.
    pub bytes: u64,
}

impl std::ops::Sub for Sent {
    type Output = Sent;

    /// What was sent between two readings (`later - earlier`).
    fn sub(self, earlier: Sent) -> Sent {
        Sent {
            messages: self.messages - earlier.messages,
            bytes: self.bytes - earlier.bytes,
        }
    }
}

impl CountingBus {
    /// Counts what `inner` sends into `sent`; read it with
    /// [`Traffic::read`].
    pub fn new(inner: Arc<dyn Bus>, sent: Arc<Traffic>) -> CountingBus {
        CountingBus { inner, sent }
    }

    fn count(&self, payload: &Bytes) {
        self.sent.messages.fetch_add(1, Ordering::Relaxed);
        self.sent
            .bytes
            .fetch_add(payload.len() as u64, Ordering::Relaxed);
    }
}

impl Bus for CountingBus {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        self.count(&payload);
        self.inner.publish(subject, payload)
    }

    fn subscribe<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.subscribe(pattern)
    }

    fn queue_subscribe<'a>(
        &'a self,
        pattern: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        self.inner.queue_subscribe(pattern, group)
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>> {
        self.count(&payload);
        self.inner.request(subject, payload, deadline)
    }

    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        self.inner.sync()
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::bus::MemoryBus;

    #[tokio::test]
    async fn endpoints_sharing_a_counter_count_every_message_sent_and_nothing_else() {
        let bus = MemoryBus::new();
        let sent = Arc::new(Traffic::default());
        let a = CountingBus::new(Arc::new(bus.clone()), Arc::clone(&sent));
        let b = CountingBus::new(Arc::new(bus.clone()), Arc::clone(&sent));
        let mut echo = b.subscribe("echo").await.unwrap();
        b.sync().await.unwrap();
        assert_eq!(sent.read(), Sent::default(), "subscribing sends nothing");

        a.publish("x", Bytes::from_static(b"1")).await.unwrap();
        b.publish("y", Bytes::from_static(b"22")).await.unwrap();
        assert_eq!(
            sent.read(),
            Sent {
                messages: 2,
                bytes: 3
            }
        );

        // A request counts one at the asker; the reply, sent by an
        // endpoint that does not count, adds nothing.
        let answerer = bus.clone();
        let reply = tokio::spawn(async move {
            let message = echo.next().await.unwrap();
            let to = message.reply.unwrap();
            answerer.publish(&to, message.payload).await.unwrap();
        });
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let answer = a
            .request("echo", Bytes::from_static(b"3"), deadline)
            .await
            .unwrap();
        reply.await.unwrap();
        assert_eq!(answer.payload, Bytes::from_static(b"3"));
        assert_eq!(
            sent.read(),
            Sent {
                messages: 3,
                bytes: 4
            }
        );
    }
}
