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

/// The acceptance of the models bourse runs: not even a warning.
#[test]
fn the_models_bourse_runs_check_clean() {
    let mut checked = 0;
    for model in lcc::models::ALL {
        let rendered: Vec<String> = check_source(model.source)
            .iter()
            .map(|d| d.render(model.file, model.source))
            .collect();
        assert!(rendered.is_empty(), "{}", rendered.join("\n"));
        checked += 1;
    }
    assert!(
        checked >= 3,
        "the issue asks for contract-net, double-auction, overload-underload"
    );
}
