//! The Lightweight Coordination Calculus (LCC).
//!
//! An LCC model says, for each role of an interaction, which messages a peer
//! playing that role sends and receives, in what order, and under which
//! constraints. Peers solve the constraints with their own components; the
//! model only orders the interaction.
//!
//! The pipeline, one representation per stage (docs/lcc.md is the language
//! reference for protocol authors):
//!
//! ```text
//! source ─syntax::lexer─▶ tokens ─syntax::parser─▶ ast::Model ─check─▶ diagnostics
//!                                                      │
//!                                                      ├─pretty─▶ canonical text
//!                                                      └─compile─▶ Program ─interp─▶ running roles
//! ```
//!
//! # Reading and checking a model
//!
//! - [`syntax`] turns text into an [`ast::Model`], what the author wrote,
//!   with a [`ast::Span`] on every node; it stops at the first syntax error
//!   and never panics or overflows the stack, whatever the input. Its module
//!   doc has the grammar and the precedence table.
//! - [`check`] finds what is wrong with a model that parses: roles without
//!   clauses, messages nobody receives, undeclared or missing components,
//!   inputs that nothing binds. [`check::missing_components`] is what a peer
//!   runs before taking part in a model.
//! - [`diagnostic`] is what both report: a code, a severity, spans, a hint,
//!   rendered rustc-style with `file:line:col` or as JSON-ready data.
//! - [`pretty`] prints a model in canonical form (`market protocol fmt`);
//!   parsing what it prints gives the same model back.
//!
//! # Running a model
//!
//! - [`compile`] turns a parsed [`ast::Model`] into a [`compile::Program`]
//!   once: flat tables of definitions and constraints, variables numbered,
//!   atoms interned, calls resolved to a built-in or a component slot.
//! - [`interp`] runs one peer's part: a [`interp::RoleInstance`] rewrites its
//!   clause step by step (Robertson's semantics, with deadlines), its whole
//!   state being plain serde data; [`interp::Interaction`] runs every peer
//!   of an interaction in one process.
//! - [`term`] holds runtime terms, and [`term::Bindings`], the binding
//!   store and unification that [`stdlib`] and [`interp`] both build on
//!   (`interp` calls `stdlib`, never the reverse).
//! - [`component`] is the registry of the constraints a peer implements in
//!   Rust; [`stdlib`] the constraints every peer has (its table is shared
//!   with the checker).
//! - [`models`] is the registry of the models bourse ships
//!   (`lcc-protocols/models/*.lcc`), compiled into every binary.
//! - [`channel`] is the transport trait role instances talk through, and
//!   [`channel::Hub`], the in-process one.

pub mod ast;
pub mod channel;
pub mod check;
pub mod compile;
pub mod component;
pub mod diagnostic;
pub mod interp;
pub mod models;
pub mod pretty;
pub mod stdlib;
pub mod sync;
pub mod syntax;
pub mod term;
