//! The envelope every bourse message travels in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::bus::subject::{HostName, Token};

/// The version of the envelope layout. A receiver refuses any other: hosts
/// of a zone are upgraded together, and a message of another version
/// cannot be read safely. Version 2: trade terms name the parties as the
/// market does everywhere (the seller gives the VMs, the buyer takes them
/// and pays the price). Version 3: a trade event says its kind (a
/// placement's is published by its buyer).
pub const SCHEMA_VERSION: u16 = 3;

/// One message: who sends it to whom, in which interaction, and the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The sending host; must equal the sender token of the subject.
    pub sender: HostName,
    /// The addressed host, for messages to one host (LCC messages,
    /// migration hand-offs); `None` for broadcasts (status, trades,
    /// invitations).
    pub recipient: Option<HostName>,
    /// The interaction the message belongs to, for LCC traffic.
    pub interaction: Option<Interaction>,
    /// Counts the sender's messages (per interaction, for LCC traffic), so a
    /// receiver can recognise a duplicate.
    pub sequence: u64,
    pub body: T,
}

/// Which interaction of which model a message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interaction {
    pub id: InteractionId,
    /// The hash of the model text: peers only run models they allow, and
    /// two peers running different texts under one name would not agree.
    pub model: ModelHash,
}

/// A random 128-bit interaction id, written as 32 hex digits in subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InteractionId(pub u128);

impl InteractionId {
    /// A fresh id from the operating system's random source: initiators on
    /// different hosts pick ids without asking anyone.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes)?;
        Ok(Self(u128::from_be_bytes(bytes)))
    }

    /// The id as a subject token.
    pub fn token(&self) -> Token {
        Token::new(self.to_string()).expect("hex digits are a valid subject token")
    }
}

impl fmt::Display for InteractionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for InteractionId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u128::from_str_radix(s, 16).map(Self)
    }
}

/// A 256-bit digest of a model's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ModelHash(pub [u8; 32]);

impl ModelHash {
    /// The SHA-256 of the model's source text: what peers compare and what
    /// a host's allowlist names. Any edit, even a comment, makes another
    /// model, on purpose: peers must run exactly the same text.
    pub fn of(source: &str) -> Self {
        use sha2::Digest;
        Self(sha2::Sha256::digest(source.as_bytes()).into())
    }
}

impl fmt::Display for ModelHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_ids_are_32_hex_digits_and_parse_back() {
        let id = InteractionId(0xabc);
        assert_eq!(id.to_string(), "00000000000000000000000000000abc");
        assert_eq!(id.token().as_str().parse::<InteractionId>().unwrap(), id);
        let random = InteractionId::random().unwrap();
        assert_eq!(random.to_string().len(), 32);
        assert_ne!(random, InteractionId::random().unwrap());
    }

    #[test]
    fn a_model_hash_is_the_sha256_of_its_text() {
        assert_eq!(
            ModelHash::of("abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn model_hashes_print_as_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xff;
        bytes[31] = 0x01;
        let text = ModelHash(bytes).to_string();
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("ff00") && text.ends_with("0001"));
    }
}
