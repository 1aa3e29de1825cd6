//! Encoding and strict decoding of envelopes, and the drop counter.

use bincode::config::{Configuration, Limit, LittleEndian, Varint};
use bincode::error::DecodeError;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::envelope::{Envelope, ModelHash, SCHEMA_VERSION};
use crate::bus::DEFAULT_MAX_PAYLOAD;
use crate::bus::subject::{HostName, Route, SubjectError, SubjectSpace, Token};

/// The hard upper bound on an envelope, whatever the configuration says.
/// bincode trusts length prefixes when it allocates; its limit (this
/// constant) keeps a forged length from asking for gigabytes.
pub const CEILING_BYTES: usize = 8 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<CEILING_BYTES>>;

fn config() -> Config {
    bincode::config::standard().with_limit::<CEILING_BYTES>()
}

/// How large an envelope may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireLimits {
    max_envelope_bytes: usize,
}

impl WireLimits {
    /// Envelopes up to `max_envelope_bytes`, lowered to [`CEILING_BYTES`]
    /// if larger.
    pub fn new(max_envelope_bytes: usize) -> Self {
        Self {
            max_envelope_bytes: max_envelope_bytes.min(CEILING_BYTES),
        }
    }

    pub fn max_envelope_bytes(&self) -> usize {
        self.max_envelope_bytes
    }
}

/// NATS's default maximum payload: a larger envelope could not be sent.
impl Default for WireLimits {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_PAYLOAD)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("cannot encode the envelope: {0}")]
    Bincode(#[from] bincode::error::EncodeError),
    #[error("the envelope takes {size} bytes, more than the limit of {max}")]
    TooLarge { size: usize, max: usize },
}

/// Encodes an envelope under the current schema version. Refuses one that
/// receivers would drop as oversized, so the sender learns it first.
pub fn encode<T: Serialize>(
    envelope: &Envelope<T>,
    limits: &WireLimits,
) -> Result<Bytes, EncodeError> {
    let bytes = bincode::serde::encode_to_vec((SCHEMA_VERSION, envelope), config())?;
    if bytes.len() > limits.max_envelope_bytes {
        return Err(EncodeError::TooLarge {
            size: bytes.len(),
            max: limits.max_envelope_bytes,
        });
    }
    Ok(Bytes::from(bytes))
}

/// Why a received message was dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{size} bytes, more than the limit of {max}")]
    Oversized { size: usize, max: usize },
    #[error("schema version {found}; this host reads version {SCHEMA_VERSION}")]
    WrongVersion { found: u16 },
    #[error("truncated envelope")]
    Truncated,
    #[error("{extra} bytes after the envelope")]
    TrailingBytes { extra: usize },
    #[error("malformed envelope: {reason}")]
    Malformed { reason: String },
    #[error("{0}")]
    Subject(#[from] SubjectError),
    #[error("the envelope names sender {in_envelope}, the subject {in_subject}")]
    SenderMismatch {
        in_subject: HostName,
        in_envelope: HostName,
    },
    #[error("the envelope's {field} does not match the subject")]
    AddressMismatch { field: &'static str },
    /// Received before: NATS may redeliver after a reconnection, and a
    /// sender may retry.
    #[error("duplicate of message {sequence} from {sender}")]
    Duplicate { sender: HostName, sequence: u64 },
    /// An invitation to a model this host does not run: the same name, but
    /// not the text it has (its hash is not in the allowlist).
    #[error("model {model} with hash {hash} is not one this host runs")]
    ModelNotAllowed { model: Token, hash: ModelHash },
    /// Well formed, but not what the protocol expects at this point.
    #[error("unexpected: {what}")]
    Unexpected { what: String },
}

impl Rejection {
    /// The `reason` label of the drop counter.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Oversized { .. } => "oversized",
            Rejection::WrongVersion { .. } => "wrong_version",
            Rejection::Truncated => "truncated",
            Rejection::TrailingBytes { .. } => "trailing_bytes",
            Rejection::Malformed { .. } => "malformed",
            Rejection::Subject(_) => "unknown_subject",
            Rejection::SenderMismatch { .. } => "sender_mismatch",
            Rejection::AddressMismatch { .. } => "address_mismatch",
            Rejection::Duplicate { .. } => "duplicate",
            Rejection::ModelNotAllowed { .. } => "model_not_allowed",
            Rejection::Unexpected { .. } => "unexpected",
        }
    }
}

