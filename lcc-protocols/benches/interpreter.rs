//! Interpreter speed: rewrite steps per second, and one whole contract-net
//! interaction with 100 contractors, beside a hand-written Rust contract net
//! over the same kind of channels (the floor no interpreter can beat).
//!
//! Run: `cargo bench -p lcc-protocols --bench interpreter`
//! (figures in docs/benchmarks.md, "LCC interpreter").
#![allow(clippy::unwrap_used)] // benchmark fixtures: a failure here is a failed run

use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lcc::ast::Mode;
use lcc::channel::Hub;
use lcc::compile::Program;
use lcc::component::{Components, Failure};
use lcc::interp::{Clock, Interaction, RoleInstance, TokioClock};
use lcc::term::{Symbol, Term};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

const LOOP: &str =
    "a(loop(N), X) :: null <- N = 0 or ( null <- N > 0 and M is N - 1 then a(loop(M), X) )";
const ITERATIONS: i64 = 100_000;
const CONTRACTORS: usize = 100;

fn one_core() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn compile(source: &str) -> Arc<Program> {
    Arc::new(Program::compile(&lcc::syntax::parse(source).unwrap()).unwrap())
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::system())
}

/// Steps of a role that only loops: the interpreter's own cost per rewrite.
fn loop_steps(c: &mut Criterion) {
    let rt = one_core();
    let program = compile(LOOP);
    // Two rewrites per iteration (the `null`, the role change) and the last.
    let steps = 2 * ITERATIONS as u64 + 1;
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(steps));
    group.bench_function("loop_steps", |b| {
        b.iter(|| {
            rt.block_on(async {
                let hub = Hub::new();
                let me = Symbol::new("looper");
                let mut instance = RoleInstance::start(
                    Arc::clone(&program),
                    Term::apply("loop", vec![Term::Int(ITERATIONS)]),
                    me.clone(),
                    &Components::new(),
                    clock(),
                    hub.join(me),
                )
                .unwrap();
                let done = instance.run().await.unwrap();
                assert_eq!(done.steps, steps);
            })
        })
    });
    group.finish();
}

fn contractor(pays: i64) -> Components {
    let mut c = Components::new();
    c.register_fn("offer", &[Mode::In, Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), args[1].clone(), Term::Int(pays)])
    });
    c.register_fn("perform", &[Mode::In, Mode::In], |_| Ok(vec![]));
    c.register_fn("release", &[Mode::In, Mode::In], |_| Ok(vec![]));
    c
}

/// The highest offer wins and pays it (the first-price rule, as the
/// baseline below computes it).
fn award(args: &[Term]) -> Result<Vec<Term>, Failure> {
    let bids = args[1].as_list().unwrap_or_default();
    let best = bids
        .into_iter()
        .max_by_key(|bid| match bid.args()[1] {
            Term::Int(pays) => pays,
            _ => i64::MIN,
        })
        .ok_or_else(|| Failure::no("no offer"))?;
    let (winner, pays) = (best.args()[0].clone(), best.args()[1].clone());
    Ok(vec![args[0].clone(), args[1].clone(), winner, pays])
}

fn manager() -> Components {
    let mut c = Components::new();
    c.register_fn("award", &[Mode::In, Mode::In, Mode::Out, Mode::Out], award);
    c.register_fn("outcome", &[Mode::In; 4], |args| match &args[3] {
        Term::Atom(a) if a.as_str() == "done" => Ok(vec![]),
        other => Err(Failure::broken(format!("unexpected outcome {other}"))),
    });
    c
}

/// One interaction of models/contract-net.lcc, every contractor answering.
async fn contract_net_lcc(program: &Arc<Program>) -> u64 {
    let names: Vec<String> = (0..CONTRACTORS).map(|i| format!("c{i}")).collect();
    let peers = Term::list(names.iter().map(|n| Term::atom(n)).collect());
    let role = Term::apply(
        "manager",
        vec![
            Term::apply("task", vec![Term::atom("vm1")]),
            peers,
            Term::Int(10_000),
            Term::Int(10_000),
        ],
    );
    let mut interaction = Interaction::new(Arc::clone(program), clock()).peer("m", role, manager());
    for (i, name) in names.iter().enumerate() {
        interaction = interaction.peer(name, Term::atom("contractor"), contractor(i as i64));
    }
    let mut steps = 0;
    for outcome in interaction.run().await {
        steps += outcome.result.unwrap().steps;
    }
    steps
}

/// The same interaction written directly in Rust: tasks and mpsc channels.
async fn contract_net_rust() {
    enum ToManager {
        Propose(usize, i64),
        Done(usize),
    }
    enum ToContractor {
        Cfp,
        Accept,
        Reject,
    }
    let (to_manager, mut manager_inbox) = mpsc::unbounded_channel();
    let mut contractors = Vec::with_capacity(CONTRACTORS);
    let mut tasks = Vec::with_capacity(CONTRACTORS);
    for i in 0..CONTRACTORS {
        let (tx, mut inbox) = mpsc::unbounded_channel();
        contractors.push(tx);
        let to_manager = to_manager.clone();
        tasks.push(tokio::spawn(async move {
            if let Some(ToContractor::Cfp) = inbox.recv().await {
                let _ = to_manager.send(ToManager::Propose(i, i as i64));
                if let Some(ToContractor::Accept) = inbox.recv().await {
                    let _ = to_manager.send(ToManager::Done(i));
                }
            }
        }));
    }
    let manager = tokio::spawn(async move {
        for c in &contractors {
            let _ = c.send(ToContractor::Cfp);
        }
        let mut best: Option<(usize, i64)> = None;
        let mut proposals = Vec::with_capacity(CONTRACTORS);
        while proposals.len() < CONTRACTORS {
            if let Some(ToManager::Propose(i, price)) = manager_inbox.recv().await {
                proposals.push(i);
                if best.is_none_or(|(_, p)| price > p) {
                    best = Some((i, price));
                }
            }
        }
        let (winner, _) = best.unwrap();
        for i in proposals {
            let _ = contractors[i].send(if i == winner {
                ToContractor::Accept
            } else {
                ToContractor::Reject
            });
        }
        while let Some(message) = manager_inbox.recv().await {
            if let ToManager::Done(i) = message {
                assert_eq!(i, winner);
                break;
            }
        }
    });
    manager.await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
}

fn contract_net(c: &mut Criterion) {
    let rt = one_core();
    let program = compile(lcc::models::CONTRACT_NET.source);
    let steps = rt.block_on(contract_net_lcc(&program));
    let mut group = c.benchmark_group("contract_net_100");
    group.bench_function("lcc_interaction", |b| {
        b.iter(|| rt.block_on(contract_net_lcc(&program)))
    });
    group.bench_function("rust_baseline", |b| {
        b.iter(|| rt.block_on(contract_net_rust()))
    });
    group.finish();
    let mut group = c.benchmark_group("interpreter");
    group.throughput(Throughput::Elements(steps));
    group.bench_function("contract_net_100_steps", |b| {
        b.iter(|| rt.block_on(contract_net_lcc(&program)))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = loop_steps, contract_net
}
criterion_main!(benches);
