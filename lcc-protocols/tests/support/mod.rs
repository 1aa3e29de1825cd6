//! Shared by the integration tests of the language front end.
#![allow(dead_code)] // each test file uses part of it

pub mod arbitrary;
