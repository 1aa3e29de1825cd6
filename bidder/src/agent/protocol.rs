//! A protocol as a host plays it: a name, a kind, a model (shipped or a
//! protocol author's file) checked against what the kind needs, and its
//! settings.

use std::path::PathBuf;

use lcc::diagnostic::Severity;
use market::bus::subject::Token;
use market::mechanism::Pricing;
use market::mechanism::contract_net::AwardRule;
use market::runtime::Model;

use super::Kind;

/// The settings of one protocol (`[protocol.<name>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How the winner of a call is chosen and what it pays (contract net,
    /// the reverse call).
    pub award: AwardRule,
    /// How a call market's trades are priced (the double auction).
    pub pricing: Pricing,
    /// How long a call market's traders have to list, and then to order,
    /// in ms; each step ends as soon as every trader answered (the double
    /// auction).
    pub window_ms: i64,
}

impl Settings {
    /// A call market's listing and ordering window unless configured: a
    /// round of hundreds of traders, each shown every listing, needs more
    /// than a call's few peers, and a round that everyone answers early
    /// ends early.
    pub const ROUND_WINDOW_MS: i64 = 3_000;

    /// The value of `setting`, as a configuration file writes it.
    pub fn show(&self, setting: super::Setting) -> String {
        match setting {
            super::Setting::Award => self.award.to_string(),
            super::Setting::Pricing => self.pricing.to_string(),
            super::Setting::WindowMs => self.window_ms.to_string(),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            award: AwardRule::default(),
            pricing: Pricing::default(),
            window_ms: Settings::ROUND_WINDOW_MS,
        }
    }
}

/// A protocol as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolConfig {
    /// Its name: what peers advertise it under (a subject token).
    pub name: Token,
    /// How the bidder plays it.
    pub kind: Kind,
    /// Its model: shipped, or a file the configuration names.
    pub model: ModelSource,
    /// Its settings.
    pub settings: Settings,
}

/// Where a protocol's model comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// Compiled into the binary (`lcc::models`).
    Shipped(lcc::models::Shipped),
    /// A file of the protocol author's.
    File(PathBuf),
}

/// Why a protocol cannot be played. Each message names the model's file
/// and, for the model's own faults, line and column.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The model file could not be read.
    #[error("protocol {protocol}: cannot read the model {path}: {source}")]
    Read {
        /// The protocol.
        protocol: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The model does not parse or check, or lacks a role its kind needs,
    /// or calls a component the bidder does not provide (E0112).
    #[error("protocol {protocol}: the model cannot be played:\n{diagnostics}")]
    Model {
        /// The protocol.
        protocol: String,
        /// The rendered diagnostics (`file:line:col`, caret, hint).
        diagnostics: String,
    },
}

/// A protocol ready to play.
#[derive(Debug, Clone)]
pub struct Protocol {
    config: ProtocolConfig,
    model: Model,
}

impl Protocol {
    /// Reads, checks and compiles the protocol's model, and checks that the
    /// bidder can play it: the roles its kind starts and answers are
    /// declared, and every component those roles call is one the bidder
    /// provides, with compatible modes.
    pub fn load(config: ProtocolConfig) -> Result<Protocol, ProtocolError> {
        let (origin, text) = match &config.model {
            ModelSource::Shipped(shipped) => (
                format!("lcc-protocols/{}", shipped.file),
                shipped.source.to_string(),
            ),
            ModelSource::File(path) => (
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|source| ProtocolError::Read {
                    protocol: config.name.to_string(),
                    path: path.clone(),
                    source,
                })?,
            ),
        };
        let refused = |diagnostics: Vec<lcc::diagnostic::Diagnostic>| ProtocolError::Model {
            protocol: config.name.to_string(),
            diagnostics: diagnostics
                .iter()
                .map(|d| d.render(&origin, &text))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        let ast = lcc::syntax::parse(&text).map_err(|d| refused(vec![d]))?;
        let mut errors: Vec<_> = lcc::check::check(&ast)
            .into_iter()
            .filter(|d| d.severity == Severity::Error)
            .collect();
        errors.extend(config.kind.missing(&ast));
        if !errors.is_empty() {
            return Err(refused(errors));
        }
        let model = Model::load(config.name.clone(), &text).map_err(|e| ProtocolError::Model {
            protocol: config.name.to_string(),
            diagnostics: e.to_string(),
        })?;
        Ok(Protocol { config, model })
    }

    /// Its name.
    pub fn name(&self) -> &Token {
        &self.config.name
    }

    /// How the bidder plays it.
    pub fn kind(&self) -> Kind {
        self.config.kind
    }

    /// Its settings.
    pub fn settings(&self) -> Settings {
        self.config.settings
    }

    /// Its compiled model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}
