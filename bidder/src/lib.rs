//! The host agent of bourse: what runs on every physical host.
//!
//! - [`hypervisor`]: the [`Hypervisor`](hypervisor::Hypervisor) trait a
//!   bidder uses to see and change its host, with a libvirt implementation
//!   ([`hypervisor::libvirt`], through the `virt` crate) and a simulated one
//!   ([`hypervisor::simulated`]) that behaves the same for large simulations
//!   and crash tests; [`hypervisor::host_stats`] reads load averages and
//!   memory from `/proc`.
//! - [`agent`]: the trading loop of one host (observe, classify, trade as
//!   contract-net manager or contractor, carry trades out).
//! - [`daemon`]: the per-host daemon (`bidder --config host.toml`): its
//!   configuration and its run loop.
pub mod agent;
pub mod daemon;
pub mod hypervisor;
pub mod migration;
