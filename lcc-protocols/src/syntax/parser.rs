//! Tokens to [`Model`]: a recursive-descent parser.
//!
//! Grammar (docs/lcc.md has the same with examples):
//!
//! ```text
//! model      := item* EOF
//! item       := clause | role_decl | component_decl        (each may end in `.`)
//! clause     := role "::" def
//! role_decl  := "r" "(" atom "," kind ["," int ["," int]] ")"
//! component  := "component" atom ["(" [param ("," param)*] ")"]
//! param      := ("+" | "-" | "?") name
//! role       := "a" "(" term "," term ")"
//!
//! def        := or_def ["par" def]                      loosest
//! or_def     := then_def ["or" or_def]
//! then_def   := action ["then" then_def]                tightest
//! action     := "(" def ")"
//!             | guard "<-" term "<=" role [deadline]    receive, constraint first
//!             | term "<=" role [deadline]               receive
//!             | term "=>" role ["<-" guard]             send
//!             | "null" ["<-" guard]
//!             | role ["<-" guard]                       role change
//! deadline   := ("within" | "until") term
//! guard      := conj                                    no top-level `or`
//! constraint := conj ["or" constraint]
//! conj       := unary [("and" | ",") conj]
//! unary      := "not" unary | "(" constraint ")" | term
//! term       := sum [("=" | "\=" | "is" | "<" | ">" | "=<" | ">=") sum]
//! sum        := product (("+" | "-") product)*
//! product    := prefix (("*" | "/") prefix)*
//! prefix     := "-" prefix | primary
//! primary    := Var | number | string | atom ["(" [term ("," term)*] ")"]
//!             | "[" [term ("," term)* ["|" term]] "]" | "(" term ")"
//! ```
//!
//! `then`, `or` and `par` are right-associative. A guard stops at `or`,
//! `then` and `par`: `null <- p or q` is `(null <- p) or q`; a disjunctive
//! constraint in a guard is written `null <- (p or q)`.
//!
//! Two places need a look-ahead that a single token cannot give, and the
//! parser tries one reading and falls back to the other (it keeps only the
//! position, so a failed try costs time, never state):
//! - an action that starts a receive with its constraint first
//!   (`C <- M <= a(R, I)`) looks, up to `<-`, like any other action;
//! - `(` in a constraint opens either a term (`(A + B) > C`) or a group of
//!   constraints (`(p or q)`).
//!
//! Nesting (parentheses, arguments, `then` chains) is limited to
//! [`MAX_DEPTH`] so that no input can overflow the stack.

use crate::ast::{
    Clause, ComponentDecl, Constraint, ConstraintKind, Deadline, Def, DefKind, Mode, Model, Param,
    RoleDecl, RoleKind, RoleRef, Span, Term, TermKind,
};
use crate::diagnostic::{Code, Diagnostic};

use super::lexer::{Tok, Token};

/// How deep definitions, constraints and terms may nest. Real models stay
/// under 20; the limit exists so that hostile input gets an error instead
/// of a stack overflow.
pub const MAX_DEPTH: u32 = 128;

/// Words that are operators of the language and so cannot be bare atoms
/// (quote them: `'then'`).
pub const RESERVED: &[&str] = &["then", "or", "par", "and", "not", "is", "within", "until"];

type Parse<T> = Result<T, Diagnostic>;

pub(super) struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
    depth: u32,
}

impl<'t> Parser<'t> {
    /// `tokens` must end with [`Tok::Eof`], as the lexer's output does.
    pub(super) fn new(tokens: &'t [Token]) -> Self {
        Parser {
            tokens,
            pos: 0,
            depth: 0,
        }
    }

    // ----- token helpers -----

