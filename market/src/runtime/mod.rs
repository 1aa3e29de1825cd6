//! The distributed LCC runtime: each host runs its own role instances with
//! the interpreter of `lcc`, and their messages travel over the bus.
//!
//! - [`BusChannel`] (`channel.rs`): the `lcc::channel::Channel` of one peer
//!   in one interaction, carrying message terms in envelopes on
//!   `<prefix>.<zone>.lcc.<interaction>.<from>.<to>`.

mod channel;

pub use channel::BusChannel;
