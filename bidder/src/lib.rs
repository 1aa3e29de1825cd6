//! The host agent of bourse: what runs on every physical host.
//!
//! - [`hypervisor`]: the [`Hypervisor`](hypervisor::Hypervisor) trait a
//!   bidder uses to see and change its host, with a libvirt implementation
//!   ([`hypervisor::libvirt`], through the `virt` crate) and a simulated one
//!   ([`hypervisor::simulated`]) that behaves the same for large simulations
//!   and crash tests; [`hypervisor::host_stats`] reads load averages and
//!   memory from `/proc`.
//! - [`agent`]: the trading loop of one host (observe, classify with
//!   hysteresis, hold capacity for open offers, carry trades out), and the
//!   one interface the protocol kinds are played through
//!   ([`agent::kind`]: [`ProtocolKind`](agent::ProtocolKind),
//!   [`KindPlay`](agent::KindPlay), and the host they may use,
//!   [`HostContext`](agent::HostContext)). The agent names no kind.
//! - [`protocol`]: the kinds bourse ships, each one unit of model, roles,
//!   components and mechanism (contract net, the reverse call, the call
//!   market, placement), the registry that finds a kind by name (and takes
//!   kinds of one's own: [`protocol::register`]), the component vocabulary
//!   models may call, and how market values and reports travel in terms.
//! - [`migration`]: carrying a trade out once both ledgers hold it (the
//!   hand-off or a live migration, placements), over the bus between
//!   daemons or in one process, and crash recovery, which leaves alone
//!   the trades a live role holds ([`migration::carrying`]).
//! - [`events`]: the bounded queue through which a host publishes for
//!   observers (its status every period, made by the agent; its trades'
//!   lifecycle, reported by the migration workflow) without ever holding
//!   trading up.
//! - [`problem`]: what is wrong with one key of a configuration (key,
//!   value, reason), the one error every configuration reading reports.
//! - [`daemon`]: the per-host daemon (`bidder --config host.toml`): its
//!   configuration and its run loop.
pub mod agent;
pub mod daemon;
pub mod events;
pub mod hypervisor;
pub mod migration;
pub mod problem;
pub mod protocol;
