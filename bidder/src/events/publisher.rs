//! The bounded queue between the trading loop and the bus.

use std::sync::Arc;

use lcc::interp::Clock;
use market::bus::subject::{HostName, Route, SubjectSpace};
use market::bus::{Bus, NatsBus, NatsConfig};
use market::events::{HostStatus, TradeEvent};
use market::wire::{Envelope, WireLimits, encode};
use tokio::sync::{mpsc, oneshot};

/// Events queued before new ones are dropped: a few minutes of a host's
/// status and trades, far more than a healthy bus ever holds back.
pub const DEFAULT_QUEUE: usize = 1024;

/// One event waiting for the bus.
#[derive(Debug)]
enum Outgoing {
    Status(HostStatus),
    Trade(TradeEvent),
    /// Answered once everything queued before it has been handed to the
    /// bus (or dropped).
    Flush(oneshot::Sender<()>),
}

/// Hands a host's events to the bus without waiting for it. Cheap to clone:
/// the agent, its workflow and the daemon's loop share one queue.
#[derive(Clone)]
pub struct Publisher {
    queue: mpsc::Sender<Outgoing>,
    clock: Arc<dyn Clock>,
    space: SubjectSpace,
    me: HostName,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").field("me", &self.me).finish()
    }
}

impl Publisher {
    /// Publishes `me`'s events on `bus` (the connection the host trades
    /// over), holding at most `queue` of them. The background task ends
    /// when every clone of the publisher is dropped.
    pub fn start(
        bus: Arc<dyn Bus>,
        space: SubjectSpace,
        me: HostName,
        clock: Arc<dyn Clock>,
        queue: usize,
    ) -> Publisher {
        let (publisher, receiver) = Publisher::new(space, me, clock, queue);
        let forwarding = Forwarder::new(&publisher, bus);
        tokio::spawn(forwarding.run(receiver));
        publisher
    }

    /// Publishes on a connection of its own (a monitoring server apart from
    /// the trading one), connecting in the background and again with the
    /// configuration's backoff while it cannot: events that arrive
    /// meanwhile are dropped as `unreachable`.
    pub fn connect(
        config: NatsConfig,
        space: SubjectSpace,
        me: HostName,
        clock: Arc<dyn Clock>,
        queue: usize,
    ) -> Publisher {
        let (publisher, mut receiver) = Publisher::new(space, me, clock, queue);
        let space = publisher.space.clone();
        let me = publisher.me.clone();
        tokio::spawn(async move {
            let mut attempt = 0;
            let bus = loop {
                let connected = dropping(&mut receiver, "unreachable", NatsBus::connect(&config));
                match connected.await {
                    None => return,
                    Some(Ok(bus)) => break bus,
                    Some(Err(e)) => {
                        attempt += 1;
                        if attempt == 1 {
                            tracing::warn!(error = %e, "cannot reach the events server; events are dropped until it answers");
                        }
                        let wait = tokio::time::sleep(config.reconnect.delay(attempt));
                        if dropping(&mut receiver, "unreachable", wait).await.is_none() {
                            return;
                        }
                    }
                }
            };
            tracing::info!("events connection established");
            let forwarder = Forwarder {
                bus: Arc::new(bus),
                space,
                me,
                sequence: 0,
            };
            forwarder.run(receiver).await;
        });
        publisher
    }

    fn new(
        space: SubjectSpace,
        me: HostName,
        clock: Arc<dyn Clock>,
        queue: usize,
    ) -> (Publisher, mpsc::Receiver<Outgoing>) {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        let publisher = Publisher {
            queue: sender,
            clock,
            space,
            me,
        };
        (publisher, receiver)
    }

    /// The host whose events these are.
    pub fn host(&self) -> &HostName {
        &self.me
    }

    /// Its zone's subjects.
    pub fn space(&self) -> &SubjectSpace {
        &self.space
    }

