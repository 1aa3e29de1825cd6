//! The in-process bus: NATS semantics without a server.
//!
//! A [`MemoryBus`] is the whole broker; its clones are endpoints of the same
//! broker (like several connections to one nats-server). Routing is done at
//! publish time under one lock, through a token tree (`sublist.rs`): every
//! matching plain subscription gets the message, and of each matching queue
//! group one member, chosen in turn.
//! Like a NATS client, a subscription buffers at most
//! [`SUBSCRIPTION_CAPACITY`] messages; beyond that a slow subscriber loses
//! messages (counted as `bourse_messages_dropped_total{reason="slow_consumer"}`)
//! instead of slowing everyone down.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use lcc::sync::Locked;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::pattern::{self, Pattern};
use super::sublist::Sublist;
use super::{Bus, BusError, DEFAULT_MAX_PAYLOAD, Message, Subscription};

/// How many undelivered messages a subscription holds: async-nats's default.
pub const SUBSCRIPTION_CAPACITY: usize = 64 * 1024;

/// An in-process broker; clone it to get more endpoints of the same bus.
#[derive(Clone)]
pub struct MemoryBus {
    router: Arc<Router>,
}

struct Router {
    subscriptions: Mutex<Subscriptions>,
    /// Source of subscription ids and inbox names.
    next_id: AtomicU64,
    /// Picks the member of a queue group that gets the next message.
    next_member: AtomicU64,
    max_payload: usize,
}

/// Every subscription, and the index that finds the ones a subject matches.
#[derive(Default)]
struct Subscriptions {
    entries: HashMap<u64, Entry>,
    index: Sublist,
}

struct Entry {
    pattern: Pattern,
    queue_group: Option<String>,
    sender: mpsc::Sender<Message>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    /// A bus that accepts payloads up to [`DEFAULT_MAX_PAYLOAD`], like a
    /// nats-server with its default configuration.
    pub fn new() -> Self {
        Self::with_max_payload(DEFAULT_MAX_PAYLOAD)
    }

    pub fn with_max_payload(max_payload: usize) -> Self {
        Self {
            router: Arc::new(Router {
                subscriptions: Mutex::new(Subscriptions::default()),
                next_id: AtomicU64::new(1),
                next_member: AtomicU64::new(0),
                max_payload,
            }),
        }
    }

    fn add(&self, pattern: &str, queue_group: Option<&str>) -> Result<Subscription, BusError> {
        let pattern = Pattern::parse(pattern)?;
        if let Some(group) = queue_group {
            pattern::check_queue_group(group)?;
        }
        let (sender, receiver) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        let id = self.router.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subscriptions = self.router.lock();
        subscriptions.index.insert(&pattern, id);
        subscriptions.entries.insert(
            id,
            Entry {
                pattern,
                queue_group: queue_group.map(str::to_owned),
                sender,
            },
        );
        drop(subscriptions);
        Ok(Subscription::new(Receiver {
            receiver,
            id,
            router: Arc::clone(&self.router),
        }))
    }

    fn check_payload(&self, payload: &Bytes) -> Result<(), BusError> {
        if payload.len() > self.router.max_payload {
            return Err(BusError::PayloadTooLarge {
                size: payload.len(),
                max: self.router.max_payload,
            });
        }
        Ok(())
    }

    async fn request_inner(
        &self,
        subject: &str,
        payload: Bytes,
        deadline: Instant,
    ) -> Result<Message, BusError> {
        pattern::check_publish(subject)?;
        self.check_payload(&payload)?;
        let inbox = format!(
            "_INBOX.memory.{}",
            self.router.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let mut replies = self.add(&inbox, None)?;
        let message = Message {
            subject: subject.to_owned(),
            payload,
            reply: Some(inbox),
        };
        if self.router.route(message) == 0 {
            return Err(BusError::NoResponders {
                subject: subject.to_owned(),
            });
        }
        match tokio::time::timeout_at(deadline, replies.next()).await {
            Ok(Some(reply)) => Ok(reply),
            // The router holds the sender until `replies` is dropped, so the
            // stream cannot end first; only the deadline ends the wait.
            Ok(None) | Err(_) => Err(BusError::TimedOut {
                subject: subject.to_owned(),
            }),
        }
    }
}

impl Router {
    fn lock(&self) -> MutexGuard<'_, Subscriptions> {
        // Routing never panics while holding the lock; if something else
        // did, the map itself is still consistent.
        self.subscriptions.locked()
    }

    /// Delivers `message` and returns how many subscriptions and queue
    /// groups it matched (zero means "no responders").
    fn route(&self, message: Message) -> usize {
        let subscriptions = self.lock();
        let mut ids = subscriptions.index.matching(&message.subject);
        // In subscription order, so that queue group turns are predictable.
        ids.sort_unstable();
        let mut groups: HashMap<&str, Vec<&Entry>> = HashMap::new();
        let mut matched = 0;
        for entry in ids.iter().filter_map(|id| subscriptions.entries.get(id)) {
            match &entry.queue_group {
                Some(group) => groups.entry(group).or_default().push(entry),
                None => {
                    matched += 1;
                    deliver(entry, message.clone());
                }
            }
        }
        for members in groups.values() {
            matched += 1;
            let turn = self.next_member.fetch_add(1, Ordering::Relaxed);
            let chosen = members[(turn % members.len() as u64) as usize];
            deliver(chosen, message.clone());
        }
        matched
    }
}

fn deliver(entry: &Entry, message: Message) {
    if let Err(mpsc::error::TrySendError::Full(message)) = entry.sender.try_send(message) {
        metrics::counter!("bourse_messages_dropped_total", "reason" => "slow_consumer")
            .increment(1);
        tracing::warn!(subject = %message.subject, "slow subscriber: message dropped");
    }
}

/// The receiving end of one subscription; unsubscribes when dropped.
struct Receiver {
    receiver: mpsc::Receiver<Message>,
    id: u64,
    router: Arc<Router>,
}

impl Stream for Receiver {
    type Item = Message;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut subscriptions = self.router.lock();
        if let Some(entry) = subscriptions.entries.remove(&self.id) {
            subscriptions.index.remove(&entry.pattern, self.id);
        }
    }
}

impl Bus for MemoryBus {
    fn publish<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        async move {
            pattern::check_publish(subject)?;
            self.check_payload(&payload)?;
            self.router.route(Message {
                subject: subject.to_owned(),
                payload,
                reply: None,
            });
            Ok(())
        }
        .boxed()
    }

    fn subscribe<'a>(&'a self, pattern: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>> {
        async move { self.add(pattern, None) }.boxed()
    }

    fn queue_subscribe<'a>(
        &'a self,
        pattern: &'a str,
        group: &'a str,
    ) -> BoxFuture<'a, Result<Subscription, BusError>> {
        async move { self.add(pattern, Some(group)) }.boxed()
    }

    fn request<'a>(
        &'a self,
        subject: &'a str,
        payload: Bytes,
        deadline: Instant,
    ) -> BoxFuture<'a, Result<Message, BusError>> {
        self.request_inner(subject, payload, deadline).boxed()
    }

    /// Routing happens inside `publish` and `subscribe`, so there is never
    /// anything in flight.
    fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
        async { Ok(()) }.boxed()
    }
}
