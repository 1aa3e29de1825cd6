//! The invitation an initiator publishes to recruit role players.

use lcc::term::Term;
use serde::{Deserialize, Serialize};

/// Body of an envelope on `<prefix>.<zone>.invite.<model>.<initiator>`;
/// the envelope's `interaction` says which interaction of which model
/// (by hash). A peer that accepts opens its channel for the interaction
/// and sends the initiator [`join`]`(role)`, then plays the role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The role wanted (`contractor`, `trader`).
    pub role: String,
    /// Joins that arrive later (in the initiator's clock) are ignored.
    pub reply_by_ms: i64,
}

/// The message term by which a peer tells the initiator it plays `role`.
pub fn join(role: &str) -> Term {
    Term::apply("join", vec![Term::atom(role)])
}
