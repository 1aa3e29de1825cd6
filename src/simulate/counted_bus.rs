//! An endpoint that counts what it publishes, so the report can say how
//! many messages a trade cost. Every host's endpoint shares one counter.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use market::bus::{Bus, BusError, Message, Subscription};
use tokio::time::Instant;

/// A bus endpoint whose publications are counted.
pub struct CountedBus {
    inner: Arc<dyn Bus>,
    published: Arc<AtomicU64>,
}

impl CountedBus {
    /// Counts what `inner` publishes into `published`.
    pub fn new(inner: Arc<dyn Bus>, published: Arc<AtomicU64>) -> CountedBus {
        CountedBus { inner, published }
    }
}

/// Reads a shared publication counter.
pub fn read(published: &AtomicU64) -> u64 {
    published.load(Ordering::Relaxed)
}

impl Bus for CountedBus {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        self.published.fetch_add(1, Ordering::Relaxed);
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
        self.published.fetch_add(1, Ordering::Relaxed);
        self.inner.request(subject, payload, deadline)
    }

    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        self.inner.sync()
    }
}
