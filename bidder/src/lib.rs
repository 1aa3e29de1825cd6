//! The host agent of bourse: what runs on every physical host.
//!
//! - [`hypervisor`]: the [`Hypervisor`](hypervisor::Hypervisor) trait a
//!   bidder uses to see and change its host, with a libvirt implementation
//!   ([`hypervisor::libvirt`], through the `virt` crate) and a simulated one
//!   ([`hypervisor::simulated`]) that behaves the same for large simulations
//!   and crash tests.
//! - [`agent`]: the trading loop of one host (observe, classify, trade as
//!   contract-net manager or contractor, carry trades out).
//! - [`host_stats`]: load averages and memory from `/proc`.
//! - [`daemon`]: the per-host daemon (`bidder --config host.toml`): its
//!   configuration and its run loop.
pub mod agent;
pub mod daemon;
pub mod host_stats;
pub mod hypervisor;
pub mod migration;
pub mod recovery;
