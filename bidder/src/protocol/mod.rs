//! The protocol kinds bourse ships, and the registry that finds a kind by
//! name: each kind one unit of a model, the roles a host starts and
//! answers, the components it provides to them and the mechanism that
//! decides, behind the agent's one interface ([`ProtocolKind`]).
//!
//! ```text
//! configuration:  protocols = ["contract-net", "sealed-bid"]
//!                 [protocol.sealed-bid] model = "sealed-bid.lcc", kind = "contract-net"
//!        |  config::Selection::resolve   (names, files, settings; key paths in errors;
//!        v                                the kind found by name: kind())
//! ProtocolConfig  name, kind, where the model comes from, settings
//!        |  Protocol::load               (read, parse, check, the roles the kind
//!        v                                needs, the components the bidder has)
//! Protocol        a model ready to run; the agent plays it through its kind
//! ```
//!
//! A [`Kind`] is what the bidder knows how to play: which role it starts and
//! when, which role it answers, and the components ([`vocabulary`]) it
//! provides to them. [`CONTRACT_NET`] ([`contract_net`]) is played with
//! the shipped `contract-net.lcc` or with any model of a protocol author's
//! that has its two roles and calls only its components: a new auction
//! needs a new `.lcc` file and no Rust (docs/lcc.md, "The bidder's
//! components"). A new kind needs Rust, and no change here: it implements
//! [`ProtocolKind`] and is [`register`]ed (docs/lcc.md, "Adding a protocol
//! kind").

pub mod call_market;
pub mod config;
pub mod contract_net;
pub mod placement;
pub mod reverse_call;
pub mod terms;
pub mod vocabulary;

use std::sync::{Arc, Mutex};

use lcc::sync::Locked;
use market::mechanism::contract_net::AwardRule;

pub use crate::agent::{
    Initiates, Kind, KindPlay, KindSettings, ModelSource, NoSettings, Play, Protocol,
    ProtocolConfig, ProtocolError, ProtocolKind, Role, Signature, read_settings,
};
pub use config::Selection;

/// Contract net: an overloaded host calls for a VM's buyer.
pub const CONTRACT_NET: Kind = Kind::of(&contract_net::ContractNet);
/// The reverse call: an underloaded host calls for a VM's seller.
pub const REVERSE_CALL: Kind = Kind::of(&reverse_call::ReverseCall);
/// The call market: a double auction among a zone's hosts, by turn.
pub const CALL_MARKET: Kind = Kind::of(&call_market::CallMarket);
/// Placement: an operator places a new VM.
pub const PLACEMENT: Kind = Kind::of(&placement::PlacementKind);

/// The kinds bourse ships.
pub const SHIPPED: [Kind; 4] = [CONTRACT_NET, REVERSE_CALL, CALL_MARKET, PLACEMENT];

/// Kinds registered by the program that links the bidder library.
static REGISTERED: Mutex<Vec<Kind>> = Mutex::new(Vec::new());

/// A kind could not be registered.
#[derive(Debug, thiserror::Error)]
#[error("a protocol kind called {name:?} is known already; choose another name")]
pub struct NameTaken {
    /// The name.
    pub name: &'static str,
}

/// Registers a kind of one's own: from now on, in this process,
/// configuration files, scenarios and `market place` find it by its name
/// as they find the shipped ones.
pub fn register(kind: &'static dyn ProtocolKind) -> Result<Kind, NameTaken> {
    let kind = Kind::of(kind);
    let mut registered = REGISTERED.locked();
    if SHIPPED.contains(&kind) || registered.contains(&kind) {
        return Err(NameTaken { name: kind.name() });
    }
    registered.push(kind);
    Ok(kind)
}

/// Every kind the bidder can play: the shipped ones, then those
/// registered.
pub fn kinds() -> Vec<Kind> {
    let registered = REGISTERED.locked();
    SHIPPED.iter().chain(registered.iter()).copied().collect()
}

/// Names shipped kinds had before, still read: (old, new).
const OLD_NAMES: [(&str, &str); 1] = [("double-auction", "call-market")];

/// The kind called `name`.
pub fn kind(name: &str) -> Option<Kind> {
    parse_kind(name).map(|(kind, _)| kind)
}

/// The kind called `name`, and whether `name` is an old name of it, which
/// a configuration still reads with a warning naming the new one.
pub fn parse_kind(name: &str) -> Option<(Kind, bool)> {
    let found = |name: &str| kinds().into_iter().find(|k| k.name() == name);
    if let Some(kind) = found(name) {
        return Some((kind, false));
    }
    let (_, new) = OLD_NAMES.iter().find(|(old, _)| *old == name)?;
    found(new).map(|kind| (kind, true))
}

/// The settings of a call for one VM (contract net, the reverse call):
/// `[protocol.<name>] award = "second-price"`, `reach = 12`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSettings {
    /// How the winner is chosen and what it pays.
    #[serde(default)]
    pub award: AwardRule,
    /// About how many peers a call invites (a different few each call);
    /// unset, every peer of the zone (`market::runtime::recruit`).
    #[serde(default)]
    pub reach: Option<u32>,
}

impl KindSettings for CallSettings {
    fn show(&self) -> Vec<(&'static str, String)> {
        let reach = match self.reach {
            Some(reach) => reach.to_string(),
            None => "the whole zone".to_string(),
        };
        vec![("award", self.award.to_string()), ("reach", reach)]
    }
}

impl CallSettings {
    /// Reads a call's settings for `kind` ([`ProtocolKind::configure`]).
    pub fn read(
        kind: &str,
        table: &toml::Table,
    ) -> Result<Arc<dyn KindSettings>, crate::problem::ConfigProblem> {
        let settings: CallSettings = read_settings(table, |key| not_a_call_market(kind, key))?;
        if settings.reach == Some(0) {
            return Err(crate::problem::ConfigProblem::at(
                "reach",
                "must be at least 1 (leave it out to invite the whole zone)",
            ));
        }
        Ok(Arc::new(settings))
    }
}

/// Recruits `role` for a call of `protocol` by this host: the whole zone,
/// or about the protocol's `reach` of it (a kind whose settings are not
/// [`CallSettings`] has none). `None` when too few joined.
async fn recruit_for_call(
    play: &Play<'_>,
    protocol: &Protocol,
    role: &str,
) -> Result<Option<market::runtime::Recruited>, crate::agent::AgentError> {
    let recruitment = market::runtime::Recruitment {
        role: role.to_string(),
        within_ms: play.config.recruit_ms,
        reach: protocol
            .settings_as::<CallSettings>()
            .and_then(|settings| settings.reach),
    };
    match market::runtime::recruit(play.peer, protocol.model(), &recruitment).await {
        Ok(recruited) => Ok(Some(recruited)),
        Err(market::runtime::InitiateError::NotEnoughPlayers { .. }) => Ok(None),
        Err(source) => Err(play.interaction_error(protocol, source)),
    }
}

/// Why a call market's setting `key` is refused on a call of `kind`.
fn not_a_call_market(kind: &str, key: &str) -> Option<String> {
    match key {
        "pricing" => Some(format!(
            "`pricing` is a call market's (kind \"call-market\"); a {kind} call \
             is priced by `award`"
        )),
        "window_ms" => Some(format!(
            "`window_ms` is a call market's (kind \"call-market\"); a {kind} call \
             is timed by `trading.window_ms`"
        )),
        _ => None,
    }
}
