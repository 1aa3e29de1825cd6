//! The interface between the agent and the protocol kinds it plays.
//!
//! A kind ([`ProtocolKind`]) is what the bidder knows how to play: its
//! name in configuration files, its shipped model, the role a host starts
//! and the role it answers with the components it provides to each, when
//! it starts, and how it reads its settings. Joined to one host
//! ([`ProtocolKind::join`]) it becomes that host's part in it
//! ([`KindPlay`]): the components it answers with, how it initiates, and
//! its own state (whose turn it is, the rounds it is in), which recovery
//! asks about and a stopping host plays out.
//!
//! The agent names no kind: it loops over the [`Kind`]s of the protocols
//! it was given. `bidder::protocol` holds the kinds bourse ships and the
//! registry that finds a kind by name, for configuration files, the
//! simulator, `market place` and the replay alike.

use std::any::Any;
use std::sync::Arc;

use futures::future::BoxFuture;
use lcc::ast::Mode;
use lcc::component::{Components, Failure};
use lcc::diagnostic::{Code, Diagnostic};
use market::ledger::TradeId;
use market::policy::Classification;
use market::runtime::{Endpoint, InitiateError};
use serde::de::DeserializeOwned;

use super::{AgentConfig, AgentError, HostContext, Initiative, Protocol};
use crate::problem::ConfigProblem;

/// One component the bidder provides to a role: its name, its arguments'
/// modes, and what it computes. A protocol's components are registered
/// from these (so the name and modes a model calls are the ones written
/// here), and a model is checked against them before the bidder plays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    /// The constraint's name.
    pub name: &'static str,
    /// One mode per argument (`+` bound by the caller, `-` bound by it).
    pub modes: &'static [Mode],
    /// What it answers, for people.
    pub meaning: &'static str,
}

/// A role of a kind: its name, how many parameters its clause head has,
/// and the components the bidder provides to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Role {
    /// The role's name in the model.
    pub name: &'static str,
    /// The parameters of its clause head (`role(Task, Peers, Window,
    /// Grace)`: 4).
    pub parameters: usize,
    /// The components it may call.
    pub signatures: &'static [Signature],
}

/// When a host starts a kind's initiating role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiates {
    /// When the state it acts on is this one (a seller's call when
    /// overloaded, a buyer's when underloaded).
    When(Classification),
    /// Every trading period, whatever its state, when it is its turn (a
    /// round that one host of the zone holds at a time).
    ByTurn,
    /// Never: someone else starts it (an operator, outside the zone's
    /// hosts).
    Never,
}

/// A protocol's settings as its kind read them from `[protocol.<name>]`
/// ([`ProtocolKind::configure`]). The agent keeps them without knowing
/// their type; the kind reads them back with [`Protocol::settings`].
pub trait KindSettings: Any + std::fmt::Debug + Send + Sync {
    /// Each setting and its value as a configuration file writes it, for
    /// `bidder --check`.
    fn show(&self) -> Vec<(&'static str, String)>;
}

/// A kind that takes no settings: every key is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoSettings {}

impl KindSettings for NoSettings {
    fn show(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// Reads a kind's settings of type `S` from `table`, for
/// [`ProtocolKind::configure`]. A key `hint` has a word for (one that
/// belongs to another kind) is refused with it; any other key `S` does not
/// take, and a value `S` cannot read, are refused by `S`'s own
/// deserializer. The problem's key is relative to the table (empty for
/// the table itself).
pub fn read_settings<S: DeserializeOwned>(
    table: &toml::Table,
    hint: impl Fn(&str) -> Option<String>,
) -> Result<S, ConfigProblem> {
    if let Some((key, reason)) = table.keys().find_map(|key| Some((key, hint(key)?))) {
        return Err(ConfigProblem::at(key.as_str(), reason));
    }
    serde_path_to_error::deserialize(table.clone()).map_err(|e| {
        // An unknown key is the table's problem: its path is the root.
        let key = match e.path().to_string() {
            root if root == "." => String::new(),
            key => key,
        };
        let reason = e.into_inner().message().to_string();
        match table.get(&key) {
            Some(toml::Value::String(text)) => ConfigProblem::value(key, text, reason),
            Some(value) => ConfigProblem::value(key, value, reason),
            None => ConfigProblem::at(key, reason),
        }
    })
}

/// A protocol kind: what the bidder knows how to play. Register one of
/// your own with `bidder::protocol::register`; docs/lcc.md ("Adding a
/// protocol kind") walks through one.
pub trait ProtocolKind: Send + Sync + 'static {
    /// Its name in configuration files (`kind = "..."`); a protocol of
    /// that name with no `kind` plays it with its shipped model.
    fn name(&self) -> &'static str;

    /// The model a protocol of this kind runs unless its configuration
    /// names a file.
    fn shipped_model(&self) -> lcc::models::Shipped;

    /// The role a host starts, then the role it answers, each with the
    /// components the bidder provides to it.
    fn roles(&self) -> [Role; 2];

    /// When a host starts the initiating role.
    fn initiates(&self) -> Initiates;

    /// Reads a protocol's settings: its `[protocol.<name>]` table but
    /// `model` and `kind`, each setting absent taking its default. A key
    /// it does not take, or a value it cannot read, is refused (the key
    /// relative to the table) rather than read and ignored;
    /// [`read_settings`] does both for a serde type.
    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem>;

    /// This kind's part in one host: made once for each agent that plays
    /// it, and shared by every protocol of this kind the agent plays.
    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay>;
}

/// One host's part in a kind ([`ProtocolKind::join`]).
pub trait KindPlay: Send + Sync {
    /// The components the host provides to the role it answers in
    /// `protocol`.
    fn respond(&self, protocol: &Protocol) -> Components;

