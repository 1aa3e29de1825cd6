//! The standard library: constraints every peer has without registering
//! anything.
//!
//! [`signatures`] is the table the checker and the interpreter share: a
//! constraint named here is never "undeclared", and an argument marked
//! [`Mode::In`] must be bound when the constraint is solved.
//!
//! Like components, built-ins give the first solution only: `member(X, L)`
//! with `X` unbound binds `X` to the first item and does not come back for
//! the others. Lists are 1-based for `nth/3` and `max_by/3`/`min_by/3`
//! (Prolog's `nth1`, `arg`).

use crate::ast::Mode;
use crate::component::Failure;
use crate::term::{Bindings, Number, Term};

/// A built-in constraint as the checker sees it.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinSignature {
    pub name: &'static str,
    /// One mode per argument; the arity is `modes.len()`.
    pub modes: &'static [Mode],
    /// One line for people (the language reference lists the same).
    pub doc: &'static str,
}

use Mode::{Any, In, Out};

const SIGNATURES: &[(Builtin, BuiltinSignature)] = &[
    (Builtin::True, sig("true", &[], "always holds")),
    (Builtin::Fail, sig("fail", &[], "never holds")),
    (
        Builtin::Fail,
        sig("false", &[], "never holds (same as fail)"),
    ),
    (
        Builtin::Unify,
        sig("=", &[Any, Any], "A = B: unifies A and B"),
    ),
    (
        Builtin::NotUnify,
        sig(
            "\\=",
            &[Any, Any],
            "A \\= B: A and B do not unify (binds nothing)",
        ),
    ),
    (
        Builtin::Is,
        sig(
            "is",
            &[Any, In],
            "X is Expr: evaluates Expr (+ - * / min max abs) and unifies X with it",
        ),
    ),
    (
        Builtin::Less,
        sig("<", &[In, In], "A < B: compares two arithmetic expressions"),
    ),
    (Builtin::Greater, sig(">", &[In, In], "A > B")),
    (Builtin::LessEq, sig("=<", &[In, In], "A =< B")),
    (Builtin::GreaterEq, sig(">=", &[In, In], "A >= B")),
    (
        Builtin::Member,
        sig(
            "member",
            &[Any, In],
            "member(X, List): X unifies with an item of List (the first that does)",
        ),
    ),
    (
        Builtin::Append,
        sig(
            "append",
            &[In, Any, Any],
            "append(A, B, AB): AB is list A followed by B",
        ),
    ),
    (
        Builtin::Length,
        sig("length", &[In, Any], "length(List, N): List has N items"),
    ),
    (
        Builtin::Nth,
        sig(
            "nth",
            &[In, In, Any],
            "nth(I, List, X): X is the I-th item of List, counting from 1",
        ),
    ),
    (
        Builtin::Select,
        sig(
            "select",
            &[Any, In, Any],
            "select(X, List, Rest): removes the first item that unifies with X",
        ),
    ),
    (
        Builtin::Sum,
        sig(
            "sum",
            &[In, Any],
            "sum(List, S): S is the sum of the numbers in List",
        ),
    ),
    (
        Builtin::MaxBy,
        sig(
            "max_by",
            &[In, In, Any],
            "max_by(N, Items, Best): Best is the item whose N-th argument is greatest (first on ties)",
        ),
    ),
    (
        Builtin::MinBy,
        sig(
            "min_by",
            &[In, In, Any],
            "min_by(N, Items, Best): Best is the item whose N-th argument is least (first on ties)",
        ),
    ),
    (
        Builtin::Now,
        sig(
            "now",
            &[Out],
            "now(T): T is the current time in milliseconds (the clock deadlines use)",
        ),
    ),
];

const fn sig(name: &'static str, modes: &'static [Mode], doc: &'static str) -> BuiltinSignature {
    BuiltinSignature { name, modes, doc }
}

/// The built-in constraints: name, arity (number of modes), argument modes.
pub fn signatures() -> impl Iterator<Item = &'static BuiltinSignature> {
    SIGNATURES.iter().map(|(_, s)| s)
}

/// A built-in, as a compiled model calls it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    True,
    Fail,
    Unify,
    NotUnify,
    Is,
    Less,
    Greater,
    LessEq,
    GreaterEq,
    Member,
    Append,
    Length,
    Nth,
    Select,
    Sum,
    MaxBy,
    MinBy,
    Now,
}

