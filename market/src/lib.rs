//! Economics and shared infrastructure of bourse.
pub mod bus;
pub mod ledger;
