//! The trading loop of one host: seed 002's two-stage pattern (figure 4.8)
//! with prices, playing whichever protocols the host's configuration names.
//!
//! # Stage one: observe and classify
//!
//! An [`Agent`] sees its host only through the [`Hypervisor`] trait: the
//! running domains (UUID, name, vCPUs, memory, placement group) and the
//! host's load average. A domain's measured use is the rate of its CPU time
//! and interface bytes between two [`Agent::sample`]s; a VM that has just
//! arrived has no rate yet, so until its second sample it is taken at the
//! use its trade announced. From that it builds the market's [`Host`] and
//! asks its [`Policy`] whether it is underloaded, satisfied or overloaded.
//! Every sample is one observation for the policy's hysteresis
//! (`[policy.stability] hold_observations`): the host acts on a state only
//! once it has seen it that many samples in a row.
//!
//! # Stage two: interact
//!
//! What a host does in an interaction belongs to its protocols
//! ([`crate::protocol`]): [`Agent::serve`] answers, for every protocol, the
//! role its kind answers (contract-net's `contractor`), and
//! [`Agent::take_initiative`] starts, when the acting state calls for it,
//! the role its kind starts (contract-net's `manager`, when overloaded),
//! trying the protocols in the configured order until one trades.
//!
//! # What stays here
//!
//! The neutral work every protocol shares: the host's view, capacity held
//! for open offers ([`holds`]), and carrying out an agreed trade
//! ([`Inner::carry_out`]): the terms go into both ledgers before anything
//! moves, the migration workflow moves the VM, and credits settle on
//! success (docs/migration.md). How a host reaches the destination side of
//! another host's workflow is [`Reach`].

mod holds;
mod usage;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcc::interp::Clock;
use lcc::sync::Locked;
use market::bus::BusError;
use market::credits::Credits;
use market::host::{Host, HostId};
use market::ledger::{ProtocolRef, TradeId, TradeKind, TradeTerms, VmRef};
use market::policy::stability::Hysteresis;
use market::policy::{Classification, Policy};
use market::resources::{ResourceError, Resources};
use market::runtime::{self, Endpoint, InitiateError, Participant};
use market::vm::{Vm, VmId};
use tokio::task::JoinHandle;

use crate::events::Publisher;
use crate::hypervisor::{
    DomainStats, DomainUuid, HostStats, Hypervisor, HypervisorError, blocking,
};
use crate::migration::{self, Destination, Executor, Method, Outcome, PeerLink};
use crate::protocol::{Kind, Protocol, contract_net, double_auction, placement, reverse_call};

use holds::Holds;
use usage::Usage;

/// How a host reaches the destination side of another host's migration
/// workflow. In one process (simulations) it is that host's ledger and
/// hypervisor ([`Reach::destination`]); across processes it is a transport
/// over the bus (`migration::BusPeer`), which a daemon's `Reach` returns
/// from [`Reach::peer`]. The workflow calls only [`Reach::peer`], so both
/// take one code path.
pub trait Reach: Send + Sync {
    /// The destination side of `host` in this process, or `None` when it is
    /// unknown here or lives in another process.
    fn destination(&self, host: &str) -> Option<Destination>;

    /// How the workflow reaches `host`: in process by default.
    fn peer(&self, host: &str) -> Option<PeerLink> {
        self.destination(host).map(PeerLink::InProcess)
    }

    /// How VMs move to `host`: the hand-off unless the host says otherwise
    /// (live migration needs shared storage and the peer's libvirt URI).
    fn method(&self, _host: &str) -> Method {
        Method::Handoff
    }
}

/// Timing of the interactions an agent starts and plays, in milliseconds of
/// the peers' clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfig {
    /// How long a manager waits for contractors to join.
    pub recruit_ms: i64,
    /// How long contractors have to answer a call for proposals.
    pub window_ms: i64,
    /// How long the winner has to report after it is accepted.
    pub grace_ms: i64,
    /// How long a winner holds the capacity of a VM it was awarded for the
    /// VM to arrive; a migration that takes longer is counted again only
    /// once the VM runs here.
    pub arrival_ms: i64,
    /// The trading period, in ms of the clock the host is sampled by: a
    /// call market's rounds are numbered by it, so every host of a zone
    /// must use the same.
    pub period_ms: i64,
}

