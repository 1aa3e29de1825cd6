//! What a host publishes for observers (`market watch`): its status every
//! period and the lifecycle of the trades it sells (`market::events`).
//!
//! Publishing never blocks or fails trading. Callers hand an event to a
//! [`Publisher`], which puts it in a bounded queue and returns at once; a
//! background task encodes and publishes what is queued. When the queue is
//! full (the bus is slow or down), when the bus refuses a message, or while
//! a separate events connection is unreachable, the event is dropped and
//! counted in `bourse_events_dropped_total{reason}`: a bus that is down
//! costs events, not trades.
//!
//! - `publisher.rs`: the queue, the background task, the counters.
//!
//! What is published is made where it is known: a host's status by its
//! agent (`Agent::status`), a trade's lifecycle by the migration workflow
//! (`migration::lifecycle`).

mod publisher;

pub use publisher::{DEFAULT_QUEUE, Publisher};
