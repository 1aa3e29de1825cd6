//! The per-host daemon (`bidder --config host.toml`): everything a host
//! needs to trade, assembled from the library's parts and run until told to
//! stop.
//!
//! ```text
//! config: the protocols it plays are read and checked with the
//!         configuration (bidder::protocol::config)
//! start:  /metrics (if configured) -> policy -> libvirt -> ledger -> bus
//!         -> answer migration requests (DestinationService)
//!         -> crash recovery of the trades this host is the source of,
//!            and of the placements it was starting
//!         -> a first sample (a domain it cannot read stops it here)
//!         -> answer every protocol's calls (contract-net: contractor)
//! every period: recovery of anything left unfinished (the host does not
//!         trade as manager while a trade of its own is unresolved),
//!         sample (one observation for the policy's hysteresis), then
//!         Agent::take_initiative: a call-market round when it is this
//!         host's turn, and the initiating role of each protocol whose kind
//!         starts in the state it acts on (contract net when overloaded,
//!         the reverse call when underloaded), in order, until one trades;
//!         what is agreed is carried out by the migration workflow
//! stop:   (SIGTERM, ctrl-c) a recovery under way, at start or in a
//!         period, is cut short (the next start finishes it); the round
//!         in hand, the
//!         call-market round it trades in (it joins no other) and the
//!         migration request in hand finish; then the daemon leaves the
//!         bus and closes its ledger
//! ```
//!
//! Every other host is another process: the workflow reaches it through
//! [`BusPeer`] (a [`Reach`] that returns [`PeerLink::Bus`]).

pub mod check;
pub mod config;
mod endpoint;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lcc::interp::{Clock, TokioClock};
use market::bus::subject::Token;
use market::bus::{Bus, BusError, NatsBus};
use market::ledger::{Ledger, LedgerError, LedgerOptions, Side, TradeKind, TradeState};
use market::policy::Policy;
use market::runtime::{Endpoint, InteractionIds};
use market::wire::WireLimits;
use tokio::sync::watch;

pub use config::{ConfigError, DaemonConfig, Events, Migration};

use crate::agent::{Agent, AgentError, AgentParts, Identity, Initiative, Reach, TradeReport};
use crate::events::Publisher;
use crate::hypervisor::libvirt::LibvirtHypervisor;
use crate::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use crate::hypervisor::{Hypervisor, HypervisorError};
use crate::migration::Recovery;
use crate::migration::carrying::InHand;
use crate::migration::recovery::{self, Resolution};
use crate::migration::{
    self, BusPeer, CallPolicy, Destination, DestinationService, Method, Outcome, PeerLink,
};