impl Default for AgentConfig {
    /// Loopback and in-process buses answer in well under a millisecond;
    /// these leave room for a loaded test machine. Ten minutes for a VM to
    /// arrive covers a live migration of tens of GiB on a 1 Gbit/s link.
    fn default() -> Self {
        AgentConfig {
            recruit_ms: 50,
            window_ms: 500,
            grace_ms: 2_000,
            arrival_ms: 600_000,
            period_ms: 10_000,
        }
    }
}

impl AgentConfig {
    /// How long a host keeps a role instance it answered before abandoning
    /// it: the longest a protocol's deadlines run, a call market's trader
    /// (two windows of `round_window_ms`, then results, records and a
    /// grace for each of its legs).
    fn lifetime(&self, round_window_ms: i64) -> Duration {
        let ms = self.recruit_ms + self.round_span_ms(round_window_ms);
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)) + Duration::from_secs(5)
    }

    /// How long a call-market round runs at most, with listing windows of
    /// `round_window_ms` (or the calls' own window, if longer).
    fn round_span_ms(&self, round_window_ms: i64) -> i64 {
        let window = self.window_ms.max(round_window_ms);
        double_auction::round_span_ms(window, self.grace_ms)
    }
}

/// Why the agent could not do its part.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The hypervisor could not be read.
    #[error("host {host}: {source}")]
    Hypervisor {
        /// The host.
        host: String,
        /// What failed.
        source: HypervisorError,
    },
    /// The host's numbers do not add up.
    #[error("host {host}: {source}")]
    Resources {
        /// The host.
        host: String,
        /// What overflowed.
        source: ResourceError,
    },
    /// The interaction could not start or did not finish.
    #[error("host {host}: {protocol}: {source}")]
    Interaction {
        /// The host.
        host: String,
        /// The protocol.
        protocol: String,
        /// What failed (boxed: it is large, and agent errors travel
        /// through every call of the loop).
        source: Box<InitiateError>,
    },
    /// The responder side could not subscribe to invitations.
    #[error("host {host}: cannot listen for invitations: {source}")]
    Bus {
        /// The host.
        host: String,
        /// What failed.
        source: BusError,
    },
    /// An agreed trade could not be carried out.
    #[error("host {host}: trade {trade}: {source}")]
    Trade {
        /// The host.
        host: String,
        /// The trade id, as the interaction named it.
        trade: String,
        /// Why (boxed: the workflow's errors are large, and agent errors
        /// travel through every call of the loop).
        source: Box<TradeFailure>,
    },
}

/// Why a trade this host carries out could not be.
#[derive(Debug, thiserror::Error)]
pub enum TradeFailure {
    /// The migration workflow, or a placement, failed.
    #[error(transparent)]
    Migration(#[from] migration::MigrationError),
    /// Calling a leg off failed.
    #[error(transparent)]
    Recovery(#[from] migration::RecoveryError),
    /// The buyer's side of the workflow cannot be reached from here.
    #[error("no way to reach {0}'s workflow")]
    Unreachable(String),
    /// The interaction's id is not a trade id.
    #[error(transparent)]
    Id(#[from] market::ledger::LedgerError),
}

/// What one attempt to trade as initiator came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Initiative {
    /// No protocol the host plays starts a call in the state it acts on
    /// (satisfied, or a state none of its protocols answers).
    NothingToDo(Classification),
    /// A new state now, but not yet seen for `hold_observations` samples
    /// in a row: the host waits.
    Holding {
        /// How many samples in a row saw it overloaded.
        seen: u32,
        /// How many it needs.
        hold: u32,
    },
    /// Overloaded with no VM whose departure raises its utility, or
    /// underloaded with no room to offer.
    NothingToOffer,
    /// No peer joined the interaction.
    NoPeers,
    /// The interaction ended without a trade (no proposal, none at the
    /// reserve, or the winner failed or fell silent), in the model's words.
    /// A hand-over that failed after a reverse call's award is reported
    /// here too; both ledgers record it as failed.
    NoTrade {
        /// The VM offered.
        vm: String,
        /// `no_proposals`, `no_award`, `silent`, `failed(..)`.
        report: crate::protocol::terms::Report,
    },
    /// A trade was agreed and carried out (or failed while moving).
    Traded(TradeReport),
    /// This host held a call-market round: every leg of every trade it
    /// cleared, as it heard them end (none: the round cleared nothing).
    Cleared(Vec<TradeReport>),
}

/// One agreed trade as the initiator saw it end.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TradeReport {
    /// The shared trade id.
    pub trade_id: TradeId,
    /// The protocol it was agreed in.
    pub protocol: String,
    /// The VM's domain name.
    pub vm: String,
    /// The host it left: the seller.
    pub from: String,
    /// The host it went to: the buyer.
    pub to: String,
    /// What the buyer paid the seller (negative: what the seller paid the
    /// buyer to take the VM).
    pub price: Credits,
    /// How the migration workflow ended.
    pub outcome: migration::Outcome,
}

/// A trade a protocol agreed, for [`Inner::carry_out`]: this host sells
/// the VM to `buyer` at `price`.
#[derive(Debug, Clone)]
pub(crate) struct Agreed {
    /// The trade id both parties record (the interaction's id).
    pub trade_id: TradeId,
    /// The protocol's name.
    pub protocol: String,
    /// The hash of the model it was agreed by.
    pub model_hash: String,
    /// The VM's domain UUID.
    pub vm_uuid: String,
    /// The VM's domain name.
    pub vm_name: String,
    /// What the VM reserves.
    pub reserved: Resources,
    /// Who takes it.
    pub buyer: String,
    /// What the buyer pays this host.
    pub price: Credits,
}

/// Who a host is on the market.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Market identity.
    pub id: HostId,
    /// Host name: its bus name, ledger owner and hypervisor host.
    pub name: String,
    /// What the hardware offers (the policy may keep headroom free).
    pub capacity: Resources,
}