impl From<DecodeError> for Rejection {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::UnexpectedEnd { .. } => Rejection::Truncated,
            other => Rejection::Malformed {
                reason: other.to_string(),
            },
        }
    }
}

/// Decodes an envelope from exactly `payload`: the size is checked before
/// anything is decoded, the version before the rest.
pub fn decode<T: DeserializeOwned>(
    payload: &[u8],
    limits: &WireLimits,
) -> Result<Envelope<T>, Rejection> {
    if payload.len() > limits.max_envelope_bytes {
        return Err(Rejection::Oversized {
            size: payload.len(),
            max: limits.max_envelope_bytes,
        });
    }
    let (version, header): (u16, usize) = bincode::serde::decode_from_slice(payload, config())?;
    if version != SCHEMA_VERSION {
        return Err(Rejection::WrongVersion { found: version });
    }
    let rest = &payload[header..];
    let (envelope, used): (Envelope<T>, usize) = bincode::serde::decode_from_slice(rest, config())?;
    if used != rest.len() {
        return Err(Rejection::TrailingBytes {
            extra: rest.len() - used,
        });
    }
    Ok(envelope)
}

/// Checks that the envelope says what its subject says: the same sender,
/// and for a message to one host, the same recipient and interaction.
fn check_route<T>(route: &Route, envelope: &Envelope<T>) -> Result<(), Rejection> {
    if route.sender() != &envelope.sender {
        return Err(Rejection::SenderMismatch {
            in_subject: route.sender().clone(),
            in_envelope: envelope.sender.clone(),
        });
    }
    let recipient = match route {
        Route::Lcc { to, .. } | Route::Migrate { to, .. } => Some(to),
        Route::HostStatus { .. } | Route::Invite { .. } | Route::Trades { .. } => None,
    };
    if envelope.recipient.as_ref() != recipient {
        return Err(Rejection::AddressMismatch { field: "recipient" });
    }
    if let Route::Lcc { interaction, .. } = route {
        let in_envelope = envelope.interaction.map(|i| i.id.token());
        if in_envelope.as_ref() != Some(interaction) {
            return Err(Rejection::AddressMismatch {
                field: "interaction",
            });
        }
    }
    Ok(())
}

/// Counts and logs a dropped message: the one place every rejection ends.
/// Labelled by reason and by the kind of subject it came on (`invite`,
/// `lcc`, ...; `other` outside the layout), both bounded sets.
pub fn record_drop(subject: &str, rejection: &Rejection) {
    let kind = match subject.split('.').nth(2) {
        Some("hosts") => "hosts",
        Some("invite") => "invite",
        Some("lcc") => "lcc",
        Some("trades") => "trades",
        Some("migrate") => "migrate",
        _ => "other",
    };
    metrics::counter!(
        "bourse_messages_dropped_total",
        "reason" => rejection.reason(),
        "kind" => kind,
    )
    .increment(1);
    tracing::warn!(subject, reason = rejection.reason(), %rejection, "message dropped");
}

/// Decodes the messages of one zone, checking each against its subject.
#[derive(Debug, Clone)]
pub struct Decoder {
    space: SubjectSpace,
    limits: WireLimits,
}

impl Decoder {
    pub fn new(space: SubjectSpace, limits: WireLimits) -> Self {
        Self { space, limits }
    }

    /// Decodes the message received on `subject`, or says why not.
    pub fn decode<T: DeserializeOwned>(
        &self,
        subject: &str,
        payload: &[u8],
    ) -> Result<Envelope<T>, Rejection> {
        let route = self.space.parse(subject)?;
        let envelope = decode(payload, &self.limits)?;
        check_route(&route, &envelope)?;
        Ok(envelope)
    }