    fn token(&self) -> &'t Token {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[self.pos.min(last)]
    }

    fn peek(&self) -> &'t Tok {
        &self.token().kind
    }

    fn peek_at(&self, n: usize) -> &'t Tok {
        let last = self.tokens.len().saturating_sub(1);
        &self.tokens[(self.pos + n).min(last)].kind
    }

    fn span(&self) -> Span {
        self.token().span
    }

    /// The end of the last token consumed.
    fn prev_end(&self) -> u32 {
        if self.pos == 0 {
            0
        } else {
            self.tokens[(self.pos - 1).min(self.tokens.len() - 1)]
                .span
                .end
        }
    }

    fn since(&self, start: Span) -> Span {
        Span {
            start: start.start,
            end: self.prev_end().max(start.start),
        }
    }

    fn advance(&mut self) -> &'t Token {
        let token = self.token();
        if !matches!(token.kind, Tok::Eof) {
            self.pos += 1;
        }
        token
    }

    fn at(&self, kind: &Tok) -> bool {
        self.peek() == kind
    }

    /// Is the next token the unquoted word `word`?
    fn at_word(&self, word: &str) -> bool {
        is_word(self.peek(), word)
    }

    fn eat(&mut self, kind: &Tok) -> bool {
        if self.at(kind) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, word: &str) -> bool {
        if self.at_word(word) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: &Tok, what: &str) -> Parse<Span> {
        if self.at(kind) {
            Ok(self.advance().span)
        } else {
            Err(self.unexpected(what))
        }
    }

    /// "expected X, found Y" at the current token.
    fn unexpected(&self, expected: &str) -> Diagnostic {
        let found = self.peek();
        let mut d = Diagnostic::new(
            Code::UnexpectedToken,
            format!("expected {expected}, found {}", found.describe()),
            self.span(),
        )
        .with_label(format!("expected {expected}"));
        if let Some(hint) = hint_for(found) {
            d = d.with_hint(hint);
        }
        d
    }

    /// Goes one nesting level deeper, refusing beyond [`MAX_DEPTH`]; the
    /// caller restores the depth.
    fn descend(&mut self) -> Parse<()> {
        if self.depth >= MAX_DEPTH {
            return Err(Diagnostic::new(
                Code::TooDeep,
                format!("nested more than {MAX_DEPTH} levels deep"),
                self.span(),
            )
            .with_hint("split the definition into roles that call each other by role change"));
        }
        self.depth += 1;
        Ok(())
    }

    /// Runs `f` one nesting level deeper.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Parse<T>) -> Parse<T> {
        self.descend()?;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Tries `f`; on failure puts the position back and returns `None`.
    fn attempt<T>(&mut self, f: impl FnOnce(&mut Self) -> Parse<T>) -> Option<T> {
        let (pos, depth) = (self.pos, self.depth);
        match f(self) {
            Ok(value) => Some(value),
            Err(_) => {
                self.pos = pos;
                self.depth = depth;
                None
            }
        }
    }

    // ----- model -----

    pub(super) fn model(&mut self) -> Parse<Model> {
        let start = self.span();
        let mut model = Model {
            roles: Vec::new(),
            components: Vec::new(),
            clauses: Vec::new(),
            span: start,
        };
        while !self.at(&Tok::Eof) {
            if self.at_word("component") && matches!(self.peek_at(1), Tok::Atom { .. }) {
                model.components.push(self.component_decl()?);
                self.eat(&Tok::Dot);
                continue;
            }
            let item_start = self.pos;
            let head = self.term().map_err(|e| self.stray(e, &model))?;
            if self.eat(&Tok::Defines) {
                let head = role_ref(head, "the head of a clause")?;
                let body = self.def()?;
                let span = head.span.to(body.span);
                model.clauses.push(Clause { head, body, span });
            } else if head.functor() == Some("r") && matches!(head.kind, TermKind::Compound(..)) {
                model.roles.push(role_decl(head)?);
            } else {
                let not_an_item = Diagnostic::new(
                    Code::UnexpectedToken,
                    "expected a clause, a role declaration or a component declaration",
                    head.span,
                )
                .with_label("not the start of a clause")
                .with_hint(
                    "a model is made of `r(name, kind)` role declarations, \
                     `component name(+In, -Out)` declarations and clauses \
                     `a(Type, Id) :: Definition`",
                );
                self.pos = item_start;
                return Err(self.stray(not_an_item, &model));
            }
            self.eat(&Tok::Dot);
        }
        model.span = Span {
            start: 0,
            end: self.span().end,
        };
        Ok(model)
    }

    /// A better error than `otherwise` for what is left after a clause
    /// ended early: a `)` without its `(`, or a step with no `then` before
    /// it.
    fn stray(&mut self, otherwise: Diagnostic, model: &Model) -> Diagnostic {
        if model.clauses.is_empty() {
            return otherwise;
        }
        if self.at(&Tok::RParen) {
            return Diagnostic::new(
                Code::UnexpectedToken,
                "this `)` closes nothing",
                self.span(),
            )
            .with_label("unmatched `)`")
            .with_hint("a `(` is missing before it, or this `)` is one too many");
        }
        let start = self.span();
        match self.attempt(Self::action) {
            Some(step) if !self.at(&Tok::Defines) => Diagnostic::new(
                Code::UnexpectedToken,
                "a step after the end of the clause",
                Span {
                    start: start.start,
                    end: step.span.end,
                },
            )
            .with_label("not part of the clause above")
            .with_hint("is a `then`, `or` or `par` missing before it?"),
            _ => otherwise,
        }
    }

    /// `component name(+A, -B, ?C)`; the parentheses may be left out when
    /// there are no arguments.
    fn component_decl(&mut self) -> Parse<ComponentDecl> {
        let start = self.advance().span;
        let Tok::Atom { name, .. } = self.peek() else {
            return Err(self.unexpected("the name of the component"));
        };
        let name = name.clone();
        self.advance();
        let mut params = Vec::new();
        if self.eat(&Tok::LParen) && !self.eat(&Tok::RParen) {
            loop {
                params.push(self.param()?);
                if self.eat(&Tok::RParen) {
                    break;
                }
                self.expect(&Tok::Comma, "`,` or `)`")?;
            }
        }
        Ok(ComponentDecl {
            name,
            params,
            span: self.since(start),
        })
    }

    fn param(&mut self) -> Parse<Param> {
        let start = self.span();
        let mode = match self.peek() {
            Tok::Op("+") => Mode::In,
            Tok::Op("-") => Mode::Out,
            Tok::Op("?") => Mode::Any,
            _ => {
                return Err(Diagnostic::new(
                    Code::BadComponentDeclaration,
                    format!(
                        "expected the mode of an argument, found {}",
                        self.peek().describe()
                    ),
                    start,
                )
                .with_label("expected `+`, `-` or `?`")
                .with_hint(
                    "write each argument as `+Name` (must be bound when called), \
                     `-Name` (bound by the component) or `?Name` (either)",
                ));
            }
        };
        self.advance();
        let name = match &self.peek() {
            Tok::Var(name) | Tok::Atom { name, .. } => name.clone(),
            _ => return Err(self.unexpected("a name for the argument")),
        };
        self.advance();
        Ok(Param {
            mode,
            name,
            span: self.since(start),
        })
    }

    // ----- definitions -----

    fn def(&mut self) -> Parse<Def> {
        self.nested(|p| {
            let left = p.or_def()?;
            if p.eat_word("par") {
                let right = p.def()?;
                Ok(binary(left, right, DefKind::Par))
            } else {
                Ok(left)
            }
        })
    }

    fn or_def(&mut self) -> Parse<Def> {
        self.nested(|p| {
            let left = p.then_def()?;
            if p.eat_word("or") {
                let right = p.or_def()?;
                Ok(binary(left, right, DefKind::Or))
            } else {
                Ok(left)
            }
        })
    }

    fn then_def(&mut self) -> Parse<Def> {
        self.nested(|p| {
            let left = p.action()?;
            if p.eat_word("then") {
                let right = p.then_def()?;
                Ok(binary(left, right, DefKind::Then))
            } else {
                Ok(left)
            }
        })
    }

    fn action(&mut self) -> Parse<Def> {
        let start = self.span();
        if let Some(receive) = self.attempt(Self::receive_with_constraint_first) {
            return Ok(receive);
        }
        if self.at(&Tok::LParen) {
            // A group `( def )`, or else a message that starts with a
            // parenthesis (`(A + B) * C => ...`); when neither reads, the
            // group's error is the one that explains.
            let (pos, depth) = (self.pos, self.depth);
            let group = self.group();
            if group.is_ok() {
                return group;
            }
            self.pos = pos;
            self.depth = depth;
            return self.attempt(Self::message_step).map_or(group, Ok);
        }
        if self.at_word("null") && !matches!(self.peek_at(1), Tok::LParen) {
            self.advance();
            let guard = self.optional_guard()?;
            return Ok(Def {
                kind: DefKind::Null { guard },
                span: self.since(start),
            });
        }
        self.message_step()
    }

    fn group(&mut self) -> Parse<Def> {
        let start = self.advance().span;
        let inner = self.def()?;
        self.expect(&Tok::RParen, "`)` to close the `(`")?;
        Ok(Def {
            kind: inner.kind,
            span: self.since(start),
        })
    }

    /// A send, a receive without constraint, or a role change.
    fn message_step(&mut self) -> Parse<Def> {
        let start = self.span();
        let term = self.term()?;
        if self.eat(&Tok::SendArrow) {
            let to = self.role("the receiver `a(Type, Id)` after `=>`")?;
            let guard = self.optional_guard()?;
            Ok(Def {
                kind: DefKind::Send {
                    message: term,
                    to,
                    guard,
                },
                span: self.since(start),
            })
        } else if self.eat(&Tok::ReceiveArrow) {
            let (from, deadline) = self.receive_rest()?;
            Ok(Def {
                kind: DefKind::Receive {
                    message: term,
                    from,
                    guard: None,
                    deadline,
                },
                span: self.since(start),
            })
        } else if term.functor() == Some("a") {
            let role = role_ref(term, "a role change")?;
            let guard = self.optional_guard()?;
            Ok(Def {
                kind: DefKind::RoleChange { role, guard },
                span: self.since(start),
            })
        } else {
            Err(Diagnostic::new(
                Code::UnexpectedToken,
                format!(
                    "expected `=>` or `<=` after the message, found {}",
                    self.peek().describe()
                ),
                self.span(),
            )
            .with_secondary(term.span, "this would be a message")
            .with_label("expected `=>` (send) or `<=` (receive)")
            .with_hint(
                "each step of a definition is a send `M => a(R, Id)`, a receive \
                 `M <= a(R, Id)`, `null <- C`, or a role change `a(R, Id)`",
            ))
        }
    }

    /// `C <- M <= a(R, I) [deadline]`.
    fn receive_with_constraint_first(&mut self) -> Parse<Def> {
        let start = self.span();
        let guard = self.conjunction()?;
        self.expect(&Tok::ConstraintArrow, "`<-`")?;
        let message = self.term()?;
        self.expect(&Tok::ReceiveArrow, "`<=`")?;
        let (from, deadline) = self.receive_rest()?;
        Ok(Def {
            kind: DefKind::Receive {
                message,
                from,
                guard: Some(guard),
                deadline,
            },
            span: self.since(start),
        })
    }

    /// After `<=`: the sender, an optional deadline, and a clear error for
    /// a constraint written after the receive.
    fn receive_rest(&mut self) -> Parse<(RoleRef, Option<Deadline>)> {
        let from = self.role("the sender `a(Type, Id)` after `<=`")?;
        let deadline = if self.eat_word("within") {
            Some(Deadline::Within(self.term()?))
        } else if self.eat_word("until") {
            Some(Deadline::Until(self.term()?))
        } else {
            None
        };
        if self.at(&Tok::ConstraintArrow) {
            return Err(Diagnostic::new(
                Code::ConstraintAfterReceive,
                "a receive's constraint goes before it",
                self.span(),
            )
            .with_label("constraint after a receive")
            .with_hint(
                "write `C <- M <= a(R, Id)`: the message is received first, then C \
                 must hold (a send's constraint goes after it: `M => a(R, Id) <- C`)",
            ));
        }
        Ok((from, deadline))
    }

    fn role(&mut self, what: &str) -> Parse<RoleRef> {
        let term = self.term()?;
        role_ref(term, what)
    }

    fn optional_guard(&mut self) -> Parse<Option<Constraint>> {
        if self.eat(&Tok::ConstraintArrow) {
            Ok(Some(self.conjunction()?))
        } else {
            Ok(None)
        }
    }

    // ----- constraints -----

    fn constraint(&mut self) -> Parse<Constraint> {
        self.nested(|p| {
            let left = p.conjunction()?;
            if p.eat_word("or") {
                let right = p.constraint()?;
                let span = left.span.to(right.span);
                Ok(Constraint {
                    kind: ConstraintKind::Or(Box::new(left), Box::new(right)),
                    span,
                })
            } else {
                Ok(left)
            }
        })
    }

    fn conjunction(&mut self) -> Parse<Constraint> {
        self.nested(|p| {
            let left = p.unary_constraint()?;
            if p.eat_word("and") || p.eat(&Tok::Comma) {
                let right = p.conjunction()?;
                let span = left.span.to(right.span);
                Ok(Constraint {
                    kind: ConstraintKind::And(Box::new(left), Box::new(right)),
                    span,
                })
            } else {
                Ok(left)
            }
        })
    }

    fn unary_constraint(&mut self) -> Parse<Constraint> {
        let start = self.span();
        if self.eat_word("not") {
            let inner = self.nested(Self::unary_constraint)?;
            return Ok(Constraint {
                kind: ConstraintKind::Not(Box::new(inner)),
                span: self.since(start),
            });
        }
        if self.at(&Tok::LParen) {
            if let Some(call) = self.attempt(Self::call) {
                return Ok(call);
            }
            self.advance();
            let inner = self.constraint()?;
            self.expect(&Tok::RParen, "`)` to close the `(`")?;
            return Ok(Constraint {
                kind: inner.kind,
                span: self.since(start),
            });
        }
        self.call()
    }

    fn call(&mut self) -> Parse<Constraint> {
        let term = self.term()?;
        match term.kind {
            TermKind::Atom(_) | TermKind::Compound(..) => Ok(Constraint {
                span: term.span,
                kind: ConstraintKind::Call(term),
            }),
            _ if self.at(&Tok::ReceiveArrow) => Err(self.unexpected("a comparison")),
            _ => Err(
                Diagnostic::new(Code::UnexpectedToken, "expected a constraint", term.span)
                    .with_label("a constraint is a name or a call `name(Args)`")
                    .with_hint("e.g. `price(Bundle, P)`, `X > 3`, `ready`"),
            ),
        }
    }

    // ----- terms -----

    /// A term with comparison operators (the loosest level of terms).
    fn term(&mut self) -> Parse<Term> {
        self.nested(|p| {
            let left = p.sum()?;
            let op = match p.peek() {
                Tok::Op(op @ ("=" | "\\=" | "<" | ">" | "=<" | ">=")) => *op,
                kind if is_word(kind, "is") => "is",
                _ => return Ok(left),
            };
            p.advance();
            let right = p.sum()?;
            Ok(operator(op, left, right))
        })
    }

    fn sum(&mut self) -> Parse<Term> {
        self.left_chain(&["+", "-"], Self::product)
    }

    fn product(&mut self) -> Parse<Term> {
        self.left_chain(&["*", "/"], Self::prefix)
    }

    /// `a op b op c` as `(a op b) op c`. Each operator makes the tree one
    /// level deeper, so it counts against [`MAX_DEPTH`] like nesting does.
    fn left_chain(
        &mut self,
        ops: &[&'static str],
        operand: fn(&mut Self) -> Parse<Term>,
    ) -> Parse<Term> {
        let outer = self.depth;
        let result = (|| {
            let mut left = operand(self)?;
            while let Tok::Op(op) = self.peek()
                && ops.contains(op)
            {
                self.descend()?;
                self.advance();
                let right = operand(self)?;
                left = operator(op, left, right);
            }
            Ok(left)
        })();
        self.depth = outer;
        result
    }

    /// `-X`, and negative numbers: a `-` written right against a number is
    /// its sign (`-3`), otherwise it is the operator (`- 3` is `-(3)`).
    fn prefix(&mut self) -> Parse<Term> {
        if !self.at(&Tok::Op("-")) {
            return self.primary();
        }
        let minus = self.advance().span;
        let next = self.token();
        if next.span.start == minus.end {
            let span = minus.to(next.span);
            match next.kind {
                Tok::Int(n) => {
                    self.advance();
                    let value = 0i64.checked_sub_unsigned(n).unwrap_or(i64::MIN);
                    return Ok(Term {
                        kind: TermKind::Int(value),
                        span,
                    });
                }
                Tok::Float(f) => {
                    self.advance();
                    return Ok(Term {
                        kind: TermKind::Float(-f),
                        span,
                    });
                }
                _ => {}
            }
        }
        let operand = self.nested(Self::prefix)?;
        let span = minus.to(operand.span);
        Ok(Term {
            kind: TermKind::Compound("-".to_string(), vec![operand]),
            span,
        })
    }

    fn primary(&mut self) -> Parse<Term> {
        let token = self.token();
        let span = token.span;
        let kind = match &token.kind {
            Tok::Var(name) => TermKind::Var(name.clone()),
            Tok::Int(n) => match i64::try_from(*n) {
                Ok(n) => TermKind::Int(n),
                Err(_) => {
                    return Err(Diagnostic::new(
                        Code::NumberOutOfRange,
                        "this number is too large",
                        span,
                    )
                    .with_hint("integers are 64-bit signed"));
                }
            },
            Tok::Float(f) => TermKind::Float(*f),
            Tok::Str(text) => TermKind::Str(text.clone()),
            Tok::Atom { name, quoted } => {
                if !quoted && RESERVED.contains(&name.as_str()) {
                    return Err(self.unexpected("a term").with_hint(format!(
                        "`{name}` is an operator of LCC; to use it as an atom, quote it: '{name}'"
                    )));
                }
                self.advance();
                if self.at(&Tok::LParen) {
                    return self.arguments(name.clone(), span);
                }
                return Ok(Term {
                    kind: TermKind::Atom(name.clone()),
                    span,
                });
            }
            Tok::LBracket => return self.list(),
            Tok::LParen => {
                self.advance();
                let inner = self.term()?;
                self.expect(&Tok::RParen, "`)` to close the `(`")?;
                return Ok(Term {
                    kind: inner.kind,
                    span: self.since(span),
                });
            }
            _ => return Err(self.unexpected("a term")),
        };
        self.advance();
        Ok(Term { kind, span })
    }

    /// `(a, b)` after a functor; `()` is a call with no arguments.
    fn arguments(&mut self, functor: String, start: Span) -> Parse<Term> {
        self.nested(|p| {
            p.advance();
            let mut args = Vec::new();
            if !p.eat(&Tok::RParen) {
                loop {
                    args.push(p.term()?);
                    if p.eat(&Tok::RParen) {
                        break;
                    }
                    p.expect(&Tok::Comma, "`,` or `)`")?;
                }
            }
            Ok(Term {
                kind: TermKind::Compound(functor, args),
                span: p.since(start),
            })
        })
    }

    fn list(&mut self) -> Parse<Term> {
        self.nested(|p| {
            let start = p.advance().span;
            let mut items = Vec::new();
            let mut tail = None;
            if !p.eat(&Tok::RBracket) {
                loop {
                    items.push(p.term()?);
                    if p.eat(&Tok::Bar) {
                        tail = Some(Box::new(p.term()?));
                        p.expect(&Tok::RBracket, "`]` after the tail of the list")?;
                        break;
                    }
                    if p.eat(&Tok::RBracket) {
                        break;
                    }
                    p.expect(&Tok::Comma, "`,`, `|` or `]`")?;
                }
            }
            Ok(Term {
                kind: TermKind::List(items, tail),
                span: p.since(start),
            })
        })
    }
}

