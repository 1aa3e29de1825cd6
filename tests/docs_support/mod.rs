//! What tests take from the documentation, so that the docs cannot drift
//! from what runs.

use std::path::Path;

/// The `lcc` block under "Worked example: a sealed-bid auction" in
/// docs/lcc.md: a model written with the bidder's documented components
/// only.
pub fn sealed_bid_model() -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/lcc.md"))
        .expect("docs/lcc.md");
    let section = doc
        .split("### Worked example: a sealed-bid auction")
        .nth(1)
        .expect("docs/lcc.md has the sealed-bid example");
    section
        .split("```lcc\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the example's lcc block")
        .to_string()
}
