//! Economics and shared infrastructure of bourse.
//!
//! (Architecture page: see the end of this doc, written with the economics.)

pub mod baseline;
pub mod bus;
pub mod credits;
pub mod host;
pub mod ledger;
pub mod mechanism;
pub mod policy;
pub mod resources;
pub mod runtime;
pub mod valuation;
pub mod vm;
pub mod wire;
