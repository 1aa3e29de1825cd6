//! The in-process bus's subscription index: a tree of subject tokens, as
//! nats-server keeps its "sublist".
//!
//! Matching a subject walks its tokens down the tree, following at each
//! level the literal token and `*`, and collecting the `>` subscriptions on
//! the way: the cost grows with the subject's length, not with the number
//! of subscriptions (a double-auction round has a thousand). Removing a
//! subscription prunes the branches it leaves empty, so interaction ids
//! that come and go do not accumulate.

use std::collections::HashMap;

use super::pattern::{Part, Pattern};

/// Subscription ids by pattern.
#[derive(Debug, Default)]
pub(crate) struct Sublist {
    root: Level,
}

/// The choices after some tokens.
#[derive(Debug, Default)]
struct Level {
    literal: HashMap<String, Node>,
    one: Option<Box<Node>>,
    /// Subscriptions whose pattern ends with `>` here.
    rest: Vec<u64>,
}

/// One token of some patterns.
#[derive(Debug, Default)]
struct Node {
    /// Subscriptions whose pattern ends with this token.
    here: Vec<u64>,
    next: Level,
}

impl Level {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.one.is_none() && self.rest.is_empty()
    }
}

impl Node {
    fn is_empty(&self) -> bool {
        self.here.is_empty() && self.next.is_empty()
    }
}

impl Sublist {
    pub(crate) fn insert(&mut self, pattern: &Pattern, id: u64) {
        let parts = pattern.parts();
        let mut level = &mut self.root;
        for (i, part) in parts.iter().enumerate() {
            let node = match part {
                Part::Rest => {
                    level.rest.push(id);
                    return;
                }
                Part::One => level.one.get_or_insert_with(Box::default).as_mut(),
                Part::Literal(token) => level.literal.entry(token.clone()).or_default(),
            };
            if i + 1 == parts.len() {
                node.here.push(id);
                return;
            }
            level = &mut node.next;
        }
    }

    pub(crate) fn remove(&mut self, pattern: &Pattern, id: u64) {
        remove(&mut self.root, pattern.parts(), id);
    }

    /// The ids of every subscription whose pattern matches `subject` (a
    /// checked, literal subject), each once.
    pub(crate) fn matching(&self, subject: &str) -> Vec<u64> {
        let tokens: Vec<&str> = subject.split('.').collect();
        let mut found = Vec::new();
        collect(&self.root, &tokens, &mut found);
        found
    }
}

/// Removes `id` under the pattern `parts` and prunes what is left empty.
fn remove(level: &mut Level, parts: &[Part], id: u64) {
    let Some((part, rest)) = parts.split_first() else {
        return;
    };
    let from_node = |node: &mut Node| {
        if rest.is_empty() {
            node.here.retain(|x| *x != id);
        } else {
            remove(&mut node.next, rest, id);
        }
        node.is_empty()
    };
    match part {
        Part::Rest => level.rest.retain(|x| *x != id),
        Part::One => {
            if level.one.as_deref_mut().is_some_and(from_node) {
                level.one = None;
            }
        }
        Part::Literal(token) => {
            if level.literal.get_mut(token).is_some_and(from_node) {
                level.literal.remove(token);
            }
        }
    }
}

/// Recursion depth is bounded by the deepest subscribed pattern.
fn collect(level: &Level, tokens: &[&str], found: &mut Vec<u64>) {
    let Some((token, rest)) = tokens.split_first() else {
        return;
    };
    found.extend(&level.rest);
    let mut visit = |node: &Node| {
        if rest.is_empty() {
            found.extend(&node.here);
        } else {
            collect(&node.next, rest, found);
        }
    };
    if let Some(node) = level.literal.get(*token) {
        visit(node);
    }
    if let Some(node) = &level.one {
        visit(node);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pattern() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof!["a", "b", Just("*".to_owned())], 0..4).prop_flat_map(
            |tokens| {
                prop_oneof![Just(false), Just(true)].prop_map(move |rest| {
                    let mut tokens = tokens.clone();
                    if rest || tokens.is_empty() {
                        tokens.push(">".to_owned());
                    }
                    tokens.join(".")
                })
            },
        )
    }

    fn subject() -> impl Strategy<Value = String> {
        prop::collection::vec(prop_oneof!["a", "b", "c"], 1..6).prop_map(|t| t.join("."))
    }

    fn expected(patterns: &[(u64, Pattern)], subject: &str) -> Vec<u64> {
        patterns
            .iter()
            .filter(|(_, p)| p.matches(subject))
            .map(|(id, _)| *id)
            .collect()
    }

    fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
        ids.sort_unstable();
        ids
    }

    proptest! {
        /// The tree finds exactly what matching every pattern one by one
        /// finds, before and after removing some, and is empty at the end.
        #[test]
        fn the_tree_agrees_with_pattern_matching(
            patterns in prop::collection::vec(pattern(), 1..24),
            subjects in prop::collection::vec(subject(), 1..24),
        ) {
            let patterns: Vec<(u64, Pattern)> = patterns
                .iter()
                .enumerate()
                .map(|(i, p)| (i as u64, Pattern::parse(p).unwrap()))
                .collect();
            let mut tree = Sublist::default();
            for (id, p) in &patterns {
                tree.insert(p, *id);
            }
            for s in &subjects {
                prop_assert_eq!(sorted(tree.matching(s)), expected(&patterns, s));
            }
            let (gone, kept): (Vec<_>, Vec<_>) =
                patterns.into_iter().partition(|(id, _)| id % 2 == 0);
            for (id, p) in &gone {
                tree.remove(p, *id);
            }
            for s in &subjects {
                prop_assert_eq!(sorted(tree.matching(s)), expected(&kept, s));
            }
            for (id, p) in &kept {
                tree.remove(p, *id);
            }
            prop_assert!(tree.root.is_empty());
        }
    }
}