/// Why the daemon could not start (once it runs, failures are logged and
/// the next period tries again).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The policy file could not be read or is not a policy.
    #[error("policy {path}: {reason}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// libvirt could not be reached.
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    /// The ledger could not be opened.
    #[error("ledger {path}: {source}")]
    Ledger {
        /// The file.
        path: PathBuf,
        /// Why.
        source: LedgerError,
    },
    /// The bus could not be reached or subscribed to.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The metrics endpoint could not start.
    #[error("metrics endpoint on {address}: {reason}")]
    Metrics {
        /// The address.
        address: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The agent could not start serving.
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// Other hosts are other processes: reached over the bus.
struct BusReach {
    endpoint: Endpoint,
    calls: CallPolicy,
    migration: Migration,
}

impl Reach for BusReach {
    /// No destination lives in this process.
    fn destination(&self, _host: &str) -> Option<Destination> {
        None
    }

    fn peer(&self, host: &str) -> Option<PeerLink> {
        let to = Token::new(host).ok()?;
        Some(PeerLink::Bus(BusPeer::new(
            self.endpoint.clone(),
            to,
            self.calls,
        )))
    }

    fn method(&self, host: &str) -> Method {
        self.migration.to(host)
    }
}

/// What the loop works with.
struct Running {
    agent: Agent,
    ledger: Ledger,
    hypervisor: Arc<dyn Hypervisor>,
    reach: Arc<BusReach>,
    clock: Arc<dyn Clock>,
    /// Where the host's status and trades go, if it publishes them.
    events: Option<Publisher>,
    /// The trading period, which every status names.
    period: std::time::Duration,
}

/// Runs the daemon until `shutdown` resolves (see the module
/// documentation).
pub async fn run(
    config: DaemonConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DaemonError> {
    tokio::pin!(shutdown);
    if let Some(address) = config.metrics_listen {
        endpoint::serve(address)?;
    }
    let policy = load_policy(&config.policy)?;
    let (hypervisor, ledger) = open_host(&config).await?;
    let bus: Arc<dyn Bus> = Arc::new(NatsBus::connect(&config.nats).await?);
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::system());
    let endpoint = Endpoint {
        bus: Arc::clone(&bus),
        space: config.space.clone(),
        me: config.host.clone(),
        clock: Arc::clone(&clock),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    };
    let events = config
        .events
        .as_ref()
        .map(|e| start_events(e, &config, &bus, &clock));
    let (stop, stopped) = watch::channel(false);
    let service = DestinationService::new(
        endpoint.clone(),
        Destination::new(ledger.clone(), Arc::clone(&hypervisor)),
        ledger.clone(),
    )
    .start(stopped)
    .await?;
    let reach = Arc::new(BusReach {
        endpoint,
        calls: config.calls,
        migration: config.migration.clone(),
    });
    // Recovery at start may wait on a peer that does not answer: a stop
    // asked for meanwhile cuts it short, as it does a period's.
    let nothing_in_hand = InHand::nothing();
    let recovery = recover(
        &ledger,
        &hypervisor,
        reach.as_ref(),
        events.as_ref(),
        &nothing_in_hand,
    );
    let recovered = tokio::select! {
        biased;
        () = &mut shutdown => false,
        _ = recovery => true,
    };
    if !recovered {
        tracing::info!(host = %config.host, "stopping before it traded");
        leave(stop, service, events.as_ref(), bus.as_ref(), ledger).await;
        return Ok(());
    }
    let running = Running {
        agent: agent(
            &config,
            policy,
            &hypervisor,
            &ledger,
            &reach.endpoint,
            &reach,
            events.clone(),
        )?,
        ledger,
        hypervisor,
        reach,
        clock,
        events,
        period: config.period(),
    };
    // The first look at the host must succeed: a domain whose definition
    // the market cannot read (say a placement group that is not a valid
    // name) stops the daemon before it trades, naming the domain.
    running.agent.sample(running.clock.now_ms()).await?;
    running.publish_status().await;
    let contractor = running.agent.serve().await?;
    tracing::info!(host = %config.host, zone = %config.space.zone(), period = ?config.period(), "bidder ready");
    running.trade(config.period(), &mut shutdown).await;
    tracing::info!(host = %config.host, "stopping");
    // A call-market round it trades in is played out first: cut short, it
    // would leave the legs it recorded agreed (in its peers' ledgers too).
    running.agent.play_out_rounds().await;
    contractor.abort();
    leave(
        stop,
        service,
        running.events.as_ref(),
        bus.as_ref(),
        running.ledger,
    )
    .await;
    Ok(())
}

/// The end of every stop: the migration request in hand is finished before
/// the service returns, the last events and messages leave (unless the
/// bus is stuck), and the ledger closes.
async fn leave(
    stop: watch::Sender<bool>,
    service: tokio::task::JoinHandle<()>,
    events: Option<&Publisher>,
    bus: &dyn Bus,
    ledger: Ledger,
) {
    let _ = stop.send(true);
    if let Err(e) = service.await {
        tracing::warn!(error = %e, "the migration service ended abnormally");
    }
    if let Some(events) = events {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), events.flush()).await;
    }
    if let Err(e) = bus.sync().await {
        tracing::warn!(error = %e, "last messages may not have left");
    }
    ledger.close().await;
}