fn is_word(kind: &Tok, word: &str) -> bool {
    matches!(kind, Tok::Atom { name, quoted: false } if name == word)
}

fn binary(left: Def, right: Def, make: fn(Box<Def>, Box<Def>) -> DefKind) -> Def {
    let span = left.span.to(right.span);
    Def {
        kind: make(Box::new(left), Box::new(right)),
        span,
    }
}

fn operator(op: &str, left: Term, right: Term) -> Term {
    let span = left.span.to(right.span);
    Term {
        kind: TermKind::Compound(op.to_string(), vec![left, right]),
        span,
    }
}

/// Checks that `term` is `a(Type, Id)`.
fn role_ref(term: Term, what: &str) -> Parse<RoleRef> {
    match term.kind {
        TermKind::Compound(name, args) if name == "a" && args.len() == 2 => {
            let mut args = args.into_iter();
            match (args.next(), args.next()) {
                (Some(role), Some(id)) => Ok(RoleRef {
                    role,
                    id,
                    span: term.span,
                }),
                _ => Err(not_a_role(term.span, what)),
            }
        }
        _ => Err(not_a_role(term.span, what)),
    }
}

fn not_a_role(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(
        Code::NotARole,
        format!("expected {what}, written `a(Type, Id)`"),
        span,
    )
    .with_label("not a role")
    .with_hint("a role is `a(Type, Id)`: `a(buyer, B)`, `a(manager(Bundle, Peers), M)`")
}

