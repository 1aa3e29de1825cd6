//! What the flood tests share: the attacker's garbage, the invitation it
//! cuts short, and the drop counter they check it against. Used by `market/tests/bad_input_flood.rs` (LCC
//! hosts over `market::runtime`) and, through `#[path]`, by the root
//! package's `tests/bidder_daemon.rs` (whole daemons), so both floods send
//! the same kind of bad input and count it the same way.

use bytes::Bytes;
use market::bus::subject::Token;
use market::runtime::Invitation;
use market::wire::{Envelope, WireLimits, encode};

/// xorshift64: reproducible garbage without a dependency.
pub struct Garbage(pub u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, or a valid envelope cut short.
    pub fn payload(&mut self, whole: &[u8]) -> Bytes {
        if self.next().is_multiple_of(2) {
            let len = (self.next() % 200) as usize;
            Bytes::from((0..len).map(|_| self.next() as u8).collect::<Vec<u8>>())
        } else {
            let cut = (self.next() % whole.len() as u64) as usize;
            Bytes::copy_from_slice(&whole[..cut])
        }
    }
}

/// A whole contract-net invitation from `sender`: what the attacker cuts
/// short, so that some garbage gets as far as the envelope's body.
pub fn invitation(sender: &Token) -> Bytes {
    let envelope = Envelope {
        sender: sender.clone(),
        recipient: None,
        interaction: None,
        sequence: 0,
        body: Invitation {
            role: "contractor".into(),
            reply_by_ms: i64::MAX,
        },
    };
    // A fixed, small envelope: it always encodes.
    encode(&envelope, &WireLimits::default()).unwrap()
}

/// Sums `bourse_messages_dropped_total` over its reasons, for messages
/// that came on subjects of `kind`, in a Prometheus text rendering.
pub fn dropped(metrics: &str, kind: &str) -> u64 {
    let label = format!("kind=\"{kind}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("bourse_messages_dropped_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}
