//! The seeds' models check clean: no errors, and no warnings but for the
//! components they use without declaring (the seeds declare none).

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use lcc::check::check_source;
use lcc::diagnostic::Code;

#[test]
fn seed_models_have_no_errors() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/seeds");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        let diagnostics = check_source(&source);
        let file = path.display().to_string();
        for d in &diagnostics {
            assert_eq!(
                d.code,
                Code::UndeclaredComponent,
                "{}",
                d.render(&file, &source)
            );
        }
        assert!(
            !diagnostics.is_empty(),
            "{file}: the seeds use components they do not declare"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}
