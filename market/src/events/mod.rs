//! What hosts tell observers: their state every period and the lifecycle of
//! their trades, so an operator can watch a zone live (`market watch`)
//! without logging into every host.
//!
//! Two message kinds, one file each, both carried in the versioned
//! [`Envelope`](crate::wire::Envelope) of every bourse message and decoded
//! by the same strict [`Decoder`](crate::wire::Decoder):
//!
//! | subject | body | sent |
//! |---|---|---|
//! | `<prefix>.<zone>.hosts.<host>.status` | [`HostStatus`] | by every host, every trading period |
//! | `<prefix>.<zone>.trades.<seller>` | [`TradeEvent`] | by the seller (a placement: by the host that starts the VM), at each step of a trade's lifecycle |
//!
//! Only the seller publishes a trade's events: it drives the migration
//! workflow (docs/migration.md), so it sees every step, and an observer
//! counts each trade once. Events are informative: nothing in the market
//! acts on them, and a host that cannot publish them keeps trading.

mod status;
mod trade;

pub use status::HostStatus;
pub use trade::{TradeEvent, TradeKind, TradeState};
