//! The double auction played by a bidder: a call market among the hosts of
//! a zone, `models/call-market.lcc` (or a model of one's own with its two
//! roles and components), with trades of several legs.
//!
//! | role | who plays it | components ([`super::vocabulary`]) |
//! |---|---|---|
//! | `auctioneer(Round, Seq, Traders, Window, Grace)` | the host whose turn it is ([`Rotation`]), once a period | `leads`, `catalogue`, `clear`, `ready`, `leg_ended`, `concluded`, `carry` |
//! | `trader` | every host, answering rounds | `list_for`, `orders_for`, `record`, `carry`, `called_off`, `leave` |
//!
//! One round, as the model runs it:
//!
//! 1. **list**: each trader lists its room and the VMs it would give (the
//!    [`LISTED_VMS`] its policy asks least for; none of them is offered in
//!    another call until the round ends), or passes when it is still in
//!    another round after waiting for half the listing window for it to
//!    end (the auctioneer waits for one it is in before it holds its own);
//! 2. **order**: shown every listing, each trader posts its orders at its
//!    true valuation ([`Valuer::orders`](market::valuation::Valuer::orders)) for up to [`WANTED_VMS`] of the
//!    others' VMs that fit it: an ask for each VM it listed,
//!    the [`BEST_BIDS`] best bids and the
//!    [`BEST_PACKAGES`] best packages "give v, take w";
//! 3. **clear**: the auctioneer clears every order, its own too, through
//!    [`market::mechanism::double_auction::clear`], which finds pairs,
//!    swaps and chains and the order their legs can move in;
//! 4. **record**: every party checks its part against its orders and its
//!    host as it is now and records all legs in its ledger in one
//!    transaction ([`market::ledger::Ledger::record_clearing`]);
//! 5. **move**: only when every party recorded, the source of each leg in
//!    turn carries it out with the migration workflow; a leg that fails
//!    calls the rest off, and the source of each leg that did not move
//!    rolls it back in both ledgers.
//!
//! A party that hears nothing by its deadline (the auctioneer died) calls
//! off what did not move; a leg that was moving is finished by the source's
//! recovery. Nothing is agreed that is not in every party's ledger, and a
//! trade's credits settle leg by leg, for what moved.

mod auctioneer;
mod party;
pub mod rotation;
mod settings;
pub mod terms;
mod trader;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use lcc::component::Components;
use lcc::sync::Locked;
use market::ledger::TradeId;

use super::Protocol;
use super::vocabulary::{
    CALLED_OFF, CARRY, CATALOGUE, CLEAR, CONCLUDED, LEADS, LEAVE, LEG_ENDED, LIST_FOR, ORDERS_FOR,
    READY, RECORD,
};
use crate::agent::{
    AgentConfig, AgentError, HostContext, Initiates, Initiative, KindPlay, KindSettings, Play,
    ProtocolKind, Role,
};
use crate::problem::ConfigProblem;

pub use rotation::Rotation;
pub use settings::Settings;

use party::Part;

/// The role the host whose turn it is starts.
pub const AUCTIONEER: &str = "auctioneer";
/// The role every host answers.
pub const TRADER: &str = "trader";

/// How many of its VMs a trader lists: those its policy asks least for.
/// Bounds the catalogue every trader is shown to this many VMs a host.
pub const LISTED_VMS: usize = 8;
/// How many of the VMs on offer a trader values at most: of those that fit
/// its room (counting what giving its largest listed VM frees), a choice
/// of its own (a hash of its name, the round's and theirs), so that a round of a
/// thousand hosts costs each trader a bounded number of valuations and
/// hosts alike do not all want the same VMs.
pub const WANTED_VMS: usize = 64;
/// How many bids a trader posts at most: the highest.
pub const BEST_BIDS: usize = 16;
/// How many packages (give one VM, take another) a trader posts at most:
/// the highest.
pub const BEST_PACKAGES: usize = 16;

/// The most legs a cleared trade has: a chain of three hosts, or a cycle
/// of three (`market::mechanism::package`).
pub const MAX_LEGS: i64 = 3;

/// How long a round runs at most from its start, with `window_ms` for each
/// of the listing and ordering steps and `grace_ms` for results, records
/// and each leg: when a party stops waiting to be told to move, and what a
/// trader's role must outlive.
pub fn round_span_ms(window_ms: i64, grace_ms: i64) -> i64 {
    2 * window_ms + (3 + MAX_LEGS) * grace_ms
}

/// A host's call-market state, shared by its auctioneer and trader roles.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The rotation of each call-market protocol the host plays.
    rotations: BTreeMap<String, Rotation>,
    /// The round the host takes part in, if any: one at a time.
    busy: Option<String>,
    /// The host's part in each round it is in, by round id.
    parts: BTreeMap<String, Part>,
    /// The host is stopping: it joins no new round ([`party::play_out`]).
    stopping: bool,
}

impl State {
    /// Whether `trade_id` is a leg of a trade this host recorded in a
    /// round still under way: recovery leaves it to the round.
    pub(crate) fn holds(&self, trade_id: &TradeId) -> bool {
        self.parts
            .values()
            .filter_map(Part::recorded)
            .flat_map(|filled| filled.legs.iter())
            .any(|leg| leg.trade_id == trade_id.as_str())
    }

