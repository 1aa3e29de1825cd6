//! Shared by the integration tests of the language front end.

pub mod arbitrary;
