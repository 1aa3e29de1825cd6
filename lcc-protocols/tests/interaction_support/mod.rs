//! Helpers shared by the interpreter's integration tests.
#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::sync::{Arc, Mutex};

use lcc::compile::Program;
use lcc::interp::{Clock, TokioClock};
use lcc::term::Term;

/// Parses and compiles a model, panicking with the diagnostic.
pub fn program(source: &str) -> Arc<Program> {
    let model = lcc::syntax::parse(source)
        .unwrap_or_else(|d| panic!("model does not parse: {}", d.render("model", source)));
    Arc::new(Program::compile(&model).unwrap_or_else(|e| panic!("model does not compile: {e}")))
}

/// A shipped model, by name (`lcc::models`).
pub fn model_file(name: &str) -> &'static str {
    lcc::models::find(name)
        .unwrap_or_else(|| panic!("no shipped model {name}"))
        .source
}

/// A clock reading 0 ms when the test starts (use with paused tokio time).
pub fn clock() -> Arc<dyn Clock> {
    Arc::new(TokioClock::starting_at(0))
}

pub fn atom(name: &str) -> Term {
    Term::atom(name)
}

pub fn atoms(names: &[&str]) -> Term {
    Term::list(names.iter().map(|n| Term::atom(n)).collect())
}

pub fn f(functor: &str, args: Vec<Term>) -> Term {
    Term::apply(functor, args)
}

/// A shared log that components write to, for the test to read.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, entry: impl Into<String>) {
        self.0.lock().unwrap().push(entry.into());
    }

    pub fn entries(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, entry: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.as_str() == entry)
            .count()
    }
}
