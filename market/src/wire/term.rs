//! The body of an LCC message on the wire: a ground term, flattened.
//!
//! A term is sent as the list of its nodes in postfix order (leaves, then
//! `functor/arity` after its arguments), not as nested data. Decoding then
//! rebuilds it with an explicit stack instead of recursion, so a hostile
//! message nested a million deep (a long list is nested as deep as it is
//! long) cannot overflow the receiver's stack; depth is limited to
//! [`MAX_DEPTH`] so that later recursive walks over the term (unification,
//! dropping it) stay safe too. Variables cannot be written: a message is
//! ground. Groundness flags are recomputed, never taken from the sender.

use lcc::term::{Symbol, Term};
use serde::ser::Error as _;
use serde::{Deserialize, Serialize, Serializer};

/// The deepest term accepted: lists of up to about this many elements.
pub const MAX_DEPTH: usize = 1024;

/// A ground term as an LCC message body.
#[derive(Debug, Clone)]
pub struct MessageTerm(pub Term);

/// One node of a flattened term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    Atom(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// A compound built from the last `arity` terms before it.
    Apply(String, u32),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TermError {
    #[error("a message term must be ground; it holds a variable")]
    NotGround,
    #[error("a compound needs {needed} arguments, only {available} precede it")]
    MissingArguments { needed: usize, available: usize },
    #[error("a compound with no arguments")]
    NoArguments,
    #[error("{0} terms where one was expected")]
    NotOneTerm(usize),
    #[error("nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

impl MessageTerm {
    /// The nodes of `term` in postfix order, without recursion.
    fn flatten(term: &Term) -> Result<Vec<Node>, TermError> {
        // (term, its arguments are already out)
        let mut work = vec![(term, false)];
        let mut nodes = Vec::new();
        while let Some((term, expanded)) = work.pop() {
            match term {
                Term::Var(_) => return Err(TermError::NotGround),
                Term::Atom(a) => nodes.push(Node::Atom(a.as_str().to_owned())),
                Term::Int(i) => nodes.push(Node::Int(*i)),
                Term::Float(f) => nodes.push(Node::Float(*f)),
                Term::Str(s) => nodes.push(Node::Str(s.as_str().to_owned())),
                Term::Compound(c) if expanded => {
                    let arity = u32::try_from(c.args.len()).map_err(|_| TermError::TooDeep)?;
                    nodes.push(Node::Apply(c.functor.as_str().to_owned(), arity));
                }
                Term::Compound(c) => {
                    work.push((term, true));
                    work.extend(c.args.iter().rev().map(|arg| (arg, false)));
                }
            }
        }
        Ok(nodes)
    }

    /// Rebuilds a term from postfix nodes, checking arity and depth.
    fn rebuild(nodes: Vec<Node>) -> Result<Term, TermError> {
        // Each built term with its depth.
        let mut stack: Vec<(Term, usize)> = Vec::new();
        for node in nodes {
            let built = match node {
                Node::Atom(a) => (Term::atom(&a), 1),
                Node::Int(i) => (Term::Int(i), 1),
                Node::Float(f) => (Term::Float(f), 1),
                Node::Str(s) => (Term::string(&s), 1),
                Node::Apply(functor, arity) => {
                    let arity = arity as usize;
                    if arity == 0 {
                        return Err(TermError::NoArguments);
                    }
                    if arity > stack.len() {
                        return Err(TermError::MissingArguments {
                            needed: arity,
                            available: stack.len(),
                        });
                    }
                    let args = stack.split_off(stack.len() - arity);
                    let depth = 1 + args.iter().map(|(_, d)| *d).max().unwrap_or(0);
                    if depth > MAX_DEPTH {
                        return Err(TermError::TooDeep);
                    }
                    let args = args.into_iter().map(|(t, _)| t).collect();
                    (Term::compound(Symbol::new(&functor), args), depth)
                }
            };
            stack.push(built);
        }
        match stack.len() {
            1 => Ok(stack.pop().map(|(t, _)| t).unwrap_or_else(Term::nil)),
            n => Err(TermError::NotOneTerm(n)),
        }
    }
}

impl Serialize for MessageTerm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Self::flatten(&self.0)
            .map_err(S::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MessageTerm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let nodes = Vec::<Node>::deserialize(deserializer)?;
        Self::rebuild(nodes)
            .map(MessageTerm)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Envelope, WireLimits, decode, encode};

    fn round_trip(term: &Term) -> Term {
        let nodes = MessageTerm::flatten(term).unwrap();
        MessageTerm::rebuild(nodes).unwrap()
    }

    #[test]
    fn terms_survive_the_wire() {
        let term = Term::apply(
            "propose",
            vec![
                Term::apply("task", vec![Term::atom("vm42")]),
                Term::Int(-7),
                Term::Float(2.5),
                Term::string("two words"),
                Term::list(vec![Term::atom("a"), Term::Int(1)]),
                Term::nil(),
            ],
        );
        assert!(round_trip(&term).same(&term));
        assert!(round_trip(&term).is_ground());
    }

    #[test]
    fn variables_are_not_sent() {
        let term = Term::apply("f", vec![Term::var(0)]);
        assert_eq!(MessageTerm::flatten(&term), Err(TermError::NotGround));
        let envelope = Envelope {
            sender: crate::bus::subject::Token::new("h").unwrap(),
            recipient: None,
            interaction: None,
            sequence: 0,
            body: MessageTerm(term),
        };
        assert!(encode(&envelope, &WireLimits::default()).is_err());
    }

    #[test]
    fn malformed_node_lists_are_refused() {
        let atom = || Node::Atom("a".into());
        let cases = [
            (vec![], TermError::NotOneTerm(0)),
            (vec![atom(), atom()], TermError::NotOneTerm(2)),
            (
                vec![atom(), Node::Apply("f".into(), 2)],
                TermError::MissingArguments {
                    needed: 2,
                    available: 1,
                },
            ),
            (vec![Node::Apply("f".into(), 0)], TermError::NoArguments),
        ];
        for (nodes, error) in cases {
            assert_eq!(MessageTerm::rebuild(nodes).unwrap_err(), error);
        }
    }

    #[test]
    fn a_list_as_long_as_the_depth_limit_passes_and_a_longer_one_is_refused() {
        let list = |n: usize| Term::list((0..n).map(|i| Term::Int(i as i64)).collect());
        let fits = list(MAX_DEPTH - 1);
        assert!(round_trip(&fits).same(&fits));
        let nodes = MessageTerm::flatten(&list(MAX_DEPTH)).unwrap();
        assert_eq!(MessageTerm::rebuild(nodes), Err(TermError::TooDeep));
    }

    /// A hostile payload nested 200,000 deep (well inside 1 MiB) is refused
    /// without recursion: no stack overflow, just a rejection.
    #[test]
    fn a_hostile_deep_nesting_is_rejected_without_overflowing() {
        let mut nodes = vec![Node::Int(0)];
        nodes.extend((0..200_000).map(|_| Node::Apply("f".into(), 1)));
        let body = bincode::serde::encode_to_vec(&nodes, bincode::config::standard()).unwrap();
        let mut payload = bincode::serde::encode_to_vec(
            (
                crate::wire::SCHEMA_VERSION,
                "h",
                None::<()>,
                None::<()>,
                0u64,
            ),
            bincode::config::standard(),
        )
        .unwrap();
        payload.extend(body);
        assert!(payload.len() < 1024 * 1024);
        let rejection = decode::<MessageTerm>(&payload, &WireLimits::default()).unwrap_err();
        assert_eq!(rejection.reason(), "malformed", "{rejection}");
    }
}