    /// What a bidder calls on every message it receives: the envelope, or
    /// `None` after counting and logging why the message was dropped.
    pub fn decode_or_drop<T: DeserializeOwned>(
        &self,
        subject: &str,
        payload: &[u8],
    ) -> Option<Envelope<T>> {
        self.decode(subject, payload)
            .map_err(|rejection| record_drop(subject, &rejection))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::bus::subject::Token;
    use crate::wire::{Interaction, InteractionId, ModelHash};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    enum Body {
        Propose { price: i64 },
        Refuse,
    }

    fn t(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn decoder() -> Decoder {
        Decoder::new(SubjectSpace::in_zone(t("z")), WireLimits::default())
    }

    const SUBJECT: &str = "bourse.z.lcc.000000000000000000000000000000ff.h1.h2";

    fn lcc_message() -> Envelope<Body> {
        Envelope {
            sender: t("h1"),
            recipient: Some(t("h2")),
            interaction: Some(Interaction {
                id: InteractionId(0xff),
                model: ModelHash([7; 32]),
            }),
            sequence: 3,
            body: Body::Propose { price: -12 },
        }
    }

    fn bytes(envelope: &Envelope<Body>) -> Vec<u8> {
        encode(envelope, &WireLimits::default()).unwrap().to_vec()
    }

    #[test]
    fn an_envelope_decodes_to_what_was_encoded() {
        let envelope = lcc_message();
        let decoded: Envelope<Body> = decoder().decode(SUBJECT, &bytes(&envelope)).unwrap();
        assert_eq!(decoded, envelope);
    }

    #[test]
    fn each_defect_has_its_reason() {
        let good = bytes(&lcc_message());
        let wrong_version = bincode::serde::encode_to_vec(
            (SCHEMA_VERSION + 1, lcc_message()),
            bincode::config::standard(),
        )
        .unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut bad_variant = good.clone();
        // The body is last: its variant index is the byte after the header.
        let body_at = good.len() - 2;
        bad_variant[body_at] = 9;
        let mut as_h3 = lcc_message();
        as_h3.sender = t("h3");
        let mut other_interaction = lcc_message();
        other_interaction.interaction = None;
        let mut broadcast = lcc_message();
        broadcast.recipient = None;

        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (SUBJECT, good[..good.len() - 1].to_vec(), "truncated"),
            (SUBJECT, Vec::new(), "truncated"),
            (SUBJECT, trailing, "trailing_bytes"),
            (SUBJECT, wrong_version, "wrong_version"),
            (SUBJECT, bad_variant, "malformed"),
            (SUBJECT, bytes(&as_h3), "sender_mismatch"),
            (SUBJECT, bytes(&other_interaction), "address_mismatch"),
            (SUBJECT, bytes(&broadcast), "address_mismatch"),
            ("bourse.z.lcc.ff.h1", good.clone(), "unknown_subject"),
            ("bourse.other.lcc.ff.h1.h2", good.clone(), "unknown_subject"),
        ];
        for (subject, payload, reason) in cases {
            let rejection = decoder().decode::<Body>(subject, &payload).unwrap_err();
            assert_eq!(rejection.reason(), reason, "{rejection}");
        }
    }

    #[test]
    fn size_is_checked_before_decoding() {
        let small = Decoder::new(SubjectSpace::in_zone(t("z")), WireLimits::new(16));
        // Not even an envelope: only the size is looked at.
        let rejection = small.decode::<Body>(SUBJECT, &[0xff; 17]).unwrap_err();
        assert_eq!(rejection, Rejection::Oversized { size: 17, max: 16 });
        let error = encode(&lcc_message(), &WireLimits::new(16)).unwrap_err();
        assert!(matches!(error, EncodeError::TooLarge { max: 16, .. }));
        assert_eq!(
            WireLimits::new(usize::MAX).max_envelope_bytes(),
            CEILING_BYTES
        );
    }

    #[test]
    fn a_forged_length_does_not_allocate_it() {
        // This version, then a sender whose length prefix claims 2^64-1 bytes.
        let forged = [
            SCHEMA_VERSION as u8,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
            0xff,
        ];
        let rejection = decoder().decode::<Body>(SUBJECT, &forged).unwrap_err();
        assert_eq!(rejection.reason(), "malformed");
    }

    #[test]
    fn dropped_messages_are_counted_by_reason() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            let decoder = decoder();
            assert!(decoder.decode_or_drop::<Body>(SUBJECT, b"").is_none());
            assert!(decoder.decode_or_drop::<Body>(SUBJECT, b"").is_none());
            let mut as_h3 = lcc_message();
            as_h3.sender = t("h3");
            assert!(
                decoder
                    .decode_or_drop::<Body>(SUBJECT, &bytes(&as_h3))
                    .is_none()
            );
            assert!(
                decoder
                    .decode_or_drop::<Body>(SUBJECT, &bytes(&lcc_message()))
                    .is_some()
            );
        });
        let text = handle.render();
        assert!(
            text.contains(r#"bourse_messages_dropped_total{reason="truncated",kind="lcc"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"bourse_messages_dropped_total{reason="sender_mismatch",kind="lcc"} 1"#
            ),
            "{text}"
        );
    }
}