impl Builtin {
    pub(crate) fn find(name: &str, arity: usize) -> Option<(Builtin, &'static BuiltinSignature)> {
        SIGNATURES
            .iter()
            .find(|(_, s)| s.name == name && s.modes.len() == arity)
            .map(|(b, s)| (*b, s))
    }

    /// The name the model calls it by.
    pub(crate) fn name(self) -> &'static str {
        SIGNATURES
            .iter()
            .find(|(b, _)| *b == self)
            .map_or("?", |(_, s)| s.name)
    }

    /// Solves the built-in for `args` (relative to `base`). `now` reads the
    /// role instance's clock. Bindings made before a failure are left for
    /// the caller to undo.
    pub(crate) fn solve(
        self,
        args: &[Term],
        base: u32,
        store: &mut Bindings,
        now: impl Fn() -> i64,
    ) -> Result<(), Failure> {
        let arg = |store: &Bindings, i: usize| store.resolve(&args[i], base);
        match self {
            Builtin::True => Ok(()),
            Builtin::Fail => Err(Failure::no("")),
            Builtin::Unify => {
                if store.unify(&args[0], base, &args[1], base) {
                    Ok(())
                } else {
                    Err(Failure::no(""))
                }
            }
            Builtin::NotUnify => {
                let mark = store.mark();
                let unifies = store.unify(&args[0], base, &args[1], base);
                store.undo(mark);
                if unifies {
                    Err(Failure::no("the two sides unify"))
                } else {
                    Ok(())
                }
            }
            Builtin::Is => {
                let value = evaluate_at(store, &args[1], base)?.into_term();
                bind(store, &args[0], base, value, "is")
            }
            Builtin::Less | Builtin::Greater | Builtin::LessEq | Builtin::GreaterEq => {
                let x = evaluate_at(store, &args[0], base)?;
                let y = evaluate_at(store, &args[1], base)?;
                if compare(self, x, y) {
                    Ok(())
                } else {
                    Err(Failure::no(""))
                }
            }
            Builtin::Member => {
                let list = arg(store, 1);
                let mut cell = &list;
                while let Some((item, tail)) = cell.as_cons() {
                    let mark = store.mark();
                    if store.unify(&args[0], base, item, 0) {
                        return Ok(());
                    }
                    store.undo(mark);
                    cell = tail;
                }
                proper_end(cell, &list, "member/2")?;
                Err(Failure::no("no item of the list unifies"))
            }
            Builtin::Append => {
                let front = arg(store, 0);
                let front_items: Vec<Term> =
                    items(&front, "append/3")?.into_iter().cloned().collect();
                let joined = Term::list_with_tail(front_items, arg(store, 1));
                bind(store, &args[2], base, joined, "append")
            }
            Builtin::Length => {
                let list = arg(store, 0);
                let n = items(&list, "length/2")?.len();
                bind(store, &args[1], base, Term::Int(n as i64), "length")
            }
            Builtin::Nth => {
                let (index, list) = (arg(store, 0), arg(store, 1));
                let all = items(&list, "nth/3")?;
                let Term::Int(i) = index else {
                    return Err(Failure::broken(format!(
                        "nth/3 needs an integer index, got `{index}`"
                    )));
                };
                let item = usize::try_from(i)
                    .ok()
                    .and_then(|i| i.checked_sub(1))
                    .and_then(|i| all.get(i))
                    .ok_or_else(|| {
                        Failure::no(format!(
                            "the list has {} items, none numbered {i} (items count from 1)",
                            all.len()
                        ))
                    })?;
                let item = (*item).clone();
                bind(store, &args[2], base, item, "nth")
            }
            Builtin::Select => {
                // Walk the cells; the part after the removed item is shared,
                // not copied (a collection loop removes near the front).
                let list = arg(store, 1);
                let mut before: Vec<Term> = Vec::new();
                let mut cell = &list;
                while let Some((item, tail)) = cell.as_cons() {
                    let mark = store.mark();
                    if store.unify(&args[0], base, item, 0) {
                        let rest = Term::list_with_tail(before, tail.clone());
                        return bind(store, &args[2], base, rest, "select");
                    }
                    store.undo(mark);
                    before.push(item.clone());
                    cell = tail;
                }
                proper_end(cell, &list, "select/3")?;
                Err(Failure::no("no item of the list unifies"))
            }
            Builtin::Sum => {
                let list = arg(store, 0);
                let mut total = Number::Int(0);
                for item in items(&list, "sum/2")? {
                    let n = evaluate(item)?;
                    total = arithmetic("+", total, n)?;
                }
                bind(store, &args[1], base, total.into_term(), "sum")
            }
            Builtin::MaxBy | Builtin::MinBy => {
                let (key, list) = (arg(store, 0), arg(store, 1));
                let best = select_by(self == Builtin::MaxBy, &key, &list)?;
                bind(store, &args[2], base, best, "selection")
            }
            Builtin::Now => bind(store, &args[0], base, Term::Int(now()), "now"),
        }
    }
}

