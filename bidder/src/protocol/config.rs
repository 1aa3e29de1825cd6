//! Which protocols a host plays and their settings, as the daemon's
//! configuration and a scenario file both write them:
//!
//! ```toml
//! protocols = ["contract-net", "sealed-bid"]   # tried in this order
//!
//! [protocol.contract-net]
//! award = "second-price"                      # or "first-price" (the default)
//!
//! [protocol.sealed-bid]                       # a model of your own
//! model = "models/sealed-bid.lcc"             # relative to the file
//! kind = "contract-net"                       # played as contract-net is
//! award = "first-price"
//! ```
//!
//! A shipped protocol needs no table; a model of one's own needs `model`
//! and, unless its name is a kind's, `kind`. Every model is read and
//! checked here, so a configuration that names a model the bidder cannot
//! play is refused before anything trades.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use market::bus::subject::Token;
use serde::Deserialize;

use super::{
    CONTRACT_NET, ModelSource, PLACEMENT, Protocol, ProtocolConfig, ProtocolError, kinds,
    parse_kind,
};
use crate::problem::{ConfigProblem, Problems};

/// One `[protocol.<name>]` table as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ProtocolFile {
    /// A model file, relative to the configuration's directory.
    #[serde(default)]
    pub model: Option<PathBuf>,
    /// How the bidder plays it (a [`Kind`](super::Kind)'s name).
    #[serde(default)]
    pub kind: Option<String>,
    /// The rest: the settings of its kind, which the kind reads and
    /// checks ([`ProtocolKind::configure`](super::ProtocolKind::configure)):
    /// a key no kind takes is refused there.
    #[serde(flatten)]
    pub settings: toml::Table,
}

/// The protocols one host plays: the names in order, and the settings of
/// every protocol the file describes.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    /// The names, in the order the host tries them.
    pub names: &'a [String],
    /// The key the names were written under, for errors (`protocols`,
    /// `host[2].protocols`).
    pub names_key: &'a str,
    /// `[protocol.<name>]` tables.
    pub settings: &'a BTreeMap<String, ProtocolFile>,
    /// The directory relative model paths start from.
    pub base: &'a Path,
}

/// The protocols a host plays when its file names none: it sheds load by
/// contract net and answers placements of new VMs.
pub fn default_names() -> Vec<String> {
    vec![
        CONTRACT_NET.name().to_string(),
        PLACEMENT.name().to_string(),
    ]
}

impl Selection<'_> {
    /// Every named protocol, loaded and checked; the error is every
    /// protocol's problem, each with its key.
    pub fn resolve(&self) -> Result<Vec<Protocol>, Vec<ConfigProblem>> {
        if self.names.is_empty() {
            return Err(vec![ConfigProblem::at(
                self.names_key,
                "must name at least one protocol",
            )]);
        }
        let mut problems = Problems::default();
        let mut protocols: Vec<Protocol> = Vec::new();
        for (index, name) in self.names.iter().enumerate() {
            let key = format!("{}[{index}]", self.names_key);
            if self.names[..index].contains(name) {
                problems.take::<()>(Err(ConfigProblem::at(
                    key,
                    format!("{name:?} is named twice"),
                )));
                continue;
            }
            let protocol = self.config(name, &key).and_then(|config| {
                Protocol::load(config).map_err(|e| match e {
                    ProtocolError::Setting { problem, .. } => ConfigProblem {
                        key: match problem.key.as_str() {
                            "" => format!("protocol.{name}"),
                            key => format!("protocol.{name}.{key}"),
                        },
                        ..problem
                    },
                    other => ConfigProblem::at(format!("protocol.{name}.model"), other.to_string()),
                })
            });
            protocols.extend(problems.take(protocol));
        }
        problems.finish(Some(protocols))
    }

    /// The configuration of protocol `name`, named at `key`.
    fn config(&self, name: &str, key: &str) -> Result<ProtocolConfig, ConfigProblem> {
        let table_key = format!("protocol.{name}");
        let file = self.settings.get(name).cloned().unwrap_or_default();
        let token = Token::new(name).map_err(|e| ConfigProblem::at(key, e.to_string()))?;
        let (kind, old) = match &file.kind {
            Some(named) => parse_kind(named).ok_or_else(|| {
                ConfigProblem::value(
                    format!("{table_key}.kind"),
                    named,
                    format!("unknown kind: the bidder plays {}", kind_names()),
                )
            })?,
            None => parse_kind(name).ok_or_else(|| {
                let reason = if file.model.is_some() {
                    format!("a model of your own needs `kind` ({})", kind_names())
                } else {
                    format!(
                        "unknown protocol {name:?}: bourse ships {}; for a model of your own \
                         add [{table_key}] with `model` and `kind`",
                        kind_names()
                    )
                };
                let at = if file.model.is_some() {
                    &table_key
                } else {
                    key
                };
                ConfigProblem::at(at, reason)
            })?,
        };
        if old {
            let at = if file.kind.is_some() {
                format!("{table_key}.kind")
            } else {
                key.to_string()
            };
            tracing::warn!(
                key = at,
                new = kind.name(),
                "an old name of a kind, still read: write \"{}\" (on every host of a zone \
                 at once: hosts meet under a protocol's name)",
                kind.name()
            );
        }
        let model = match &file.model {
            Some(path) => ModelSource::File(self.base.join(path)),
            None => ModelSource::Shipped(kind.shipped_model()),
        };
        Ok(ProtocolConfig {
            name: token,
            kind,
            model,
            settings: file.settings,
        })
    }
}

