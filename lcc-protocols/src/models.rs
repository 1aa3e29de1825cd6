//! The models bourse ships, in one registry.
//!
//! Every peer of an interaction must run the same text (peers name a model
//! by the hash of its text), so the shipped models are compiled into every
//! binary from `lcc-protocols/models/` and looked up here by name; nothing
//! else in the workspace embeds or locates a model file. A model of a
//! protocol author's own is read from the path the host's configuration
//! names instead (docs/lcc.md, "Running your own model").

/// A model shipped with bourse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// The name peers advertise it under, and its file's stem.
    pub name: &'static str,
    /// The file it comes from, relative to `lcc-protocols/`.
    pub file: &'static str,
    /// Its text.
    pub source: &'static str,
}

/// FIPA contract net: one host announces a VM, its peers propose, the
/// manager awards through a component.
pub const CONTRACT_NET: Shipped = Shipped {
    name: "contract-net",
    file: "models/contract-net.lcc",
    source: include_str!("../models/contract-net.lcc"),
};

/// The demand side of contract net: a host with room asks who gives it a
/// VM.
pub const REVERSE_CALL: Shipped = Shipped {
    name: "reverse-call",
    file: "models/reverse-call.lcc",
    source: include_str!("../models/reverse-call.lcc"),
};

/// A new VM placed by the market: an operator asks, the hosts bid, the
/// winner starts it.
pub const PLACEMENT: Shipped = Shipped {
    name: "placement",
    file: "models/placement.lcc",
    source: include_str!("../models/placement.lcc"),
};

/// One round of a call market (a sealed-bid double auction).
pub const DOUBLE_AUCTION: Shipped = Shipped {
    name: "double-auction",
    file: "models/double-auction.lcc",
    source: include_str!("../models/double-auction.lcc"),
};

/// A call market among the hosts of a zone, with trades of several legs
/// (swaps, chains): the double auction a bidder plays.
pub const CALL_MARKET: Shipped = Shipped {
    name: "call-market",
    file: "models/call-market.lcc",
    source: include_str!("../models/call-market.lcc"),
};

/// Seed 002's load-balancing loop between two hosts (figure 4.8).
pub const OVERLOAD_UNDERLOAD: Shipped = Shipped {
    name: "overload-underload",
    file: "models/overload-underload.lcc",
    source: include_str!("../models/overload-underload.lcc"),
};

/// Every shipped model.
pub const ALL: [Shipped; 6] = [
    CONTRACT_NET,
    REVERSE_CALL,
    PLACEMENT,
    CALL_MARKET,
    DOUBLE_AUCTION,
    OVERLOAD_UNDERLOAD,
];

/// The shipped model called `name`.
pub fn find(name: &str) -> Option<Shipped> {
    ALL.into_iter().find(|m| m.name == name)
}

/// The names of the shipped models, for "did you mean" and error messages.
pub fn names() -> impl Iterator<Item = &'static str> {
    ALL.iter().map(|m| m.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_model_is_found_by_its_name_and_is_its_file() {
        for model in ALL {
            assert_eq!(find(model.name), Some(model));
            let stem = model
                .file
                .trim_start_matches("models/")
                .trim_end_matches(".lcc");
            assert_eq!(stem, model.name);
            let on_disk =
                std::fs::read_to_string(format!("{}/{}", env!("CARGO_MANIFEST_DIR"), model.file))
                    .unwrap();
            assert_eq!(on_disk, model.source);
        }
        assert_eq!(find("no-such-model"), None);
    }

    #[test]
    fn the_models_directory_holds_no_unregistered_model() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "lcc") {
                let stem = path.file_stem().unwrap().to_string_lossy().to_string();
                assert!(
                    find(&stem).is_some(),
                    "{} is not in lcc::models::ALL",
                    path.display()
                );
            }
        }
    }
}
