//! The canonical text of a model: what `market protocol fmt` prints.
//!
//! Layout: role declarations, then component declarations, then the
//! clauses, separated by blank lines; a clause's steps one per line,
//! indented by two, with `then` at the end of the line it follows and `or`
//! and `par` on lines of their own (after `null <- p`, a trailing `or` would
//! look like part of the constraint). Guards are written `<-`.
//!
//! Parentheses go wherever a reader could doubt: around every `then`, `or`
//! or `par` nested inside another of these (even where the precedence would
//! allow leaving them out, since authors disagree on it), around an `or`
//! inside `and`, and around a disjunctive guard (`null <- (p or q)`, which
//! the grammar requires). Terms use the usual arithmetic precedence.
//!
//! The printer is the parser's inverse: `parse(print(m))` says the same as
//! `m` for every model (a property test checks it on generated models), and
//! printing is idempotent. Atoms that the parser would read otherwise
//! (`'then'`, `'Foo'`, `'a b'`) are quoted.
//!
//! [`format_source`] keeps comments: each goes before the step or
//! declaration it preceded in the source.

use std::fmt::Write as _;

use crate::ast::{
    Clause, ComponentDecl, Constraint, ConstraintKind, Deadline, Def, DefKind, Mode, Model,
    RoleDecl, RoleRef, Term, TermKind,
};
use crate::diagnostic::Diagnostic;
use crate::syntax::lexer::{is_var_start, is_word_continue, is_word_start};
use crate::syntax::parser::RESERVED;
use crate::syntax::{Comment, parse_with_comments};

/// The canonical text of `model` (without comments: the tree has none).
pub fn print(model: &Model) -> String {
    Printer::new(&[], "").model(model)
}

/// Parses `source` and prints it canonically, keeping its comments.
pub fn format_source(source: &str) -> Result<String, Diagnostic> {
    let (model, comments) = parse_with_comments(source)?;
    Ok(Printer::new(&comments, source).model(&model))
}

/// A term as it is written in a model.
pub fn term(t: &Term) -> String {
    let mut out = String::new();
    write_term(&mut out, t, Precedence::Argument);
    out
}

/// A constraint as it is written in a model.
pub fn constraint(c: &Constraint) -> String {
    let mut out = String::new();
    write_constraint(&mut out, c, ConstraintContext::Top);
    out
}

const INDENT: usize = 2;

struct Printer<'c> {
    out: String,
    /// Comments not yet printed, in source order, each with whether a blank
    /// line followed it in the source.
    comments: Vec<(&'c Comment, bool)>,
    next_comment: usize,
}

impl<'c> Printer<'c> {
    fn new(comments: &'c [Comment], source: &str) -> Self {
        let comments = comments
            .iter()
            .map(|c| {
                let after = source.get(c.span.end as usize..).unwrap_or("");
                let gap = &after[..after.len() - after.trim_start().len()];
                (c, gap.matches('\n').count() >= 2)
            })
            .collect();
        Printer {
            out: String::new(),
            comments,
            next_comment: 0,
        }
    }

    /// Prints the comments that start before byte `offset` of the source.
    fn comments_before(&mut self, offset: u32, indent: usize) {
        while let Some((comment, blank_after)) = self.comments.get(self.next_comment) {
            if comment.span.start >= offset {
                break;
            }
            for line in comment.text.lines() {
                let _ = writeln!(self.out, "{:indent$}{}", "", line.trim_end());
            }
            if *blank_after {
                self.out.push('\n');
            }
            self.next_comment += 1;
        }
    }

    fn model(mut self, model: &Model) -> String {
        let mut first = true;
        let mut section = |p: &mut Self, blank: bool| {
            if !first && blank {
                p.out.push('\n');
            }
            first = false;
        };
        for (i, role) in model.roles.iter().enumerate() {
            section(&mut self, i == 0);
            self.comments_before(role.span.start, 0);
            self.out.push_str(&role_decl(role));
            self.out.push('\n');
        }
        for (i, component) in model.components.iter().enumerate() {
            section(&mut self, i == 0);
            self.comments_before(component.span.start, 0);
            self.out.push_str(&component_decl(component));
            self.out.push('\n');
        }
        for clause in &model.clauses {
            section(&mut self, true);
            self.clause(clause);
        }
        self.comments_before(u32::MAX, 0);
        self.out
    }

    fn clause(&mut self, clause: &Clause) {
        self.comments_before(clause.span.start, 0);
        let _ = writeln!(self.out, "{} ::", role_ref(&clause.head));
        self.def(&clause.body, INDENT);
        self.out.push('\n');
    }

