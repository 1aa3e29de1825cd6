//! The binding store of one role instance: unification, substitution, undo.
//!
//! Every clause instance a role expands gets a contiguous range of slots
//! (its *frame*); a compiled term's `Var(i)` means slot `frame + i`. Values
//! stored in slots are *absolute* terms (their variables are slot numbers),
//! so a term is always read together with the base its variables are
//! relative to: the frame for a term of the compiled model, 0 for a value.
//!
//! Tentative work (a constraint that may fail, a message that may not match)
//! records the slots it binds on a trail and undoes them when it fails.
//!
//! Constant memory: when a role changes role in tail position the store is
//! cut back to where that role's slots begin ([`Bindings::restart`]). Two
//! rules keep that safe: a variable is always bound to an *older* one (lower
//! slot), never the reverse; and when a role binds a variable older than its
//! own slots, the value is resolved first, and any still-unbound young
//! variable it mentions raises a watermark below which the store is never cut.

use serde::{Deserialize, Serialize};

use super::{Term, Var};

/// Slots of one role instance, with the undo trail.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Bindings {
    slots: Vec<Option<Term>>,
    /// Slots bound since the current tentative step began.
    #[serde(skip)]
    trail: Vec<u32>,
    /// Where the slots of the innermost running role begin; binding below
    /// it is binding a caller's variable.
    floor: u32,
    /// The store is never cut below this slot: a caller's variable refers
    /// to an unbound variable here.
    keep: u32,
}

/// What unifying two terms comes down to, once both are dereferenced.
enum Unify {
    Done(bool),
    /// Two unbound variables: the younger points at the older.
    Link {
        young: u32,
        old: u32,
    },
    /// An unbound variable and a term (relative to `base`).
    Bind {
        slot: u32,
        value: Term,
        base: u32,
    },
    /// Two compounds, each with the base of its variables.
    Args(
        std::sync::Arc<crate::term::Compound>,
        u32,
        std::sync::Arc<crate::term::Compound>,
        u32,
    ),
}

/// A variable chain followed to its end.
enum Walked {
    Unbound(u32),
    Bound(Term, u32),
}

impl Bindings {
    /// Number of slots in use: the memory a role instance holds for its
    /// variables.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Reserves `n` fresh unbound slots and returns the first.
    pub fn alloc(&mut self, n: u32) -> u32 {
        let base = self.slot_count();
        self.slots
            .resize(self.slots.len() + n as usize, None::<Term>);
        base
    }

    fn slot_count(&self) -> u32 {
        u32::try_from(self.slots.len()).unwrap_or(u32::MAX)
    }

    /// The value of slot `v`, if bound.
    pub fn value(&self, v: u32) -> Option<&Term> {
        self.slots.get(v as usize).and_then(Option::as_ref)
    }

    pub(crate) fn set_floor(&mut self, floor: u32) -> u32 {
        std::mem::replace(&mut self.floor, floor)
    }

    /// A point to undo back to.
    pub fn mark(&self) -> usize {
        self.trail.len()
    }

    /// Unbinds everything bound since `mark`.
    pub fn undo(&mut self, mark: usize) {
        while self.trail.len() > mark {
            if let Some(v) = self.trail.pop()
                && let Some(slot) = self.slots.get_mut(v as usize)
            {
                *slot = None;
            }
        }
    }

    /// The current step succeeded: nothing before this point will be undone.
    pub fn settle(&mut self) {
        self.trail.clear();
    }

