//! One behaviour, two buses: every test of `suite` runs against the
//! in-process `MemoryBus` and against `NatsBus` connected to a real
//! `nats-server` (started on a free loopback port, killed by pid).
//!
//! "Does not receive" is checked without sleeping: after the messages under
//! test, the publisher sends one end marker per subscription; messages from
//! one publisher arrive in order, so when a subscriber sees its marker it has
//! seen everything it was ever going to get.

// Test helpers outside #[test] functions unwrap too: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use market::bus::{
    Bus, BusError, DEFAULT_MAX_PAYLOAD, LocalNatsServer, Message, NatsBus, NatsConfig, Subscription,
};
use tokio::time::Instant;

mod bus_support;
use bus_support::{Cluster, MemoryCluster, NatsCluster};

/// Upper bound for anything a test waits for; reached only when broken.
const PATIENCE: Duration = Duration::from_secs(5);

async fn next(subscription: &mut Subscription) -> Message {
    tokio::time::timeout(PATIENCE, subscription.next())
        .await
        .expect("no message in time")
        .expect("subscription ended")
}

fn deadline(after: Duration) -> Instant {
    Instant::now() + after
}

/// Reads until the end marker `end-<index>`; returns the other subjects seen
/// (markers meant for other subscriptions are skipped).
async fn subjects_until_marker(subscription: &mut Subscription, index: usize) -> Vec<String> {
    let marker = format!("end-{index}");
    let mut seen = Vec::new();
    loop {
        let message = next(subscription).await;
        if message.payload == marker.as_bytes() {
            return seen;
        }
        if !message.payload.starts_with(b"end-") {
            seen.push(message.subject);
        }
    }
}

mod suite {
    use super::*;

    pub async fn wildcards_match_like_nats(cluster: &impl Cluster) {
        let (listener, publisher) = (cluster.endpoint().await, cluster.endpoint().await);
        // (pattern, a subject that matches it for the end marker, expected)
        let cases: [(&str, &str, &[&str]); 5] = [
            ("w.a.b.c", "w.a.b.c", &["w.a.b.c"]),
            ("w.a.*.c", "w.a.x.c", &["w.a.b.c", "w.a.x.c"]),
            (
                "w.a.>",
                "w.a.x",
                &["w.a.b.c", "w.a.x.c", "w.a.b", "w.a.b.c.d"],
            ),
            ("w.*", "w.x", &["w.a", "w.x"]),
            (
                "w.>",
                "w.x",
                &[
                    "w.a.b.c",
                    "w.a.x.c",
                    "w.a.b",
                    "w.a",
                    "w.a.b.c.d",
                    "w.b.b.c",
                    "w.x",
                ],
            ),
        ];
        let mut subscriptions = Vec::new();
        for (pattern, _, _) in &cases {
            subscriptions.push(listener.subscribe(pattern).await.unwrap());
        }
        listener.sync().await.unwrap();
        let published = [
            "w.a.b.c",
            "w.a.x.c",
            "w.a.b",
            "w.a",
            "w.a.b.c.d",
            "w.b.b.c",
            "w.x",
            "v.a.b.c",
        ];
        for subject in published {
            publisher.publish(subject, Bytes::new()).await.unwrap();
        }
        for (i, (_, marker, _)) in cases.iter().enumerate() {
            let payload = Bytes::from(format!("end-{i}"));
            publisher.publish(marker, payload).await.unwrap();
        }
        for (i, (pattern, _, expected)) in cases.iter().enumerate() {
            let seen = subjects_until_marker(&mut subscriptions[i], i).await;
            assert_eq!(seen, *expected, "pattern {pattern}");
        }
    }

