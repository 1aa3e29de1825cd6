//! The engine behind `market watch`: what an observer of a zone knows and
//! how it is drawn.
//!
//! - [`board`]: every event received, decoded strictly and folded into
//!   the state of the zone (hosts, trades, totals); what was dropped and
//!   why. One [`Board`] feeds both outputs.
//! - [`json`]: one JSON line per event, for scripts (`--json`).
//! - [`view`]: the live terminal view (ratatui): the hosts table, the
//!   trades, the totals, and the keys that sort, filter and pause it.
//!
//! The binary (`src/bin/market/watch.rs`) only connects, subscribes and
//! runs the terminal; everything here can be driven by a test without a
//! bus or a terminal.

pub mod board;
pub mod json;
pub mod view;

pub use board::{Board, Observed};
pub use view::{Sort, ViewState};