    /// The host's clock, for the `at_ms` of its events.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Queues the host's status; drops it (counted) when the queue is full.
    pub fn status(&self, status: HostStatus) {
        self.enqueue(Outgoing::Status(status));
    }

    /// Queues a trade event; drops it (counted) when the queue is full.
    pub fn trade(&self, event: TradeEvent) {
        self.enqueue(Outgoing::Trade(event));
    }

    /// Returns once every event queued before has been handed to the bus
    /// or dropped: before a process that publishes stops.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Outgoing::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    fn enqueue(&self, event: Outgoing) {
        match self.queue.try_send(event) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => dropped("queue_full"),
            Err(mpsc::error::TrySendError::Closed(_)) => dropped("stopped"),
        }
    }
}

/// Counts one event that will never be published.
fn dropped(reason: &'static str) {
    metrics::counter!("bourse_events_dropped_total", "reason" => reason).increment(1);
    tracing::debug!(reason, "event dropped");
}

/// Runs `work` while dropping (and counting) every event that arrives;
/// `None` once every publisher is gone.
async fn dropping<T>(
    receiver: &mut mpsc::Receiver<Outgoing>,
    reason: &'static str,
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::pin!(work);
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            event = receiver.recv() => match event {
                Some(Outgoing::Flush(done)) => {
                    let _ = done.send(());
                }
                Some(_) => dropped(reason),
                None => return None,
            },
        }
    }
}

/// The background half: envelopes and publishes what is queued, in order.
struct Forwarder {
    bus: Arc<dyn Bus>,
    space: SubjectSpace,
    me: HostName,
    /// Counts this host's events, for the envelope.
    sequence: u64,
}

impl Forwarder {
    fn new(publisher: &Publisher, bus: Arc<dyn Bus>) -> Forwarder {
        Forwarder {
            bus,
            space: publisher.space.clone(),
            me: publisher.me.clone(),
            sequence: 0,
        }
    }

    async fn run(mut self, mut receiver: mpsc::Receiver<Outgoing>) {
        while let Some(event) = receiver.recv().await {
            self.publish(event).await;
        }
    }

    async fn publish(&mut self, event: Outgoing) {
        let sequence = self.sequence;
        let (route, kind, payload) = match &event {
            Outgoing::Status(status) => (
                Route::HostStatus {
                    host: self.me.clone(),
                },
                "status",
                encode(&self.envelope(sequence, status), &WireLimits::default()),
            ),
            Outgoing::Trade(trade) => (
                Route::Trades {
                    from: self.me.clone(),
                },
                "trade",
                encode(&self.envelope(sequence, trade), &WireLimits::default()),
            ),
            Outgoing::Flush(_) => {
                if let Outgoing::Flush(done) = event {
                    let _ = done.send(());
                }
                return;
            }
        };
        self.sequence += 1;
        let payload = match payload {
            Ok(payload) => payload,
            Err(e) => {
                tracing::warn!(error = %e, kind, "cannot encode an event");
                return dropped("too_large");
            }
        };
        let subject = self.space.subject(&route);
        match self.bus.publish(&subject, payload).await {
            Ok(()) => {
                metrics::counter!("bourse_events_published_total", "kind" => kind).increment(1);
            }
            Err(e) => {
                tracing::debug!(error = %e, subject, "event not published");
                dropped("publish_failed");
            }
        }
    }