    /// Whether a rotation has just started: it listens for a round before
    /// it holds one.
    pub(crate) fn listening(&self) -> bool {
        self.rotations.values().any(Rotation::listening)
    }

    /// The rotation of `protocol` as host `me` sees it.
    pub(crate) fn rotation(&mut self, protocol: &str, me: &str) -> &mut Rotation {
        self.rotations
            .entry(protocol.to_string())
            .or_insert_with(|| Rotation::new(me))
    }
}

/// The call market, as a kind: every period the host whose turn it is
/// starts `auctioneer`, every host answers as `trader`.
pub struct CallMarket;

impl ProtocolKind for CallMarket {
    fn name(&self) -> &'static str {
        "call-market"
    }

    fn shipped_model(&self) -> lcc::models::Shipped {
        lcc::models::CALL_MARKET
    }

    fn roles(&self) -> [Role; 2] {
        [
            Role {
                name: AUCTIONEER,
                parameters: 5,
                signatures: &[LEADS, CATALOGUE, CLEAR, READY, LEG_ENDED, CONCLUDED, CARRY],
            },
            Role {
                name: TRADER,
                parameters: 0,
                signatures: &[LIST_FOR, ORDERS_FOR, RECORD, CARRY, CALLED_OFF, LEAVE],
            },
        ]
    }

    fn initiates(&self) -> Initiates {
        Initiates::ByTurn
    }

    fn configure(&self, table: &toml::Table) -> Result<Arc<dyn KindSettings>, ConfigProblem> {
        Settings::read(table)
    }

    fn join(&self, host: Arc<HostContext>) -> Arc<dyn KindPlay> {
        Arc::new(Rounds(Arc::new(Seat {
            host,
            state: Mutex::new(State::default()),
            round_left: tokio::sync::Notify::new(),
        })))
    }
}

/// A host's seat in the call market: its state, shared by its auctioneer
/// and trader roles in every call-market protocol it plays.
pub(crate) struct Seat {
    /// The host.
    pub(crate) host: Arc<HostContext>,
    /// Its rounds: whose turn, and its part in each.
    state: Mutex<State>,
    /// Woken whenever the host leaves a round, for whoever waits to join
    /// the next one.
    round_left: tokio::sync::Notify,
}

impl Seat {
    pub(crate) fn call_market(&self) -> std::sync::MutexGuard<'_, State> {
        // Maps and options, each change made whole under the lock.
        self.state.locked()
    }

    /// Notified whenever the host leaves a call-market round.
    pub(crate) fn round_left(&self) -> &tokio::sync::Notify {
        &self.round_left
    }

    /// Whether it is this host's turn to hold `protocol`'s round of
    /// period `seq`.
    pub(crate) fn due_round(&self, protocol: &str, seq: u64) -> bool {
        self.call_market()
            .rotation(protocol, self.host.name())
            .due(seq)
    }

    /// Whether `protocol`'s rotation has heard no round yet.
    pub(crate) fn first_round_due(&self, protocol: &str) -> bool {
        self.call_market()
            .rotation(protocol, self.host.name())
            .listening()
    }

    /// Whether this host, due for its first round of `protocol` (heard no
    /// round), holds round `seq` among the `players` it recruited
    /// ([`Rotation::first_round`]).
    pub(crate) fn holds_first_round(&self, protocol: &str, seq: u64, players: &[String]) -> bool {
        self.call_market()
            .rotation(protocol, self.host.name())
            .first_round(seq, players.iter().cloned())
    }

    /// A round of `protocol` was heard: period `seq`, among `roster`.
    pub(crate) fn heard_round(&self, protocol: &str, seq: u64, roster: &[String]) {
        self.call_market()
            .rotation(protocol, self.host.name())
            .heard(seq, roster.iter().cloned());
    }
}

/// A host's part in the call market, as the agent plays it.
struct Rounds(Arc<Seat>);

impl KindPlay for Rounds {
    fn respond(&self, protocol: &Protocol) -> Components {
        trader::trader(Arc::clone(&self.0), protocol)
    }

    fn initiate<'a>(
        &'a self,
        play: &'a Play<'a>,
        protocol: &'a Protocol,
    ) -> BoxFuture<'a, Result<Option<Initiative>, AgentError>> {
        Box::pin(auctioneer::hold(play, &self.0, protocol))
    }

    fn holds(&self, trade_id: &TradeId) -> bool {
        self.0.call_market().holds(trade_id)
    }

    fn listening(&self) -> bool {
        self.0.call_market().listening()
    }

    /// A round's span, with listing windows of the protocol's
    /// `window_ms` (or the calls' own window, if longer).
    fn span_ms(&self, protocol: &Protocol, config: &AgentConfig) -> i64 {
        let window = config
            .window_ms
            .max(protocol.settings::<Settings>().window_ms);
        round_span_ms(window, config.grace_ms)
    }

    fn play_out(&self, by_ms: i64) -> BoxFuture<'_, bool> {
        Box::pin(party::play_out(&self.0, by_ms))
    }
}