/// Unifies an argument with a computed value.
fn bind(
    store: &mut Bindings,
    arg: &Term,
    base: u32,
    value: Term,
    what: &str,
) -> Result<(), Failure> {
    if store.unify(arg, base, &value, 0) {
        Ok(())
    } else {
        Err(Failure::no(format!(
            "{what} gives `{value}`, which does not unify"
        )))
    }
}

/// Checks that a walk along `list`'s cells ended at `[]`.
fn proper_end(end: &Term, list: &Term, who: &str) -> Result<(), Failure> {
    if end.is_nil() {
        Ok(())
    } else {
        Err(Failure::broken(format!(
            "{who} needs a proper list, got `{list}`"
        )))
    }
}

/// The items of a proper list, or why it is not one.
fn items<'t>(list: &'t Term, who: &str) -> Result<Vec<&'t Term>, Failure> {
    list.as_list()
        .ok_or_else(|| Failure::broken(format!("{who} needs a proper list, got `{list}`")))
}

fn compare(op: Builtin, x: Number, y: Number) -> bool {
    let ordering = match (x, y) {
        (Number::Int(a), Number::Int(b)) => a.partial_cmp(&b),
        _ => x.as_f64().partial_cmp(&y.as_f64()),
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match op {
        Builtin::Less => ordering.is_lt(),
        Builtin::Greater => ordering.is_gt(),
        Builtin::LessEq => ordering.is_le(),
        _ => ordering.is_ge(),
    }
}

/// Evaluates an arithmetic expression over numbers: `+ - * /` (binary),
/// `-` and `abs` (unary), `min` and `max`. It follows bindings in place
/// instead of resolving the expression into a new term first, so the
/// common `M is N - 1` allocates nothing.
fn evaluate_at(store: &Bindings, expr: &Term, base: u32) -> Result<Number, Failure> {
    let (term, base) = store.deref(expr, base);
    match term {
        Term::Int(i) => Ok(Number::Int(*i)),
        Term::Float(f) => Ok(Number::Float(*f)),
        Term::Var(_) => Err(Failure::broken("arithmetic on an unbound variable")),
        Term::Compound(c) if c.args.len() == 1 => {
            let x = evaluate_at(store, &c.args[0], base)?;
            unary(c.functor.as_str(), x)
                .unwrap_or_else(|| Err(not_arithmetic(&store.resolve(term, base))))
        }
        Term::Compound(c) if c.args.len() == 2 => {
            let x = evaluate_at(store, &c.args[0], base)?;
            let y = evaluate_at(store, &c.args[1], base)?;
            arithmetic(c.functor.as_str(), x, y).map_err(|f| {
                if f.reason.is_empty() {
                    not_arithmetic(&store.resolve(term, base))
                } else {
                    f
                }
            })
        }
        _ => Err(not_arithmetic(&store.resolve(term, base))),
    }
}

/// Evaluates a resolved expression (no bindings to follow).
pub(crate) fn evaluate(expr: &Term) -> Result<Number, Failure> {
    evaluate_at(&Bindings::default(), expr, 0)
}

/// `-X` and `abs(X)`; `None` for any other operator.
fn unary(op: &str, x: Number) -> Option<Result<Number, Failure>> {
    Some(match (op, x) {
        ("-", Number::Int(i)) => i.checked_neg().map(Number::Int).ok_or_else(overflow),
        ("-", Number::Float(f)) => Ok(Number::Float(-f)),
        ("abs", Number::Int(i)) => i.checked_abs().map(Number::Int).ok_or_else(overflow),
        ("abs", Number::Float(f)) => Ok(Number::Float(f.abs())),
        _ => return None,
    })
}

fn overflow() -> Failure {
    Failure::broken("integer overflow")
}

fn not_arithmetic(expr: &Term) -> Failure {
    Failure::broken(format!(
        "`{expr}` is not an arithmetic expression (numbers with + - * / min max abs)"
    ))
}

/// A binary operation. Two integers give an integer (for `/`, only when the
/// division is exact); otherwise a float.
fn arithmetic(op: &str, x: Number, y: Number) -> Result<Number, Failure> {
    if let (Number::Int(a), Number::Int(b)) = (x, y) {
        let exact = match op {
            "+" => a.checked_add(b),
            "-" => a.checked_sub(b),
            "*" => a.checked_mul(b),
            "/" if b == 0 => return Err(Failure::broken("division by zero")),
            "/" if a % b == 0 => a.checked_div(b),
            "/" => return Ok(Number::Float(a as f64 / b as f64)),
            "min" => Some(a.min(b)),
            "max" => Some(a.max(b)),
            _ => return Err(Failure::broken(String::new())),
        };
        return exact.map(Number::Int).ok_or_else(overflow);
    }
    let (a, b) = (x.as_f64(), y.as_f64());
    let value = match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" if b == 0.0 => return Err(Failure::broken("division by zero")),
        "/" => a / b,
        "min" => a.min(b),
        "max" => a.max(b),
        _ => return Err(Failure::broken(String::new())),
    };
    Ok(Number::Float(value))
}

