//! The agent loops over the kinds it is given and names none of them
//! (docs/architecture.md, "A protocol kind is one unit"): no file under
//! `bidder/src/agent/` names a shipped kind, in any spelling, or imports a
//! kind's module. A kind added to `bidder::protocol::SHIPPED` is checked
//! the same way.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::path::Path;

use bidder::protocol::SHIPPED;

/// How code and docs would name the kind `name` (`call-market`): as a
/// configuration writes it (`"call-market"`), its module
/// (`protocol::call_market`), its constant (`CALL_MARKET`), its type
/// (`CallMarket`), and, for a name of several words, in prose (`call
/// market`, `call-market`). A name of one word (`placement`) is also a
/// plain noun, which the agent may use for what the host does (it places
/// a VM the zone awarded it) as long as it names no code of the kind.
fn spellings(name: &str) -> (Vec<String>, Vec<String>) {
    let words: Vec<&str> = name.split('-').collect();
    let camel: String = words
        .iter()
        .map(|w| w[..1].to_uppercase() + &w[1..])
        .collect();
    let code = vec![
        format!("{name:?}"),
        format!("protocol::{}", words.join("_")),
        words.join("_").to_uppercase(),
        camel,
    ];
    let prose = if words.len() > 1 {
        vec![name.to_string(), words.join(" ")]
    } else {
        Vec::new()
    };
    (code, prose)
}

#[test]
fn no_file_of_the_agent_names_a_kind_or_imports_its_module() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/agent");
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let lower = text.to_lowercase();
        read += 1;
        for kind in SHIPPED {
            let (code, prose) = spellings(kind.name());
            let named = code.iter().find(|s| text.contains(s.as_str()));
            let named = named.or_else(|| prose.iter().find(|s| lower.contains(s.as_str())));
            assert!(
                named.is_none(),
                "{} names the kind {} ({named:?})",
                path.display(),
                kind.name()
            );
        }
        for import in ["use crate::protocol", "use super::super::protocol"] {
            assert!(
                !text.contains(import),
                "{} imports from the kinds' module ({import})",
                path.display()
            );
        }
    }
    assert!(read >= 5, "read only {read} files of {}", dir.display());
}