    pub async fn messages_from_one_publisher_arrive_in_order(cluster: &impl Cluster) {
        let (listener, publisher) = (cluster.endpoint().await, cluster.endpoint().await);
        let mut subscription = listener.subscribe("order.>").await.unwrap();
        listener.sync().await.unwrap();
        for i in 0..500u32 {
            let subject = format!("order.{}", i % 7);
            publisher
                .publish(&subject, Bytes::from(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        for i in 0..500u32 {
            let message = next(&mut subscription).await;
            assert_eq!(message.payload.as_ref(), i.to_be_bytes());
            assert_eq!(message.subject, format!("order.{}", i % 7));
            assert_eq!(message.reply, None);
        }
    }

    pub async fn an_endpoint_hears_its_own_messages(cluster: &impl Cluster) {
        let bus = cluster.endpoint().await;
        let mut subscription = bus.subscribe("self.echo").await.unwrap();
        bus.publish("self.echo", Bytes::from_static(b"me"))
            .await
            .unwrap();
        assert_eq!(next(&mut subscription).await.payload, "me");
    }

    pub async fn a_queue_group_delivers_each_message_to_one_member(cluster: &impl Cluster) {
        let publisher = cluster.endpoint().await;
        let mut members = Vec::new();
        for _ in 0..3 {
            let member = cluster.endpoint().await;
            let subscription = member.queue_subscribe("work.*", "workers").await.unwrap();
            member.sync().await.unwrap();
            members.push((member, subscription));
        }
        let watcher = cluster.endpoint().await;
        let mut everything = watcher.subscribe("work.*").await.unwrap();
        watcher.sync().await.unwrap();

        const N: u32 = 60;
        for i in 0..N {
            publisher
                .publish("work.item", Bytes::from(i.to_string()))
                .await
                .unwrap();
        }
        // The plain subscriber gets every message.
        for i in 0..N {
            assert_eq!(next(&mut everything).await.payload, i.to_string());
        }
        // The group, between its members, gets each message exactly once.
        let mut per_member = HashMap::new();
        let mut merged = futures::stream::select_all(
            members
                .into_iter()
                .enumerate()
                .map(|(i, (_, s))| s.map(move |m| (i, m))),
        );
        let mut received = BTreeSet::new();
        for _ in 0..N {
            let (member, message) = tokio::time::timeout(PATIENCE, merged.next())
                .await
                .unwrap()
                .unwrap();
            *per_member.entry(member).or_insert(0) += 1;
            let value: u32 = std::str::from_utf8(&message.payload)
                .unwrap()
                .parse()
                .unwrap();
            assert!(received.insert(value), "message {value} delivered twice");
        }
        assert_eq!(received, (0..N).collect());
        // Work is spread: with random or round-robin choice, more than one
        // member gets some (all 60 to one member: probability 3 * 3^-60).
        assert!(per_member.len() > 1, "{per_member:?}");
    }

    pub async fn a_request_gets_its_reply(cluster: &impl Cluster) {
        let (server, client) = (cluster.endpoint().await, cluster.endpoint().await);
        let mut requests = server.subscribe("svc.upper").await.unwrap();
        server.sync().await.unwrap();
        let responder = tokio::spawn(async move {
            let request = next(&mut requests).await;
            let reply = request.reply.expect("a request carries a reply subject");
            let answer = request.payload.to_ascii_uppercase();
            server.publish(&reply, Bytes::from(answer)).await.unwrap();
            // This endpoint is dropped next: make sure the answer has left.
            server.sync().await.unwrap();
        });
        let reply = client
            .request("svc.upper", Bytes::from_static(b"bid"), deadline(PATIENCE))
            .await
            .unwrap();
        assert_eq!(reply.payload, "BID");
        responder.await.unwrap();
    }

    pub async fn a_request_to_a_queue_group_is_answered_once(cluster: &impl Cluster) {
        let client = cluster.endpoint().await;
        let mut responders = Vec::new();
        for name in ["r1", "r2"] {
            let bus = cluster.endpoint().await;
            let mut requests = bus.queue_subscribe("svc.who", "pool").await.unwrap();
            bus.sync().await.unwrap();
            responders.push(tokio::spawn(async move {
                while let Some(request) = requests.next().await {
                    let reply = request.reply.unwrap();
                    bus.publish(&reply, Bytes::from(name)).await.unwrap();
                }
            }));
        }
        for _ in 0..10 {
            let reply = client
                .request("svc.who", Bytes::new(), deadline(PATIENCE))
                .await
                .unwrap();
            assert!(reply.payload == "r1" || reply.payload == "r2");
        }
        for responder in responders {
            responder.abort();
        }
    }

    pub async fn a_request_nobody_listens_to_fails_at_once(cluster: &impl Cluster) {
        let client = cluster.endpoint().await;
        // The deadline is far: only a "no responders" answer ends this early,
        // and a bus that waited would report a timeout instead.
        let error = client
            .request(
                "svc.nobody",
                Bytes::new(),
                deadline(Duration::from_secs(30)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BusError::NoResponders { subject } if subject == "svc.nobody"),
            "{error}"
        );
    }

    pub async fn a_request_nobody_answers_times_out_at_its_deadline(cluster: &impl Cluster) {
        let (silent, client) = (cluster.endpoint().await, cluster.endpoint().await);
        let _requests = silent.subscribe("svc.silent").await.unwrap();
        silent.sync().await.unwrap();
        let deadline = deadline(Duration::from_millis(200));
        let error = client
            .request("svc.silent", Bytes::new(), deadline)
            .await
            .unwrap_err();
        assert!(
            matches!(&error, BusError::TimedOut { subject } if subject == "svc.silent"),
            "{error}"
        );
        assert!(Instant::now() >= deadline);
    }

    pub async fn dropping_a_subscription_unsubscribes(cluster: &impl Cluster) {
        let (server, client) = (cluster.endpoint().await, cluster.endpoint().await);
        let subscription = server.subscribe("svc.gone").await.unwrap();
        drop(subscription);
        server.sync().await.unwrap();
        let error = client
            .request("svc.gone", Bytes::new(), deadline(Duration::from_secs(30)))
            .await
            .unwrap_err();
        assert!(matches!(error, BusError::NoResponders { .. }), "{error}");
    }

    pub async fn malformed_subjects_and_groups_are_refused(cluster: &impl Cluster) {
        let bus = cluster.endpoint().await;
        for subject in ["", "a..b", "a.", "a b", "a.*", "a.>"] {
            let error = bus.publish(subject, Bytes::new()).await.unwrap_err();
            assert!(
                matches!(error, BusError::InvalidSubject { .. }),
                "{subject:?}: {error}"
            );
            let error = bus
                .request(subject, Bytes::new(), deadline(PATIENCE))
                .await
                .unwrap_err();
            assert!(
                matches!(error, BusError::InvalidSubject { .. }),
                "{subject:?}: {error}"
            );
        }
        for pattern in ["", "a..b", ".a", "a b", "a.>.b"] {
            let error = bus.subscribe(pattern).await.unwrap_err();
            assert!(
                matches!(error, BusError::InvalidSubject { .. }),
                "{pattern:?}: {error}"
            );
        }
        for group in ["", "two words"] {
            let error = bus.queue_subscribe("a.b", group).await.unwrap_err();
            assert!(
                matches!(error, BusError::InvalidQueueGroup { .. }),
                "{group:?}: {error}"
            );
        }
    }

    pub async fn oversized_payloads_are_refused(cluster: &impl Cluster) {
        let bus = cluster.endpoint().await;
        let _listener = bus.subscribe("big").await.unwrap();
        let fits = Bytes::from(vec![0u8; DEFAULT_MAX_PAYLOAD / 2]);
        bus.publish("big", fits).await.unwrap();
        let too_big = Bytes::from(vec![0u8; DEFAULT_MAX_PAYLOAD + 1]);
        let error = bus.publish("big", too_big.clone()).await.unwrap_err();
        assert!(
            matches!(error, BusError::PayloadTooLarge { size, max } if size == DEFAULT_MAX_PAYLOAD + 1 && max == DEFAULT_MAX_PAYLOAD),
            "{error}"
        );
        let error = bus
            .request("big", too_big, deadline(PATIENCE))
            .await
            .unwrap_err();
        assert!(matches!(error, BusError::PayloadTooLarge { .. }), "{error}");
    }
}

/// Declares each test once and runs it against both buses.
macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod memory {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    suite::$test(&MemoryCluster::new()).await;
                }
            )*
        }
        mod nats {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    suite::$test(&NatsCluster::start()).await;
                }
            )*
        }
    };
}

