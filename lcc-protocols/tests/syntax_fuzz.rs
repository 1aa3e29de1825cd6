//! No input makes the parser, the checker, the renderer or the printer
//! panic: random text, random bytes, and valid models with random edits.
//! When a mutated model still parses, its canonical form must say the same
//! and be stable, which exercises the printer on shapes nobody wrote.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use lcc::check::check_source;
use lcc::diagnostic::Code;
use lcc::pretty::format_source;
use lcc::syntax::parse;
use proptest::prelude::*;

/// Everything a user could run on a file; panics are the failure.
fn run_everything(source: &str) {
    for d in check_source(source) {
        let _ = d.render("fuzz.lcc", source);
        let _ = d.locate("fuzz.lcc", source);
    }
    if let Ok(formatted) = format_source(source) {
        let again = parse(&formatted)
            .unwrap_or_else(|d| panic!("{}\n{formatted}", d.render("formatted", &formatted)));
        assert!(
            again.same_as(&parse(source).unwrap()),
            "{source}\n----\n{formatted}"
        );
        assert_eq!(format_source(&formatted).unwrap(), formatted);
    }
}

fn corpus() -> Vec<String> {
    let root = env!("CARGO_MANIFEST_DIR");
    ["tests/seeds", "models"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(format!("{root}/{dir}")).unwrap())
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect()
}

/// Characters that matter to the grammar, so edits hit interesting spots.
const PIECES: &[&str] = &[
    "(",
    ")",
    "[",
    "]",
    "|",
    ",",
    ".",
    "::",
    "=>",
    "<=",
    "<-",
    "<--",
    "\u{2190}",
    "=",
    "\\=",
    "<",
    ">",
    "=<",
    ">=",
    "+",
    "-",
    "*",
    "/",
    "?",
    "'",
    "\"",
    "%",
    "//",
    "/*",
    "*/",
    " ",
    "\n",
    "then",
    "or",
    "par",
    "and",
    "not",
    "null",
    "is",
    "within",
    "until",
    "component",
    "r(",
    "a(",
    "X",
    "_",
    "x",
    "0",
    "-1",
    "1.5e3",
    "\u{e9}",
    "\u{21d2}",
    "\u{21d0}",
];

#[derive(Debug, Clone)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, piece: usize },
    Swap { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..8usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), 0..PIECES.len()).prop_map(|(at, piece)| Edit::Insert { at, piece }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::Swap { a, b }),
    ]
}

fn apply(source: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = source.chars().collect();
    let n = chars.len().max(1);
    match *edit {
        Edit::Delete { at, len } => {
            let at = at % n;
            let end = (at + len).min(chars.len());
            chars.drain(at.min(end)..end);
        }
        Edit::Insert { at, piece } => {
            let at = at % (chars.len() + 1);
            chars.splice(at..at, PIECES[piece].chars());
        }
        Edit::Swap { a, b } => {
            let len = chars.len();
            if len > 0 {
                chars.swap(a % len, b % len);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_text(source in any::<String>()) {
        run_everything(&source);
    }

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        run_everything(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_sequences_of_tokens(pieces in prop::collection::vec(0..PIECES.len(), 0..60)) {
        let source: Vec<&str> = pieces.into_iter().map(|i| PIECES[i]).collect();
        run_everything(&source.join(" "));
    }

    #[test]
    fn mutated_models(which in any::<usize>(), edits in prop::collection::vec(edit(), 1..6)) {
        let corpus = corpus();
        let mut source = corpus[which % corpus.len()].clone();
        for e in &edits {
            source = apply(&source, e);
        }
        run_everything(&source);
    }
}

#[test]
fn deep_input_of_every_kind_is_refused_not_a_crash() {
    let n = 50_000;
    let inputs = [
        format!("a(x, Y) :: {}null{}", "(".repeat(n), ")".repeat(n)),
        format!("a(x, Y) :: null{}", " then null".repeat(n)),
        format!("a(x, Y) :: null{}", " or null".repeat(n)),
        format!("a(x, Y) :: null{}", " par null".repeat(n)),
        format!("a(x, Y) :: null <- p{}", ", p".repeat(n)),
        format!("a(x, Y) :: null <- ({}p{})", "(".repeat(n), ")".repeat(n)),
        format!("a(x, Y) :: null <- {}p", "not ".repeat(n)),
        format!("a(x, Y) :: null <- X = {}1", "- ".repeat(n)),
        format!("a(x, Y) :: null <- X is 1{}", " + 1".repeat(n)),
        format!("a(x, Y) :: null <- X is 1{}", " * 1".repeat(n)),
        format!("a(x, Y) :: null <- X = {}1{}", "[".repeat(n), "]".repeat(n)),
        format!(
            "a(x, Y) :: null <- X = {}1{}",
            "f(".repeat(n),
            ")".repeat(n)
        ),
        format!("a(x, Y) :: {}", "m => a(r, Z) then ".repeat(n)),
    ];
    for source in &inputs {
        let diagnostics = check_source(source);
        assert_eq!(diagnostics[0].code, Code::TooDeep, "{}", &source[..60]);
    }
}