/// The item whose `key`-th argument is greatest (or least); the first on
/// ties.
fn select_by(greatest: bool, key: &Term, list: &Term) -> Result<Term, Failure> {
    let who = if greatest { "max_by/3" } else { "min_by/3" };
    let Term::Int(k) = key else {
        return Err(Failure::broken(format!(
            "{who} needs an argument number, got `{key}`"
        )));
    };
    let index = usize::try_from(*k)
        .ok()
        .and_then(|k| k.checked_sub(1))
        .ok_or_else(|| Failure::broken(format!("{who}: argument numbers count from 1, got {k}")))?;
    let mut best: Option<(&Term, Number)> = None;
    for item in items(list, who)? {
        let value = item
            .args()
            .get(index)
            .and_then(Term::as_number)
            .ok_or_else(|| {
                Failure::broken(format!("{who}: `{item}` has no number as argument {k}"))
            })?;
        let better = match best {
            None => true,
            Some((_, current)) => {
                let (a, b) = (value.as_f64(), current.as_f64());
                if greatest { a > b } else { a < b }
            }
        };
        if better {
            best = Some((item, value));
        }
    }
    best.map(|(item, _)| item.clone())
        .ok_or_else(|| Failure::no(format!("{who}: the list is empty")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solve(b: Builtin, args: &[Term]) -> (Result<(), Failure>, Bindings) {
        let mut store = Bindings::default();
        store.alloc(4);
        let result = b.solve(args, 0, &mut store, || 1234);
        (result, store)
    }

    fn x() -> Term {
        Term::var(0)
    }

    fn ints(ns: &[i64]) -> Term {
        Term::list(ns.iter().map(|n| Term::Int(*n)).collect())
    }

    fn value(store: &Bindings) -> Term {
        store.resolve(&x(), 0)
    }

    #[test]
    fn arithmetic_keeps_integers_when_it_can() {
        let expr = Term::apply(
            "+",
            vec![
                Term::Int(2),
                Term::apply("*", vec![Term::Int(3), Term::Int(4)]),
            ],
        );
        let (r, s) = solve(Builtin::Is, &[x(), expr]);
        assert!(r.is_ok());
        assert_eq!(value(&s), Term::Int(14));
        let (_, s) = solve(
            Builtin::Is,
            &[x(), Term::apply("/", vec![Term::Int(7), Term::Int(2)])],
        );
        assert_eq!(value(&s), Term::Float(3.5));
        let (_, s) = solve(
            Builtin::Is,
            &[x(), Term::apply("/", vec![Term::Int(8), Term::Int(2)])],
        );
        assert_eq!(value(&s), Term::Int(4));
        let (_, s) = solve(
            Builtin::Is,
            &[
                x(),
                Term::apply(
                    "max",
                    vec![Term::Int(3), Term::apply("abs", vec![Term::Int(-9)])],
                ),
            ],
        );
        assert_eq!(value(&s), Term::Int(9));
        let (_, s) = solve(
            Builtin::Is,
            &[
                x(),
                Term::apply("min", vec![Term::Float(1.5), Term::Int(2)]),
            ],
        );
        assert_eq!(value(&s), Term::Float(1.5));
    }

    #[test]
    fn arithmetic_errors_are_broken_not_false() {
        let (r, _) = solve(
            Builtin::Is,
            &[x(), Term::apply("/", vec![Term::Int(1), Term::Int(0)])],
        );
        assert_eq!(r.unwrap_err().kind, crate::component::FailureKind::Broken);
        let (r, _) = solve(
            Builtin::Is,
            &[x(), Term::apply("+", vec![Term::atom("a"), Term::Int(0)])],
        );
        assert!(
            r.unwrap_err()
                .reason
                .contains("not an arithmetic expression")
        );
        let (r, _) = solve(Builtin::Less, &[Term::var(1), Term::Int(0)]);
        assert!(r.unwrap_err().reason.contains("unbound"));
    }

    #[test]
    fn comparisons() {
        assert!(
            solve(Builtin::Less, &[Term::Int(1), Term::Float(1.5)])
                .0
                .is_ok()
        );
        assert!(
            solve(Builtin::Greater, &[Term::Int(1), Term::Int(1)])
                .0
                .is_err()
        );
        assert!(
            solve(Builtin::GreaterEq, &[Term::Int(1), Term::Int(1)])
                .0
                .is_ok()
        );
        assert!(
            solve(Builtin::LessEq, &[Term::Int(2), Term::Int(1)])
                .0
                .is_err()
        );
    }

    #[test]
    fn list_builtins() {
        let (_, s) = solve(Builtin::Member, &[x(), ints(&[4, 5])]);
        assert_eq!(value(&s), Term::Int(4));
        assert!(
            solve(Builtin::Member, &[Term::Int(6), ints(&[4, 5])])
                .0
                .is_err()
        );
        let (_, s) = solve(Builtin::Append, &[ints(&[1]), ints(&[2, 3]), x()]);
        assert_eq!(value(&s), ints(&[1, 2, 3]));
        let (_, s) = solve(Builtin::Length, &[ints(&[1, 2, 3]), x()]);
        assert_eq!(value(&s), Term::Int(3));
        let (_, s) = solve(Builtin::Nth, &[Term::Int(2), ints(&[7, 8, 9]), x()]);
        assert_eq!(value(&s), Term::Int(8));
        assert!(
            solve(Builtin::Nth, &[Term::Int(0), ints(&[7]), x()])
                .0
                .is_err()
        );
        assert!(
            solve(Builtin::Nth, &[Term::Int(2), ints(&[7]), x()])
                .0
                .is_err()
        );
        let (_, s) = solve(Builtin::Select, &[Term::Int(8), ints(&[7, 8, 9]), x()]);
        assert_eq!(value(&s), ints(&[7, 9]));
        let (_, s) = solve(Builtin::Sum, &[ints(&[1, 2, 3]), x()]);
        assert_eq!(value(&s), Term::Int(6));
        assert!(
            solve(Builtin::Length, &[Term::atom("notalist"), x()])
                .0
                .is_err()
        );
    }

    #[test]
    fn selection_by_argument_takes_the_first_on_ties() {
        let bid = |who: &str, p: i64| Term::apply("bid", vec![Term::atom(who), Term::Int(p)]);
        let bids = Term::list(vec![bid("a", 5), bid("b", 9), bid("c", 9), bid("d", 2)]);
        let (_, s) = solve(Builtin::MaxBy, &[Term::Int(2), bids.clone(), x()]);
        assert_eq!(value(&s), bid("b", 9));
        let (_, s) = solve(Builtin::MinBy, &[Term::Int(2), bids, x()]);
        assert_eq!(value(&s), bid("d", 2));
        assert!(
            solve(Builtin::MinBy, &[Term::Int(2), Term::nil(), x()])
                .0
                .is_err()
        );
    }

    #[test]
    fn unification_builtins() {
        let (r, s) = solve(Builtin::Unify, &[x(), Term::atom("a")]);
        assert!(r.is_ok());
        assert_eq!(value(&s), Term::atom("a"));
        let (r, s) = solve(Builtin::NotUnify, &[x(), Term::atom("a")]);
        assert!(r.is_err(), "an unbound variable unifies with anything");
        assert!(s.is_unbound(&x(), 0), "\\= binds nothing");
        assert!(
            solve(Builtin::NotUnify, &[Term::atom("b"), Term::atom("a")])
                .0
                .is_ok()
        );
        let (_, s) = solve(Builtin::Now, &[x()]);
        assert_eq!(value(&s), Term::Int(1234));
    }

    #[test]
    fn the_table_has_no_duplicates() {
        let all: Vec<_> = signatures().map(|s| (s.name, s.modes.len())).collect();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "{a:?} twice");
        }
    }
}
