//! From source text to [`ast::Model`](crate::ast::Model): the lexer
//! ([`lexer`]) and the parser ([`parser`]).
//!
//! [`parse`] stops at the first syntax error and reports it as a
//! [`Diagnostic`] pointing at the offending token, with a hint. The parser
//! never panics and never recurses deeper than [`parser::MAX_DEPTH`], whatever
//! the input.
//!
//! Operator precedence, loosest first (docs/lcc.md, "Precedence"):
//!
//! | level | operators | associativity |
//! |---|---|---|
//! | definitions | `par` < `or` < `then` | right |
//! | message steps | `=>`, `<=`, then a guard `<- C` | — |
//! | constraints | `or` < `and` = `,` < `not` | right |
//! | terms | `= \= is < > =< >=` < `+ -` < `* /` < prefix `-` | none, left, left |
//!
//! So `A or B then C` is `A or (B then C)`, and `M => a(R, I) <- C then D`
//! is `(M => a(R, I) <- C) then D`.

pub mod lexer;
pub mod parser;

use crate::ast::Model;
use crate::diagnostic::Diagnostic;

pub use lexer::Comment;

/// Parses one model.
pub fn parse(source: &str) -> Result<Model, Diagnostic> {
    parse_with_comments(source).map(|(model, _)| model)
}