/// This host's hypervisor and its ledger.
async fn open_host(config: &DaemonConfig) -> Result<(Arc<dyn Hypervisor>, Ledger), DaemonError> {
    let hypervisor = open_hypervisor(config).await?;
    let ledger = Ledger::open(
        &config.ledger,
        config.host.as_str(),
        &LedgerOptions::default(),
    )
    .await
    .map_err(|source| DaemonError::Ledger {
        path: config.ledger.clone(),
        source,
    })?;
    Ok((hypervisor, ledger))
}

/// This host's libvirt connection, or a simulated host whose clock follows
/// the wall clock (its state file created when missing).
async fn open_hypervisor(config: &DaemonConfig) -> Result<Arc<dyn Hypervisor>, HypervisorError> {
    let (host, uri) = (config.host.to_string(), config.hypervisor.clone());
    let capacity = Capacity {
        cpus: u32::try_from(config.capacity.cpu_millicores / 1000).unwrap_or(u32::MAX),
        memory_mib: config.capacity.memory_mib,
    };
    tokio::task::spawn_blocking(move || {
        Ok::<Arc<dyn Hypervisor>, HypervisorError>(match config::simulated_state(&uri) {
            Some(path) => Arc::new(
                SimulatedHypervisor::open(std::path::Path::new(path), &host, capacity)?
                    .following_wall_clock(),
            ),
            None => Arc::new(LibvirtHypervisor::connect(&host, &uri)?),
        })
    })
    .await
    .map_err(|e| HypervisorError::Task(e.to_string()))?
}

/// The host's agent, playing the configured protocols.
fn agent(
    config: &DaemonConfig,
    policy: Policy,
    hypervisor: &Arc<dyn Hypervisor>,
    ledger: &Ledger,
    peer: &Endpoint,
    reach: &Arc<BusReach>,
    events: Option<Publisher>,
) -> Result<Agent, DaemonError> {
    Ok(Agent::new(AgentParts {
        identity: Identity {
            name: config.host.clone(),
            capacity: config.capacity,
        },
        policy,
        hypervisor: Arc::clone(hypervisor),
        ledger: ledger.clone(),
        peer: peer.clone(),
        protocols: config.protocols.clone(),
        reach: Arc::clone(reach) as Arc<dyn Reach>,
        config: config.agent,
        events,
    }))
}

/// Starts publishing the host's events, on the trading connection or on
/// one of their own.
fn start_events(
    events: &config::Events,
    config: &DaemonConfig,
    bus: &Arc<dyn Bus>,
    clock: &Arc<dyn Clock>,
) -> Publisher {
    let (space, me, clock) = (config.space.clone(), config.host.clone(), Arc::clone(clock));
    match &events.nats {
        None => Publisher::start(Arc::clone(bus), space, me, clock, events.queue),
        Some(nats) => Publisher::connect(nats.clone(), space, me, clock, events.queue),
    }
}

impl Running {
    /// Runs a round every `period` until `shutdown` (the host was sampled
    /// once at start); a round in hand is finished first.
    async fn trade(&self, period: std::time::Duration, shutdown: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => return,
                _ = ticks.tick() => {}
            }
            // Catching up may wait on a peer that does not answer (stopped,
            // cut off) for all its calls' attempts: a stop does not wait for
            // it. Recovery may be interrupted anywhere; what it leaves, the
            // next start finishes (found by `market chaos`).
            let caught_up = tokio::select! {
                biased;
                () = &mut shutdown => return,
                caught_up = self.catch_up() => caught_up,
            };
            if caught_up {
                self.round().await;
            }
        }
    }

    /// Finishes what is unfinished: the trades this host is the source of,
    /// and those it bought that nobody will carry out. False when one is
    /// left that keeps the host from trading as initiator.
    async fn catch_up(&self) -> bool {
        let in_hand = self.agent.in_hand();
        if !recover(
            &self.ledger,
            &self.hypervisor,
            self.reach.as_ref(),
            self.events.as_ref(),
            &in_hand,
        )
        .await
        {
            return false;
        }
        self.end_unrecorded_purchases(&in_hand).await;
        true
    }

    /// One period's trading: measure, and start what the host's state
    /// asks for. The round in hand finishes even when a stop is asked for.
    async fn round(&self) {
        if let Err(e) = self.agent.sample(self.clock.now_ms()).await {
            tracing::warn!(error = %e, "cannot sample the host");
            return;
        }
        self.publish_status().await;
        let outcome = match self.agent.take_initiative().await {
            Ok(round) => {
                log_round(&round);
                round_label(&round)
            }
            Err(e) => {
                tracing::warn!(error = %e, "manager round failed");
                "error"
            }
        };
        metrics::counter!("bourse_initiatives_total", "outcome" => outcome).increment(1);
    }
}

