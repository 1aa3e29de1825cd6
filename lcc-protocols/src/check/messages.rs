//! Messages: everything sent is received somewhere, and everything
//! received is sent somewhere.
//!
//! Messages are matched by functor and arity (`price(X, P)` is `price/2`);
//! a message that is a variable matches anything. Roles are matched the way
//! the interpreter delivers: a message goes to a *peer*, and a peer that
//! plays a role may go on, by role change, to play others. So roles linked
//! by role changes (in either direction) count as one peer: `cfp` sent by a
//! `caller` role that the `manager` changes into is received by a
//! contractor waiting for `cfp <= a(manager, M)`.

use std::collections::{HashMap, HashSet};

use crate::ast::{DefKind, Model, RoleRef, Span, Term};
use crate::diagnostic::{Code, Diagnostic};

use super::{did_you_mean, name_and_arity, steps};

/// One send or receive, as the matching sees it.
struct Message<'m> {
    /// The role whose clause has the step.
    here: &'m str,
    /// The role at the other end (`None`: a variable role, matches any).
    there: Option<&'m str>,
    there_ref: &'m RoleRef,
    /// `None`: the message is a variable (or a number, ...), matches any.
    key: Option<(&'m str, usize)>,
    span: Span,
}

pub fn check(model: &Model, out: &mut Vec<Diagnostic>) {
    let peers = Peers::of(model);
    let mut sends = Vec::new();
    let mut receives = Vec::new();
    for clause in &model.clauses {
        let Some(here) = clause.head.name() else {
            continue;
        };
        for step in steps(&clause.body) {
            match &step.kind {
                DefKind::Send { message, to, .. } => sends.push(describe(here, message, to)),
                DefKind::Receive { message, from, .. } => {
                    receives.push(describe(here, message, from))
                }
                _ => {}
            }
        }
    }
    let defined: HashSet<&str> = model.clauses.iter().filter_map(|c| c.head.name()).collect();
    let mut undefined_reported = HashSet::new();
    let (sends_by_key, receives_by_key) = (by_key(&sends), by_key(&receives));
    for (list, others, sending) in [
        (&sends, &receives_by_key, true),
        (&receives, &sends_by_key, false),
    ] {
        for message in list {
            let Some(there) = message.there else { continue };
            if !defined.contains(there) {
                if undefined_reported.insert(message.there_ref.span) {
                    out.push(no_clause(message, there, sending, &defined));
                }
                continue;
            }
            let matched = others.candidates(message.key).any(|other| {
                peers.same(other.here, there)
                    && other.there.is_none_or(|t| peers.same(t, message.here))
            });
            if !matched {
                out.push(unmatched(message, there, sending));
            }
        }
    }
}

/// Messages indexed by functor and arity, so that matching one costs the
/// messages of the same kind, not all of them.
struct ByKey<'a, 'm> {
    keyed: HashMap<(&'m str, usize), Vec<&'a Message<'m>>>,
    /// Variable messages: they match any key.
    wildcards: Vec<&'a Message<'m>>,
    all: &'a [Message<'m>],
}

fn by_key<'a, 'm>(messages: &'a [Message<'m>]) -> ByKey<'a, 'm> {
    let mut index = ByKey {
        keyed: HashMap::new(),
        wildcards: Vec::new(),
        all: messages,
    };
    for message in messages {
        match message.key {
            Some(key) => index.keyed.entry(key).or_default().push(message),
            None => index.wildcards.push(message),
        }
    }
    index
}

impl<'a, 'm> ByKey<'a, 'm> {
    /// The messages that may match one with `key`.
    fn candidates(
        &self,
        key: Option<(&'m str, usize)>,
    ) -> Box<dyn Iterator<Item = &'a Message<'m>> + '_> {
        match key {
            Some(key) => Box::new(
                self.keyed
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .copied()
                    .chain(self.wildcards.iter().copied()),
            ),
            None => Box::new(self.all.iter()),
        }
    }
}

