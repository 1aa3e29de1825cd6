//! Front-end speed: lexing (the floor: every stage reads every token),
//! parsing, checking and formatting, on the contract-net model bourse runs
//! and on a generated model of 3,000 clauses (no real model is that big;
//! it shows that nothing in the front end grows faster than the input).
//!
//! Run: `cargo bench -p lcc-protocols --bench front_end`
//! (figures in docs/benchmarks.md, "LCC front end").
#![allow(clippy::unwrap_used)] // benchmark fixtures: a failure here is a failed run

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcc::check::check;
use lcc::pretty::format_source;
use lcc::syntax::{lexer::tokenize, parse};

const CONTRACT_NET: &str = lcc::models::CONTRACT_NET.source;

/// 3,000 roles in a ring, each sending to the next, receiving from the
/// previous with a deadline, and looping with a counter.
fn ring(clauses: usize) -> String {
    (0..clauses)
        .map(|i| {
            let next = (i + 1) % clauses;
            let previous = (i + clauses - 1) % clauses;
            format!(
                "a(r{i}(N), I) ::\n  m{i}(N) => a(r{next}(X), J) <- N > 0 then\n  \
                 (m{previous}(K) <= a(r{previous}(Y), J2) within 100 or null <- N = 0) then\n  \
                 a(r{i}(M), I) <- M is N - 1\n"
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn front_end(c: &mut Criterion) {
    for (name, source) in [
        ("contract_net", CONTRACT_NET.to_string()),
        ("ring_3000", ring(3000)),
    ] {
        let model = parse(&source).unwrap();
        assert!(check(&model).is_empty(), "{name} must check clean");
        let mut group = c.benchmark_group(format!("front_end/{name}"));
        group.throughput(Throughput::Bytes(source.len() as u64));
        group.measurement_time(Duration::from_secs(4));
        group.bench_function("tokenize_baseline", |b| {
            b.iter(|| tokenize(&source).unwrap())
        });
        group.bench_function("parse", |b| b.iter(|| parse(&source).unwrap()));
        group.bench_function("check", |b| b.iter(|| check(&model)));
        group.bench_function("fmt", |b| b.iter(|| format_source(&source).unwrap()));
        group.finish();
    }
}

criterion_group!(benches, front_end);
criterion_main!(benches);
