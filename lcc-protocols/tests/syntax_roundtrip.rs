//! The printer is the parser's inverse: on generated models,
//! `parse(print(m))` says the same as `m`, and printing is idempotent.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod support;

use lcc::pretty::print;
use lcc::syntax::parse;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_inverts_print(model in support::arbitrary::model()) {
        let text = print(&model);
        let parsed = match parse(&text) {
            Ok(parsed) => parsed,
            Err(d) => panic!("printed model does not parse:\n{}\n{}", d.render("printed", &text), text),
        };
        prop_assert!(parsed.same_as(&model), "not the same model after a round trip:\n{text}");
        prop_assert_eq!(print(&parsed), text);
    }
}

/// The seed models and the models bourse runs keep their meaning and their
/// comments through `fmt`, and `fmt` of `fmt` changes nothing.
#[test]
fn seeds_and_models_format_idempotently() {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut seen = 0;
    for dir in ["tests/seeds", "models"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            let once = lcc::pretty::format_source(&source).unwrap();
            assert!(
                parse(&once).unwrap().same_as(&parse(&source).unwrap()),
                "{path:?}"
            );
            assert_eq!(lcc::pretty::format_source(&once).unwrap(), once, "{path:?}");
            let comments = |text: &str| {
                text.lines()
                    .filter(|l| l.trim_start().starts_with("//"))
                    .count()
            };
            assert_eq!(comments(&once), comments(&source), "{path:?}");
            seen += 1;
        }
    }
    assert!(seen >= 7);
}