impl Running {
    /// Queues the host's status for observers (never waits for the bus).
    async fn publish_status(&self) {
        let Some(events) = &self.events else {
            return;
        };
        let period_ms = u64::try_from(self.period.as_millis()).unwrap_or(u64::MAX);
        match self.agent.status(events, period_ms).await {
            Ok(status) => events.status(status),
            Err(e) => tracing::warn!(error = %e, "cannot read the host's status"),
        }
    }
}

fn log_round(round: &Initiative) {
    match round {
        Initiative::NothingToDo(class) => tracing::debug!(?class, "nothing to do"),
        Initiative::Holding { seen, hold } => {
            tracing::info!(seen, hold, "a new state, waiting for it to hold");
        }
        Initiative::Traded(trade) => log_trade(trade, "traded as initiator"),
        Initiative::Cleared(trades) if !trades.is_empty() => {
            for trade in trades {
                log_trade(trade, "traded in the call market it held");
            }
        }
        other => tracing::info!(round = ?other, "no trade this period"),
    }
}

fn log_trade(trade: &TradeReport, what: &str) {
    tracing::info!(
        trade = %trade.trade_id, vm = %trade.vm, from = %trade.seller, to = %trade.buyer,
        price = %trade.price, outcome = ?trade.outcome, "{what}"
    );
}

/// The `outcome` label of `bourse_initiatives_total`.
fn round_label(round: &Initiative) -> &'static str {
    match round {
        Initiative::Cleared(trades) if trades.is_empty() => "no_trade",
        Initiative::Cleared(trades) => {
            if trades.iter().all(|t| t.outcome == Outcome::Settled) {
                "settled"
            } else {
                "failed"
            }
        }
        Initiative::NothingToDo(_) => "nothing_to_do",
        Initiative::Holding { .. } => "holding",
        Initiative::NothingToOffer => "nothing_to_offer",
        Initiative::NoPeers => "no_peers",
        Initiative::NoTrade { .. } => "no_trade",
        Initiative::Traded(trade) => match trade.outcome {
            Outcome::Settled => "settled",
            Outcome::Failed { .. } => "failed",
            Outcome::RolledBack { .. } => "rolled_back",
        },
    }
}