    /// Writes `def` as lines at `indent`, the last without its newline (so
    /// that the caller can append ` then`).
    fn def(&mut self, def: &Def, indent: usize) {
        let (items, keyword) = match &def.kind {
            DefKind::Then(..) => (chain(def), "then"),
            DefKind::Or(..) => (chain(def), "or"),
            DefKind::Par(..) => (chain(def), "par"),
            _ => {
                self.comments_before(def.span.start, indent);
                let _ = write!(self.out, "{:indent$}{}", "", action(def));
                return;
            }
        };
        let last = items.len() - 1;
        for (i, item) in items.into_iter().enumerate() {
            if is_binary(item) {
                self.comments_before(item.span.start, indent);
                let _ = writeln!(self.out, "{:indent$}(", "");
                self.def(item, indent + INDENT);
                let _ = write!(self.out, "\n{:indent$})", "");
            } else {
                self.def(item, indent);
            }
            if i < last {
                if keyword == "then" {
                    let _ = writeln!(self.out, " then");
                } else {
                    // On a line of its own: after a guard, a trailing `or`
                    // would read as part of the constraint.
                    let _ = writeln!(self.out, "\n{:indent$}{keyword}", "");
                }
            }
        }
    }
}

/// The operands of a right-nested chain of one operator:
/// `Then(a, Then(b, c))` gives `[a, b, c]`.
fn chain(def: &Def) -> Vec<&Def> {
    let mut items = Vec::new();
    let mut rest = def;
    loop {
        match (&def.kind, &rest.kind) {
            (DefKind::Then(..), DefKind::Then(a, b))
            | (DefKind::Or(..), DefKind::Or(a, b))
            | (DefKind::Par(..), DefKind::Par(a, b)) => {
                items.push(a.as_ref());
                rest = b;
            }
            _ => {
                items.push(rest);
                return items;
            }
        }
    }
}

fn is_binary(def: &Def) -> bool {
    matches!(
        def.kind,
        DefKind::Then(..) | DefKind::Or(..) | DefKind::Par(..)
    )
}

/// One step on one line.
fn action(def: &Def) -> String {
    let mut out = String::new();
    match &def.kind {
        DefKind::Send { message, to, guard } => {
            let _ = write!(out, "{} => {}", term(message), role_ref(to));
            write_guard(&mut out, guard.as_ref());
        }
        DefKind::Receive {
            message,
            from,
            guard,
            deadline,
        } => {
            if let Some(guard) = guard {
                write_constraint(&mut out, guard, ConstraintContext::Guard);
                out.push_str(" <- ");
            }
            let _ = write!(out, "{} <= {}", term(message), role_ref(from));
            match deadline {
                Some(Deadline::Within(t)) => {
                    let _ = write!(out, " within {}", term(t));
                }
                Some(Deadline::Until(t)) => {
                    let _ = write!(out, " until {}", term(t));
                }
                None => {}
            }
        }
        DefKind::Null { guard } => {
            out.push_str("null");
            write_guard(&mut out, guard.as_ref());
        }
        DefKind::RoleChange { role, guard } => {
            out.push_str(&role_ref(role));
            write_guard(&mut out, guard.as_ref());
        }
        DefKind::Then(..) | DefKind::Or(..) | DefKind::Par(..) => {}
    }
    out
}

fn write_guard(out: &mut String, guard: Option<&Constraint>) {
    if let Some(guard) = guard {
        out.push_str(" <- ");
        write_constraint(out, guard, ConstraintContext::Guard);
    }
}

fn role_ref(role: &RoleRef) -> String {
    format!("a({}, {})", term(&role.role), term(&role.id))
}

fn role_decl(role: &RoleDecl) -> String {
    let mut out = format!("r({}, {}", atom(&role.name), role.kind);
    if role.min.is_some() || role.max.is_some() {
        let _ = write!(out, ", {}", role.min.unwrap_or(1));
    }
    if let Some(max) = role.max {
        let _ = write!(out, ", {max}");
    }
    out.push(')');
    out
}

fn component_decl(component: &ComponentDecl) -> String {
    let params: Vec<String> = component
        .params
        .iter()
        .map(|p| {
            let mode = match p.mode {
                Mode::In => '+',
                Mode::Out => '-',
                Mode::Any => '?',
            };
            let name = if is_plain_var(&p.name) {
                p.name.clone()
            } else {
                atom(&p.name)
            };
            format!("{mode}{name}")
        })
        .collect();
    format!("component {}({})", atom(&component.name), params.join(", "))
}

// ----- constraints -----

#[derive(Clone, Copy, PartialEq)]
enum ConstraintContext {
    /// A whole constraint: nothing around it.
    Top,
    /// After `<-`: a top-level `or` would end the guard, so it needs
    /// parentheses.
    Guard,
    /// An operand of `and`.
    And,
    /// An operand of `or`.
    Or,
    /// The operand of `not`.
    Not,
}

