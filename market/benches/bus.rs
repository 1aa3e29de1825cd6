//! Request/reply round trips over the two buses, with raw async-nats as the
//! floor: what one LCC exchange costs at least, and what the `Bus` layer
//! adds on top of the client library.
//!
//! `cargo bench -p market --bench bus` (starts its own nats-server on a
//! free loopback port; figures in docs/benchmarks.md, section "Bus").

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use market::bus::{Bus, LocalNatsServer, MemoryBus, NatsBus, NatsConfig};

const SUBJECT: &str = "bench.echo";
/// Served by a raw async-nats responder, for the floor.
const RAW_SUBJECT: &str = "bench.raw";
/// About the size of an LCC proposal in its envelope.
const PAYLOAD: &[u8] = &[7u8; 128];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Answers every request on `SUBJECT` with its own payload.
async fn serve_echo(bus: Arc<dyn Bus>) {
    let mut requests = bus.subscribe(SUBJECT).await.expect("subscribe");
    bus.sync().await.expect("sync");
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = bus.publish(&reply, request.payload).await;
            }
        }
    });
}

/// The floor's responder: async-nats with nothing of ours in between.
async fn serve_raw_echo(client: async_nats::Client) {
    let mut requests = client.subscribe(RAW_SUBJECT).await.expect("subscribe");
    // A request from another connection must not race this subscription.
    client.flush().await.expect("flush");
    let probe = client.request("bench.none", Bytes::new()).await;
    assert!(probe.is_err(), "nobody serves bench.none");
    tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = client.publish(reply, request.payload).await;
            }
        }
    });
}

/// Times `iterations` sequential requests through a `Bus`.
async fn bus_round_trips(bus: &dyn Bus, iterations: u64) -> Duration {
    let payload = Bytes::from_static(PAYLOAD);
    let started = Instant::now();
    for _ in 0..iterations {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        bus.request(SUBJECT, payload.clone(), deadline)
            .await
            .expect("a reply");
    }
    started.elapsed()
}

fn request_reply(c: &mut Criterion) {
    let rt = runtime();
    let server = LocalNatsServer::start().expect("nats-server");
    let config = NatsConfig::new([server.url()], "bench");

    let (nats_client, raw) = rt.block_on(async {
        let client = NatsBus::connect(&config).await.expect("connect");
        let responder = NatsBus::connect(&config).await.expect("connect");
        serve_echo(Arc::new(responder)).await;
        let raw = async_nats::connect(server.url()).await.expect("connect");
        serve_raw_echo(async_nats::connect(server.url()).await.expect("connect")).await;
        (client, raw)
    });
    let memory = MemoryBus::new();
    rt.block_on(serve_echo(Arc::new(memory.clone())));

    let mut group = c.benchmark_group("request_reply");
    group.bench_function("raw async-nats (floor)", |b| {
        b.iter_custom(|iterations| {
            rt.block_on(async {
                let started = Instant::now();
                for _ in 0..iterations {
                    raw.request(RAW_SUBJECT, Bytes::from_static(PAYLOAD))
                        .await
                        .expect("a reply");
                }
                started.elapsed()
            })
        })
    });
    group.bench_function("NatsBus", |b| {
        b.iter_custom(|iterations| rt.block_on(bus_round_trips(&nats_client, iterations)))
    });
    group.bench_function("MemoryBus", |b| {
        b.iter_custom(|iterations| rt.block_on(bus_round_trips(&memory, iterations)))
    });
    group.finish();
}

criterion_group!(benches, request_reply);
criterion_main!(benches);
