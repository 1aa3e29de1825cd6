//! The subject layout: where each kind of message travels, with its sender
//! named in the subject.
//!
//! Every subject a host publishes on carries that host's name as a token, so
//! a nats-server configured by `market nats-config` can refuse a host that
//! tries to speak as another (see [`SubjectSpace::publish_allowed`]). The
//! receiver compares that token with the sender written inside the envelope
//! (`crate::wire`), so a message cannot claim one sender in the subject and
//! another in its body.
//!
//! | subject | sender | what |
//! |---|---|---|
//! | `<prefix>.<zone>.hosts.<host>.status` | host | its state every period (`crate::events`) |
//! | `<prefix>.<zone>.invite.<model>.<from>` | from | an initiator recruits role players for a model |
//! | `<prefix>.<zone>.lcc.<interaction>.<from>.<to>` | from | one LCC message of one interaction |
//! | `<prefix>.<zone>.trades.<from>` | from | each step of the trades it sells (`crate::events`) |
//! | `<prefix>.<zone>.migrate.<from>.<to>` | from | the migration hand-off |
//!
//! The second token after the zone is the kind, and each kind has its own
//! number of tokens, so a subject parses one way only.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest token accepted. NATS has no such limit; a bound keeps subjects
/// (and the server's permission lists) readable and cheap to match.
pub const MAX_TOKEN_LEN: usize = 128;

/// Why a token or a subject was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubjectError {
    #[error("empty token")]
    EmptyToken,
    #[error("token {token:?} is longer than {MAX_TOKEN_LEN} bytes")]
    TokenTooLong { token: String },
    #[error(
        "token {token:?} contains {found:?}; tokens may not contain '.', '*', '>', whitespace or control characters"
    )]
    ForbiddenCharacter { token: String, found: char },
    #[error("subject {subject:?} is not in zone {zone}")]
    OtherZone { subject: String, zone: String },
    #[error("subject {subject:?} does not follow the bourse subject layout")]
    Unknown { subject: String },
}

/// One validated subject token: a host name, a zone, a model name, an
/// interaction id. Validation happens once, here, so every subject built
/// from tokens is well formed and has exactly the tokens the layout says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    /// Checks `token` and wraps it.
    pub fn new(token: impl Into<String>) -> Result<Self, SubjectError> {
        let token = token.into();
        if token.is_empty() {
            return Err(SubjectError::EmptyToken);
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(SubjectError::TokenTooLong { token });
        }
        if let Some(found) = token
            .chars()
            .find(|c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())
        {
            return Err(SubjectError::ForbiddenCharacter { token, found });
        }
        Ok(Self(token))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Token {
    type Error = SubjectError;
    fn try_from(token: String) -> Result<Self, Self::Error> {
        Self::new(token)
    }
}

impl From<Token> for String {
    fn from(token: Token) -> Self {
        token.0
    }
}

impl std::str::FromStr for Token {
    type Err = SubjectError;
    fn from_str(token: &str) -> Result<Self, Self::Err> {
        Self::new(token)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of a host as it appears in subjects, envelopes and the
/// nats-server user list.
pub type HostName = Token;

/// Where a subject leads: the parsed form of one bourse subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    HostStatus {
        host: HostName,
    },
    Invite {
        model: Token,
        from: HostName,
    },
    Lcc {
        interaction: Token,
        from: HostName,
        to: HostName,
    },
    Trades {
        from: HostName,
    },
    Migrate {
        from: HostName,
        to: HostName,
    },
}

impl Route {
    /// The host that speaks on this subject: the one NATS permissions let
    /// publish here, and the one the envelope must name as its sender.
    pub fn sender(&self) -> &HostName {
        match self {
            Route::HostStatus { host } => host,
            Route::Invite { from, .. }
            | Route::Lcc { from, .. }
            | Route::Trades { from }
            | Route::Migrate { from, .. } => from,
        }
    }
}

/// The subjects of one zone: `<prefix>.<zone>.…`. A datacentre may run
/// several zones on one NATS server; they never hear each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectSpace {
    prefix: Token,
    zone: Token,
}

impl SubjectSpace {
    /// The prefix used when a configuration does not name one.
    pub const DEFAULT_PREFIX: &'static str = "bourse";

    pub fn new(prefix: Token, zone: Token) -> Self {
        Self { prefix, zone }
    }

    /// The zone under the default prefix `bourse`.
    pub fn in_zone(zone: Token) -> Self {
        Self::new(Token(Self::DEFAULT_PREFIX.to_owned()), zone)
    }