fn write_constraint(out: &mut String, c: &Constraint, context: ConstraintContext) {
    use ConstraintContext as Ctx;
    let parens = match &c.kind {
        ConstraintKind::Call(_) => false,
        ConstraintKind::Not(_) => false,
        ConstraintKind::And(..) => matches!(context, Ctx::Or | Ctx::Not | Ctx::And),
        ConstraintKind::Or(..) => context != Ctx::Top,
    };
    if parens {
        out.push('(');
    }
    match &c.kind {
        ConstraintKind::Call(t) => write_term(out, t, Precedence::Argument),
        ConstraintKind::Not(inner) => {
            out.push_str("not ");
            write_constraint(out, inner, Ctx::Not);
        }
        ConstraintKind::And(..) | ConstraintKind::Or(..) => {
            let (items, keyword, inner) = constraint_chain(c);
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    let _ = write!(out, " {keyword} ");
                }
                write_constraint(out, item, inner);
            }
        }
    }
    if parens {
        out.push(')');
    }
}

/// `And(a, And(b, c))` gives `[a, b, c]`; the operands are printed in the
/// context of their operator, so a left-nested one gets parentheses.
fn constraint_chain(c: &Constraint) -> (Vec<&Constraint>, &'static str, ConstraintContext) {
    let (keyword, context) = match c.kind {
        ConstraintKind::Or(..) => ("or", ConstraintContext::Or),
        _ => ("and", ConstraintContext::And),
    };
    let mut items = Vec::new();
    let mut rest = c;
    loop {
        match (&c.kind, &rest.kind) {
            (ConstraintKind::And(..), ConstraintKind::And(a, b))
            | (ConstraintKind::Or(..), ConstraintKind::Or(a, b)) => {
                items.push(a.as_ref());
                rest = b;
            }
            _ => {
                items.push(rest);
                return (items, keyword, context);
            }
        }
    }
}

// ----- terms -----

/// How loosely an operator binds; an operand binding more loosely than its
/// place allows gets parentheses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Precedence {
    Primary = 0,
    Prefix = 200,
    Product = 400,
    Sum = 500,
    Comparison = 700,
    /// An argument, a list item, a whole term: anything goes.
    Argument = 1000,
}

fn infix(op: &str) -> Option<Precedence> {
    match op {
        "*" | "/" => Some(Precedence::Product),
        "+" | "-" => Some(Precedence::Sum),
        "=" | "\\=" | "is" | "<" | ">" | "=<" | ">=" => Some(Precedence::Comparison),
        _ => None,
    }
}

fn precedence(t: &Term) -> Precedence {
    match &t.kind {
        TermKind::Compound(op, args) if args.len() == 2 => infix(op).unwrap_or(Precedence::Primary),
        TermKind::Compound(op, args) if args.len() == 1 && op == "-" => Precedence::Prefix,
        _ => Precedence::Primary,
    }
}

/// Writes `t`, in parentheses if it binds more loosely than `room`.
fn write_term(out: &mut String, t: &Term, room: Precedence) {
    let own = precedence(t);
    if own > room {
        out.push('(');
        write_term(out, t, Precedence::Argument);
        out.push(')');
        return;
    }
    match &t.kind {
        TermKind::Var(name) => out.push_str(name),
        TermKind::Atom(name) => out.push_str(&atom(name)),
        TermKind::Int(n) => {
            let _ = write!(out, "{n}");
        }
        TermKind::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        TermKind::Str(text) => {
            out.push('"');
            escape_into(out, text, '"');
            out.push('"');
        }
        TermKind::List(items, tail) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_term(out, item, Precedence::Argument);
            }
            if let Some(tail) = tail {
                out.push_str(" | ");
                write_term(out, tail, Precedence::Argument);
            }
            out.push(']');
        }
        TermKind::Compound(op, args) if own == Precedence::Prefix => {
            out.push('-');
            let operand = &args[0];
            // `-3` would read back as the number -3, and `- 3` is easy to
            // misread: write `-(3)`.
            let room = if matches!(operand.kind, TermKind::Int(_) | TermKind::Float(_)) {
                Precedence::Primary
            } else {
                Precedence::Prefix
            };
            if room == Precedence::Primary {
                out.push('(');
                write_term(out, operand, Precedence::Argument);
                out.push(')');
            } else {
                write_term(out, operand, room);
            }
            debug_assert_eq!(op, "-");
        }
        TermKind::Compound(op, args) if own != Precedence::Primary => {
            // Left-associative arithmetic; comparisons do not chain.
            let left_room = if own == Precedence::Comparison {
                lower(own)
            } else {
                own
            };
            write_term(out, &args[0], left_room);
            let _ = write!(out, " {op} ");
            write_term(out, &args[1], lower(own));
        }
        TermKind::Compound(functor, args) => {
            out.push_str(&atom(functor));
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_term(out, arg, Precedence::Argument);
            }
            out.push(')');
        }
    }
}