/// What the components, the protocols and the loop share.
pub(crate) struct Inner {
    identity: Identity,
    policy: Policy,
    hypervisor: Arc<dyn Hypervisor>,
    ledger: market::ledger::Ledger,
    reach: Arc<dyn Reach>,
    clock: Arc<dyn Clock>,
    config: AgentConfig,
    events: Option<Publisher>,
    usage: Mutex<Usage>,
    holds: Mutex<Holds>,
    /// VMs offered, in a reverse call or by this host's own contract-net
    /// call, and not yet handed over or withdrawn: not offered again
    /// meanwhile, so no VM is sold twice.
    giving: Mutex<std::collections::BTreeSet<DomainUuid>>,
    hysteresis: Mutex<Hysteresis>,
    /// Serialises pricing with holding, so two offers never both count
    /// the same free room.
    pricing: tokio::sync::Mutex<()>,
    /// Its call-market rounds: whose turn, and its part in each.
    call_market: Mutex<double_auction::State>,
    /// The trades and placements it carries out now, which recovery
    /// leaves alone.
    carrying: migration::carrying::Carrying,
    /// Woken whenever the host leaves a call-market round, for whoever
    /// waits to join the next one.
    round_left: tokio::sync::Notify,
    /// The host's clock at its last sample: what periods are counted by.
    sampled_ms: std::sync::atomic::AtomicI64,
}

/// One host's bidder: observes, classifies, trades.
pub struct Agent {
    inner: Arc<Inner>,
    peer: Endpoint,
    protocols: Vec<Protocol>,
}

/// Everything an [`Agent`] is made of.
pub struct AgentParts {
    /// Who the host is.
    pub identity: Identity,
    /// Its policy.
    pub policy: Policy,
    /// Its hypervisor.
    pub hypervisor: Arc<dyn Hypervisor>,
    /// Its ledger (owned by `identity.name`).
    pub ledger: market::ledger::Ledger,
    /// Its endpoint on the bus.
    pub peer: Endpoint,
    /// The protocols it plays, in the order it tries them.
    pub protocols: Vec<Protocol>,
    /// How it reaches other hosts' migration workflow.
    pub reach: Arc<dyn Reach>,
    /// Interaction timing.
    pub config: AgentConfig,
    /// Where the trades it sells are reported for observers, if anywhere
    /// (`crate::events`).
    pub events: Option<Publisher>,
}

/// What a protocol needs to play one interaction as initiator.
pub(crate) struct Play<'a> {
    /// The agent's shared state.
    pub inner: &'a Arc<Inner>,
    /// Its endpoint.
    pub peer: &'a Endpoint,
    /// Its timing.
    pub config: &'a AgentConfig,
}

