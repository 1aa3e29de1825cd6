//! NATS subject syntax: which subjects may be published on, which patterns
//! may be subscribed to, and how a pattern matches a subject.
//!
//! Both bus implementations check subjects here before doing anything, so
//! they refuse the same inputs. [`Pattern::matches`] follows the NATS
//! rules (the in-process bus's index, `sublist.rs`, is tested against it):
//! `*` stands for exactly one token, `>` (only as the last token) for one
//! or more tokens, and a token that merely contains `*` or `>` (like `a*`)
//! is a literal.

use crate::bus::BusError;

/// One token of a subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Literal(String),
    /// `*`: any one token.
    One,
    /// `>`: one or more tokens, at the end.
    Rest,
}

/// A checked subscription pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

/// Splits a subject into tokens, refusing what NATS refuses: an empty
/// subject, empty tokens (`a..b`, `.a`, `a.`) and whitespace, which would
/// break the protocol's framing.
fn tokens(subject: &str) -> Result<Vec<&str>, BusError> {
    let invalid = |reason: &'static str| BusError::InvalidSubject {
        subject: subject.to_owned(),
        reason,
    };
    if subject.is_empty() {
        return Err(invalid("empty subject"));
    }
    if subject.chars().any(char::is_whitespace) {
        return Err(invalid("whitespace in subject"));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    if tokens.iter().any(|t| t.is_empty()) {
        return Err(invalid("empty token"));
    }
    Ok(tokens)
}

/// Checks a subject a message is published on: well formed and without
/// wildcards (a message goes to one subject; patterns are for listening).
pub fn check_publish(subject: &str) -> Result<(), BusError> {
    if tokens(subject)?.iter().any(|t| *t == "*" || *t == ">") {
        return Err(BusError::InvalidSubject {
            subject: subject.to_owned(),
            reason: "wildcard in a publish subject",
        });
    }
    Ok(())
}

/// Checks a queue group name: NATS refuses empty names and whitespace.
pub fn check_queue_group(group: &str) -> Result<(), BusError> {
    if group.is_empty() || group.chars().any(char::is_whitespace) {
        return Err(BusError::InvalidQueueGroup {
            group: group.to_owned(),
        });
    }
    Ok(())
}

impl Pattern {
    /// Parses a subscription pattern.
    pub fn parse(pattern: &str) -> Result<Self, BusError> {
        let tokens = tokens(pattern)?;
        let last = tokens.len() - 1;
        let mut parts = Vec::with_capacity(tokens.len());
        for (i, token) in tokens.into_iter().enumerate() {
            parts.push(match token {
                "*" => Part::One,
                ">" if i == last => Part::Rest,
                ">" => {
                    return Err(BusError::InvalidSubject {
                        subject: pattern.to_owned(),
                        reason: "'>' is allowed only as the last token",
                    });
                }
                literal => Part::Literal(literal.to_owned()),
            });
        }
        Ok(Self { parts })
    }

    /// The tokens, for the in-process bus's subscription index.
    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Does a (literal, already checked) subject match this pattern?
    pub fn matches(&self, subject: &str) -> bool {
        let mut tokens = subject.split('.');
        for part in &self.parts {
            match (part, tokens.next()) {
                (_, None) => return false,
                (Part::Rest, Some(_)) => return true,
                (Part::One, Some(_)) => {}
                (Part::Literal(literal), Some(token)) => {
                    if literal != token {
                        return false;
                    }
                }
            }
        }
        tokens.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, subject: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(subject)
    }

    #[test]
    fn wildcards_match_like_nats() {
        let table = [
            ("a.b.c", "a.b.c", true),
            ("a.b.c", "a.b", false),
            ("a.b.c", "a.b.c.d", false),
            ("a.*.c", "a.b.c", true),
            ("a.*.c", "a.b.d", false),
            ("a.*", "a.b.c", false),
            ("a.*", "a", false),
            ("*", "a", true),
            ("*.*", "a.b", true),
            ("a.>", "a.b", true),
            ("a.>", "a.b.c.d", true),
            ("a.>", "a", false),
            (">", "a", true),
            (">", "a.b", true),
            ("*.b.>", "x.b.c", true),
            ("*.b.>", "x.b", false),
            ("a*", "a*", true),
            ("a*", "ab", false),
        ];
        for (pattern, subject, expected) in table {
            assert_eq!(matches(pattern, subject), expected, "{pattern} ~ {subject}");
        }
    }

    #[test]
    fn malformed_subjects_are_refused() {
        for bad in ["", "a..b", ".a", "a.", "a b", "a\tb", "a\r\nb"] {
            assert!(check_publish(bad).is_err(), "{bad:?}");
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
        for bad in ["a.*", "a.>", "*", ">"] {
            assert!(check_publish(bad).is_err(), "{bad:?}");
        }
        assert!(Pattern::parse("a.>.b").is_err());
        assert!(check_publish("a*.b>").is_ok());
    }

    #[test]
    fn queue_groups_need_a_name_without_whitespace() {
        assert!(check_queue_group("workers").is_ok());
        assert!(check_queue_group("").is_err());
        assert!(check_queue_group("a b").is_err());
    }
}