/// The room just inside an operator of precedence `p`: operands must bind
/// strictly tighter.
fn lower(p: Precedence) -> Precedence {
    match p {
        Precedence::Comparison => Precedence::Sum,
        Precedence::Sum => Precedence::Product,
        Precedence::Product => Precedence::Prefix,
        _ => Precedence::Primary,
    }
}

/// An atom, quoted unless the parser would read it back bare as the same
/// atom.
fn atom(name: &str) -> String {
    let bare = name.starts_with(|c: char| is_word_start(c) && !is_var_start(c))
        && name.chars().all(is_word_continue)
        && !RESERVED.contains(&name)
        && name != "null";
    if bare {
        name.to_string()
    } else {
        let mut out = String::from("'");
        escape_into(&mut out, name, '\'');
        out.push('\'');
        out
    }
}

fn is_plain_var(name: &str) -> bool {
    name.starts_with(is_var_start) && name.chars().all(is_word_continue)
}

fn escape_into(out: &mut String, text: &str, quote: char) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    fn canonical(source: &str) -> String {
        format_source(source).unwrap_or_else(|d| panic!("{}", d.render("t", source)))
    }

    #[test]
    fn layout_of_a_clause() {
        let source = "a(buyer, B) :: ask(X) => a(shopkeeper, S) then \
                      price(X,P) <= a(shopkeeper, S) then buy(X,P) => a(shopkeeper, S) \u{2190} afford(X, P)";
        assert_eq!(
            canonical(source),
            "a(buyer, B) ::\n  \
             ask(X) => a(shopkeeper, S) then\n  \
             price(X, P) <= a(shopkeeper, S) then\n  \
             buy(X, P) => a(shopkeeper, S) <- afford(X, P)\n"
        );
    }

    #[test]
    fn parentheses_wherever_a_reader_could_doubt() {
        let cases = [
            (
                "a(i, I) :: null then null or a(i, I)",
                "a(i, I) ::\n  (\n    null then\n    null\n  )\n  or\n  a(i, I)\n",
            ),
            (
                "a(i, I) :: (null then null) then null",
                "a(i, I) ::\n  (\n    null then\n    null\n  ) then\n  null\n",
            ),
            (
                "a(i, I) :: null <- (p or q), not (r, s)",
                "a(i, I) ::\n  null <- (p or q) and not (r and s)\n",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(canonical(source), expected, "{source}");
        }
    }

    #[test]
    fn terms_print_as_they_read() {
        let cases = [
            ("X is (A + B) * C", "X is (A + B) * C"),
            ("X is A - (B - C)", "X is A - (B - C)"),
            ("X is A - B - C", "X is A - B - C"),
            ("X = - 3", "X = -(3)"),
            ("X = -3", "X = -3"),
            ("X = -(A + 1)", "X = -(A + 1)"),
            ("X = 'then'", "X = 'then'"),
            ("X = 'Foo'", "X = 'Foo'"),
            ("X = 'it''s'", ""),
            ("X = \"a\\\"b\"", "X = \"a\\\"b\""),
            ("X = [a, b | T]", "X = [a, b | T]"),
            ("X = f()", "X = f()"),
            ("X = 1.0e10", "X = 10000000000.0"),
            ("X = 2.5e-20", "X = 2.5e-20"),
        ];
        for (source, expected) in cases {
            let Ok(model) = parse(&format!("a(x, Y) :: null <- {source}")) else {
                assert!(expected.is_empty(), "{source} should parse");
                continue;
            };
            let DefKind::Null { guard: Some(c) } = &model.clauses[0].body.kind else {
                panic!()
            };
            assert_eq!(constraint(c), expected, "{source}");
        }
    }

    #[test]
    fn comments_stay_before_what_they_describe() {
        let source = "// header\n\n/* roles */ r(a, initial)\n\
                      a(a, X) ::\n  % first\n  null then\n  // second\n  null\n// end\n";
        let expected = "// header\n\n/* roles */\nr(a, initial)\n\n\
                        a(a, X) ::\n  % first\n  null then\n  // second\n  null\n// end\n";
        assert_eq!(canonical(source), expected);
        assert_eq!(canonical(expected), expected);
    }

    #[test]
    fn declarations() {
        let source = "r(x, necessary, 2, 5) r('Y', optional, 0) component 'then'(+A, -b, ?'C d') \
                      component ready";
        assert_eq!(
            canonical(source),
            "r(x, necessary, 2, 5)\nr('Y', optional, 0)\n\ncomponent 'then'(+A, -b, ?'C d')\n\
             component ready()\n"
        );
    }
}