    /// Plays the initiating role of `protocol` once: when the host's state
    /// asks for it ([`Initiates::When`]) or every period
    /// ([`Initiates::ByTurn`]; `None` when it is not this host's turn).
    fn initiate<'a>(
        &'a self,
        play: &'a Play<'a>,
        protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>>;

    /// Whether a role of this kind carries out `trade_id` now, or will:
    /// recovery leaves it alone.
    fn holds(&self, _trade_id: &TradeId) -> bool {
        false
    }

    /// Whether the host waits to hear others before it initiates (a new
    /// host new to a rotation listens a period): it may act later without
    /// anything else changing.
    fn listening(&self) -> bool {
        false
    }

    /// The longest a role of `protocol` runs, in ms of the peers' clock:
    /// what a role the host answered must outlive. By default two of the
    /// calls' windows and six graces (offers, an award, a report, the
    /// hand-over's steps).
    fn span_ms(&self, _protocol: &Protocol, config: &AgentConfig) -> i64 {
        2 * config.window_ms + 6 * config.grace_ms
    }

    /// The host is stopping: it starts nothing new of this kind and plays
    /// what it is in to its end, by `by_ms` at most. False when that did
    /// not end in time.
    fn play_out(&self, _by_ms: i64) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }
}

/// A kind, as protocols name it: compared by name.
#[derive(Clone, Copy)]
pub struct Kind(&'static dyn ProtocolKind);

impl Kind {
    /// The kind `kind` is.
    pub const fn of(kind: &'static dyn ProtocolKind) -> Kind {
        Kind(kind)
    }

    /// Its name in configuration files.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// The model a protocol of this kind runs unless its configuration
    /// names a file.
    pub fn shipped_model(self) -> lcc::models::Shipped {
        self.0.shipped_model()
    }

    /// The role a host starts, and the role it answers.
    pub fn roles(self) -> [Role; 2] {
        self.0.roles()
    }

    /// When a host starts the initiating role.
    pub fn initiates(self) -> Initiates {
        self.0.initiates()
    }

    /// Reads a protocol's settings ([`ProtocolKind::configure`]).
    pub fn configure(self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        self.0.configure(table)
    }

    /// This kind's part in `host`.
    pub fn join(self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        self.0.join(host)
    }

    /// What keeps the bidder from playing `model` as this kind: a role
    /// that no clause defines with that many parameters (E0117), a
    /// component a role calls that the bidder does not provide to it
    /// (E0112), or one whose modes do not fit (E0116).
    pub fn missing(self, model: &lcc::ast::Model) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        for role in self.roles() {
            let defined = model.clauses.iter().any(|clause| {
                clause.head.name() == Some(role.name)
                    && parameter_count(&clause.head.role) == role.parameters
            });
            if !defined {
                out.push(self.missing_role(role));
                continue;
            }
            out.extend(lcc::check::missing_components(
                model,
                &placeholders(role.signatures),
                &[role.name],
            ));
        }
        out
    }

    fn missing_role(self, role: Role) -> Diagnostic {
        let head = if role.parameters == 0 {
            format!("a({}, Id)", role.name)
        } else {
            let names: Vec<String> = (1..=role.parameters).map(|i| format!("P{i}")).collect();
            format!("a({}({}), Id)", role.name, names.join(", "))
        };
        Diagnostic::new(
            Code::MissingRole,
            format!(
                "a bidder plays {} models as `{}` with {} parameter(s), \
                 and no clause defines that role",
                self.name(),
                role.name,
                role.parameters
            ),
            lcc::ast::Span::new(0, 0),
        )
        .with_hint(format!(
            "add a clause `{head} :: ...` (docs/lcc.md, The bidder's components)"
        ))
    }
}

impl PartialEq for Kind {
    fn eq(&self, other: &Kind) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Kind {}

impl std::fmt::Debug for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kind({})", self.name())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn parameter_count(role: &lcc::ast::Term) -> usize {
    match &role.kind {
        lcc::ast::TermKind::Compound(_, args) => args.len(),
        _ => 0,
    }
}

/// A registry with the signatures only: what the checker compares a
/// model's calls against.
fn placeholders(signatures: &[Signature]) -> Components {
    let mut components = Components::new();
    for signature in signatures {
        components.register_fn(signature.name, signature.modes, |_| {
            Err(Failure::broken("a signature, not a component"))
        });
    }
    components
}

/// What a kind needs to play one interaction as initiator.
pub struct Play<'a> {
    /// The host.
    pub(crate) host: &'a Arc<HostContext>,
    /// Its endpoint.
    pub(crate) peer: &'a Endpoint,
    /// Its timing.
    pub(crate) config: &'a AgentConfig,
}

impl<'a> Play<'a> {
    /// The host.
    pub fn host(&self) -> &'a Arc<HostContext> {
        self.host
    }

    /// Its endpoint on the bus, to start interactions from.
    pub fn endpoint(&self) -> &'a Endpoint {
        self.peer
    }

    /// Its timing.
    pub fn config(&self) -> &'a AgentConfig {
        self.config
    }

    /// An interaction of `protocol` that could not start or finish.
    pub fn interaction_error(&self, protocol: &Protocol, source: InitiateError) -> AgentError {
        AgentError::Interaction {
            host: self.host.name().to_string(),
            protocol: protocol.name().to_string(),
            source: Box::new(source),
        }
    }
}
