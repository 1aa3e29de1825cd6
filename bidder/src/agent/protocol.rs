//! A protocol as a host plays it: a name, a kind, a model (shipped or a
//! protocol author's file) checked against what the kind needs, and its
//! settings.

use std::path::PathBuf;

use std::sync::Arc;

use lcc::diagnostic::Severity;
use market::bus::subject::Token;
use market::runtime::Model;

use super::{Kind, KindSettings};
use crate::problem::ConfigProblem;

/// A protocol as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtocolConfig {
    /// Its name: what peers advertise it under (a subject token).
    pub name: Token,
    /// How the bidder plays it.
    pub kind: Kind,
    /// Its model: shipped, or a file the configuration names.
    pub model: ModelSource,
    /// Its settings as written (`[protocol.<name>]` but `model` and
    /// `kind`), which its kind reads when the protocol is loaded.
    pub settings: toml::Table,
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
    /// Its kind refuses one of its settings.
    #[error("protocol {protocol}: {problem}")]
    Setting {
        /// The protocol.
        protocol: String,
        /// The setting (its key relative to `[protocol.<name>]`) and why.
        problem: ConfigProblem,
    },
}

/// A protocol ready to play.
#[derive(Debug, Clone)]
pub struct Protocol {
    name: Token,
    kind: Kind,
    settings: Arc<dyn KindSettings>,
    model: Model,
}

impl Protocol {
    /// Has its kind read its settings; reads, checks and compiles its
    /// model, and checks that the bidder can play it: the roles its kind
    /// starts and answers are declared, and every component those roles
    /// call is one the bidder provides, with compatible modes.
    pub fn load(config: ProtocolConfig) -> Result<Protocol, ProtocolError> {
        let settings =
            config
                .kind
                .configure(&config.settings)
                .map_err(|problem| ProtocolError::Setting {
                    protocol: config.name.to_string(),
                    problem,
                })?;
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
        Ok(Protocol {
            name: config.name,
            kind: config.kind,
            settings,
            model,
        })
    }

    /// Its name.
    pub fn name(&self) -> &Token {
        &self.name
    }

    /// How the bidder plays it.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its settings, as its kind read them: `S` is the type its kind's
    /// [`configure`](super::ProtocolKind::configure) returns.
    ///
    /// # Panics
    ///
    /// When `S` is another type: a kind that reads settings of a type it
    /// does not make is wrong in every protocol of that kind, and the
    /// kind's first test says so.
    pub fn settings<S: KindSettings>(&self) -> &S {
        self.settings_as::<S>().unwrap_or_else(|| {
            panic!(
                "kind {} reads its settings as {}, but its configure made {:?}",
                self.kind,
                std::any::type_name::<S>(),
                self.settings
            )
        })
    }

    /// Its settings if its kind reads them as `S`, else `None`: for code
    /// that kinds share (a kind defined outside bourse may play contract
    /// net's roles with settings of its own).
    pub fn settings_as<S: KindSettings>(&self) -> Option<&S> {
        let settings: &dyn std::any::Any = self.settings.as_ref();
        settings.downcast_ref::<S>()
    }

    /// Each of its settings and its value, as a configuration file writes
    /// it.
    pub fn shown_settings(&self) -> Vec<(&'static str, String)> {
        self.settings.show()
    }

    /// Its compiled model.
    pub fn model(&self) -> &Model {
        &self.model
    }
}
