//! The distributed LCC runtime: each host runs its own role instances with
//! the interpreter of `lcc`, and their messages travel over the bus.
//!
//! - [`Model`] (`model.rs`): a checked, compiled model named by the hash of
//!   its text; what a host is willing to run.
//! - [`BusChannel`] (`channel.rs`): the `lcc::channel::Channel` of one peer
//!   in one interaction, carrying message terms in envelopes on
//!   `<prefix>.<zone>.lcc.<interaction>.<from>.<to>`.
//! - [`recruit`] (`initiator.rs`): an initiator invites players for a role
//!   ([`Invitation`], `invitation.rs`) and, once enough joined, plays the
//!   initial role with them ([`Recruited::run`]).
//! - [`Participant`] (`participant.rs`): a host answers invitations for the
//!   models and roles it offers, and plays them.
//! - [`Endpoint`] (`endpoint.rs`): the bus endpoint, zone, name and clock these
//!   share.
//!
//! There is no directory and no central scheduler: invitations are
//! published to whoever runs the model, and each host decides for itself.

mod channel;
mod endpoint;
mod initiator;
mod invitation;
mod model;
mod participant;

pub use channel::BusChannel;
pub use endpoint::{Endpoint, InteractionIds};
pub use initiator::{InitiateError, Recruited, Recruitment, recruit};
pub use invitation::{Band, Invitation, join};
pub use model::{Model, ModelError};
pub use participant::{Offer, Participant, PlayError};