fn describe<'m>(here: &'m str, message: &'m Term, other: &'m RoleRef) -> Message<'m> {
    Message {
        here,
        there: other.name(),
        there_ref: other,
        key: name_and_arity(message),
        span: message.span,
    }
}

fn shown(key: Option<(&str, usize)>) -> String {
    match key {
        Some((name, arity)) => format!("`{name}/{arity}`"),
        None => "this message".to_string(),
    }
}

fn no_clause(message: &Message, there: &str, sending: bool, defined: &HashSet<&str>) -> Diagnostic {
    let what = if sending {
        format!("{} is sent to role `{there}`", shown(message.key))
    } else {
        format!("{} is received from role `{there}`", shown(message.key))
    };
    let d = Diagnostic::new(
        Code::NoClauseForRole,
        format!("{what}, but no clause defines `{there}`"),
        message.there_ref.span,
    )
    .with_label("no such role");
    match did_you_mean(there, defined.iter().copied()) {
        Some(close) => d.with_hint(format!("did you mean `{close}`?")),
        None => d.with_hint(format!("add a clause `a({there}, Id) :: ...`")),
    }
}

fn unmatched(message: &Message, there: &str, sending: bool) -> Diagnostic {
    let key = shown(message.key);
    let here = message.here;
    if sending {
        Diagnostic::new(
            Code::NeverReceived,
            format!(
                "{key} is sent to `{there}`, but no clause of `{there}` receives it from `{here}`"
            ),
            message.span,
        )
        .with_label("sent here")
        .with_hint(format!(
            "add a receive `{} <= a({here}, Id)` to a clause of `{there}`, or check the \
             message's name and number of arguments",
            pattern(message.key)
        ))
    } else {
        Diagnostic::new(
            Code::NeverSent,
            format!(
                "{key} is received from `{there}`, but no clause of `{there}` sends it to `{here}`"
            ),
            message.span,
        )
        .with_label("would wait for ever")
        .with_hint(format!(
            "add a send `{} => a({here}, Id)` to a clause of `{there}`, or check the \
             message's name and number of arguments",
            pattern(message.key)
        ))
    }
}

/// `price(_, _)` for `price/2`: what the missing step would look like.
fn pattern(key: Option<(&str, usize)>) -> String {
    match key {
        Some((name, 0)) => name.to_string(),
        Some((name, arity)) => format!("{name}({})", vec!["_"; arity].join(", ")),
        None => "M".to_string(),
    }
}

/// Roles grouped by role change: roles in one group may be played by the
/// same peer, one after the other.
struct Peers<'m> {
    group: HashMap<&'m str, usize>,
}

impl<'m> Peers<'m> {
    fn of(model: &'m Model) -> Self {
        // Union-find over role names, edges from each clause to the roles
        // it changes into.
        let mut parent: Vec<usize> = Vec::new();
        let mut index: HashMap<&'m str, usize> = HashMap::new();
        let mut id = |name: &'m str, parent: &mut Vec<usize>| {
            *index.entry(name).or_insert_with(|| {
                parent.push(parent.len());
                parent.len() - 1
            })
        };
        fn root(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for clause in &model.clauses {
            let Some(from) = clause.head.name() else {
                continue;
            };
            let a = id(from, &mut parent);
            for step in steps(&clause.body) {
                if let DefKind::RoleChange { role, .. } = &step.kind
                    && let Some(to) = role.name()
                {
                    let b = id(to, &mut parent);
                    let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
                    parent[ra] = rb;
                }
            }
        }
        let group = index
            .iter()
            .map(|(name, &i)| (*name, root(&mut parent, i)))
            .collect();
        Peers { group }
    }

    fn same(&self, a: &str, b: &str) -> bool {
        a == b || matches!((self.group.get(a), self.group.get(b)), (Some(x), Some(y)) if x == y)
    }
}
