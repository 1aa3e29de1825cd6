//! Runtime terms: what the interpreter unifies, binds and sends.
//!
//! The syntax tree ([`crate::ast::Term`]) names variables; a runtime
//! [`Term`] numbers them. In a compiled clause, `Var(i)` is the clause's
//! i-th variable; while a role runs, the clause's variables live in a slot
//! range of the role instance's binding store ([`Bindings`], in
//! `bindings.rs`: unification, substitution, undo), so a variable costs an
//! index, not a name lookup. The store is here, beside the terms it binds,
//! and not in the interpreter, so that the standard library's built-ins
//! and the interpreter both build on it and neither on the other.
//!
//! Atoms and strings are [`Symbol`]s: shared, immutable text whose equality
//! first compares pointers, so the atoms of one compiled model, and the
//! messages built from them, compare in one instruction. Compound terms are
//! reference counted and remember whether they are ground, so copying a
//! message or a ground sub-term of a clause is a counter increment.
//!
//! Lists are the usual cons cells: `'.'(Head, Tail)` ending in the atom `[]`.

use std::fmt;
use std::sync::{Arc, LazyLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod bindings;

pub use bindings::Bindings;

/// Shared immutable text: the name of an atom, a functor, or a string.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct Symbol(Arc<str>);

impl Symbol {
    pub fn new(text: &str) -> Self {
        Symbol(Arc::from(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Symbol {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for Symbol {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Symbol {
    fn from(text: &str) -> Self {
        Symbol::new(text)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Symbol(Arc::from(text)))
    }
}

/// The functor of list cells.
pub const CONS: &str = ".";
/// The empty list.
pub const NIL: &str = "[]";

/// One shared allocation for each, so every list built anywhere compares
/// its cells by pointer.
static CONS_SYMBOL: LazyLock<Symbol> = LazyLock::new(|| Symbol::new(CONS));
static NIL_SYMBOL: LazyLock<Symbol> = LazyLock::new(|| Symbol::new(NIL));

impl Symbol {
    /// The functor of list cells, `'.'`.
    pub fn cons() -> Symbol {
        CONS_SYMBOL.clone()
    }

    /// The empty list, `[]`.
    pub fn nil() -> Symbol {
        NIL_SYMBOL.clone()
    }
}

/// A variable: an index into a binding store (or, inside a compiled clause,
/// the clause's own numbering).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Var(pub u32);

/// A term at run time.
///
/// Serialised with lists flattened (`List(items, tail)`) rather than as
/// nested cells, so a stored list is as deep as its deepest item, not as
/// long as it is; groundness is recomputed on reading, never trusted.
#[derive(Clone, Debug)]
pub enum Term {
    Var(Var),
    Atom(Symbol),
    Int(i64),
    Float(f64),
    Str(Symbol),
    Compound(Arc<Compound>),
}

/// `functor(args...)`, with its groundness computed once.
#[derive(Debug)]
pub struct Compound {
    pub functor: Symbol,
    pub args: Box<[Term]>,
    ground: bool,
}

impl Compound {
    pub fn is_ground(&self) -> bool {
        self.ground
    }
}

impl Drop for Compound {
    /// Drops nested terms with a loop instead of recursion: a long list is
    /// a deep term, and dropping it must not exhaust the stack.
    fn drop(&mut self) {
        let mut pending: Vec<Term> = std::mem::take(&mut self.args).into_vec();
        while let Some(term) = pending.pop() {
            if let Term::Compound(shared) = term
                && let Ok(mut inner) = Arc::try_unwrap(shared)
            {
                pending.extend(std::mem::take(&mut inner.args).into_vec());
            }
        }
    }
}

/// How a term is written by serde (borrowing).
#[derive(Serialize)]
enum TermOut<'a> {
    Var(Var),
    Atom(&'a Symbol),
    Int(i64),
    Float(f64),
    Str(&'a Symbol),
    Compound(&'a Symbol, &'a [Term]),
    List(Vec<&'a Term>, &'a Term),
}

/// How a term is read by serde.
#[derive(Deserialize)]
enum TermIn {
    Var(Var),
    Atom(Symbol),
    Int(i64),
    Float(f64),
    Str(Symbol),
    Compound(Symbol, Vec<Term>),
    List(Vec<Term>, Box<Term>),
}

impl Serialize for Term {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let out = match self {
            Term::Var(v) => TermOut::Var(*v),
            Term::Atom(a) => TermOut::Atom(a),
            Term::Int(i) => TermOut::Int(*i),
            Term::Float(f) => TermOut::Float(*f),
            Term::Str(s) => TermOut::Str(s),
            Term::Compound(c) if self.as_cons().is_some() => {
                let mut items = Vec::new();
                let mut rest = self;
                while let Some((head, tail)) = rest.as_cons() {
                    items.push(head);
                    rest = tail;
                }
                TermOut::List(items, rest)
            }
            Term::Compound(c) => TermOut::Compound(&c.functor, &c.args),
        };
        out.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Term {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match TermIn::deserialize(deserializer)? {
            TermIn::Var(v) => Term::Var(v),
            TermIn::Atom(a) => Term::Atom(a),
            TermIn::Int(i) => Term::Int(i),
            TermIn::Float(f) => Term::Float(f),
            TermIn::Str(s) => Term::Str(s),
            TermIn::Compound(functor, args) => Term::compound(functor, args),
            TermIn::List(items, tail) => Term::list_with_tail(items, *tail),
        })
    }
}

impl Term {
    pub fn atom(name: &str) -> Term {
        Term::Atom(Symbol::new(name))
    }

    pub fn string(text: &str) -> Term {
        Term::Str(Symbol::new(text))
    }

    pub fn var(index: u32) -> Term {
        Term::Var(Var(index))
    }

    pub fn compound(functor: Symbol, args: Vec<Term>) -> Term {
        if args.is_empty() {
            return Term::Atom(functor);
        }
        let ground = args.iter().all(Term::is_ground);
        Term::Compound(Arc::new(Compound {
            functor,
            args: args.into_boxed_slice(),
            ground,
        }))
    }

    /// `f(args...)` from a name; prefer [`Term::compound`] with an interned
    /// [`Symbol`] on hot paths.
    pub fn apply(functor: &str, args: Vec<Term>) -> Term {
        Term::compound(Symbol::new(functor), args)
    }

    pub fn nil() -> Term {
        Term::Atom(Symbol::nil())
    }

    pub fn cons(head: Term, tail: Term) -> Term {
        Term::compound(Symbol::cons(), vec![head, tail])
    }

    /// A proper list of the items.
    pub fn list(items: Vec<Term>) -> Term {
        Term::list_with_tail(items, Term::nil())
    }

    /// `[items... | tail]`
    pub fn list_with_tail(items: Vec<Term>, tail: Term) -> Term {
        let cons = Symbol::new(CONS);
        items.into_iter().rev().fold(tail, |tail, head| {
            Term::compound(cons.clone(), vec![head, tail])
        })
    }

    /// True when the term has no variables at all.
    pub fn is_ground(&self) -> bool {
        match self {
            Term::Var(_) => false,
            Term::Compound(c) => c.ground,
            _ => true,
        }
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Term::Atom(a) if a.as_str() == NIL)
    }

    /// `Some((head, tail))` for a list cell.
    pub fn as_cons(&self) -> Option<(&Term, &Term)> {
        match self {
            Term::Compound(c) if c.args.len() == 2 && c.functor.as_str() == CONS => {
                Some((&c.args[0], &c.args[1]))
            }
            _ => None,
        }
    }

    /// The items of a proper list whose cells are already resolved (as
    /// messages and resolved arguments are); `None` when it is not one.
    pub fn as_list(&self) -> Option<Vec<&Term>> {
        let mut items = Vec::new();
        let mut rest = self;
        loop {
            if rest.is_nil() {
                return Some(items);
            }
            let (head, tail) = rest.as_cons()?;
            items.push(head);
            rest = tail;
        }
    }

    /// The name of an atom or the functor of a compound.
    pub fn functor(&self) -> Option<&Symbol> {
        match self {
            Term::Atom(name) => Some(name),
            Term::Compound(c) => Some(&c.functor),
            _ => None,
        }
    }

    /// The arguments of a compound (none for anything else).
    pub fn args(&self) -> &[Term] {
        match self {
            Term::Compound(c) => &c.args,
            _ => &[],
        }
    }

    /// A number as f64, for arithmetic and comparison.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Term::Int(i) => Some(Number::Int(*i)),
            Term::Float(f) => Some(Number::Float(*f)),
            _ => None,
        }
    }

    /// Structural equality of two terms, variables compared by index. For
    /// resolved terms this is "identical" (Prolog `==`).
    pub fn same(&self, other: &Term) -> bool {
        let (mut a, mut b) = (self, other);
        loop {
            match (a, b) {
                (Term::Var(x), Term::Var(y)) => return x == y,
                (Term::Atom(x), Term::Atom(y)) | (Term::Str(x), Term::Str(y)) => return x == y,
                (Term::Int(x), Term::Int(y)) => return x == y,
                (Term::Float(x), Term::Float(y)) => return x == y,
                (Term::Compound(x), Term::Compound(y)) => {
                    if Arc::ptr_eq(x, y) {
                        return true;
                    }
                    let n = x.args.len();
                    if x.functor != y.functor || n != y.args.len() {
                        return false;
                    }
                    // All but the last argument recursively; the last (a
                    // list's tail) in this loop, so long lists cost no stack.
                    if !x.args[..n - 1]
                        .iter()
                        .zip(&y.args[..n - 1])
                        .all(|(p, q)| p.same(q))
                    {
                        return false;
                    }
                    a = &x.args[n - 1];
                    b = &y.args[n - 1];
                }
                _ => return false,
            }
        }
    }
}

impl PartialEq for Term {
    fn eq(&self, other: &Self) -> bool {
        self.same(other)
    }
}

impl From<i64> for Term {
    fn from(value: i64) -> Self {
        Term::Int(value)
    }
}

impl From<f64> for Term {
    fn from(value: f64) -> Self {
        Term::Float(value)
    }
}

/// A number read from a term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Number {
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    pub fn into_term(self) -> Term {
        match self {
            Number::Int(i) => Term::Int(i),
            Number::Float(f) => Term::Float(f),
        }
    }
}

/// Operators printed infix, as the parser reads them.
const INFIX: &[&str] = &[
    "=", "\\=", "is", "<", ">", "=<", ">=", "+", "-", "*", "/", "==", "=:=", "=\\=",
];

impl fmt::Display for Term {
    /// Prints the term in LCC syntax. Variables print as `_G<n>`: a runtime
    /// term has lost the author's names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Var(Var(i)) => write!(f, "_G{i}"),
            Term::Atom(a) => write_atom(f, a.as_str()),
            Term::Int(i) => write!(f, "{i}"),
            Term::Float(x) => {
                if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Term::Str(s) => write!(f, "{:?}", s.as_str()),
            Term::Compound(c) => {
                if c.functor.as_str() == CONS && c.args.len() == 2 {
                    return write_list(f, self);
                }
                if c.args.len() == 2 && INFIX.contains(&c.functor.as_str()) {
                    return write!(f, "({} {} {})", c.args[0], c.functor, c.args[1]);
                }
                write_atom(f, c.functor.as_str())?;
                f.write_str("(")?;
                for (i, arg) in c.args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{arg}")?;
                }
                f.write_str(")")
            }
        }
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &Term) -> fmt::Result {
    f.write_str("[")?;
    let mut rest = list;
    let mut first = true;
    while let Some((head, tail)) = rest.as_cons() {
        if !first {
            f.write_str(", ")?;
        }
        first = false;
        write!(f, "{head}")?;
        rest = tail;
    }
    if !rest.is_nil() {
        write!(f, "|{rest}")?;
    }
    f.write_str("]")
}

/// Atoms that are not plain lower-case identifiers are quoted.
fn write_atom(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain || name == NIL {
        f.write_str(name)
    } else {
        f.write_str("'")?;
        for c in name.chars() {
            match c {
                '\'' => f.write_str("\\'")?,
                '\\' => f.write_str("\\\\")?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_print_as_written() {
        let list = Term::list(vec![Term::atom("a"), Term::Int(2)]);
        assert_eq!(list.to_string(), "[a, 2]");
        let open = Term::list_with_tail(vec![Term::atom("a")], Term::var(3));
        assert_eq!(open.to_string(), "[a|_G3]");
        assert_eq!(Term::nil().to_string(), "[]");
    }

    #[test]
    fn compounds_and_quoted_atoms_print() {
        let t = Term::apply("bid", vec![Term::atom("Host 1"), Term::Float(2.0)]);
        assert_eq!(t.to_string(), "bid('Host 1', 2.0)");
        let sum = Term::apply("+", vec![Term::Int(1), Term::var(0)]);
        assert_eq!(sum.to_string(), "(1 + _G0)");
    }

    #[test]
    fn groundness_is_tracked() {
        assert!(Term::list(vec![Term::atom("a")]).is_ground());
        assert!(!Term::apply("f", vec![Term::var(0)]).is_ground());
        assert!(Term::compound(Symbol::new("zero"), vec![]).is_ground());
    }

    #[test]
    fn symbols_compare_by_text() {
        assert_eq!(Symbol::new("abc"), Symbol::new("abc"));
        assert_ne!(Symbol::new("abc"), Symbol::new("abd"));
    }

    #[test]
    fn long_lists_serialise_flat_and_drop_without_recursion() {
        let long = Term::list((0..100_000).map(Term::Int).collect());
        let json = serde_json::to_string(&long).unwrap();
        let back: Term = serde_json::from_str(&json).unwrap();
        assert!(back.same(&long));
        drop(back);
        drop(long);
    }

    #[test]
    fn groundness_is_recomputed_when_read() {
        let t: Term = serde_json::from_str(r#"{"Compound":["f",[{"Var":0}]]}"#).unwrap();
        assert!(!t.is_ground());
    }

    #[test]
    fn terms_round_trip_through_serde_json() {
        let t = Term::list(vec![Term::apply(
            "f",
            vec![Term::var(1), Term::string("s")],
        )]);
        let json = serde_json::to_string(&t).unwrap();
        let back: Term = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }
}
