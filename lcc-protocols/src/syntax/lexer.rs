//! Source text to tokens.
//!
//! The lexer knows LCC's punctuation (`::`, `=>` or `⇒`, `<=` or `⇐`, the
//! three spellings of the constraint arrow `<-`, `<--`, `←`), the operators of constraint
//! terms, and three comment styles (`// line`, `/* block */`, `% line` as in
//! Prolog). Words (`then`, `or`, `null`, ...) are plain atoms here; the parser
//! decides where they are keywords, so that a quoted `'then'` stays an atom.
//!
//! Greedy rule worth knowing: `<-` is always the constraint arrow, so
//! `X<-1` is `X <- 1`, never `X < -1`; write `X < -1` with a space.

use crate::ast::Span;
use crate::diagnostic::{Code, Diagnostic};

/// One token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub kind: Tok,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Upper-case initial or `_`.
    Var(String),
    /// Lower-case initial, or quoted (`'x y'`); `quoted` atoms are never
    /// keywords.
    Atom {
        name: String,
        quoted: bool,
    },
    /// Digits only; the parser applies a leading `-`, so the magnitude may
    /// be one more than `i64::MAX`.
    Int(u64),
    Float(f64),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Bar,
    Comma,
    /// `.`: optional end of a clause or declaration.
    Dot,
    /// `::`
    Defines,
    /// `=>`
    SendArrow,
    /// `<=`
    ReceiveArrow,
    /// `<-`, `<--` or `←`
    ConstraintArrow,
    /// An infix or prefix operator of terms: `= \= < > =< >= + - * /`,
    /// and `?` (only meaningful in component declarations).
    Op(&'static str),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Var(name) => format!("variable `{name}`"),
            Tok::Atom { name, .. } => format!("`{name}`"),
            Tok::Int(n) => format!("number `{n}`"),
            Tok::Float(f) => format!("number `{f}`"),
            Tok::Str(_) => "a string".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::LBracket => "`[`".to_string(),
            Tok::RBracket => "`]`".to_string(),
            Tok::Bar => "`|`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::Dot => "`.`".to_string(),
            Tok::Defines => "`::`".to_string(),
            Tok::SendArrow => "`=>`".to_string(),
            Tok::ReceiveArrow => "`<=`".to_string(),
            Tok::ConstraintArrow => "`<-`".to_string(),
            Tok::Op(op) => format!("`{op}`"),
            Tok::Eof => "the end of the file".to_string(),
        }
    }
}

/// A comment and where it is, kept so that `fmt` can put it back.
#[derive(Debug, Clone, PartialEq)]
pub struct Comment {
    /// The comment as written, markers included (`// ...`, `/* ... */`).
    pub text: String,
    pub span: Span,
}

/// The tokens of a source, ending with [`Tok::Eof`], and its comments.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub tokens: Vec<Token>,
    pub comments: Vec<Comment>,
}

/// Can a word start with this character?
pub fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Can a word go on with this character?
pub fn is_word_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Is a word starting with this character a variable?
pub fn is_var_start(c: char) -> bool {
    c == '_' || c.is_uppercase()
}

/// Splits `source` into tokens, or reports the first character that cannot
/// start one.
pub fn tokenize(source: &str) -> Result<Tokens, Diagnostic> {
    // A byte-order mark, as some editors write, is not part of the model.
    let pos = if source.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lexer = Lexer {
        source,
        pos,
        tokens: Vec::new(),
        comments: Vec::new(),
    };
    lexer.run()?;
    let end = source.len();
    lexer.tokens.push(Token {
        kind: Tok::Eof,
        span: Span::new(end, end),
    });
    Ok(Tokens {
        tokens: lexer.tokens,
        comments: lexer.comments,
    })
}