    pub fn prefix(&self) -> &Token {
        &self.prefix
    }

    pub fn zone(&self) -> &Token {
        &self.zone
    }

    fn join(&self, tokens: &[&str]) -> String {
        let mut subject = format!("{}.{}", self.prefix, self.zone);
        for token in tokens {
            subject.push('.');
            subject.push_str(token);
        }
        subject
    }

    /// The subject a route is published on.
    pub fn subject(&self, route: &Route) -> String {
        match route {
            Route::HostStatus { host } => self.join(&["hosts", host.as_str(), "status"]),
            Route::Invite { model, from } => self.join(&["invite", model.as_str(), from.as_str()]),
            Route::Lcc {
                interaction,
                from,
                to,
            } => self.join(&["lcc", interaction.as_str(), from.as_str(), to.as_str()]),
            Route::Trades { from } => self.join(&["trades", from.as_str()]),
            Route::Migrate { from, to } => self.join(&["migrate", from.as_str(), to.as_str()]),
        }
    }

    /// Parses a subject of this zone back into its route.
    pub fn parse(&self, subject: &str) -> Result<Route, SubjectError> {
        let unknown = || SubjectError::Unknown {
            subject: subject.to_owned(),
        };
        let mut tokens = subject.split('.');
        if tokens.next() != Some(self.prefix.as_str()) || tokens.next() != Some(self.zone.as_str())
        {
            return Err(SubjectError::OtherZone {
                subject: subject.to_owned(),
                zone: self.zone.to_string(),
            });
        }
        let rest: Vec<&str> = tokens.collect();
        let token = |t: &str| Token::new(t).map_err(|_| unknown());
        match rest.as_slice() {
            ["hosts", host, "status"] => Ok(Route::HostStatus { host: token(host)? }),
            ["invite", model, from] => Ok(Route::Invite {
                model: token(model)?,
                from: token(from)?,
            }),
            ["lcc", interaction, from, to] => Ok(Route::Lcc {
                interaction: token(interaction)?,
                from: token(from)?,
                to: token(to)?,
            }),
            ["trades", from] => Ok(Route::Trades { from: token(from)? }),
            ["migrate", from, to] => Ok(Route::Migrate {
                from: token(from)?,
                to: token(to)?,
            }),
            _ => Err(unknown()),
        }
    }

    /// Every host's status reports.
    pub fn all_host_status(&self) -> String {
        self.join(&["hosts", "*", "status"])
    }

    /// Invitations to play in `model`, from any initiator.
    pub fn invites_for(&self, model: &Token) -> String {
        self.join(&["invite", model.as_str(), "*"])
    }

    /// Every LCC message addressed to `host`, in any interaction.
    pub fn lcc_to(&self, host: &HostName) -> String {
        self.join(&["lcc", "*", "*", host.as_str()])
    }

    /// The LCC messages addressed to `host` in one interaction.
    pub fn lcc_interaction_to(&self, interaction: &Token, host: &HostName) -> String {
        self.join(&["lcc", interaction.as_str(), "*", host.as_str()])
    }

    /// Every trade event of the zone.
    pub fn all_trades(&self) -> String {
        self.join(&["trades", "*"])
    }

    /// Migration hand-offs addressed to `host`.
    pub fn migrate_to(&self, host: &HostName) -> String {
        self.join(&["migrate", "*", host.as_str()])
    }

    /// Everything in the zone: what an observer (`market watch`) listens to.
    pub fn everything(&self) -> String {
        self.join(&[">"])
    }

    /// The subjects `host` may publish on: exactly those where it is the
    /// sender. This is the list written into the nats-server permissions,
    /// kept next to the layout so the two cannot drift apart.
    pub fn publish_allowed(&self, host: &HostName) -> Vec<String> {
        let h = host.as_str();
        vec![
            self.join(&["hosts", h, "status"]),
            self.join(&["invite", "*", h]),
            self.join(&["lcc", "*", h, "*"]),
            self.join(&["trades", h]),
            self.join(&["migrate", h, "*"]),
        ]
    }

    /// The subjects an operator may publish on to start placements of
    /// `protocol` (`market place`): its invitations of that model only, and
    /// its side of the interactions it starts. Nothing else: no status, no
    /// trades, no migrations, no other model's calls.
    pub fn operator_publish_allowed(&self, operator: &HostName, protocol: &Token) -> Vec<String> {
        let o = operator.as_str();
        vec![
            self.join(&["invite", protocol.as_str(), o]),
            self.join(&["lcc", "*", o, "*"]),
        ]
    }

