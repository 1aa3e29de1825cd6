//! The wire format: what a message looks like on the bus.
//!
//! Every message is an [`Envelope`] around a body of the caller's type (an
//! LCC message term, a host status, a trade event, a migration hand-off),
//! encoded with bincode 2 through serde. The envelope says who sends to
//! whom, in which interaction of which model, and the sender's sequence
//! number, so a receiver can ignore duplicates and tell interactions apart.
//!
//! Receiving is where a bidder meets the outside world, so decoding is
//! strict and never panics ([`decode`]): a message that is too large (checked
//! before decoding), of another schema version, truncated, followed by
//! trailing bytes, malformed, or whose envelope names another sender (or
//! recipient, or interaction) than its subject, is rejected.
//! [`Decoder::decode_or_drop`] is the one place where a rejected message is
//! counted (`bourse_messages_dropped_total{reason=...}`) and logged.
//!
//! Layout: `envelope.rs` (the types), `decode.rs` (limits, encoding,
//! decoding, rejections and the drop counter), `term.rs` (the body of an
//! LCC message: a ground term, flattened so that decoding never recurses).

mod decode;
mod envelope;
mod term;

pub use decode::{
    CEILING_BYTES, Decoder, EncodeError, Rejection, WireLimits, decode, encode, record_drop,
};
pub use envelope::{Envelope, Interaction, InteractionId, ModelHash, SCHEMA_VERSION};
pub use term::{MAX_DEPTH, MessageTerm, TermError};
