//! [`Endpoint`]: what a host needs to take part in interactions over the bus.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lcc::interp::Clock;

use crate::bus::Bus;
use crate::bus::subject::{HostName, SubjectSpace};
use crate::wire::{InteractionId, WireLimits};

/// This host on the bus: its endpoint, its zone, its name, the clock its
/// role instances read (hosts of a zone agree on wall-clock milliseconds
/// for `until` deadlines), and the envelope size limit.
#[derive(Clone)]
pub struct Endpoint {
    pub bus: Arc<dyn Bus>,
    pub space: SubjectSpace,
    pub me: HostName,
    pub clock: Arc<dyn Clock>,
    pub limits: WireLimits,
    /// Where the interactions this host starts get their ids.
    pub ids: InteractionIds,
}

impl Endpoint {
    /// The id of an interaction this host starts.
    pub fn new_interaction_id(&self) -> Result<InteractionId, getrandom::Error> {
        match &self.ids {
            InteractionIds::Random => InteractionId::random(),
            InteractionIds::Counted(count) => {
                let n = count.fetch_add(1, Ordering::Relaxed);
                let host = fnv1a(&[self.space.zone().as_str(), self.me.as_str()]);
                Ok(InteractionId(u128::from(host) << 64 | u128::from(n)))
            }
        }
    }
}

/// Where a host's new interactions get their ids.
#[derive(Debug, Clone)]
pub enum InteractionIds {
    /// The operating system's random source: hosts on different machines
    /// pick ids without asking anyone. What daemons use.
    Random,
    /// The host's zone and name and a count of the interactions it
    /// started: unique (a zone's names are), and the same from one run to
    /// the next, so a simulation's report (whose trade ids are interaction
    /// ids) repeats.
    Counted(Arc<AtomicU64>),
}

impl InteractionIds {
    /// Counted from 0.
    pub fn counted() -> Self {
        InteractionIds::Counted(Arc::new(AtomicU64::new(0)))
    }
}

/// FNV-1a, 64 bits, of the words with a dot between them: a hash that is
/// the same on every build (std's hasher promises no such thing).
pub(crate) fn fnv1a(words: &[&str]) -> u64 {
    let text = words.join(".");
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