struct Lexer<'a> {
    source: &'a str,
    /// Byte offset of the next character.
    pos: usize,
    tokens: Vec<Token>,
    comments: Vec<Comment>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.source[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.source[self.pos..].chars().nth(n)
    }

    fn rest(&self) -> &str {
        &self.source[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn push(&mut self, kind: Tok, start: usize) {
        self.tokens.push(Token {
            kind,
            span: Span::new(start, self.pos),
        });
    }

    fn run(&mut self) -> Result<(), Diagnostic> {
        while let Some(c) = self.peek() {
            let start = self.pos;
            if c.is_whitespace() {
                self.bump();
            } else if c == '%' || self.rest().starts_with("//") {
                self.line_comment(start);
            } else if self.rest().starts_with("/*") {
                self.block_comment(start)?;
            } else if is_word_start(c) {
                self.word(start);
            } else if c.is_ascii_digit() {
                self.number(start)?;
            } else if c == '"' {
                let text = self.quoted('"', start)?;
                self.push(Tok::Str(text), start);
            } else if c == '\'' {
                let name = self.quoted('\'', start)?;
                self.push(Tok::Atom { name, quoted: true }, start);
            } else {
                self.punctuation(c, start)?;
            }
        }
        Ok(())
    }

    fn line_comment(&mut self, start: usize) {
        let len = self.rest().find('\n').unwrap_or(self.rest().len());
        self.pos += len;
        self.comments.push(Comment {
            text: self.source[start..self.pos].trim_end().to_string(),
            span: Span::new(start, self.pos),
        });
    }

    fn block_comment(&mut self, start: usize) -> Result<(), Diagnostic> {
        match self.rest()[2..].find("*/") {
            Some(at) => {
                self.pos += 2 + at + 2;
                self.comments.push(Comment {
                    text: self.source[start..self.pos].to_string(),
                    span: Span::new(start, self.pos),
                });
                Ok(())
            }
            None => Err(Diagnostic::new(
                Code::UnterminatedText,
                "this comment is never closed",
                Span::new(start, start + 2),
            )
            .with_label("comment starts here")
            .with_hint("close it with `*/`")),
        }
    }

    fn word(&mut self, start: usize) {
        while self.peek().is_some_and(is_word_continue) {
            self.bump();
        }
        let text = &self.source[start..self.pos];
        let kind = if text.starts_with(is_var_start) {
            Tok::Var(text.to_string())
        } else {
            Tok::Atom {
                name: text.to_string(),
                quoted: false,
            }
        };
        self.push(kind, start);
    }

    /// `123`, `1.5`, `2e10`, `1.5e-3`. A `.` is part of the number only when
    /// a digit follows, so `3.` is the number 3 and a full stop.
    fn number(&mut self, start: usize) -> Result<(), Diagnostic> {
        self.digits();
        let mut float = false;
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let exponent_digit_at = match self.peek_at(1) {
                Some('+' | '-') => 2,
                _ => 1,
            };
            if self
                .peek_at(exponent_digit_at)
                .is_some_and(|c| c.is_ascii_digit())
            {
                float = true;
                for _ in 0..exponent_digit_at {
                    self.bump();
                }
                self.digits();
            }
        }
        let text = &self.source[start..self.pos];
        let too_big = || {
            Diagnostic::new(
                Code::NumberOutOfRange,
                "this number is too large",
                Span::new(start, self.pos),
            )
            .with_hint("integers are 64-bit signed; floats must be finite")
        };
        let kind = if float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Tok::Float(f),
                _ => return Err(too_big()),
            }
        } else {
            match text.parse::<u64>() {
                Ok(n) if n <= i64::MAX as u64 + 1 => Tok::Int(n),
                _ => return Err(too_big()),
            }
        };
        self.push(kind, start);
        Ok(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
    }

    /// The text of a `"string"` or `'quoted atom'`, escapes resolved:
    /// `\\`, `\"`, `\'`, `\n`, `\t`, `\r`.
    fn quoted(&mut self, quote: char, start: usize) -> Result<String, Diagnostic> {
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    let what = if quote == '"' {
                        "string"
                    } else {
                        "quoted atom"
                    };
                    return Err(Diagnostic::new(
                        Code::UnterminatedText,
                        format!("this {what} is never closed"),
                        Span::new(start, start + 1),
                    )
                    .with_label(format!("{what} starts here"))
                    .with_hint(format!("close it with `{quote}`")));
                }
                Some(c) if c == quote => return Ok(text),
                Some('\\') => {
                    let escape_at = self.pos - 1;
                    let c = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some(c @ ('\\' | '"' | '\'')) => c,
                        _ => {
                            return Err(Diagnostic::new(
                                Code::UnexpectedCharacter,
                                "unknown escape",
                                Span::new(escape_at, self.pos),
                            )
                            .with_hint(r#"the escapes are \\ \" \' \n \t \r"#));
                        }
                    };
                    text.push(c);
                }
                Some(c) => text.push(c),
            }
        }
    }

    fn punctuation(&mut self, c: char, start: usize) -> Result<(), Diagnostic> {
        // Longest first: `<--` before `<-` before `<=` before `<`.
        const SPELLINGS: &[(&str, Tok)] = &[
            ("<--", Tok::ConstraintArrow),
            ("<-", Tok::ConstraintArrow),
            ("\u{2190}", Tok::ConstraintArrow),
            ("<=", Tok::ReceiveArrow),
            ("\u{21d0}", Tok::ReceiveArrow),
            ("=>", Tok::SendArrow),
            ("\u{21d2}", Tok::SendArrow),
            ("::", Tok::Defines),
            ("=<", Tok::Op("=<")),
            (">=", Tok::Op(">=")),
            ("\\=", Tok::Op("\\=")),
            ("=", Tok::Op("=")),
            ("<", Tok::Op("<")),
            (">", Tok::Op(">")),
            ("+", Tok::Op("+")),
            ("-", Tok::Op("-")),
            ("*", Tok::Op("*")),
            ("/", Tok::Op("/")),
            ("?", Tok::Op("?")),
            ("(", Tok::LParen),
            (")", Tok::RParen),
            ("[", Tok::LBracket),
            ("]", Tok::RBracket),
            ("|", Tok::Bar),
            (",", Tok::Comma),
            (".", Tok::Dot),
        ];
        for (spelling, kind) in SPELLINGS {
            if self.rest().starts_with(spelling) {
                self.pos += spelling.len();
                self.push(kind.clone(), start);
                return Ok(());
            }
        }
        let hint = match c {
            ':' => "a clause is written `a(Type, Id) :: Definition` with a double colon",
            '\\' => "`\\=` (does not unify) is the only operator starting with a backslash",
            '\u{2192}' => "write a send arrow as `=>` (or `\u{21d2}`)",
            _ => {
                "LCC uses letters, digits, `_`, quotes and the punctuation ( ) [ ] | , . :: => <= <- = \\= < > =< >= + - * /"
            }
        };
        Err(Diagnostic::new(
            Code::UnexpectedCharacter,
            format!("unexpected character `{c}`"),
            Span::new(start, start + c.len_utf8()),
        )
        .with_label("not part of LCC's syntax")
        .with_hint(hint))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Tok> {
        tokenize(source)
            .unwrap()
            .tokens
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn atom(name: &str) -> Tok {
        Tok::Atom {
            name: name.to_string(),
            quoted: false,
        }
    }

    #[test]
    fn arrows_in_all_spellings() {
        assert_eq!(
            kinds("<- <-- \u{2190} <= \u{21d0} => \u{21d2} :: =< >= < > \\="),
            vec![
                Tok::ConstraintArrow,
                Tok::ConstraintArrow,
                Tok::ConstraintArrow,
                Tok::ReceiveArrow,
                Tok::ReceiveArrow,
                Tok::SendArrow,
                Tok::SendArrow,
                Tok::Defines,
                Tok::Op("=<"),
                Tok::Op(">="),
                Tok::Op("<"),
                Tok::Op(">"),
                Tok::Op("\\="),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn words_numbers_and_quotes() {
        assert_eq!(
            kinds("buyer Buyer _x 42 1.5 2e3 3. 'a b' \"s\\\"t\""),
            vec![
                atom("buyer"),
                Tok::Var("Buyer".into()),
                Tok::Var("_x".into()),
                Tok::Int(42),
                Tok::Float(1.5),
                Tok::Float(2000.0),
                Tok::Int(3),
                Tok::Dot,
                Tok::Atom {
                    name: "a b".into(),
                    quoted: true
                },
                Tok::Str("s\"t".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn comments_are_kept_aside() {
        let tokens = tokenize("a % one\n/* two\n */ b // three\nc").unwrap();
        let kinds: Vec<Tok> = tokens.tokens.into_iter().map(|t| t.kind).collect();
        assert_eq!(kinds, vec![atom("a"), atom("b"), atom("c"), Tok::Eof]);
        let texts: Vec<&str> = tokens.comments.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, vec!["% one", "/* two\n */", "// three"]);
    }

    #[test]
    fn byte_order_mark_and_crlf_are_whitespace() {
        assert_eq!(
            kinds("\u{feff}a\r\n% c\r\nb"),
            vec![atom("a"), atom("b"), Tok::Eof]
        );
        assert_eq!(tokenize("a\r\n% c\r\n").unwrap().comments[0].text, "% c");
    }

    #[test]
    fn spans_are_byte_ranges() {
        let tokens = tokenize("x \u{2190} y").unwrap().tokens;
        assert_eq!(tokens[1].span, Span::new(2, 5));
        assert_eq!(tokens[2].span, Span::new(6, 7));
    }

    #[test]
    fn errors_point_at_the_spot() {
        let err = tokenize("a :: b ; c").unwrap_err();
        assert_eq!(err.span, Span::new(7, 8));
        assert_eq!(err.code, Code::UnexpectedCharacter);
        assert_eq!(
            tokenize("x /* open").unwrap_err().code,
            Code::UnterminatedText
        );
        assert_eq!(tokenize("'open").unwrap_err().code, Code::UnterminatedText);
        assert_eq!(
            tokenize("99999999999999999999").unwrap_err().code,
            Code::NumberOutOfRange
        );
        assert_eq!(tokenize("1e999").unwrap_err().code, Code::NumberOutOfRange);
    }
}
