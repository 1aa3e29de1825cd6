//! The root package's library: the engines behind `market simulate`
//! ([`simulate`]), the trace replay behind `market replay` ([`replay`]) and
//! `market watch` ([`watch`]). They live here rather than in the `market`
//! binary so the integration tests in `tests/` run scenarios, replays and
//! the watcher's view through the same code path as the CLI. It sits above
//! `bidder` (it runs agents), so no crate depends on it but the binaries
//! and the tests. [`output`] is how the binaries print on stdout, so that a
//! command ends quietly when its reader goes away; [`rng`] is the seeded
//! generator every simulation and campaign draws from.

pub mod chaos;
pub mod output;
pub mod replay;
pub mod rng;
pub mod simulate;
pub mod watch;
