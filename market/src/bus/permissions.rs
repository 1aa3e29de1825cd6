//! A zone's nats-server configuration: one user per host, each allowed to
//! publish only where it is the sender.
//!
//! `market nats-config` writes what [`server_config`] renders (for every
//! node of a cluster, [`super::cluster`]). For host `h`:
//!
//! - publish: the subjects of [`SubjectSpace::publish_allowed`] (those whose
//!   sender token is `h`), its own inbox `_INBOX.h.>` (for [`Bus::sync`]),
//!   and, through `allow_responses`, the reply subject of any request it
//!   received, once;
//! - subscribe: [`SubjectSpace::subscribe_allowed`] and its own inbox.
//!
//! So host B cannot publish a proposal as host A: the server refuses the
//! message (and tells B's connection "Permissions Violation"), nobody
//! receives it. An observer user (for `market watch`) may listen to the
//! whole zone and publish nothing but to its inbox. An operator user (for
//! `market place`) may start placements and nothing else: publish its
//! invitations of the placement model and its side of those interactions,
//! and hear only what is addressed to it.
//!
//! [`Bus::sync`]: super::Bus::sync

use std::fmt::Write;

use super::subject::{HostName, SubjectSpace, Token};

/// The inbox prefix of `host`: replies to its requests arrive under it, and
/// no other host may listen there.
pub fn inbox_prefix(host: &HostName) -> String {
    format!("_INBOX.{host}")
}

/// A user of the generated server configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user: HostName,
    pub password: String,
}

/// The users of a zone's server: one per host, and the observer and the
/// operator if there are.
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    pub hosts: &'a [Account],
    /// May listen to the whole zone and publish nothing (`market watch`).
    pub observer: Option<&'a Account>,
    /// May start placements of the named protocol and nothing else
    /// (`market place`).
    pub operator: Option<(&'a Account, &'a Token)>,
}

/// Renders the nats-server (2.9 format) configuration of a zone's single
/// server: the `authorization` block of its [`Users`]. Listen address, TLS
/// and limits are left to the operator's own file, which can `include`
/// this one. A cluster's nodes are configured by
/// [`super::cluster::Cluster::node_config`].
pub fn server_config(space: &SubjectSpace, users: &Users<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# nats-server configuration for zone {} (prefix {}), written by `market nats-config`.",
        space.zone(),
        space.prefix()
    );
    out.push_str(&authorization(space, users));
    out
}

/// The `authorization` block: one user per host, each allowed to publish
/// only on subjects that name it as the sender, and the observer and the
/// operator if any.
pub(super) fn authorization(space: &SubjectSpace, users: &Users<'_>) -> String {
    let mut out = String::from(
        "# One user per host: a host may publish only on subjects that name it as the sender.\n\
         authorization {\n  users = [\n",
    );
    for host in users.hosts {
        let inbox = format!("{}.>", inbox_prefix(&host.user));
        let mut publish = space.publish_allowed(&host.user);
        publish.push(inbox.clone());
        let mut subscribe = space.subscribe_allowed(&host.user);
        subscribe.push(inbox);
        user(&mut out, host, &publish, &subscribe, true);
    }
    if let Some(observer) = users.observer {
        let inbox = format!("{}.>", inbox_prefix(&observer.user));
        user(
            &mut out,
            observer,
            std::slice::from_ref(&inbox),
            &[space.everything(), inbox.clone()],
            false,
        );
    }
    if let Some((operator, protocol)) = users.operator {
        let inbox = format!("{}.>", inbox_prefix(&operator.user));
        let mut publish = space.operator_publish_allowed(&operator.user, protocol);
        publish.push(inbox.clone());
        let mut subscribe = space.operator_subscribe_allowed(&operator.user);
        subscribe.push(inbox);
        user(&mut out, operator, &publish, &subscribe, false);
    }
    out.push_str("  ]\n}\n");
    out
}

fn user(
    out: &mut String,
    account: &Account,
    publish: &[String],
    subscribe: &[String],
    allow_responses: bool,
) {
    let _ = writeln!(
        out,
        "    {{\n      user: {}\n      password: {}\n      permissions: {{\n        \
         publish: {{ allow: {} }}\n        subscribe: {{ allow: {} }}\n        \
         allow_responses: {allow_responses}\n      }}\n    }}",
        quoted(account.user.as_str()),
        quoted(&account.password),
        list(publish),
        list(subscribe),
    );
}

/// A quoted string of the configuration language, which takes JSON's
/// escapes: host names may contain quotes or backslashes.
pub(super) fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::subject::Token;

    fn t(s: &str) -> Token {
        Token::new(s).unwrap()
    }

    #[test]
    fn each_host_gets_its_own_subjects_and_inbox() {
        let space = SubjectSpace::in_zone(t("z1"));
        let hosts = [Account {
            user: t("h1"),
            password: "pw1".into(),
        }];
        let observer = Account {
            user: t("watch"),
            password: "pw2".into(),
        };
        let operator = Account {
            user: t("ops"),
            password: "pw3".into(),
        };
        let users = Users {
            hosts: &hosts,
            observer: Some(&observer),
            operator: Some((&operator, &t("placement"))),
        };
        let text = server_config(&space, &users);
        for expected in [
            r#"user: "h1""#,
            r#"password: "pw1""#,
            r#"publish: { allow: ["bourse.z1.hosts.h1.status", "bourse.z1.invite.*.h1", "bourse.z1.lcc.*.h1.*", "bourse.z1.trades.h1", "bourse.z1.migrate.h1.*", "_INBOX.h1.>"] }"#,
            r#"subscribe: { allow: ["bourse.z1.hosts.*.status", "bourse.z1.invite.>", "bourse.z1.lcc.*.*.h1", "bourse.z1.trades.*", "bourse.z1.migrate.*.h1", "_INBOX.h1.>"] }"#,
            "allow_responses: true",
            r#"publish: { allow: ["_INBOX.watch.>"] }"#,
            r#"subscribe: { allow: ["bourse.z1.>", "_INBOX.watch.>"] }"#,
            "allow_responses: false",
            r#"publish: { allow: ["bourse.z1.invite.placement.ops", "bourse.z1.lcc.*.ops.*", "_INBOX.ops.>"] }"#,
            r#"subscribe: { allow: ["bourse.z1.lcc.*.*.ops", "_INBOX.ops.>"] }"#,
        ] {
            assert!(text.contains(expected), "missing {expected}\n{text}");
        }
    }

    #[test]
    fn quotes_in_names_are_escaped() {
        assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