impl Play<'_> {
    /// An interaction of `protocol` that could not start or finish.
    pub(crate) fn interaction_error(
        &self,
        protocol: &Protocol,
        source: InitiateError,
    ) -> AgentError {
        AgentError::Interaction {
            host: self.inner.identity.name.clone(),
            protocol: protocol.name().to_string(),
            source: Box::new(source),
        }
    }
}

impl Agent {
    /// An agent from its parts.
    pub fn new(parts: AgentParts) -> Agent {
        let hysteresis = parts.policy.stability().hysteresis();
        Agent {
            inner: Arc::new(Inner {
                identity: parts.identity,
                policy: parts.policy,
                hypervisor: parts.hypervisor,
                ledger: parts.ledger,
                reach: parts.reach,
                clock: Arc::clone(&parts.peer.clock),
                config: parts.config,
                events: parts.events,
                usage: Mutex::new(Usage::default()),
                holds: Mutex::new(Holds::default()),
                giving: Mutex::new(std::collections::BTreeSet::new()),
                hysteresis: Mutex::new(hysteresis),
                pricing: tokio::sync::Mutex::new(()),
                call_market: Mutex::new(double_auction::State::default()),
                carrying: migration::carrying::Carrying::default(),
                round_left: tokio::sync::Notify::new(),
                sampled_ms: std::sync::atomic::AtomicI64::new(0),
            }),
            peer: parts.peer,
            protocols: parts.protocols,
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.inner.identity.name
    }

    /// The host's policy.
    pub fn policy(&self) -> &Policy {
        &self.inner.policy
    }

    /// The host's ledger.
    pub fn ledger(&self) -> &market::ledger::Ledger {
        &self.inner.ledger
    }

    /// The protocols it plays.
    pub fn protocols(&self) -> &[Protocol] {
        &self.protocols
    }

    /// What this host's roles carry out now, read live
    /// ([`migration::carrying`]): the trades and placements they carry
    /// out, and the legs of a call-market round still under way, which
    /// wait for their turn. Recovery leaves them be.
    pub fn in_hand(&self) -> migration::carrying::InHand {
        let inner = Arc::clone(&self.inner);
        migration::carrying::InHand::new(move |trade_id| {
            inner.carrying.holds(trade_id) || inner.call_market().holds(trade_id)
        })
    }

    /// How long a role this host plays may run at most: a trade it
    /// agreed longer ago than this, that no role holds, is one nobody
    /// will carry out any more.
    pub fn role_lifetime(&self) -> Duration {
        self.inner.config.lifetime(self.round_window_ms())
    }

    /// The longest listing window of the call markets it plays (0: none).
    fn round_window_ms(&self) -> i64 {
        self.protocols
            .iter()
            .filter(|p| p.kind() == Kind::DoubleAuction)
            .map(|p| p.settings().window_ms)
            .max()
            .unwrap_or_default()
    }

    /// The host is stopping: it joins no more call-market rounds and plays
    /// the one it is in to its end, as trader too (for a round's span at
    /// most), so that it leaves none of the legs it recorded agreed behind
    /// it. Call it before aborting the task [`Agent::serve`] returned.
    pub async fn play_out_rounds(&self) {
        // A round it is in began before now: it ends within its span.
        let span = self.inner.config.round_span_ms(self.round_window_ms());
        let by_ms = self.inner.now_ms().saturating_add(span);
        if !double_auction::play_out(&self.inner, by_ms).await {
            tracing::warn!(host = %self.name(), "the call-market round it is in did not end in time; what it recorded there is left to recovery");
        }
    }

    /// Starts answering invitations, for every protocol the role its kind
    /// answers; the task runs until the bus closes.
    pub async fn serve(&self) -> Result<JoinHandle<()>, AgentError> {
        let offers = self
            .protocols
            .iter()
            .map(|protocol| runtime::Offer {
                model: protocol.model().clone(),
                role: protocol.kind().roles().1.to_string(),
                components: match protocol.kind() {
                    Kind::ContractNet => contract_net::contractor(Arc::clone(&self.inner)),
                    Kind::ReverseCall => reverse_call::seller(Arc::clone(&self.inner), protocol),
                    Kind::DoubleAuction => {
                        double_auction::trader(Arc::clone(&self.inner), protocol)
                    }
                    Kind::Placement => placement::host(Arc::clone(&self.inner), protocol),
                },
            })
            .collect();
        Participant::new(self.peer.clone(), offers, self.role_lifetime())
            .start()
            .await
            .map_err(|source| AgentError::Bus {
                host: self.name().to_string(),
                source,
            })
    }

    /// Measures every running domain's use since the previous sample, and
    /// takes the host's classification as one observation; `at_ms` is the
    /// host's clock (the simulated one in simulations).
    pub async fn sample(&self, at_ms: i64) -> Result<(), AgentError> {
        let (domains, stats) = self.inner.read_host().await?;
        self.inner.usage().sample(at_ms, &domains);
        self.inner
            .sampled_ms
            .store(at_ms, std::sync::atomic::Ordering::Relaxed);
        let host = self.inner.host_from(&domains, &stats);
        let observed = self
            .inner
            .policy
            .classify_host(&host)
            .map_err(|source| self.inner.resource_error(source))?;
        self.inner.hysteresis().observe(observed);
        Ok(())
    }

    /// The host as the market sees it now.
    pub async fn view(&self) -> Result<Host, AgentError> {
        self.inner.view().await
    }

    /// Underloaded, satisfied or overloaded, now.
    pub async fn classify(&self) -> Result<Classification, AgentError> {
        let host = self.view().await?;
        self.inner
            .policy
            .classify_host(&host)
            .map_err(|source| self.inner.resource_error(source))
    }

    /// True while the host has seen a new state fewer than
    /// `hold_observations` samples in a row, or has just started and
    /// listens a period for a call-market round before holding one: it may
    /// act later without anything else changing.
    pub fn is_holding(&self) -> bool {
        self.inner.hysteresis().pending().is_some() || self.inner.call_market().listening()
    }

    /// Stage two: start the role each protocol's kind starts in the state
    /// the host acts on (contract-net when overloaded, the reverse call
    /// when underloaded), in the configured order, until one trades. A kind
    /// starts only when the acting state and the state now agree, so a host
    /// never acts on a state it has just left.
    pub async fn take_initiative(&self) -> Result<Initiative, AgentError> {
        let play = Play {
            inner: &self.inner,
            peer: &self.peer,
            config: &self.inner.config,
        };
        let mut held = None;
        for protocol in self
            .protocols
            .iter()
            .filter(|p| p.kind() == Kind::DoubleAuction)
        {
            match double_auction::hold(&play, protocol).await? {
                Some(Initiative::Cleared(trades)) if !trades.is_empty() => {
                    return Ok(Initiative::Cleared(trades));
                }
                Some(round) => held = Some(round),
                None => {}
            }
        }
        let by_state = self.call_by_state(&play).await?;
        Ok(match (by_state, held) {
            (Initiative::NothingToDo(_), Some(round)) => round,
            (by_state, _) => by_state,
        })
    }

    /// The calls the host's state asks for (see [`Agent::take_initiative`]).
    async fn call_by_state(&self, play: &Play<'_>) -> Result<Initiative, AgentError> {
        let now = self.classify().await?;
        let (acting, pending) = {
            let h = self.inner.hysteresis();
            (h.acting(), h.pending())
        };
        let callers: Vec<&Protocol> = self
            .protocols
            .iter()
            .filter(|p| acting == now && p.kind().initiates_when() == Some(acting))
            .collect();
        if callers.is_empty() {
            let starts = |class| {
                self.protocols
                    .iter()
                    .any(|p| p.kind().initiates_when() == Some(class))
            };
            return Ok(match pending {
                Some((class, seen)) if class == now && starts(class) => Initiative::Holding {
                    seen,
                    hold: self.inner.policy.stability().hold_observations,
                },
                _ => Initiative::NothingToDo(acting),
            });
        }
        let mut last = Initiative::NoPeers;
        for protocol in callers {
            let round = match protocol.kind() {
                Kind::ContractNet => contract_net::manage(play, protocol).await?,
                Kind::ReverseCall => reverse_call::call(play, protocol).await?,
                // Held by turn, above; an operator's call, never a host's.
                Kind::DoubleAuction | Kind::Placement => continue,
            };
            if matches!(round, Initiative::Traded(_)) {
                return Ok(round);
            }
            last = round;
        }
        Ok(last)
    }
}

impl Inner {
    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        // Usage is plain data replaced field by field; a panic elsewhere
        // cannot leave it half-written.
        self.usage.locked()
    }

