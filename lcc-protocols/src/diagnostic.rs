//! Diagnostics: what is wrong with a model, where, and what to do about it.
//!
//! Both the parser and the checker report [`Diagnostic`]s. A diagnostic holds
//! byte [`Span`]s only; [`Diagnostic::render`] turns them into the
//! `file:line:col` people look for, with the source line and a caret under
//! the spot, the way rustc does:
//!
//! ```text
//! error[E0102]: `offer/1` is sent to `buyer`, but no clause of `buyer` receives it
//!  --> shop.lcc:4:3
//!   |
//! 4 |   offer(P) => a(buyer, B)
//!   |   ^^^^^^^^ sent here
//!   = hint: ...
//! ```
//!
//! Lines and columns count from 1, and columns count characters, not bytes
//! (so `←` is one column). [`Diagnostic::locate`] gives the same information
//! as plain data for `--json`.
//!
//! Every diagnostic has a stable [`Code`]; its severity follows from the code,
//! so the same problem is never an error in one place and a warning in
//! another. docs/lcc.md lists the codes.

use std::fmt::Write as _;

use serde::Serialize;

use crate::ast::Span;

/// Errors stop a model from running; warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// What kind of problem a diagnostic reports. The numbers are stable: the
/// language reference and people's notes refer to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    // Syntax: the parser stops at the first one.
    /// E0001: a character that cannot start any token.
    UnexpectedCharacter,
    /// E0002: a string, quoted atom or block comment that is never closed.
    UnterminatedText,
    /// E0003: a token where the grammar does not allow it.
    UnexpectedToken,
    /// E0004: parentheses, terms or `then` chains nested too deeply.
    TooDeep,
    /// E0005: an integer beyond 64 bits, or a float beyond `f64`.
    NumberOutOfRange,
    /// E0006: `r(...)` that is not `r(name, kind[, Min[, Max]])`.
    BadRoleDeclaration,
    /// E0007: `component ...` that is not `component name(+A, -B, ?C)`.
    BadComponentDeclaration,
    /// E0008: a constraint after a receive (`M <= a(R, I) <- C`).
    ConstraintAfterReceive,
    /// E0009: where a role `a(Type, Id)` must be, something else.
    NotARole,

    // Roles and messages.
    /// E0101: a message to or from a role that no clause defines.
    NoClauseForRole,
    /// E0102: a message sent that no clause of the receiving role receives.
    NeverReceived,
    /// E0103: a message received that no clause of the sending role sends.
    NeverSent,
    /// E0104: a role change to a role that no clause defines.
    RoleChangeToUnknownRole,
    /// E0105: a declared role with no clause.
    DeclaredRoleWithoutClause,
    /// E0106: a clause whose role is not declared (when the model declares
    /// roles at all).
    UndeclaredRole,
    /// E0107: more than one `initial` role.
    SeveralInitialRoles,
    /// E0108: an `auxiliary` role that nothing reaches by role change, so a
    /// peer would have to subscribe to it directly.
    AuxiliaryEntryPoint,
    /// E0109: an argument a constraint needs bound, that nothing before it
    /// binds.
    UnboundInput,
    /// E0110: the same role or component declared twice.
    DuplicateDeclaration,
    /// E0111: a constraint called with an arity its declaration or the
    /// standard library does not have.
    WrongArity,
    /// E0112: a component the model needs that the peer asked to run it
    /// does not provide.
    MissingComponent,
    /// E0113: a component declaration that redefines a standard-library
    /// constraint.
    RedeclaredBuiltin,
    /// E0114: role declarations without an `initial` role.
    NoInitialRole,
    /// E0115: an `initial` role that cannot begin by sending: every way
    /// its definition can start waits for a message first.
    InitialRoleReceivesFirst,
    /// E0116: a peer's component needs an argument bound (`+`) that the
    /// model's declaration lets be unbound (`-` or `?`).
    ComponentModeMismatch,
    /// E0117: a role the peer asked to run the model plays, with the
    /// parameters it passes, that no clause of the model defines.
    MissingRole,

    /// W0001: a constraint that is neither in the standard library nor
    /// declared with `component`.
    UndeclaredComponent,
    /// W0002: a component declared but never called.
    UnusedComponent,
}

