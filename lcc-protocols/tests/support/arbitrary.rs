//! proptest strategies for [`lcc::ast::Model`]: every shape the parser can
//! produce, with names chosen to hit the printer's hard cases (reserved
//! words, atoms that need quotes, negative numbers, operators as functors).

use lcc::ast::{
    Clause, ComponentDecl, Constraint, ConstraintKind, Deadline, Def, DefKind, Mode, Model, Param,
    RoleDecl, RoleKind, RoleRef, Span, Term, TermKind,
};
use proptest::prelude::*;

const VARS: &[&str] = &["X", "Y", "_", "_G1", "Bundle", "Peers"];
const ATOMS: &[&str] = &[
    "a",
    "r",
    "x",
    "buyer",
    "null",
    "then",
    "or",
    "is",
    "not",
    "within",
    "component",
    "Foo",
    "it's",
    "a b",
    "",
    "back\\slash",
    "new\nline",
    "\u{e9}t\u{e9}",
    "[]",
    "+",
    "=",
];
const FUNCTORS: &[&str] = &[
    "f", "a", "price", "-", "+", "*", "/", "=", "\\=", "is", "<", ">", "=<", ">=", "then", "null",
    "A", "x y",
];

fn pick(names: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(names).prop_map(str::to_string)
}

fn at(kind: TermKind) -> Term {
    Term {
        kind,
        span: Span::default(),
    }
}

pub fn term() -> impl Strategy<Value = Term> {
    let leaf = prop_oneof![
        pick(VARS).prop_map(TermKind::Var),
        pick(ATOMS).prop_map(TermKind::Atom),
        any::<i64>().prop_map(TermKind::Int),
        prop_oneof![
            proptest::num::f64::NORMAL,
            proptest::num::f64::SUBNORMAL,
            proptest::num::f64::ZERO
        ]
        .prop_map(TermKind::Float),
        any::<String>().prop_map(TermKind::Str),
    ]
    .prop_map(at);
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            (pick(FUNCTORS), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(f, args)| at(TermKind::Compound(f, args))),
            (
                prop::collection::vec(inner.clone(), 0..3),
                prop::option::of(inner.prop_map(Box::new))
            )
                // `[ | T]` is not a list: a tail needs an item before it.
                .prop_map(|(items, tail)| {
                    let tail = tail.filter(|_| !items.is_empty());
                    at(TermKind::List(items, tail))
                }),
        ]
    })
}

/// A term a constraint can call: an atom or a compound.
fn callable() -> impl Strategy<Value = Term> {
    prop_oneof![
        pick(ATOMS).prop_map(|a| at(TermKind::Atom(a))),
        (pick(FUNCTORS), prop::collection::vec(term(), 0..3))
            .prop_map(|(f, args)| at(TermKind::Compound(f, args))),
    ]
}

pub fn constraint() -> impl Strategy<Value = Constraint> {
    let wrap = |kind| Constraint {
        kind,
        span: Span::default(),
    };
    callable()
        .prop_map(move |t| wrap(ConstraintKind::Call(t)))
        .prop_recursive(3, 8, 2, move |inner| {
            prop_oneof![
                inner
                    .clone()
                    .prop_map(move |c| wrap(ConstraintKind::Not(Box::new(c)))),
                (inner.clone(), inner.clone())
                    .prop_map(move |(a, b)| wrap(ConstraintKind::And(Box::new(a), Box::new(b)))),
                (inner.clone(), inner)
                    .prop_map(move |(a, b)| wrap(ConstraintKind::Or(Box::new(a), Box::new(b)))),
            ]
        })
}

fn role_ref() -> impl Strategy<Value = RoleRef> {
    (
        prop_oneof![
            pick(ATOMS).prop_map(|a| at(TermKind::Atom(a))),
            callable(),
            term()
        ],
        prop_oneof![pick(VARS).prop_map(|v| at(TermKind::Var(v))), term()],
    )
        .prop_map(|(role, id)| RoleRef {
            role,
            id,
            span: Span::default(),
        })
}

fn guard() -> impl Strategy<Value = Option<Constraint>> {
    prop::option::of(constraint())
}

fn action() -> impl Strategy<Value = Def> {
    let deadline = prop::option::of(prop_oneof![
        term().prop_map(Deadline::Within),
        term().prop_map(Deadline::Until),
    ]);
    prop_oneof![
        (term(), role_ref(), guard()).prop_map(|(message, to, guard)| DefKind::Send {
            message,
            to,
            guard
        }),
        (term(), role_ref(), guard(), deadline).prop_map(|(message, from, guard, deadline)| {
            DefKind::Receive {
                message,
                from,
                guard,
                deadline,
            }
        }),
        guard().prop_map(|guard| DefKind::Null { guard }),
        (role_ref(), guard()).prop_map(|(role, guard)| DefKind::RoleChange { role, guard }),
    ]
    .prop_map(|kind| Def {
        kind,
        span: Span::default(),
    })
}

pub fn def() -> impl Strategy<Value = Def> {
    action().prop_recursive(5, 24, 2, |inner| {
        (0..3u8, inner.clone(), inner).prop_map(|(op, a, b)| {
            let (a, b) = (Box::new(a), Box::new(b));
            Def {
                kind: match op {
                    0 => DefKind::Then(a, b),
                    1 => DefKind::Or(a, b),
                    _ => DefKind::Par(a, b),
                },
                span: Span::default(),
            }
        })
    })
}

fn role_decl() -> impl Strategy<Value = RoleDecl> {
    let kind = proptest::sample::select(
        &[
            RoleKind::Initial,
            RoleKind::Necessary,
            RoleKind::Optional,
            RoleKind::Auxiliary,
            RoleKind::Cyclic,
            RoleKind::Uncommitted,
        ][..],
    );
    let counts = prop_oneof![
        Just((None, None)),
        any::<u32>().prop_map(|min| (Some(min), None)),
        (any::<u32>(), any::<u32>()).prop_map(|(a, b)| (Some(a.min(b)), Some(a.max(b)))),
    ];
    (pick(ATOMS), kind, counts).prop_map(|(name, kind, (min, max))| RoleDecl {
        name,
        kind,
        min,
        max,
        span: Span::default(),
    })
}

fn component_decl() -> impl Strategy<Value = ComponentDecl> {
    let mode = proptest::sample::select(&[Mode::In, Mode::Out, Mode::Any][..]);
    let param = (mode, prop_oneof![pick(VARS), pick(ATOMS)]).prop_map(|(mode, name)| Param {
        mode,
        name,
        span: Span::default(),
    });
    (pick(FUNCTORS), prop::collection::vec(param, 0..4)).prop_map(|(name, params)| ComponentDecl {
        name,
        params,
        span: Span::default(),
    })
}

pub fn model() -> impl Strategy<Value = Model> {
    let clause = (role_ref(), def()).prop_map(|(head, body)| Clause {
        head,
        body,
        span: Span::default(),
    });
    (
        prop::collection::vec(role_decl(), 0..3),
        prop::collection::vec(component_decl(), 0..3),
        prop::collection::vec(clause, 0..4),
    )
        .prop_map(|(roles, components, clauses)| Model {
            roles,
            components,
            clauses,
            span: Span::default(),
        })
}