    fn holds(&self) -> std::sync::MutexGuard<'_, Holds> {
        // One map insert or remove at a time: never half-written.
        self.holds.locked()
    }

    fn hysteresis(&self) -> std::sync::MutexGuard<'_, Hysteresis> {
        // Plain counters, replaced whole.
        self.hysteresis.locked()
    }

    /// The host's name.
    pub(crate) fn name(&self) -> &str {
        &self.identity.name
    }

    /// The host's ledger.
    pub(crate) fn ledger(&self) -> &market::ledger::Ledger {
        &self.ledger
    }

    /// The peers' clock now.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Resolves when `at_ms` of the peers' clock has come.
    pub(crate) fn sleep_until(&self, at_ms: i64) -> lcc::interp::Sleep {
        self.clock.sleep_until(at_ms)
    }

    /// Notified whenever the host leaves a call-market round.
    pub(crate) fn round_left(&self) -> &tokio::sync::Notify {
        &self.round_left
    }

    pub(crate) fn call_market(&self) -> std::sync::MutexGuard<'_, double_auction::State> {
        // Maps and options, each change made whole under the lock.
        self.call_market.locked()
    }

    /// The trading period the host was last sampled in.
    pub(crate) fn period(&self) -> u64 {
        let at = self.sampled_ms.load(std::sync::atomic::Ordering::Relaxed);
        u64::try_from(at / self.config.period_ms.max(1)).unwrap_or_default()
    }

    /// Whether it is this host's turn to hold `protocol`'s round of
    /// period `seq`.
    pub(crate) fn due_round(&self, protocol: &str, seq: u64) -> bool {
        self.call_market().rotation(protocol, self.name()).due(seq)
    }

    /// Whether `protocol`'s rotation has heard no round yet.
    pub(crate) fn first_round_due(&self, protocol: &str) -> bool {
        self.call_market()
            .rotation(protocol, self.name())
            .listening()
    }

    /// Whether this host, due for its first round of `protocol` (heard no
    /// round), holds round `seq` among the `players` it recruited
    /// ([`double_auction::Rotation::first_round`]).
    pub(crate) fn holds_first_round(&self, protocol: &str, seq: u64, players: &[String]) -> bool {
        self.call_market()
            .rotation(protocol, self.name())
            .first_round(seq, players.iter().cloned())
    }

    /// A round of `protocol` was heard: period `seq`, among `roster`.
    pub(crate) fn heard_round(&self, protocol: &str, seq: u64, roster: &[String]) {
        self.call_market()
            .rotation(protocol, self.name())
            .heard(seq, roster.iter().cloned());
    }

    /// The host's policy.
    pub(crate) fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Held while pricing an offer and recording its hold.
    pub(crate) async fn pricing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.pricing.lock().await
    }

    /// Holds room for `vm` until `until_ms` of the peers' clock.
    pub(crate) fn hold(&self, uuid: DomainUuid, vm: Vm, until_ms: i64) {
        self.holds().hold(uuid, vm, until_ms);
    }

    /// Holds room for an awarded `vm` until it runs here, or at most
    /// `arrival_ms`.
    pub(crate) fn hold_until_arrival(&self, uuid: DomainUuid, vm: Vm) {
        let until = self.clock.now_ms().saturating_add(self.config.arrival_ms);
        self.holds().hold(uuid, vm, until);
    }

    /// Frees the room held for `uuid`.
    pub(crate) fn release(&self, uuid: &DomainUuid) {
        self.holds().release(uuid);
    }

    /// A VM arriving with this announced use: taken at it until measured.
    pub(crate) fn expect(&self, uuid: DomainUuid, used: &Resources) {
        self.usage().expect(uuid, used);
    }

    /// Marks `uuid` as offered; false when it already is, or when a
    /// trade this host's ledger holds unfinished names it: a VM still
    /// arriving runs here before its purchase settles, and sold on then
    /// it would be lost or doubled if the purchase were rolled back (found
    /// by `market chaos`: a leg sold a VM whose arrival had not settled).
    pub(crate) async fn start_giving(&self, uuid: &DomainUuid) -> bool {
        match self.ledger.unfinished_trades().await {
            Ok(trades) => {
                let named = |t: &market::ledger::TradeRecord| {
                    t.terms.vms.iter().any(|vm| vm.uuid == uuid.as_str())
                };
                if trades.iter().any(named) {
                    return false;
                }
            }
            Err(e) => {
                tracing::warn!(host = %self.name(), vm = %uuid, error = %e, "cannot read unfinished trades; not offering the VM");
                return false;
            }
        }
        self.giving.locked().insert(uuid.clone())
    }

    /// The offer of `uuid` is over.
    pub(crate) fn stop_giving(&self, uuid: &DomainUuid) {
        self.giving.locked().remove(uuid);
    }

    /// The UUID of a VM running here, by its market id.
    pub(crate) fn uuid_of(&self, vm: VmId) -> Option<String> {
        self.usage().uuid_of(vm)
    }

    fn hypervisor_error(&self, source: HypervisorError) -> AgentError {
        AgentError::Hypervisor {
            host: self.identity.name.clone(),
            source,
        }
    }

    pub(crate) fn resource_error(&self, source: ResourceError) -> AgentError {
        AgentError::Resources {
            host: self.identity.name.clone(),
            source,
        }
    }

    /// The host now: its running domains as VMs, its load average.
    pub(crate) async fn view(&self) -> Result<Host, AgentError> {
        let (domains, stats) = self.read_host().await?;
        Ok(self.host_from(&domains, &stats))
    }

    /// The domains and the host's figures, in one call to the hypervisor.
    async fn read_host(&self) -> Result<(Vec<DomainStats>, HostStats), AgentError> {
        blocking(&self.hypervisor, |h| Ok((h.domains()?, h.host_stats()?)))
            .await
            .map_err(|source| self.hypervisor_error(source))
    }

    /// The market's view of what the hypervisor said; holds for VMs that
    /// now run here, or whose time is up, end on the way.
    fn host_from(&self, domains: &[DomainStats], stats: &HostStats) -> Host {
        let usage = self.usage();
        let vms = domains
            .iter()
            .filter(|d| d.state.is_active())
            .map(|d| Vm {
                id: vm_id(&d.uuid),
                name: d.name.clone(),
                reserved: Resources::new(u64::from(d.vcpus) * 1000, d.memory_kib.div_ceil(1024), 0),
                used: usage.used(&d.uuid, d.memory_kib.div_ceil(1024)),
                group: d.group.clone(),
            })
            .collect();
        drop(usage);
        let running: std::collections::BTreeSet<DomainUuid> = domains
            .iter()
            .filter(|d| d.state.is_active())
            .map(|d| d.uuid.clone())
            .collect();
        self.holds()
            .expire(self.clock.now_ms(), |uuid| running.contains(uuid));
        Host {
            id: self.identity.id,
            name: self.identity.name.clone(),
            capacity: self.identity.capacity,
            vms,
            load_one: stats.load_average[0],
        }
    }

    /// The host with the VMs it holds room for counted as running (but
    /// `except`'s): what a new offer is priced against.
    pub(crate) async fn view_with_holds(
        &self,
        except: Option<&DomainUuid>,
    ) -> Result<Host, AgentError> {
        Ok(self.with_holds(self.view().await?, except))
    }

    /// `host` (a view of this host) with the VMs it holds room for
    /// counted as running (but `except`'s).
    pub(crate) fn with_holds(&self, mut host: Host, except: Option<&DomainUuid>) -> Host {
        host.vms.extend(self.holds().vms(except));
        host
    }

    /// Why a new VM with this UUID or name cannot be placed here, if it
    /// cannot: a domain with either is defined here (running or not), or
    /// room is held for one (an open offer, a VM on its way).
    pub(crate) async fn present(
        &self,
        uuid: &DomainUuid,
        name: &str,
    ) -> Result<Option<String>, AgentError> {
        let (domains, _) = self.read_host().await?;
        let here = self.identity.name.as_str();
        if let Some(d) = domains.iter().find(|d| &d.uuid == uuid || d.name == name) {
            return Ok(Some(format!(
                "domain {} ({}) is {:?} at {here}",
                d.name, d.uuid, d.state
            )));
        }
        if self.holds().holds_either(uuid, name) {
            return Ok(Some(format!(
                "{name} ({uuid}) is being placed or moved to {here}"
            )));
        }
        Ok(None)
    }

    /// Starts a VM this host won in a placement: its ledger records the
    /// placement before the domain is defined (`migration::placement`).
    pub(crate) async fn place(&self, terms: &TradeTerms, xml: &str) -> Result<Outcome, AgentError> {
        let events = self.events.as_ref();
        migration::placement::place(
            &self.ledger,
            &self.hypervisor,
            terms,
            xml,
            events,
            &self.carrying,
        )
        .await
        .map_err(|e| self.trade_error(terms.trade_id.as_str(), e))
    }

    /// Runs the migration workflow for `terms`, of which this host is the
    /// source: both ledgers record the terms before anything moves, and
    /// how it ended.
    pub(crate) async fn execute(&self, terms: &TradeTerms) -> Result<Outcome, AgentError> {
        let trade = terms.trade_id.as_str();
        let destination = self.peer_of(&terms.buyer, trade)?;
        let executor = Executor::new(
            self.ledger.clone(),
            Arc::clone(&self.hypervisor),
            destination,
            self.reach.method(&terms.buyer),
        );
        let executor = match &self.events {
            Some(events) => executor.publishing(events.clone()),
            None => executor,
        };
        let _held = self.carrying.hold(&terms.trade_id);
        executor
            .execute(terms)
            .await
            .map_err(|e| self.trade_error(trade, e))
    }

    /// How this host's workflow reaches `host`, for trade `trade`.
    fn peer_of(&self, host: &str, trade: &str) -> Result<PeerLink, AgentError> {
        self.reach
            .peer(host)
            .ok_or_else(|| self.trade_error(trade, TradeFailure::Unreachable(host.to_string())))
    }

    /// Trade `trade` of this host failed.
    pub(crate) fn trade_error(&self, trade: &str, source: impl Into<TradeFailure>) -> AgentError {
        AgentError::Trade {
            host: self.identity.name.clone(),
            trade: trade.to_string(),
            source: Box::new(source.into()),
        }
    }

    /// Calls off a leg of a trade this host is the source of and that did
    /// not move: rolled back in both ledgers (a leg that began to move is
    /// finished from where its VM is, as recovery does).
    pub(crate) async fn call_off_leg(
        &self,
        trade_id: &TradeId,
        buyer: &str,
        why: &str,
    ) -> Result<Option<Outcome>, AgentError> {
        let peer = self.peer_of(buyer, trade_id.as_str())?;
        migration::Recovery::new(self.ledger.clone(), Arc::clone(&self.hypervisor), peer)
            .call_off(trade_id, why)
            .await
            .map_err(|e| self.trade_error(trade_id.as_str(), e))
    }

    /// Carries out a trade this host sold: both ledgers record the terms
    /// before anything moves, the migration workflow moves the VM, and the
    /// ledgers record how it ended.
    pub(crate) async fn carry_out(&self, agreed: Agreed) -> Result<TradeReport, AgentError> {
        let terms = TradeTerms {
            interaction_id: agreed.trade_id.to_string(),
            trade_id: agreed.trade_id,
            kind: TradeKind::Migration,
            protocol: ProtocolRef {
                name: agreed.protocol.clone(),
                hash: agreed.model_hash.clone(),
            },
            seller: self.identity.name.clone(),
            buyer: agreed.buyer.clone(),
            vms: vec![VmRef {
                uuid: agreed.vm_uuid.clone(),
                name: agreed.vm_name.clone(),
            }],
            resources: agreed.reserved,
            price: agreed.price,
        };
        let outcome = self.execute(&terms).await?;
        tracing::info!(
            trade = %terms.trade_id, vm = %agreed.vm_name, from = %terms.seller, to = %terms.buyer,
            price = %terms.price, protocol = %agreed.protocol, ?outcome, "trade carried out"
        );
        Ok(TradeReport {
            trade_id: terms.trade_id,
            protocol: agreed.protocol,
            vm: agreed.vm_name,
            from: terms.seller,
            to: terms.buyer,
            price: terms.price,
            outcome,
        })
    }
}

/// A VM's market id from its domain UUID: the UUID's last 64 bits, the
/// same on every host (random in a version-4 UUID, so distinct in practice).
pub fn vm_id(uuid: &DomainUuid) -> VmId {
    let hex: String = uuid.as_str().chars().filter(|c| *c != '-').collect();
    let low = hex.get(16..).unwrap_or("0");
    VmId(u64::from_str_radix(low, 16).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_id_is_the_low_half_of_its_uuid() {
        let uuid = DomainUuid::parse("00000000-0000-4000-8000-00000000002a").unwrap();
        assert_eq!(vm_id(&uuid), VmId(0x8000_0000_0000_002a));
    }
}