    /// Follows `term` (relative to `base`) through bound variables to what
    /// it stands for: an unbound variable or a non-variable term, with the
    /// base its own variables are relative to. Borrows; clones nothing.
    pub fn deref<'a>(&'a self, term: &'a Term, base: u32) -> (&'a Term, u32) {
        let mut term = term;
        let mut base = base;
        while let Term::Var(Var(i)) = term {
            match self.slots.get(base.saturating_add(*i) as usize) {
                Some(Some(value)) => {
                    term = value;
                    base = 0;
                }
                _ => break,
            }
        }
        (term, base)
    }

    fn walk(&self, term: &Term, base: u32) -> Walked {
        let mut term = term;
        let mut base = base;
        loop {
            match term {
                Term::Var(Var(i)) => {
                    let slot = base.saturating_add(*i);
                    match self.slots.get(slot as usize) {
                        Some(Some(value)) => {
                            term = value;
                            base = 0;
                        }
                        _ => return Walked::Unbound(slot),
                    }
                }
                _ => return Walked::Bound(term.clone(), base),
            }
        }
    }

    /// Is this term (relative to `base`) an unbound variable?
    pub fn is_unbound(&self, term: &Term, base: u32) -> bool {
        matches!(self.walk(term, base), Walked::Unbound(_))
    }

    fn bind(&mut self, slot: u32, value: Term) {
        let value = if slot < self.floor {
            let resolved = self.resolve(&value, 0);
            if let Some(Var(young)) = max_var(&resolved)
                && young >= self.floor
            {
                self.keep = self.keep.max(young + 1);
            }
            resolved
        } else {
            value
        };
        if let Some(cell) = self.slots.get_mut(slot as usize) {
            *cell = Some(value);
            self.trail.push(slot);
        }
    }

    /// Does variable `slot` occur in `term` (relative to `base`)?
    fn occurs(&self, slot: u32, term: &Term, base: u32) -> bool {
        let mut pending = vec![(term.clone(), base)];
        while let Some((term, base)) = pending.pop() {
            match self.walk(&term, base) {
                Walked::Unbound(v) if v == slot => return true,
                Walked::Bound(Term::Compound(c), base) if !c.is_ground() => {
                    pending.extend(c.args.iter().map(|a| (a.clone(), base)));
                }
                _ => {}
            }
        }
        false
    }

    /// Checks a store read from outside (a stored role state): every
    /// variable refers to an existing slot and no binding refers back to
    /// itself, so following bindings always ends.
    pub fn validate(&self) -> Result<(), String> {
        let len = self.slot_count();
        let mut vars = Vec::new();
        // 0: not visited, 1: on the current path, 2: done.
        let mut state = vec![0u8; self.slots.len()];
        for root in 0..self.slots.len() {
            if state[root] != 0 {
                continue;
            }
            let mut stack = vec![(root, false)];
            while let Some((slot, leaving)) = stack.pop() {
                if leaving {
                    state[slot] = 2;
                    continue;
                }
                match state[slot] {
                    2 => continue,
                    1 => {
                        return Err(format!(
                            "variable {slot} is bound to a term containing itself"
                        ));
                    }
                    _ => {}
                }
                state[slot] = 1;
                stack.push((slot, true));
                if let Some(Some(value)) = self.slots.get(slot) {
                    vars.clear();
                    collect_vars(value, &mut vars);
                    for &Var(v) in &vars {
                        if v >= len {
                            return Err(format!("variable {v} refers past the {len} slots"));
                        }
                        match state[v as usize] {
                            1 => {
                                return Err(format!(
                                    "variable {slot} is bound to a term containing itself"
                                ));
                            }
                            0 => stack.push((v as usize, false)),
                            _ => {}
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Unifies `a` (variables relative to `a_base`) with `b` (relative to
    /// `b_base`). On failure some bindings may have been made: callers undo
    /// to a mark.
    pub fn unify(&mut self, a: &Term, a_base: u32, b: &Term, b_base: u32) -> bool {
        let mut next = self.compare(a, a_base, b, b_base);
        loop {
            match next {
                Unify::Done(result) => return result,
                Unify::Link { young, old } => {
                    self.bind(young, Term::Var(Var(old)));
                    return true;
                }
                Unify::Bind { slot, value, base } => {
                    // The occurs check keeps terms finite (`X = f(X)` fails),
                    // so resolving and printing always terminate. Ground
                    // terms, the usual case, skip it.
                    if !value.is_ground() && self.occurs(slot, &value, base) {
                        return false;
                    }
                    let value = instantiate(&value, base);
                    self.bind(slot, value);
                    return true;
                }
                Unify::Args(c, cb, d, db) => {
                    let n = c.args.len();
                    if c.functor != d.functor || n != d.args.len() {
                        return false;
                    }
                    // All but the last argument recursively; the last (a
                    // list's tail) in this loop, so long lists cost no stack.
                    for (x, y) in c.args[..n - 1].iter().zip(&d.args[..n - 1]) {
                        if !self.unify(x, cb, y, db) {
                            return false;
                        }
                    }
                    next = self.compare(&c.args[n - 1], cb, &d.args[n - 1], db);
                }
            }
        }
    }

    /// The first step of unifying two terms, decided without cloning
    /// anything but what must be kept.
    fn compare(&self, a: &Term, a_base: u32, b: &Term, b_base: u32) -> Unify {
        let (a, a_base) = self.deref(a, a_base);
        let (b, b_base) = self.deref(b, b_base);
        match (a, b) {
            (Term::Var(Var(x)), Term::Var(Var(y))) => {
                let (x, y) = (a_base.saturating_add(*x), b_base.saturating_add(*y));
                match x.cmp(&y) {
                    std::cmp::Ordering::Equal => Unify::Done(true),
                    // The younger (higher) slot points at the older one.
                    std::cmp::Ordering::Greater => Unify::Link { young: x, old: y },
                    std::cmp::Ordering::Less => Unify::Link { young: y, old: x },
                }
            }
            (Term::Var(Var(x)), t) => Unify::Bind {
                slot: a_base.saturating_add(*x),
                value: t.clone(),
                base: b_base,
            },
            (t, Term::Var(Var(y))) => Unify::Bind {
                slot: b_base.saturating_add(*y),
                value: t.clone(),
                base: a_base,
            },
            (Term::Atom(x), Term::Atom(y)) | (Term::Str(x), Term::Str(y)) => Unify::Done(x == y),
            (Term::Int(x), Term::Int(y)) => Unify::Done(x == y),
            (Term::Float(x), Term::Float(y)) => Unify::Done(x == y),
            (Term::Compound(c), Term::Compound(d)) => {
                if std::sync::Arc::ptr_eq(c, d) && (c.is_ground() || a_base == b_base) {
                    Unify::Done(true)
                } else {
                    Unify::Args(c.clone(), a_base, d.clone(), b_base)
                }
            }
            _ => Unify::Done(false),
        }
    }

    /// The term with every bound variable replaced by its value; unbound
    /// variables stay, as absolute slot numbers.
    pub fn resolve(&self, term: &Term, base: u32) -> Term {
        match self.walk(term, base) {
            Walked::Unbound(slot) => Term::Var(Var(slot)),
            Walked::Bound(t, base) => match &t {
                Term::Compound(c) if !c.is_ground() => {
                    if t.as_cons().is_some() {
                        return self.resolve_list(t, base);
                    }
                    Term::compound(
                        c.functor.clone(),
                        c.args.iter().map(|a| self.resolve(a, base)).collect(),
                    )
                }
                _ => t,
            },
        }
    }

    /// [`Bindings::resolve`] of a list: its spine in a loop, not recursion.
    fn resolve_list(&self, list: Term, base: u32) -> Term {
        let mut items = Vec::new();
        let (mut rest, mut base) = (list, base);
        let tail = loop {
            let next = match rest.as_cons() {
                Some((head, tail)) if !rest.is_ground() => {
                    items.push(self.resolve(head, base));
                    self.walk(tail, base)
                }
                _ => break self.resolve(&rest, base),
            };
            match next {
                Walked::Unbound(slot) => break Term::Var(Var(slot)),
                Walked::Bound(t, b) => (rest, base) = (t, b),
            }
        };
        Term::list_with_tail(items, tail)
    }

    /// Starts a role again in tail position: resolves `terms` (relative to
    /// `base`), cuts the store back to `start` when that is safe, and returns
    /// the terms with their unbound variables renumbered into the kept
    /// store. Everything the old clause bound is dropped.
    ///
    /// Returns the renamed terms and the slot the role's new region starts at.
    pub fn restart(&mut self, terms: &[&Term], base: u32, start: u32) -> (Vec<Term>, u32) {
        let resolved: Vec<Term> = terms.iter().map(|t| self.resolve(t, base)).collect();
        let cut = if self.keep <= start {
            start
        } else {
            self.slot_count()
        };
        let mut renames: Vec<(u32, u32)> = Vec::new();
        let renamed: Vec<Term> = resolved
            .iter()
            .map(|t| rename(t, cut, &mut renames))
            .collect();
        self.trail.clear();
        self.slots.truncate(cut as usize);
        self.alloc(u32::try_from(renames.len()).unwrap_or(u32::MAX));
        (renamed, cut)
    }

    /// Frees the slots from `from` on (just allocated and not referenced).
    pub(crate) fn release(&mut self, from: u32) {
        self.slots.truncate(from as usize);
    }

    /// The name and arity of the term's functor (after following bindings).
    pub fn shape(&self, term: &Term, base: u32) -> Option<(crate::term::Symbol, usize)> {
        match self.walk(term, base) {
            Walked::Bound(t, _) => t.functor().map(|f| (f.clone(), t.args().len())),
            Walked::Unbound(_) => None,
        }
    }
}

/// Makes a term absolute: `Var(i)` relative to `base` becomes `Var(base+i)`.
pub fn instantiate(term: &Term, base: u32) -> Term {
    if base == 0 || term.is_ground() {
        return term.clone();
    }
    match term {
        Term::Var(Var(i)) => Term::Var(Var(base.saturating_add(*i))),
        Term::Compound(c) => Term::compound(
            c.functor.clone(),
            c.args.iter().map(|a| instantiate(a, base)).collect(),
        ),
        other => other.clone(),
    }
}

/// Every variable in a term.
fn collect_vars(term: &Term, out: &mut Vec<Var>) {
    let mut pending = vec![term];
    while let Some(term) = pending.pop() {
        match term {
            Term::Var(v) => out.push(*v),
            Term::Compound(c) if !c.is_ground() => pending.extend(c.args.iter()),
            _ => {}
        }
    }
}

/// The highest variable in a term.
fn max_var(term: &Term) -> Option<Var> {
    let mut vars = Vec::new();
    collect_vars(term, &mut vars);
    vars.into_iter().max()
}

/// Renumbers variables at or above `cut` to `cut, cut+1, ...` in order of
/// first appearance.
fn rename(term: &Term, cut: u32, renames: &mut Vec<(u32, u32)>) -> Term {
    match term {
        Term::Var(Var(v)) if *v >= cut => {
            if let Some((_, new)) = renames.iter().find(|(old, _)| old == v) {
                return Term::Var(Var(*new));
            }
            let new = cut + u32::try_from(renames.len()).unwrap_or(u32::MAX);
            renames.push((*v, new));
            Term::Var(Var(new))
        }
        Term::Compound(_) if !term.is_ground() && term.as_cons().is_some() => {
            // A list's spine in a loop: long lists cost no stack.
            let mut items = Vec::new();
            let mut rest = term;
            while let Some((head, tail)) = rest.as_cons().filter(|_| !rest.is_ground()) {
                items.push(rename(head, cut, renames));
                rest = tail;
            }
            let tail = rename(rest, cut, renames);
            Term::list_with_tail(items, tail)
        }
        Term::Compound(c) if !c.is_ground() => Term::compound(
            c.functor.clone(),
            c.args.iter().map(|a| rename(a, cut, renames)).collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(args: Vec<Term>) -> Term {
        Term::apply("f", args)
    }

    #[test]
    fn binds_variables_on_both_sides() {
        let mut b = Bindings::default();
        let base = b.alloc(2);
        // f(X, b) = f(a, Y)
        assert!(b.unify(
            &f(vec![Term::var(0), Term::atom("b")]),
            base,
            &f(vec![Term::atom("a"), Term::var(1)]),
            base
        ));
        assert_eq!(b.resolve(&Term::var(0), base), Term::atom("a"));
        assert_eq!(b.resolve(&Term::var(1), base), Term::atom("b"));
    }

    #[test]
    fn clash_fails_and_undo_restores() {
        let mut b = Bindings::default();
        let base = b.alloc(1);
        let mark = b.mark();
        // f(X, X) = f(a, b) binds X to a, then fails on b
        assert!(!b.unify(
            &f(vec![Term::var(0), Term::var(0)]),
            base,
            &f(vec![Term::atom("a"), Term::atom("b")]),
            0
        ));
        b.undo(mark);
        assert!(b.is_unbound(&Term::var(0), base));
    }

    #[test]
    fn numbers_and_kinds_do_not_mix() {
        let mut b = Bindings::default();
        assert!(!b.unify(&Term::Int(1), 0, &Term::Float(1.0), 0));
        assert!(!b.unify(&Term::atom("a"), 0, &Term::string("a"), 0));
        assert!(!b.unify(
            &f(vec![Term::Int(1)]),
            0,
            &Term::apply("g", vec![Term::Int(1)]),
            0
        ));
        assert!(!b.unify(
            &f(vec![Term::Int(1)]),
            0,
            &f(vec![Term::Int(1), Term::Int(2)]),
            0
        ));
    }

    #[test]
    fn variable_chains_and_shared_variables() {
        let mut b = Bindings::default();
        let base = b.alloc(3);
        // X = Y, Y = Z, Z = 5: all three are 5
        assert!(b.unify(&Term::var(0), base, &Term::var(1), base));
        assert!(b.unify(&Term::var(1), base, &Term::var(2), base));
        assert!(b.unify(&Term::var(2), base, &Term::Int(5), 0));
        for i in 0..3 {
            assert_eq!(b.resolve(&Term::var(i), base), Term::Int(5));
        }
        // X = X is fine and binds nothing new
        let mut c = Bindings::default();
        let base = c.alloc(1);
        assert!(c.unify(&Term::var(0), base, &Term::var(0), base));
        assert!(c.is_unbound(&Term::var(0), base));
    }

    #[test]
    fn lists_unify_head_and_tail() {
        let mut b = Bindings::default();
        let base = b.alloc(2);
        let pattern = Term::list_with_tail(vec![Term::var(0)], Term::var(1));
        let list = Term::list(vec![Term::Int(1), Term::Int(2), Term::Int(3)]);
        assert!(b.unify(&pattern, base, &list, 0));
        assert_eq!(b.resolve(&Term::var(0), base), Term::Int(1));
        assert_eq!(
            b.resolve(&Term::var(1), base),
            Term::list(vec![Term::Int(2), Term::Int(3)])
        );
        let mut e = Bindings::default();
        let base = e.alloc(2);
        assert!(!e.unify(&pattern, base, &Term::nil(), 0));
    }

    #[test]
    fn the_occurs_check_keeps_terms_finite() {
        let mut b = Bindings::default();
        let base = b.alloc(2);
        // X = f(X) fails; X = f(Y), Y = g(X) fails at the second step.
        assert!(!b.unify(&Term::var(0), base, &f(vec![Term::var(0)]), base));
        assert!(b.unify(&Term::var(0), base, &f(vec![Term::var(1)]), base));
        assert!(!b.unify(
            &Term::var(1),
            base,
            &Term::apply("g", vec![Term::var(0)]),
            base
        ));
        assert!(b.validate().is_ok());
    }

    #[test]
    fn validate_rejects_cycles_and_dangling_variables() {
        let cyclic: Bindings = serde_json::from_str(
            r#"{"slots":[{"Var":1},{"Compound":["f",[{"Var":0}]]}],"floor":0,"keep":0}"#,
        )
        .unwrap();
        assert!(cyclic.validate().unwrap_err().contains("containing itself"));
        let dangling: Bindings =
            serde_json::from_str(r#"{"slots":[{"Var":7}],"floor":0,"keep":0}"#).unwrap();
        assert!(dangling.validate().unwrap_err().contains("refers past"));
    }

    #[test]
    fn long_lists_unify_and_resolve_without_deep_recursion() {
        // Run on a small stack: recursion per list item would overflow it.
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let mut b = Bindings::default();
                let base = b.alloc(2);
                let items: Vec<Term> = (0..200_000).map(Term::Int).collect();
                let open = Term::list_with_tail(items.clone(), Term::var(0));
                let closed = Term::list(items.into_iter().chain([Term::Int(-1)]).collect());
                assert!(b.unify(&open, base, &closed, 0));
                assert_eq!(
                    b.resolve(&Term::var(0), base),
                    Term::list(vec![Term::Int(-1)])
                );
                let resolved = b.resolve(&open, base);
                assert!(resolved.is_ground() && resolved.same(&closed));
                let (renamed, _) = b.restart(&[&open], base, 0);
                assert!(renamed[0].same(&closed));
            })
            .unwrap();
        handle.join().unwrap();
    }

    #[test]
    fn younger_variable_points_at_older() {
        let mut b = Bindings::default();
        let old = b.alloc(1);
        let young = b.alloc(1);
        assert!(b.unify(&Term::var(0), young, &Term::var(0), old));
        assert!(b.value(old).is_none());
        assert_eq!(b.value(young), Some(&Term::var(old)));
    }

    #[test]
    fn restart_cuts_the_store_and_renames_unbound_variables() {
        let mut b = Bindings::default();
        let frame = b.alloc(3);
        assert!(b.unify(&Term::var(0), frame, &Term::Int(7), 0));
        let arg = f(vec![Term::var(0), Term::var(2), Term::var(2)]);
        let (out, cut) = b.restart(&[&arg], frame, 0);
        assert_eq!(cut, 0);
        assert_eq!(b.len(), 1);
        assert_eq!(out[0], f(vec![Term::Int(7), Term::var(0), Term::var(0)]));
    }

    #[test]
    fn restart_keeps_slots_a_caller_refers_to() {
        let mut b = Bindings::default();
        let caller = b.alloc(1);
        let start = b.alloc(0);
        let frame = b.alloc(1);
        let saved = b.set_floor(start);
        // the inner role binds the caller's variable to g(Inner), Inner unbound
        assert!(b.unify(
            &Term::var(0),
            caller,
            &Term::apply("g", vec![Term::var(0)]),
            frame
        ));
        b.settle();
        let (out, cut) = b.restart(&[&Term::atom("again")], frame, start);
        assert_eq!(cut, 2);
        b.set_floor(saved);
        assert_eq!(out[0], Term::atom("again"));
        assert_eq!(b.len(), 2, "the slot the caller refers to survives");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Ground terms: atoms, numbers, strings, compounds and lists.
        fn ground() -> impl Strategy<Value = Term> {
            let leaf = prop_oneof![
                "[a-c]".prop_map(|a| Term::atom(&a)),
                (-3i64..3).prop_map(Term::Int),
                Just(Term::Float(0.5)),
                Just(Term::string("s")),
            ];
            leaf.prop_recursive(4, 24, 3, |inner| {
                prop_oneof![
                    ("[fg]", prop::collection::vec(inner.clone(), 1..3))
                        .prop_map(|(f, args)| Term::apply(&f, args)),
                    prop::collection::vec(inner, 0..4).prop_map(Term::list),
                ]
            })
        }

        /// Replaces some sub-terms of `t` by variables numbered from `next`.
        fn punch(t: &Term, holes: &mut impl Iterator<Item = bool>, next: &mut u32) -> Term {
            if holes.next().unwrap_or(false) {
                *next += 1;
                return Term::var(*next - 1);
            }
            match t {
                Term::Compound(c) => Term::compound(
                    c.functor.clone(),
                    c.args.iter().map(|a| punch(a, holes, next)).collect(),
                ),
                other => other.clone(),
            }
        }

        proptest! {
            #[test]
            fn a_pattern_unifies_with_the_term_it_was_cut_from(
                t in ground(),
                holes in prop::collection::vec(prop::bool::weighted(0.2), 64),
            ) {
                let mut next = 0;
                let pattern = punch(&t, &mut holes.into_iter(), &mut next);
                let mut b = Bindings::default();
                let base = b.alloc(next);
                prop_assert!(b.unify(&pattern, base, &t, 0));
                prop_assert!(b.resolve(&pattern, base).same(&t));
                // and from the other side
                let mut c = Bindings::default();
                let base = c.alloc(next);
                prop_assert!(c.unify(&t, 0, &pattern, base));
                prop_assert!(c.resolve(&pattern, base).same(&t));
            }

            #[test]
            fn ground_terms_unify_exactly_when_they_are_the_same(a in ground(), b in ground()) {
                let mut store = Bindings::default();
                prop_assert_eq!(store.unify(&a, 0, &b, 0), a.same(&b));
                prop_assert!(store.is_empty());
            }
        }
    }
}