impl Code {
    /// The code as printed: `E0003`, `W0001`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::UnexpectedCharacter => "E0001",
            Code::UnterminatedText => "E0002",
            Code::UnexpectedToken => "E0003",
            Code::TooDeep => "E0004",
            Code::NumberOutOfRange => "E0005",
            Code::BadRoleDeclaration => "E0006",
            Code::BadComponentDeclaration => "E0007",
            Code::ConstraintAfterReceive => "E0008",
            Code::NotARole => "E0009",
            Code::NoClauseForRole => "E0101",
            Code::NeverReceived => "E0102",
            Code::NeverSent => "E0103",
            Code::RoleChangeToUnknownRole => "E0104",
            Code::DeclaredRoleWithoutClause => "E0105",
            Code::UndeclaredRole => "E0106",
            Code::SeveralInitialRoles => "E0107",
            Code::AuxiliaryEntryPoint => "E0108",
            Code::UnboundInput => "E0109",
            Code::DuplicateDeclaration => "E0110",
            Code::WrongArity => "E0111",
            Code::MissingComponent => "E0112",
            Code::RedeclaredBuiltin => "E0113",
            Code::NoInitialRole => "E0114",
            Code::InitialRoleReceivesFirst => "E0115",
            Code::ComponentModeMismatch => "E0116",
            Code::MissingRole => "E0117",
            Code::UndeclaredComponent => "W0001",
            Code::UnusedComponent => "W0002",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::UndeclaredComponent | Code::UnusedComponent => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A secondary place a diagnostic points at ("declared here").
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

/// One problem in one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    /// What is wrong, in one line.
    pub message: String,
    /// The exact spot.
    pub span: Span,
    /// Printed next to the caret.
    pub label: Option<String>,
    /// Other places that explain the problem.
    pub labels: Vec<Label>,
    /// What to do about it.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// A diagnostic whose severity follows from its code.
    pub fn new(code: Code, message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            span,
            label: None,
            labels: Vec::new(),
            hint: None,
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
        });
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic as people read it, rustc style, for the model in
    /// `file` whose text is `source`.
    pub fn render(&self, file: &str, source: &str) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let start = Position::of(source, self.span.start);
        let mut snippets = vec![(self.span, '^', self.label.as_deref().unwrap_or(""))];
        snippets.extend(
            self.labels
                .iter()
                .map(|l| (l.span, '-', l.message.as_str())),
        );
        let last_line = snippets
            .iter()
            .map(|(span, _, _)| Position::of(source, span.start).line)
            .max()
            .unwrap_or(1);
        let width = last_line.to_string().len();
        let pad = " ".repeat(width);

        let mut out = String::new();
        let _ = writeln!(out, "{severity}[{}]: {}", self.code.as_str(), self.message);
        let _ = writeln!(out, "{pad}--> {file}:{}:{}", start.line, start.column);
        let _ = writeln!(out, "{pad} |");
        for (i, (span, mark, text)) in snippets.into_iter().enumerate() {
            if i > 0 {
                let _ = writeln!(out, "{pad} |");
            }
            let from = Position::of(source, span.start);
            let to = Position::of(source, span.end);
            let line = line_text(source, from.line).replace('\t', " ");
            let line_len = line.chars().count();
            let end_column = if to.line == from.line {
                to.column
            } else {
                line_len + 1
            };
            let marks = end_column.saturating_sub(from.column).max(1);
            let _ = writeln!(out, "{:>width$} | {}", from.line, line.trim_end());
            let underline = format!(
                "{}{}",
                " ".repeat(from.column - 1),
                mark.to_string().repeat(marks)
            );
            let line = format!("{pad} | {underline} {text}");
            let _ = writeln!(out, "{}", line.trim_end());
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{pad} = hint: {hint}");
        }
        out
    }

    /// The diagnostic with positions resolved, for machine readers.
    pub fn locate(&self, file: &str, source: &str) -> LocatedDiagnostic {
        LocatedDiagnostic {
            file: file.to_string(),
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            range: Range::of(source, self.span),
            label: self.label.clone(),
            labels: self
                .labels
                .iter()
                .map(|l| LocatedLabel {
                    range: Range::of(source, l.span),
                    message: l.message.clone(),
                })
                .collect(),
            hint: self.hint.clone(),
        }
    }
}

