//! The protocols a host plays: each one unit of a model, the roles the host
//! starts and answers, the components it provides to them and the
//! mechanism that decides.
//!
//! ```text
//! configuration:  protocols = ["contract-net", "sealed-bid"]
//!                 [protocol.sealed-bid] model = "sealed-bid.lcc", kind = "contract-net"
//!        |  config::Selection::resolve   (names, files, settings; key paths in errors)
//!        v
//! ProtocolConfig  name, kind, where the model comes from, settings
//!        |  Protocol::load               (read, parse, check, the roles the kind
//!        v                                needs, the components the bidder has)
//! Protocol        a model ready to run; the agent plays it by its kind
//! ```
//!
//! A [`Kind`] is what the bidder knows how to play: which role it starts and
//! when, which role it answers, and the components ([`vocabulary`]) it
//! provides to them. [`Kind::ContractNet`] ([`contract_net`]) is played
//! with the shipped `contract-net.lcc` or with any model of a protocol
//! author's that has its two roles and calls only its components: a new
//! auction needs a new `.lcc` file and no Rust (docs/lcc.md, "The bidder's
//! components").

pub mod config;
pub mod contract_net;
pub mod double_auction;
pub mod placement;
pub mod reverse_call;
pub mod terms;
pub mod vocabulary;

use std::path::PathBuf;

use lcc::diagnostic::Severity;
use market::bus::subject::Token;
use market::mechanism::Pricing;
use market::mechanism::contract_net::AwardRule;
use market::runtime::Model;

pub use config::Selection;

/// What the bidder plays a model as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A call for one VM: an overloaded host starts `manager(Task,
    /// Contractors, Window, Grace)`, every host answers as `contractor`,
    /// the `award` component decides through
    /// `market::mechanism::contract_net::award`.
    ContractNet,
    /// The demand side: an underloaded host starts `buyer(Room, Sellers,
    /// Window, Grace, Trade)` announcing its free room, every host answers
    /// as `seller` with the VM it would give, the `choose` component
    /// values the offers and decides through the same mechanism.
    ReverseCall,
    /// A call market (the double auction) with trades of several legs:
    /// every period the host whose turn it is starts `auctioneer(Round,
    /// Seq, Traders, Window, Grace)`, every host answers as `trader`,
    /// listing the VMs it would give and posting orders for the others';
    /// the `clear` component decides through
    /// `market::mechanism::double_auction::clear`.
    DoubleAuction,
    /// A new VM: an operator (`market place`, a scenario's arrival) starts
    /// `operator(Placement, Hosts, Window, StartWithin)`, every host
    /// answers as `host` with its price or why not, the winner starts the
    /// VM. A host never starts this kind itself.
    Placement,
}

impl Kind {
    /// Every kind, for error messages.
    pub const ALL: [Kind; 4] = [
        Kind::ContractNet,
        Kind::ReverseCall,
        Kind::DoubleAuction,
        Kind::Placement,
    ];

    /// The kind's name in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ContractNet => "contract-net",
            Kind::ReverseCall => "reverse-call",
            Kind::DoubleAuction => "double-auction",
            Kind::Placement => "placement",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The shipped model a protocol of this kind runs unless its
    /// configuration names a file.
    pub fn shipped_model(self) -> lcc::models::Shipped {
        match self {
            Kind::ContractNet => lcc::models::CONTRACT_NET,
            Kind::ReverseCall => lcc::models::REVERSE_CALL,
            Kind::DoubleAuction => lcc::models::CALL_MARKET,
            Kind::Placement => lcc::models::PLACEMENT,
        }
    }

    /// The role the host starts, and the role it answers.
    pub fn roles(self) -> (&'static str, &'static str) {
        match self {
            Kind::ContractNet => (contract_net::MANAGER, contract_net::CONTRACTOR),
            Kind::ReverseCall => (reverse_call::BUYER, reverse_call::SELLER),
            Kind::DoubleAuction => (double_auction::AUCTIONEER, double_auction::TRADER),
            Kind::Placement => (placement::OPERATOR, placement::HOST),
        }
    }

    /// The state in which a host starts this kind's initiating role:
    /// contract net sheds load, the reverse call asks for it; a call
    /// market's rounds come by turn, whatever the state
    /// ([`double_auction::Rotation`]); a placement is started by an
    /// operator, never by a host.
    pub fn initiates_when(self) -> Option<market::policy::Classification> {
        match self {
            Kind::ContractNet => Some(market::policy::Classification::Overloaded),
            Kind::ReverseCall => Some(market::policy::Classification::Underloaded),
            Kind::DoubleAuction | Kind::Placement => None,
        }
    }
}

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
        errors.extend(vocabulary::missing(config.kind, &ast));
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
