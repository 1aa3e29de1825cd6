//! An endpoint that counts the messages it sends, so a run can say what an
//! interaction cost on the wire ("messages per trade" in `market simulate`
//! and in the benchmarks).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::time::Instant;

use super::{Bus, BusError, Message, Subscription};

/// Another endpoint, unchanged, except that every message it sends adds one
/// to a counter.
///
/// A publication counts one and so does a request (its message; the reply
/// is counted by the endpoint that answers, if that one counts too).
/// Subscribing and [`Bus::sync`] send no message of bourse's and count
/// nothing. Endpoints built on clones of one counter add to the same
/// count, which is how a whole simulated cluster is counted at once.
pub struct CountingBus {
    inner: Arc<dyn Bus>,
    sent: Arc<AtomicU64>,
}

impl CountingBus {
    /// Counts what `inner` sends into `sent`; read it with
    /// [`CountingBus::read`].
    pub fn new(inner: Arc<dyn Bus>, sent: Arc<AtomicU64>) -> CountingBus {
        CountingBus { inner, sent }
    }

    /// The messages counted so far in `sent`, by every endpoint sharing it.
    pub fn read(sent: &AtomicU64) -> u64 {
        // Relaxed: the count is a statistic read between interactions, not
        // a synchronisation point.
        sent.load(Ordering::Relaxed)
    }

    fn count(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }
}

impl Bus for CountingBus {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        self.count();
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
        self.count();
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
        let sent = Arc::new(AtomicU64::new(0));
        let a = CountingBus::new(Arc::new(bus.clone()), Arc::clone(&sent));
        let b = CountingBus::new(Arc::new(bus.clone()), Arc::clone(&sent));
        let mut echo = b.subscribe("echo").await.unwrap();
        b.sync().await.unwrap();
        assert_eq!(CountingBus::read(&sent), 0, "subscribing sends nothing");

        a.publish("x", Bytes::from_static(b"1")).await.unwrap();
        b.publish("y", Bytes::from_static(b"2")).await.unwrap();
        assert_eq!(CountingBus::read(&sent), 2);

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
        assert_eq!(CountingBus::read(&sent), 3);
    }
}