conformance!(
    wildcards_match_like_nats,
    messages_from_one_publisher_arrive_in_order,
    an_endpoint_hears_its_own_messages,
    a_queue_group_delivers_each_message_to_one_member,
    a_request_gets_its_reply,
    a_request_to_a_queue_group_is_answered_once,
    a_request_nobody_listens_to_fails_at_once,
    a_request_nobody_answers_times_out_at_its_deadline,
    dropping_a_subscription_unsubscribes,
    malformed_subjects_and_groups_are_refused,
    oversized_payloads_are_refused,
);

/// What only a bus with a server can show: a restarted server. The client
/// reconnects with its backoff and renews its subscriptions by itself.
#[tokio::test]
async fn nats_bus_survives_a_server_restart() {
    let mut server = LocalNatsServer::start().unwrap();
    let cluster_url = server.url();
    let config = NatsConfig::new([cluster_url], "restart");
    let listener = NatsBus::connect(&config).await.unwrap();
    let publisher = NatsBus::connect(&config).await.unwrap();
    let mut subscription = listener.subscribe("after.restart").await.unwrap();
    listener.sync().await.unwrap();

    server.restart().unwrap();

    // Until both clients are back, messages may be lost: publish until one
    // arrives, then check the bus is whole again.
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no reconnection"
        );
        let _ = publisher
            .publish("after.restart", Bytes::from_static(b"hello"))
            .await;
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(100), subscription.next()).await
        {
            assert_eq!(message.payload, "hello");
            break;
        }
    }
    publisher.sync().await.unwrap();
    listener.sync().await.unwrap();
}