/// Parses one model and returns its comments too (for the pretty-printer,
/// which puts them back).
pub fn parse_with_comments(source: &str) -> Result<(Model, Vec<Comment>), Diagnostic> {
    let tokens = lexer::tokenize(source)?;
    let model = parser::Parser::new(&tokens.tokens).model()?;
    Ok((model, tokens.comments))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::{
        ConstraintKind, Deadline, Def, DefKind, Mode, RoleKind, Span, Term, TermKind,
    };
    use crate::diagnostic::Code;

    fn body(source: &str) -> Def {
        let model = parse(source).unwrap_or_else(|d| panic!("{}", d.render("t", source)));
        model.clauses.into_iter().next().unwrap().body
    }

    /// The shape of a definition, as a compact string, to compare trees in
    /// one line.
    fn shape(def: &Def) -> String {
        match &def.kind {
            DefKind::Then(a, b) => format!("({} then {})", shape(a), shape(b)),
            DefKind::Or(a, b) => format!("({} or {})", shape(a), shape(b)),
            DefKind::Par(a, b) => format!("({} par {})", shape(a), shape(b)),
            DefKind::Send { message, guard, .. } => {
                format!(
                    "send {}{}",
                    term(message),
                    if guard.is_some() { "?" } else { "" }
                )
            }
            DefKind::Receive {
                message,
                guard,
                deadline,
                ..
            } => format!(
                "{}recv {}{}",
                if guard.is_some() { "?" } else { "" },
                term(message),
                match deadline {
                    Some(Deadline::Within(t)) => format!(" within {}", term(t)),
                    Some(Deadline::Until(t)) => format!(" until {}", term(t)),
                    None => String::new(),
                }
            ),
            DefKind::Null { guard } => {
                format!("null{}", if guard.is_some() { "?" } else { "" })
            }
            DefKind::RoleChange { role, .. } => format!("role {}", term(&role.role)),
        }
    }

    fn term(t: &Term) -> String {
        match &t.kind {
            TermKind::Var(v) => v.clone(),
            TermKind::Atom(a) => a.clone(),
            TermKind::Int(n) => n.to_string(),
            TermKind::Float(f) => format!("{f:?}"),
            TermKind::Str(s) => format!("{s:?}"),
            TermKind::List(items, tail) => format!(
                "[{}{}]",
                items.iter().map(term).collect::<Vec<_>>().join(","),
                tail.as_ref()
                    .map(|t| format!("|{}", term(t)))
                    .unwrap_or_default()
            ),
            TermKind::Compound(f, args) => format!(
                "{f}({})",
                args.iter().map(term).collect::<Vec<_>>().join(",")
            ),
        }
    }

    #[test]
    fn precedence_of_definitions() {
        let cases = [
            ("m => a(r, X) then n <= a(r, X)", "(send m then recv n)"),
            ("null or null then null", "(null or (null then null))"),
            ("null then null or null", "((null then null) or null)"),
            ("null par null or null", "(null par (null or null))"),
            ("null or null par null", "((null or null) par null)"),
            ("null then null then null", "(null then (null then null))"),
            ("(null then null) then null", "((null then null) then null)"),
            (
                "m => a(r, X) <- p(X) then null <- q then a(s, X)",
                "(send m? then (null? then role s))",
            ),
            ("null <- p or null <- q", "(null? or null?)"),
            (
                "c(X) <- m(X) <= a(r, I) then null",
                "(?recv m(X) then null)",
            ),
            ("(p, q) <- m <= a(r, I)", "?recv m"),
            (
                "m <= a(r, I) within 500 or null",
                "(recv m within 500 or null)",
            ),
            ("m <= a(r, I) until T + 10", "recv m until +(T,10)"),
            ("a(r(X), I) <- X > 1", "role r(X)"),
        ];
        for (source, expected) in cases {
            let def = body(&format!("a(x, Y) :: {source}"));
            assert_eq!(shape(&def), expected, "{source}");
        }
    }

    #[test]
    fn terms() {
        let cases = [
            ("X is A + B * C", "is(X,+(A,*(B,C)))"),
            ("X is (A + B) * C", "is(X,*(+(A,B),C))"),
            ("X = A - B - C", "=(X,-(-(A,B),C))"),
            ("X = -3", "=(X,-3)"),
            ("X = - 3", "=(X,-(3))"),
            ("X = -Y", "=(X,-(Y))"),
            ("X =< -1.5e3", "=<(X,-1500.0)"),
            ("L = [H|T]", "=(L,[H|T])"),
            ("L = [a, 'B c', \"s\", 1 | _]", "=(L,[a,B c,\"s\",1|_])"),
            ("X \\= []", "\\=(X,[])"),
            ("f ()", "f()"),
            ("f (a, g (b))", "f(a,g(b))"),
            ("'then'(x)", "then(x)"),
        ];
        for (source, expected) in cases {
            let def = body(&format!("a(x, Y) :: null <- {source}"));
            let DefKind::Null { guard: Some(guard) } = def.kind else {
                panic!("{source}: not a null with a guard");
            };
            let ConstraintKind::Call(t) = guard.kind else {
                panic!("{source}: not a call");
            };
            assert_eq!(term(&t), expected, "{source}");
        }
    }

    #[test]
    fn constraints() {
        let def = body("a(x, Y) :: null <- not p, q and (r or s)");
        let DefKind::Null { guard: Some(c) } = def.kind else {
            panic!()
        };
        let ConstraintKind::And(left, right) = c.kind else {
            panic!("{c:?}")
        };
        assert!(matches!(left.kind, ConstraintKind::Not(_)));
        let ConstraintKind::And(_, or) = right.kind else {
            panic!()
        };
        assert!(matches!(or.kind, ConstraintKind::Or(..)));
    }

    #[test]
    fn declarations() {
        let model = parse(
            "r(peerGreeter, initial)\nr(peerResponder, necessary, 1)\n\
             r(bidder, optional, 0, 100).\n\
             component price(+Bundle, -Price, ?Note)\ncomponent ready()\ncomponent tick\n\
             a(peerGreeter, G) :: null",
        )
        .unwrap();
        let roles: Vec<_> = model
            .roles
            .iter()
            .map(|r| (r.name.as_str(), r.kind, r.min, r.max))
            .collect();
        assert_eq!(
            roles,
            vec![
                ("peerGreeter", RoleKind::Initial, None, None),
                ("peerResponder", RoleKind::Necessary, Some(1), None),
                ("bidder", RoleKind::Optional, Some(0), Some(100)),
            ]
        );
        let price = &model.components[0];
        assert_eq!(price.name, "price");
        let modes: Vec<_> = price.params.iter().map(|p| p.mode).collect();
        assert_eq!(modes, vec![Mode::In, Mode::Out, Mode::Any]);
        assert!(model.components[1].params.is_empty());
        assert_eq!(model.components[2].name, "tick");
        assert_eq!(model.clauses.len(), 1);
    }

    #[test]
    fn spans_cover_what_was_written() {
        let source = "a(x, Y) ::\n  m(Y) => a(r, Z) \u{2190} p(Y)";
        let model = parse(source).unwrap();
        let clause = &model.clauses[0];
        let text = |s: Span| &source[s.start as usize..s.end as usize];
        assert_eq!(text(clause.head.span), "a(x, Y)");
        assert_eq!(text(clause.body.span), "m(Y) => a(r, Z) \u{2190} p(Y)");
        let DefKind::Send {
            message, to, guard, ..
        } = &clause.body.kind
        else {
            panic!()
        };
        assert_eq!(text(message.span), "m(Y)");
        assert_eq!(text(to.span), "a(r, Z)");
        assert_eq!(text(guard.as_ref().unwrap().span), "p(Y)");
    }

    #[test]
    fn syntax_errors_say_what_and_where() {
        let cases: &[(&str, Code, &str)] = &[
            (
                "a(x, Y) :: m <= a(r, Z) <- p",
                Code::ConstraintAfterReceive,
                "<-",
            ),
            ("a(x, Y) :: m => b(r, Z)", Code::NotARole, "b(r, Z)"),
            ("a(x, Y) :: m", Code::UnexpectedToken, ""),
            ("a(x, Y) :: null <- X <= 3", Code::UnexpectedToken, "<="),
            ("a(x, Y) :: null <- then", Code::UnexpectedToken, "then"),
            ("a(x, Y) : null", Code::UnexpectedCharacter, ":"),
            ("r(x, boss)", Code::BadRoleDeclaration, "boss"),
            ("r(x, initial, 3, 1)", Code::BadRoleDeclaration, "1"),
            (
                "component f(Bundle)",
                Code::BadComponentDeclaration,
                "Bundle",
            ),
            ("foo(x)", Code::UnexpectedToken, "foo(x)"),
            ("a(x, Y) :: (null", Code::UnexpectedToken, ""),
            // a missing `then`, and a `)` too many (seed 001's slide)
            (
                "a(x, Y) :: m => a(r, Z)\n  n <= a(r, Z) within 5",
                Code::UnexpectedToken,
                "n <= a(r, Z) within 5",
            ),
            (
                "a(x, Y) :: null <- p then a(z, Y) ) or ( a(x, Y) )",
                Code::UnexpectedToken,
                ")",
            ),
        ];
        for (source, code, at) in cases {
            let err = parse(source).expect_err(source);
            assert_eq!(err.code, *code, "{source}: {}", err.render("t", source));
            let found = &source[err.span.start as usize..err.span.end as usize];
            assert_eq!(found, *at, "{source}");
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for depth in [300, 100_000] {
            let source = format!("a(x, Y) :: {}null{}", "(".repeat(depth), ")".repeat(depth));
            assert_eq!(parse(&source).unwrap_err().code, Code::TooDeep);
            let source = format!(
                "a(x, Y) :: null <- p({}1{})",
                "f(".repeat(depth),
                ")".repeat(depth)
            );
            assert_eq!(parse(&source).unwrap_err().code, Code::TooDeep);
            let source = format!("a(x, Y) :: null{}", " then null".repeat(depth));
            assert_eq!(parse(&source).unwrap_err().code, Code::TooDeep);
        }
        let source = format!("a(x, Y) :: {}null{}", "(".repeat(20), ")".repeat(20));
        assert!(parse(&source).is_ok());
    }
}
