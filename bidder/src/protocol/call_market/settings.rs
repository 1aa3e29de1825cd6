//! A call market's settings: `[protocol.<name>] pricing = "..."` and
//! `window_ms = N`.

use std::sync::Arc;

use market::mechanism::Pricing;
use serde::Deserialize;

use crate::agent::{KindSettings, read_settings};
use crate::problem::ConfigProblem;

/// How a call market's rounds are priced and timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How its trades are priced.
    pub pricing: Pricing,
    /// How long its traders have to list, and then to order, in ms; each
    /// step ends as soon as every trader answered.
    pub window_ms: i64,
}

impl Settings {
    /// The listing and ordering window unless configured: a round of
    /// hundreds of traders, each shown every listing, needs more than a
    /// call's few peers, and a round that everyone answers early ends
    /// early.
    pub const ROUND_WINDOW_MS: i64 = 3_000;

    /// Reads them from a protocol's table: a pricing rule's old spelling
    /// is read with a warning naming the new one.
    pub fn read(table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        let written: Written = read_settings(table, |key| {
            (key == "award").then(|| {
                "a call market has no award: its trades are priced by `pricing` \
                 (\"equal-split\" or \"trade-reduction\")"
                    .to_string()
            })
        })?;
        let window_ms = written.window_ms.unwrap_or(Settings::ROUND_WINDOW_MS);
        if window_ms <= 0 {
            return Err(ConfigProblem::value(
                "window_ms",
                window_ms,
                "must be above 0",
            ));
        }
        let pricing = match written.pricing.as_deref() {
            None => Pricing::default(),
            Some(text) => {
                let names: Vec<String> =
                    Pricing::ALL.iter().map(|(n, _)| format!("{n:?}")).collect();
                let (pricing, old) = Pricing::parse(text).ok_or_else(|| {
                    ConfigProblem::value("pricing", text, format!("must be {}", names.join(" or ")))
                })?;
                if old {
                    tracing::warn!(old = text, new = %pricing, "an old spelling of `pricing`, still read: write \"{pricing}\"");
                }
                pricing
            }
        };
        Ok(Arc::new(Settings { pricing, window_ms }))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            pricing: Pricing::default(),
            window_ms: Settings::ROUND_WINDOW_MS,
        }
    }
}

impl KindSettings for Settings {
    fn show(&self) -> Vec<(&'static str, String)> {
        vec![
            ("pricing", self.pricing.to_string()),
            ("window_ms", self.window_ms.to_string()),
        ]
    }
}

/// The table as written: the pricing rule as text, so that an old
/// spelling is read and named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    #[serde(default)]
    pricing: Option<String>,
    #[serde(default)]
    window_ms: Option<i64>,
}