/// Refuses every `[protocol.<name>]` table that no host plays: its
/// settings would be read and ignored.
pub fn check_unused(
    settings: &BTreeMap<String, ProtocolFile>,
    played: &[&[String]],
) -> Result<(), Vec<ConfigProblem>> {
    let unused: Vec<ConfigProblem> = settings
        .keys()
        .filter(|name| !played.iter().any(|names| names.contains(name)))
        .map(|name| {
            ConfigProblem::at(
                format!("protocol.{name}"),
                format!("no host plays {name:?}: add it to `protocols` or remove the table"),
            )
        })
        .collect();
    if unused.is_empty() {
        Ok(())
    } else {
        Err(unused)
    }
}

fn kind_names() -> String {
    kinds()
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::call_market::Settings as Rounds;

    fn resolve(names: &[&str], toml_settings: &str) -> Result<Vec<Protocol>, (String, String)> {
        let settings: BTreeMap<String, ProtocolFile> = toml::from_str(toml_settings).unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        Selection {
            names: &names,
            names_key: "protocols",
            settings: &settings,
            base: Path::new("/nonexistent"),
        }
        .resolve()
        .map_err(|problems| {
            let first = &problems[0];
            (first.key.clone(), first.to_string())
        })
    }

    #[test]
    fn the_shipped_protocol_needs_no_table_and_takes_its_award_rule() {
        let protocols = resolve(&["contract-net"], "").unwrap();
        assert_eq!(protocols[0].kind(), CONTRACT_NET);
        let second = resolve(
            &["contract-net"],
            "[contract-net]\naward = \"second-price\"",
        )
        .unwrap();
        assert_eq!(
            second[0].settings::<super::super::CallSettings>().award,
            market::mechanism::contract_net::AwardRule::SecondPrice
        );
    }

    #[test]
    fn a_call_takes_its_reach_and_refuses_a_reach_of_zero() {
        let bounded = resolve(&["reverse-call"], "[reverse-call]\nreach = 4").unwrap();
        assert_eq!(
            bounded[0].settings::<super::super::CallSettings>().reach,
            Some(4)
        );
        let zone = resolve(&["contract-net"], "").unwrap();
        assert_eq!(zone[0].settings::<super::super::CallSettings>().reach, None);
        let (key, message) = resolve(&["contract-net"], "[contract-net]\nreach = 0").unwrap_err();
        assert!(key.ends_with("reach"), "{key}: {message}");
        assert!(message.contains("at least 1"), "{message}");
        // The call market lists every trader: it takes no reach.
        assert!(resolve(&["call-market"], "[call-market]\nreach = 4").is_err());
    }

    #[test]
    fn a_call_market_takes_its_pricing_and_window() {
        let protocols = resolve(
            &["call-market"],
            "[call-market]\npricing = \"trade-reduction\"\nwindow_ms = 750",
        )
        .unwrap();
        assert_eq!(protocols[0].kind(), super::super::CALL_MARKET);
        let settings = protocols[0].settings::<Rounds>();
        assert_eq!(settings.pricing, market::mechanism::Pricing::TradeReduction);
        assert_eq!(settings.window_ms, 750);
        let shipped = resolve(&["call-market"], "").unwrap();
        assert_eq!(
            shipped[0].settings::<Rounds>().window_ms,
            Rounds::ROUND_WINDOW_MS
        );
    }

    #[test]
    fn the_call_market_s_old_name_still_loads_as_its_kind() {
        for (names, tables) in [
            (["double-auction"], "[double-auction]\nwindow_ms = 750"),
            (
                ["mine"],
                "[mine]\nkind = \"double-auction\"\nwindow_ms = 750",
            ),
        ] {
            let protocols = resolve(&names, tables).unwrap();
            assert_eq!(protocols[0].kind(), super::super::CALL_MARKET);
            assert_eq!(
                protocols[0].name().as_str(),
                names[0],
                "the name is the operator's"
            );
            assert_eq!(protocols[0].settings::<Rounds>().window_ms, 750);
        }
    }

    #[test]
    fn an_old_spelling_of_a_pricing_rule_still_loads_and_a_wrong_one_is_refused() {
        let old = resolve(
            &["call-market"],
            "[call-market]\npricing = \"trade_reduction\"",
        )
        .unwrap();
        assert_eq!(
            old[0].settings::<Rounds>().pricing,
            market::mechanism::Pricing::TradeReduction
        );
        let (key, reason) =
            resolve(&["call-market"], "[call-market]\npricing = \"halves\"").unwrap_err();
        assert_eq!(key, "protocol.call-market.pricing");
        assert!(
            reason.contains("\"equal-split\" or \"trade-reduction\""),
            "{reason}"
        );
    }

    #[test]
    fn what_cannot_be_played_is_refused_with_its_key() {
        let (key, reason) = resolve(&["auction-x"], "").unwrap_err();
        assert_eq!(key, "protocols[0]");
        assert!(reason.contains("unknown protocol"), "{reason}");
        let (key, _) = resolve(&["mine"], "[mine]\nmodel = \"m.lcc\"").unwrap_err();
        assert_eq!(key, "protocol.mine");
        let (key, _) = resolve(&["mine"], "[mine]\nmodel = \"m.lcc\"\nkind = \"x\"").unwrap_err();
        assert_eq!(key, "protocol.mine.kind");
        let (key, reason) = resolve(
            &["mine"],
            "[mine]\nmodel = \"m.lcc\"\nkind = \"contract-net\"",
        )
        .unwrap_err();
        assert_eq!(key, "protocol.mine.model");
        assert!(reason.contains("/nonexistent/m.lcc"), "{reason}");
        let (key, _) = resolve(&["contract-net"], "[contract-net]\nwindow_ms = 100").unwrap_err();
        assert_eq!(key, "protocol.contract-net.window_ms");
        let (key, _) = resolve(
            &["contract-net"],
            "[contract-net]\npricing = \"equal-split\"",
        )
        .unwrap_err();
        assert_eq!(key, "protocol.contract-net.pricing");
        let (key, _) =
            resolve(&["call-market"], "[call-market]\naward = \"first-price\"").unwrap_err();
        assert_eq!(key, "protocol.call-market.award");
        let (key, _) = resolve(&["call-market"], "[call-market]\nwindow_ms = 0").unwrap_err();
        assert_eq!(key, "protocol.call-market.window_ms");
        let (key, _) = resolve(&["contract-net", "contract-net"], "").unwrap_err();
        assert_eq!(key, "protocols[1]");
        let (key, reason) =
            resolve(&["contract-net"], "[contract-net]\naward = \"third-price\"").unwrap_err();
        assert_eq!(key, "protocol.contract-net.award");
        assert!(reason.contains("third-price"), "{reason}");
        let (key, reason) = resolve(&["contract-net"], "[contract-net]\nreward = 1").unwrap_err();
        assert_eq!(key, "protocol.contract-net.reward");
        assert!(reason.contains("expected `award`"), "{reason}");
        let (key, reason) =
            resolve(&["placement"], "[placement]\naward = \"first-price\"").unwrap_err();
        assert_eq!(key, "protocol.placement.award");
        assert!(reason.contains("market place --award"), "{reason}");
    }
}
