//! The destination side of a migration over the bus, for hosts in separate
//! processes.
//!
//! The source's workflow calls [`Peer`](super::Peer) methods on a [`BusPeer`]; each call
//! is one request on `<prefix>.<zone>.migrate.<source>.<destination>` in the
//! versioned envelope of `market::wire`, and the destination's
//! [`DestinationService`] answers it on the request's reply subject by
//! calling the same [`Destination`](super::Destination) method the in-process peer calls. So
//! both ledgers and the hand-off behave exactly as in one process; only the
//! transport differs.
//!
//! - **Deadlines.** Every request carries `reply_by_ms` (the source's wall
//!   clock, which hosts of a zone agree on, as for LCC deadlines). The
//!   destination does not act on a request that arrives after it, so a
//!   source that has given up is not surprised by a late hand-off; a
//!   request that times out at the source is retried a few times, then
//!   reported as [`PeerError::Unavailable`](super::PeerError::Unavailable), which leaves the trade
//!   migrating for recovery.
//! - **Replays.** Every `Destination` method is idempotent (recording the
//!   same terms, starting the same attempt, receiving a domain that already
//!   runs, settling a settled trade), and the service handles one request
//!   at a time, so a retried or duplicated request changes nothing more and
//!   gets the same answer.
//! - **Who may ask.** Only the trade's source (the seller named in the
//!   terms) may record or change a trade at the destination; the subject
//!   names the sender, the envelope must agree (`Decoder`), and
//!   nats-server permissions hold each host to its own name.
//! - **Bad input.** A request that does not decode is dropped and counted
//!   in `bourse_messages_dropped_total{kind="migrate"}` like any other
//!   message; a reply that does not decode fails the call.
//!
//! Requests are counted in `bourse_peer_requests_total{request,outcome}`
//! at the destination.
//!
//! Three files: what travels, and each side of the conversation.
//!
//! - `wire.rs` ([`wire`]): what travels, the body of each request and reply
//!   envelope; both sides and their tests read it;
//! - `client.rs`: the source's side, [`BusPeer`] and its [`CallPolicy`];
//! - `server.rs`: the destination's side, [`DestinationService`].

mod client;
mod server;
pub mod wire;

pub use client::{BusPeer, CallPolicy};
pub use server::DestinationService;