/// A 1-based line and column; the column counts characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `source` (clamped into the text, and
    /// back to the start of a character if it falls inside one).
    pub fn of(source: &str, offset: u32) -> Position {
        let mut offset = (offset as usize).min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |at| at + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

/// Where a span starts and ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

impl Range {
    fn of(source: &str, span: Span) -> Range {
        Range {
            start: Position::of(source, span.start),
            end: Position::of(source, span.end),
        }
    }
}

/// [`Diagnostic`] as JSON shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LocatedDiagnostic {
    pub file: String,
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub range: Range,
    pub label: Option<String>,
    pub labels: Vec<LocatedLabel>,
    pub hint: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LocatedLabel {
    pub range: Range,
    pub message: String,
}

/// Line `line` (1-based) of `source`, without its newline.
fn line_text(source: &str, line: usize) -> &str {
    source.split('\n').nth(line - 1).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_from_one() {
        let source = "ab\n\u{2190}\u{2190}x\n";
        assert_eq!(Position::of(source, 0), Position { line: 1, column: 1 });
        assert_eq!(Position::of(source, 3), Position { line: 2, column: 1 });
        // `x` is after two three-byte arrows: byte 9, column 3.
        assert_eq!(Position::of(source, 9), Position { line: 2, column: 3 });
        // Inside a character: back to its start. Past the end: clamped.
        assert_eq!(Position::of(source, 4), Position { line: 2, column: 1 });
        assert_eq!(Position::of(source, 99), Position { line: 3, column: 1 });
    }

    #[test]
    fn renders_like_rustc() {
        let source = "a(r, X) ::\n  null \u{2190} p(X, Y) then q\n";
        let at = source.find("p(X").unwrap();
        let d = Diagnostic::new(
            Code::UnboundInput,
            "`Y` is not bound",
            Span::new(at, at + 7),
        )
        .with_label("needs `Y`")
        .with_hint("bind it first");
        let expected = [
            "error[E0109]: `Y` is not bound",
            " --> m.lcc:2:10",
            "  |",
            "2 |   null \u{2190} p(X, Y) then q",
            "  |          ^^^^^^^ needs `Y`",
            "  = hint: bind it first",
            "",
        ]
        .join("\n");
        assert_eq!(d.render("m.lcc", source), expected);
    }

    #[test]
    fn secondary_labels_get_their_own_snippet() {
        let source = "r(a, initial)\nr(b, initial)\n";
        let d = Diagnostic::new(Code::SeveralInitialRoles, "two", Span::new(14, 27))
            .with_secondary(Span::new(0, 13), "first");
        let text = d.render("m.lcc", source);
        assert!(
            text.contains("2 | r(b, initial)\n  | ^^^^^^^^^^^^^"),
            "{text}"
        );
        assert!(
            text.contains("1 | r(a, initial)\n  | ------------- first"),
            "{text}"
        );
    }

    #[test]
    fn severity_follows_the_code() {
        assert!(Diagnostic::new(Code::UnboundInput, "", Span::default()).is_error());
        assert!(!Diagnostic::new(Code::UndeclaredComponent, "", Span::default()).is_error());
    }

    #[test]
    fn locate_gives_json_ready_ranges() {
        let d = Diagnostic::new(Code::UnexpectedToken, "x", Span::new(3, 4));
        let located = d.locate("f.lcc", "ab\ncd");
        assert_eq!(located.range.start, Position { line: 2, column: 1 });
        assert_eq!(located.range.end, Position { line: 2, column: 2 });
    }
}
