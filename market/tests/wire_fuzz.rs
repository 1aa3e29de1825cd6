//! Property tests of the envelope decoder: whatever arrives, it never
//! panics; a truncated or extended envelope is always rejected; a whole one
//! decodes to exactly what was encoded.

// Test helpers outside #[test] functions unwrap too: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use market::bus::subject::{SubjectSpace, Token};
use market::wire::{
    Decoder, Envelope, Interaction, InteractionId, ModelHash, Rejection, WireLimits, decode, encode,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A body with the shapes real bodies have: variants, strings, sequences,
/// options, signed and unsigned integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Body {
    Call { bundle: Vec<u32>, note: String },
    Propose { price: i64, until: Option<u64> },
    Refuse,
}

fn token() -> impl Strategy<Value = Token> {
    "[a-z0-9_-]{1,16}".prop_map(|s| Token::new(s).unwrap())
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        (prop::collection::vec(any::<u32>(), 0..8), ".{0,20}")
            .prop_map(|(bundle, note)| Body::Call { bundle, note }),
        (any::<i64>(), any::<Option<u64>>())
            .prop_map(|(price, until)| Body::Propose { price, until }),
        Just(Body::Refuse),
    ]
}

fn envelope() -> impl Strategy<Value = Envelope<Body>> {
    (
        token(),
        prop::option::of(token()),
        prop::option::of((any::<u128>(), any::<[u8; 32]>())),
        any::<u64>(),
        body(),
    )
        .prop_map(
            |(sender, recipient, interaction, sequence, body)| Envelope {
                sender,
                recipient,
                interaction: interaction.map(|(id, model)| Interaction {
                    id: InteractionId(id),
                    model: ModelHash(model),
                }),
                sequence,
                body,
            },
        )
}

fn limits() -> WireLimits {
    WireLimits::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic_and_what_decodes_is_stable(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        if let Ok(envelope) = decode::<Body>(&bytes, &limits()) {
            // Random bytes can happen to be a valid envelope; then it must
            // survive a round trip unchanged.
            let again = encode(&envelope, &limits()).unwrap();
            prop_assert_eq!(decode::<Body>(&again, &limits()).unwrap(), envelope);
        }
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        tail in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        // Past the version check, into the envelope decoding proper.
        let mut bytes = vec![1u8];
        bytes.extend(tail);
        let _ = decode::<Body>(&bytes, &limits());
    }

    #[test]
    fn an_envelope_decodes_to_exactly_what_was_encoded(envelope in envelope()) {
        let bytes = encode(&envelope, &limits()).unwrap();
        prop_assert_eq!(decode::<Body>(&bytes, &limits()).unwrap(), envelope);
    }

    #[test]
    fn every_truncation_is_rejected_as_truncated(envelope in envelope()) {
        let bytes = encode(&envelope, &limits()).unwrap();
        for cut in 0..bytes.len() {
            prop_assert_eq!(
                decode::<Body>(&bytes[..cut], &limits()).unwrap_err(),
                Rejection::Truncated
            );
        }
    }

    #[test]
    fn anything_after_the_envelope_is_rejected(
        envelope in envelope(),
        extra in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut bytes = encode(&envelope, &limits()).unwrap().to_vec();
        bytes.extend_from_slice(&extra);
        prop_assert_eq!(
            decode::<Body>(&bytes, &limits()).unwrap_err(),
            Rejection::TrailingBytes { extra: extra.len() }
        );
    }

    #[test]
    fn only_the_subjects_sender_is_believed(
        envelope in envelope(),
        subject_sender in token(),
    ) {
        let space = SubjectSpace::in_zone(Token::new("z").unwrap());
        let decoder = Decoder::new(space, limits());
        let subject = format!("bourse.z.trades.{subject_sender}");
        let broadcast = Envelope { recipient: None, ..envelope };
        let bytes = encode(&broadcast, &limits()).unwrap();
        let decoded = decoder.decode::<Body>(&subject, &bytes);
        if subject_sender == broadcast.sender {
            prop_assert_eq!(decoded.unwrap(), broadcast);
        } else {
            let is_sender_mismatch = matches!(decoded, Err(Rejection::SenderMismatch { .. }));
            prop_assert!(is_sender_mismatch);
        }
    }
}