/// `r(name, kind[, Min[, Max]])`, parsed as a term and checked here.
fn role_decl(term: Term) -> Parse<RoleDecl> {
    let bad = |span: Span, message: String| {
        Diagnostic::new(Code::BadRoleDeclaration, message, span).with_hint(
            "a role declaration is `r(name, kind)`, `r(name, kind, Min)` or \
             `r(name, kind, Min, Max)` with kind one of initial, necessary, optional, \
             auxiliary, cyclic, uncommitted",
        )
    };
    let TermKind::Compound(_, args) = &term.kind else {
        return Err(bad(term.span, "expected `r(name, kind)`".to_string()));
    };
    if !(2..=4).contains(&args.len()) {
        return Err(bad(
            term.span,
            format!(
                "a role declaration has 2 to 4 arguments, not {}",
                args.len()
            ),
        ));
    }
    let name = match &args[0].kind {
        TermKind::Atom(name) => name.clone(),
        _ => {
            return Err(bad(
                args[0].span,
                "the name of a role is an atom starting with a lower-case letter".to_string(),
            ));
        }
    };
    let kind = match args[1]
        .functor()
        .filter(|_| matches!(args[1].kind, TermKind::Atom(_)))
    {
        Some("initial") => RoleKind::Initial,
        Some("necessary") => RoleKind::Necessary,
        Some("optional") => RoleKind::Optional,
        Some("auxiliary") => RoleKind::Auxiliary,
        Some("cyclic") => RoleKind::Cyclic,
        Some("uncommitted") => RoleKind::Uncommitted,
        _ => return Err(bad(args[1].span, "unknown kind of role".to_string())),
    };
    let count = |t: &Term| match t.kind {
        TermKind::Int(n) => u32::try_from(n).map_err(|_| {
            bad(
                t.span,
                "a number of peers is between 0 and 4294967295".to_string(),
            )
        }),
        _ => Err(bad(t.span, "a number of peers is an integer".to_string())),
    };
    let min = args.get(2).map(count).transpose()?;
    let max = args.get(3).map(count).transpose()?;
    if let (Some(min), Some(max), Some(at)) = (min, max, args.get(3))
        && min > max
    {
        return Err(bad(
            at.span,
            format!("at most {max} peers, but at least {min}"),
        ));
    }
    Ok(RoleDecl {
        name,
        kind,
        min,
        max,
        span: term.span,
    })
}

/// Hints for the mistakes people make with tokens that look right.
fn hint_for(found: &Tok) -> Option<String> {
    match found {
        Tok::ReceiveArrow => {
            Some("`<=` receives a message; to compare, write `=<` (less than or equal)".to_string())
        }
        Tok::Eof => Some("the model ends in the middle of something".to_string()),
        _ => None,
    }
}
