//! Pausing a child process at a step it logs, so that its parent kills it
//! (or another process) at that step, seen, and not after a guessed delay
//! or a poll that may come late (tests/crash_recovery.rs,
//! tests/scenarios_across_processes.rs).
//!
//! The child is the test binary itself, running the library's code
//! unchanged. [`PauseAt`], a `tracing` layer, watches its events; at the
//! first one its parent asked for, it prints [`PAUSED`] and what it saw on
//! stdout, then blocks the thread that logged the event until its stdin is
//! closed (the parent lets it go on) or it is killed. On a current-thread
//! runtime that thread does all of the process's async work, so nothing
//! moves past the step while it is paused.
#![allow(dead_code)] // each test crate uses a different part

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer};

/// What a paused child prints, followed by what it saw.
pub const PAUSED: &str = "PAUSED AT ";

/// One event as [`PauseAt`] shows it to its matcher: its target and its
/// fields, each as text (the message under `message`).
pub struct Seen {
    pub target: &'static str,
    fields: BTreeMap<&'static str, String>,
}

impl Seen {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn message(&self) -> Option<&str> {
        self.field("message")
    }
}

impl Visit for Seen {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields.insert(field.name(), format!("{value:?}"));
    }
}

/// Pauses the process at the first event `matches` returns something for,
/// printing that after [`PAUSED`]. Once only: a child let go on runs on.
pub struct PauseAt<F> {
    matches: F,
    paused: AtomicBool,
}

impl<F> PauseAt<F>
where
    F: Fn(&Seen) -> Option<String>,
{
    pub fn new(matches: F) -> Self {
        PauseAt {
            matches,
            paused: AtomicBool::new(false),
        }
    }
}

impl<S, F> Layer<S> for PauseAt<F>
where
    S: tracing::Subscriber,
    F: Fn(&Seen) -> Option<String> + Send + Sync + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if self.paused.load(Ordering::SeqCst) {
            return;
        }
        let mut seen = Seen {
            target: event.metadata().target(),
            fields: BTreeMap::new(),
        };
        event.record(&mut seen);
        let Some(what) = (self.matches)(&seen) else {
            return;
        };
        if self.paused.swap(true, Ordering::SeqCst) {
            return;
        }
        let mut stdout = std::io::stdout().lock();
        // A line of its own: the test harness may have written part of one.
        writeln!(stdout, "\n{PAUSED}{what}")
            .and_then(|()| stdout.flush())
            .expect("the parent reads the child's stdout");
        drop(stdout);
        // Until the parent closes stdin (or kills the process).
        let _ = std::io::stdin().lock().read_line(&mut String::new());
    }
}
