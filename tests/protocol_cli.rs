//! `market protocol check|fmt` run as the built binary.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod docs_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn market(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_market"))
        .args(args)
        .output()
        .unwrap()
}

fn seed(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("lcc-protocols/tests/seeds")
        .join(name)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const BAD: &str = "a(buyer, B) ::\n  ask(X) => a(shopkeeper, S)\n\na(shopkeeper, S) ::\n  ask(X, Y) <= a(buyer, B)\n";

#[test]
fn seed_models_check_with_warnings_only() {
    let files: Vec<String> = std::fs::read_dir(seed(""))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    let mut args = vec!["protocol", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = market(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning[W0001]"), "{stderr}");
    assert!(!stderr.contains("error["), "{stderr}");
}

#[test]
fn an_error_exits_1_and_names_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.lcc", BAD);
    let out = market(&["protocol", "check", &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("{bad}:2:3")), "{stderr}");
    assert!(stderr.contains("error[E0102]"), "{stderr}");
    assert!(
        stderr.contains("2 |   ask(X) => a(shopkeeper, S)\n  |   ^^^^^^"),
        "{stderr}"
    );
}

#[test]
fn syntax_errors_name_file_line_col_too() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "syntax.lcc", "a(r, X) ::\n  null \u{2190} X <= 3\n");
    let out = market(&["protocol", "check", &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // Column counts characters: the arrow is one.
    assert!(stderr.contains(&format!("{bad}:2:12")), "{stderr}");
}

#[test]
fn json_output() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.lcc", BAD);
    let out = market(&["protocol", "check", "--json", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let diagnostics: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &diagnostics[0];
    assert_eq!(first["file"], bad.as_str());
    assert_eq!(first["severity"], "error");
    assert_eq!(first["code"], "E0102");
    assert_eq!(first["range"]["start"]["line"], 2);
    assert_eq!(first["range"]["start"]["column"], 3);
    assert!(
        first["hint"]
            .as_str()
            .unwrap()
            .contains("ask(_) <= a(buyer, Id)")
    );
}

#[test]
fn unreadable_files_and_usage_errors_exit_2() {
    let out = market(&["protocol", "check", "/nonexistent/model.lcc"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/model.lcc"),
        "{stderr}"
    );
    assert!(
        stderr.contains("checked 0 file(s): 0 error(s), 0 warning(s), 1 file(s) not read"),
        "{stderr}"
    );
    assert_eq!(market(&["protocol", "check"]).status.code(), Some(2));
}

#[test]
fn fmt_prints_checks_and_writes_canonical_form() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        &dir,
        "m.lcc",
        "// shop\na(buyer,B)::ask(X)=>a(shop,S)<--p(X)\n",
    );
    let canonical = "// shop\na(buyer, B) ::\n  ask(X) => a(shop, S) <- p(X)\n";
    let out = market(&["protocol", "fmt", &file]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), canonical);

    assert_eq!(
        market(&["protocol", "fmt", "--check", &file]).status.code(),
        Some(1)
    );
    assert_eq!(
        market(&["protocol", "fmt", "--write", &file]).status.code(),
        Some(0)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), canonical);
    assert_eq!(
        market(&["protocol", "fmt", "--check", &file]).status.code(),
        Some(0)
    );
}

/// `--kind` checks a model against what a bidder provides, as the bidder
/// does at start: the docs' sealed-bid model is playable as contract-net,
/// not as a reverse call (its roles are not the buyer's and seller's), and
/// a call to a component no bidder has is E0112 with its line.
#[test]
fn check_kind_says_whether_a_bidder_can_play_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let sealed = write(&dir, "sealed-bid.lcc", &docs_support::sealed_bid_model());
    let out = market(&["protocol", "check", "--kind", "contract-net", &sealed]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = market(&["protocol", "check", "--kind", "reverse-call", &sealed]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0117") && stderr.contains("`buyer`"),
        "{stderr}"
    );
    let lacking = docs_support::sealed_bid_model()
        .replace(
            "<- award(Task, Bids, W, Price)",
            "<- cheapest(Bids, W, Price)",
        )
        .replace(
            "component award(+Task, +Bids, -Winner, -Price)",
            "component cheapest(+Bids, -Winner, -Price)",
        );
    let lacking = write(&dir, "lacking.lcc", &lacking);
    // The checker alone finds nothing wrong: the model declares cheapest/3.
    assert_eq!(
        market(&["protocol", "check", &lacking]).status.code(),
        Some(0)
    );
    let out = market(&["protocol", "check", "--kind", "contract-net", &lacking]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("E0112") && stderr.contains("cheapest/3"),
        "{stderr}"
    );
    assert!(stderr.contains("lacking.lcc:"), "{stderr}");
    let out = market(&["protocol", "check", "--kind", "auction-x", &sealed]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("contract-net, reverse-call"));
}