    fn envelope<'a, T>(&self, sequence: u64, body: &'a T) -> Envelope<&'a T> {
        Envelope {
            sender: self.me.clone(),
            recipient: None,
            interaction: None,
            sequence,
            body,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use futures::future::BoxFuture;
    use futures::{FutureExt, StreamExt};
    use lcc::interp::TokioClock;
    use market::bus::subject::Token;
    use market::bus::{BusError, MemoryBus, Message, Subscription};
    use market::credits::Credits;
    use market::events::TradeState;
    use market::wire::Decoder;
    use tokio::time::Instant;

    use super::*;

    fn t(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn trade(state: TradeState) -> TradeEvent {
        TradeEvent {
            trade_id: "t1".into(),
            interaction_id: "t1".into(),
            protocol: "contract-net".into(),
            kind: market::events::TradeKind::Migration,
            seller: t("h1"),
            buyer: t("h2"),
            vms: vec!["vm1".into()],
            price: Credits::from_micros(5),
            state,
            reason: None,
            since_agreed_ms: 0,
            migration_ms: None,
            at_ms: 0,
        }
    }

    /// A bus whose publishes never complete (`Stuck`) or always fail.
    enum Broken {
        Stuck,
        Refusing,
    }

    impl Bus for Broken {
        fn publish<'a>(
            &'a self,
            subject: &'a str,
            _: Bytes,
        ) -> BoxFuture<'a, Result<(), BusError>> {
            match self {
                Broken::Stuck => futures::future::pending().boxed(),
                Broken::Refusing => futures::future::ready(Err(BusError::Nats {
                    operation: "publish",
                    reason: format!("refused {subject}"),
                }))
                .boxed(),
            }
        }
        fn subscribe<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Subscription, BusError>> {
            unreachable!("the publisher never subscribes")
        }
        fn queue_subscribe<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Subscription, BusError>> {
            unreachable!("the publisher never subscribes")
        }
        fn request<'a>(
            &'a self,
            _: &'a str,
            _: Bytes,
            _: Instant,
        ) -> BoxFuture<'a, Result<Message, BusError>> {
            unreachable!("the publisher never requests")
        }
        fn sync(&self) -> BoxFuture<'_, Result<(), BusError>> {
            futures::future::ready(Ok(())).boxed()
        }
    }

    fn publisher(bus: Arc<dyn Bus>, queue: usize) -> Publisher {
        Publisher::start(
            bus,
            SubjectSpace::in_zone(t("z")),
            t("h1"),
            Arc::new(TokioClock::system()),
            queue,
        )
    }

    #[tokio::test]
    async fn events_go_out_in_envelopes_in_order() {
        let bus = MemoryBus::new();
        let mut trades = bus.subscribe("bourse.z.trades.h1").await.unwrap();
        let events = publisher(Arc::new(bus.clone()), 8);
        events.trade(trade(TradeState::Agreed));
        events.trade(trade(TradeState::Settled));
        events.flush().await;
        let decoder = Decoder::new(SubjectSpace::in_zone(t("z")), WireLimits::default());
        for (sequence, state) in [(0, TradeState::Agreed), (1, TradeState::Settled)] {
            let message = trades.next().await.unwrap();
            let envelope: Envelope<TradeEvent> =
                decoder.decode(&message.subject, &message.payload).unwrap();
            assert_eq!(envelope.sender, t("h1"));
            assert_eq!(envelope.sequence, sequence);
            assert_eq!(envelope.body.state, state);
        }
    }

    /// A stuck bus fills the queue; what does not fit is dropped at once
    /// and counted, and the caller never waits.
    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_waiting() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let events = publisher(Arc::new(Broken::Stuck), 2);
        // No await in between: the background task has not taken any yet.
        metrics::with_local_recorder(&recorder, || {
            for _ in 0..5 {
                events.trade(trade(TradeState::Agreed));
            }
        });
        let text = handle.render();
        assert!(
            text.contains(r#"bourse_events_dropped_total{reason="queue_full"} 3"#),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_refused_publish_is_counted() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // The background task counts, on this (the test runtime's only)
        // thread.
        let _guard = metrics::set_default_local_recorder(&recorder);
        let events = publisher(Arc::new(Broken::Refusing), 8);
        events.trade(trade(TradeState::Agreed));
        events.flush().await;
        let text = handle.render();
        assert!(
            text.contains(r#"bourse_events_dropped_total{reason="publish_failed"} 1"#),
            "{text}"
        );
    }
}
