//! Economics and shared infrastructure of bourse.
//!
//! Every host's `bidder` links this crate. It has two halves with a strict
//! line between them.
//!
//! # The economics: pure functions, no I/O
//!
//! Everything a host needs to decide *what* to trade and *at what price*,
//! and everything an auctioneer needs to *clear* a round. Nothing here
//! touches a file, a socket or a clock, so it is deterministic (same input,
//! same output), tested with property tests, and measured by benchmarks
//! (`cargo bench -p market --bench economics`).
//!
//! The pipeline, in the domain's words:
//!
//! ```text
//!  Host (capacity, VMs, load)      Policy (TOML: what the host wants)
//!          \                         /
//!           HostMetrics ---> utility, Classification (under / satisfied / over)
//!                                |
//!                   Valuer: limit of "give v, take w" in Credits
//!                                |
//!          Order (bid, ask, package) / Proposal (contract-net)
//!                                |
//!     mechanism: contract_net::award, double_auction::clear
//!                                |
//!                 Award / Trade (moves + payments)  --> ledger, migration
//! ```
//!
//! - [`resources`]: the resource vector ([`resources::Resources`]: cpu
//!   millicores, memory MiB, network Mbit/s) with checked arithmetic and
//!   "fits within capacity" in every dimension.
//! - [`credits`]: money as integer micro-credits ([`credits::Credits`]).
//! - [`vm`], [`host`]: the VM bundle and the host, and the metrics policies
//!   read ([`host::HostMetrics`], including how a move changes the load
//!   average).
//! - [`policy`]: host policies declared in TOML, one file per term (seed 002's
//!   threshold conditions, power saving, agility, power budget, maintenance,
//!   placement groups, headroom, stability); utility and classification.
//! - [`valuation`]: what a move is worth to a host under its policy, which VM
//!   it offers, the orders it posts.
//! - [`mechanism`]: the auction mechanisms, one file each: contract-net
//!   award, the double auction and its parts (order book, candidate pairs,
//!   swaps and chains, selection, pricing, trade reduction).
//! - [`power`]: measured power curves of host models (watts by utilisation).
//! - [`baseline`]: centralised packing and balancing heuristics and lower
//!   bounds, for comparison only.
//!
//! docs/economics.md states each mechanism's guarantees and how to add a
//! policy or a mechanism.
//!
//! # The I/O edges every host shares
//!
//! Written alongside the economics, and the only modules here that do I/O:
//!
//! - `wire`: the message envelope and its strict decoding;
//! - `bus`: publish/subscribe/request over NATS, or in-process;
//! - `events`: what hosts publish for observers (their status, their
//!   trades' lifecycle);
//! - `runtime`: LCC interactions between hosts over the bus;
//! - `ledger`: the SQLite ledger where every trade is recorded before
//!   anything moves;
//! - `time`: what keeps the paused clock of a simulated run from jumping
//!   over a ledger write.
//!
//! The economics never calls them; the bidder glues the two halves together.

pub mod baseline;
pub mod bus;
pub mod credits;
pub mod events;
pub mod host;
pub mod ledger;
pub mod mechanism;
pub mod policy;
pub mod power;
pub mod resources;
pub mod runtime;
pub mod time;
pub mod valuation;
pub mod vm;
pub mod wire;
