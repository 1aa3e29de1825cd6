//! Economics and shared infrastructure of bourse.
pub mod ledger;