/// Crash recovery (`crate::migration::recovery`) of every unfinished
/// trade this host is the source of, destination by destination, and of
/// every placement, but those `in_hand` holds when recovery comes to them
/// (a live role carries them out: a trade or placement being carried out,
/// a leg of a call-market round still under way). True when none is
/// left: only then does the host trade as manager, so a VM whose trade is
/// unresolved is never offered again.
async fn recover(
    ledger: &Ledger,
    hypervisor: &Arc<dyn Hypervisor>,
    reach: &dyn Reach,
    events: Option<&Publisher>,
    in_hand: &InHand,
) -> bool {
    let unfinished = match ledger.unfinished_trades().await {
        Ok(trades) => trades,
        Err(e) => {
            tracing::error!(error = %e, "cannot read unfinished trades");
            return false;
        }
    };
    let mut clear = true;
    let placing = unfinished
        .iter()
        .any(|t| t.terms.kind == TradeKind::Placement);
    if placing {
        match crate::migration::placement::recover(ledger, hypervisor, in_hand).await {
            Ok(resolved) => report_recovered(ledger, events, "(placement)", resolved).await,
            Err(e) => {
                tracing::error!(error = %e, "recovery of a placement did not finish; no trading as manager until it does");
                clear = false;
            }
        }
    }
    let destinations: BTreeSet<&str> = unfinished
        .iter()
        .filter(|t| t.our_side == Side::Seller)
        .map(|t| t.terms.destination())
        .collect();
    for destination in destinations {
        let Some(peer) = reach.peer(destination) else {
            tracing::error!(
                destination,
                "unfinished trades with a host that is not a valid bus name"
            );
            clear = false;
            continue;
        };
        match Recovery::new(ledger.clone(), Arc::clone(hypervisor), peer)
            .sparing(in_hand.clone())
            .run()
            .await
        {
            Ok(resolved) => report_recovered(ledger, events, destination, resolved).await,
            Err(e) => {
                tracing::error!(destination, error = %e, "recovery did not finish; no trading as manager until it does");
                clear = false;
            }
        }
    }
    clear
}

impl Running {
    /// The buyer's part of recovery: every trade this host is the buyer
    /// of, still agreed longer than any role runs and held by none, is
    /// put to its seller, and ended as the seller ended it
    /// ([`recovery::end_unrecorded_purchase`]). Recovery is otherwise the
    /// seller's; this ends the trades a seller never recorded.
    async fn end_unrecorded_purchases(&self, in_hand: &InHand) {
        let unfinished = match self.ledger.unfinished_trades().await {
            Ok(trades) => trades,
            Err(e) => {
                tracing::error!(error = %e, "cannot read unfinished trades");
                return;
            }
        };
        let lifetime = i64::try_from(self.agent.role_lifetime().as_millis()).unwrap_or(i64::MAX);
        let before = self.clock.now_ms().saturating_sub(lifetime);
        let stale = unfinished.iter().filter(|t| {
            t.our_side == Side::Buyer
                && t.state == TradeState::Agreed
                && t.terms.kind == TradeKind::Migration
                && t.agreed_at_ms < before
                && !in_hand.holds(&t.terms.trade_id)
        });
        for trade in stale {
            let seller = trade.terms.seller.as_str();
            let Some(peer) = self.reach.peer(seller) else {
                tracing::error!(
                    seller,
                    "a trade bought from a host that is not a valid bus name"
                );
                continue;
            };
            match recovery::end_unrecorded_purchase(&self.ledger, &peer, trade).await {
                Ok(Some(outcome)) => {
                    let resolved = vec![Resolution {
                        trade_id: trade.terms.trade_id.clone(),
                        outcome,
                    }];
                    report_recovered(&self.ledger, self.events.as_ref(), seller, resolved).await;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(trade = %trade.terms.trade_id, seller, error = %e, "cannot ask the seller how a trade bought from it ended; asking again next period");
                }
            }
        }
    }
}

/// Counts, logs and publishes the trades recovery finished with `peer`
/// (the other party of each).
async fn report_recovered(
    ledger: &Ledger,
    events: Option<&Publisher>,
    peer: &str,
    resolved: Vec<Resolution>,
) {
    for r in resolved {
        let label = match r.outcome {
            Outcome::Settled => "settled",
            Outcome::Failed { .. } => "failed",
            Outcome::RolledBack { .. } => "rolled_back",
        };
        metrics::counter!("bourse_recovered_trades_total", "outcome" => label).increment(1);
        tracing::info!(trade = %r.trade_id, peer, outcome = ?r.outcome, "unfinished trade recovered");
        if let Some(events) = events {
            migration::recovered(events, ledger, &r).await;
        }
    }
}

fn load_policy(path: &Path) -> Result<Policy, DaemonError> {
    let error = |reason: String| DaemonError::Policy {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    Policy::from_toml(&text).map_err(|e| error(e.to_string()))
}