    /// The subjects an operator may subscribe to: the LCC messages
    /// addressed to it.
    pub fn operator_subscribe_allowed(&self, operator: &HostName) -> Vec<String> {
        vec![self.lcc_to(operator)]
    }

    /// The subjects `host` may subscribe to: discovery, invitations and
    /// trades of the whole zone, and only the LCC messages and hand-offs
    /// addressed to itself.
    pub fn subscribe_allowed(&self, host: &HostName) -> Vec<String> {
        vec![
            self.all_host_status(),
            self.join(&["invite", ">"]),
            self.lcc_to(host),
            self.all_trades(),
            self.migrate_to(host),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    fn space() -> SubjectSpace {
        SubjectSpace::new(t("bourse"), t("eu1"))
    }

    #[test]
    fn tokens_refuse_what_would_change_a_subject() {
        for bad in [
            "", "a.b", "*", "a*", ">", "a>b", "a b", "a\tb", "a\nb", "\u{7f}",
        ] {
            assert!(Token::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Token::new("x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        for good in [
            "h1",
            "node-07",
            "host_A",
            "ünïcode",
            "x".repeat(MAX_TOKEN_LEN).as_str(),
        ] {
            assert_eq!(Token::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn tokens_are_checked_when_deserialized() {
        assert!(serde_json::from_str::<Token>("\"a.b\"").is_err());
        assert_eq!(serde_json::from_str::<Token>("\"h1\"").unwrap(), t("h1"));
    }

    fn routes() -> Vec<(Route, &'static str)> {
        vec![
            (
                Route::HostStatus { host: t("h1") },
                "bourse.eu1.hosts.h1.status",
            ),
            (
                Route::Invite {
                    model: t("contract-net"),
                    from: t("h1"),
                },
                "bourse.eu1.invite.contract-net.h1",
            ),
            (
                Route::Lcc {
                    interaction: t("9f2c"),
                    from: t("h1"),
                    to: t("h2"),
                },
                "bourse.eu1.lcc.9f2c.h1.h2",
            ),
            (Route::Trades { from: t("h1") }, "bourse.eu1.trades.h1"),
            (
                Route::Migrate {
                    from: t("h1"),
                    to: t("h2"),
                },
                "bourse.eu1.migrate.h1.h2",
            ),
        ]
    }

    #[test]
    fn every_route_builds_and_parses_back() {
        let space = space();
        for (route, subject) in routes() {
            assert_eq!(space.subject(&route), subject);
            assert_eq!(space.parse(subject).unwrap(), route);
            assert_eq!(route.sender(), &t("h1"));
        }
    }

    #[test]
    fn foreign_and_malformed_subjects_are_refused() {
        let space = space();
        assert!(matches!(
            space.parse("bourse.us1.trades.h1"),
            Err(SubjectError::OtherZone { .. })
        ));
        assert!(matches!(
            space.parse("other.eu1.trades.h1"),
            Err(SubjectError::OtherZone { .. })
        ));
        for bad in [
            "bourse.eu1",
            "bourse.eu1.trades",
            "bourse.eu1.trades.h1.extra",
            "bourse.eu1.hosts.h1.load",
            "bourse.eu1.lcc.i.h1",
            "bourse.eu1.lcc.i.*.h2",
            "bourse.eu1.migrate.h1.",
            "bourse.eu1.auction.h1",
        ] {
            assert!(
                matches!(space.parse(bad), Err(SubjectError::Unknown { .. })),
                "{bad:?} parsed"
            );
        }
    }

    /// The permission lists are NATS patterns; checking them against the
    /// same matcher the in-process bus uses shows each host may publish on
    /// its own subjects and on no other host's.
    #[test]
    fn publish_permissions_cover_exactly_the_hosts_own_subjects() {
        use crate::bus::pattern::Pattern;
        let space = space();
        let allowed: Vec<Pattern> = space
            .publish_allowed(&t("h1"))
            .iter()
            .map(|p| Pattern::parse(p).unwrap())
            .collect();
        let may_publish = |s: &str| allowed.iter().any(|p| p.matches(s));
        for (route, subject) in routes() {
            assert!(may_publish(subject), "{route:?}");
        }
        for subject in [
            "bourse.eu1.hosts.h2.status",
            "bourse.eu1.invite.contract-net.h2",
            "bourse.eu1.lcc.9f2c.h2.h1",
            "bourse.eu1.trades.h2",
            "bourse.eu1.migrate.h2.h1",
            "bourse.us1.trades.h1",
        ] {
            assert!(!may_publish(subject), "{subject}");
        }
    }
}
