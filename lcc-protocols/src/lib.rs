//! The Lightweight Coordination Calculus (LCC).
//!
//! An LCC model says, for each role of an interaction, which messages a peer
//! playing that role sends and receives, in what order, and under which
//! constraints. Peers solve the constraints with their own components; the
//! model only orders the interaction.

pub mod ast;
pub mod channel;
pub mod check;
pub mod compile;
pub mod component;
pub mod diagnostic;
pub mod interp;
pub mod pretty;
pub mod stdlib;
pub mod syntax;
pub mod term;
