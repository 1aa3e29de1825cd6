//! `market simulate`: a cluster of simulated hosts trading VMs end to end.
//!
//! Every host gets what a real one has: a hypervisor (the simulated one,
//! [`world`]), a SQLite ledger file in the run directory, an endpoint on the
//! bus (the in-process `MemoryBus`, or a connection of its own to a NATS
//! server with [`Options::nats`]; every endpoint counted,
//! [`market::bus::CountingBus`]) and a [`bidder::agent::Agent`] with its policy. The
//! runner only drives time; the trading is the agents' own:
//!
//! ```text
//! warm up: advance the hosts' clocks twice, every agent samples its VMs
//! round r = 1..:
//!     the VMs that arrive at round r are placed, one call each, by the
//!         simulation as operator (as `market place` would): every host
//!         that plays placement quotes, the winner records and starts it
//!     for each host, in scenario order (or all at once with
//!         `concurrent = true`): if the state it acts on is overloaded,
//!         one call as manager in the first of its protocols that trades
//!         (the others answer as contractors); a trade moves the VM
//!         (hand-off) and the world moves its workload
//!     advance the clocks one tick; every agent samples (one observation
//!         for its policy's hysteresis)
//!     stop when a round made no trade, no host is still waiting out its
//!         hysteresis and no VM is still to arrive (nothing changes after it)
//! report: hosts before/after, trades, baselines, ledger audit, expectations
//! ```
//!
//! Interactions run one at a time unless the scenario says `concurrent`.
//! Two clocks: the hosts' clocks, which VM usage is measured against, are
//! simulated ticks; the protocols' deadlines and windows run on
//! [`Time::Simulated`] (tokio's clock, paused, moving only when every host
//! is idle) unless messages leave the process ([`Time::Wall`]). On
//! simulated time the same scenario gives the same report, whatever the
//! machine's load.
//!
//! Modules: [`scenario`] (the file format), [`world`], [`report`] (what a
//! run found and how it reads), [`plot`] (the SVG of every round).

pub mod plot;
pub mod report;
pub mod scenario;
pub mod world;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use bidder::agent::{
    Agent, AgentConfig, AgentError, AgentParts, Identity, Initiative, Reach, TradeReport,
};
use bidder::events::{self, Publisher};
use bidder::hypervisor::Hypervisor;
use bidder::migration::Destination;
use bidder::protocol::Initiates;
use bidder::protocol::placement::{self, CallTerms};
use bidder::protocol::terms::Task;
use lcc::interp::{Clock, TokioClock};
use market::bus::subject::{SubjectSpace, Token};
use market::bus::{Bus, BusError, CountingBus, MemoryBus, NatsBus, NatsConfig, Sent, Traffic};
use market::credits::Credits;
use market::ledger::{Durability, Ledger, LedgerError, LedgerOptions};
use market::mechanism::contract_net::AwardRule;
use market::policy::Classification;
use market::resources::Resources;
use market::runtime::{Endpoint, InteractionIds};
use market::time::OutsideWork;
use market::wire::WireLimits;

use self::report::{HostPoint, PlacementRecord, Report, RoundRecord, RoundTrade, Stop};
use self::scenario::Scenario;
use self::world::{SimVm, World, WorldError};

/// How to run a scenario.
#[derive(Clone)]
pub struct Options {
    /// Where the ledgers and the plot go; created, must be empty if it
    /// exists.
    pub run_dir: PathBuf,
    /// Interaction timing of every agent.
    pub agent: AgentConfig,
    /// Where the hosts publish their status and trades for observers
    /// (`market watch`): a NATS server for `market simulate --watch`;
    /// `None`, the run's own in-process bus.
    pub events: Option<Arc<dyn Bus>>,
    /// A pause after every round, so a person watching can follow.
    pub pace: Duration,
    /// Where the hosts' protocol messages go: `None`, the run's own
    /// in-process bus; a NATS server's URL, each host and each zone's
    /// operator over a connection of its own, as bidder daemons are
    /// (`market simulate --nats URL`).
    pub nats: Option<String>,
    /// What deadlines, windows and periods run on.
    pub time: Time,
}

/// The clock a run's LCC deadlines, windows and periods read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// tokio's clock, paused: it moves to the next deadline only when
    /// every host is idle (see [`market::time`]), so a window closes once
    /// every answer that will come has come, nothing waits on the wall
    /// clock, and the same scenario gives the same report on any machine.
    /// Needs a current-thread runtime, and every host's messages in this
    /// process: a NATS client keeps timers of its own that a paused clock
    /// would fire at once.
    Simulated,
    /// The wall clock, as daemons have: what a run over NATS (`--nats`) or
    /// watched (`--watch`) uses; its outcome can depend on the machine's
    /// load.
    Wall,
}

impl Time {
    /// Simulated, unless the run's messages or events leave the process.
    pub fn for_run(nats: Option<&str>, events: Option<&Arc<dyn Bus>>) -> Time {
        if nats.is_some() || events.is_some() {
            Time::Wall
        } else {
            Time::Simulated
        }
    }
}

/// Why a run could not be carried out (as opposed to a run whose
/// expectations failed, which is a [`Report`] that did not pass).
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// The run directory could not be prepared.
    #[error("run directory {path}: {reason}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A name cannot be used on the bus.
    #[error("{name:?} cannot be a bus name: {reason}")]
    BusName {
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A host could not connect to the NATS server of [`Options::nats`].
    #[error("{host} cannot connect to the NATS server: {source}")]
    Connect {
        /// The host.
        host: String,
        /// Why.
        source: BusError,
    },
    /// A ledger could not be opened or read.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A simulated host failed.
    #[error(transparent)]
    World(#[from] WorldError),
    /// An agent failed.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// An arriving VM's placement call could not run.
    #[error("placing {vm}: {reason}")]
    Placement {
        /// The VM.
        vm: String,
        /// Why.
        reason: String,
    },
    /// [`Time::Simulated`] was asked where it cannot hold.
    #[error("simulated time {0}; run on the wall clock (`Time::Wall`) instead")]
    Time(&'static str),
    /// The plot could not be written.
    #[error("cannot write the plot {path}: {source}")]
    Plot {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Reaches the destination side of a host in this process: its ledger and
/// hypervisor.
struct InProcess {
    hosts: BTreeMap<String, (Ledger, Arc<dyn Hypervisor>)>,
}

impl Reach for InProcess {
    fn destination(&self, host: &str) -> Option<Destination> {
        self.hosts
            .get(host)
            .map(|(ledger, hv)| Destination::new(ledger.clone(), Arc::clone(hv)))
    }
}

/// Runs `scenario`; `progress` hears about every round as it ends.
pub async fn run(
    scenario: &Scenario,
    options: &Options,
    mut progress: impl FnMut(&RoundRecord),
) -> Result<Report, SimulateError> {
    prepare_run_dir(&options.run_dir)?;
    let paused = PausedClock::for_run(options)?;
    let world = World::build(scenario)?;
    let published = Arc::new(Traffic::default());
    let hosts = start_agents(scenario, options, &world, &published).await?;
    let (agents, serving, operators) = (hosts.agents, hosts.serving, hosts.operators);
    let watched = Watched {
        publishers: hosts.publishers,
        period_ms: u64::from(scenario.spec.tick_seconds) * 1000,
    };
    let report = trade(
        scenario,
        options,
        &world,
        (&agents, &watched, &operators),
        &published,
        &mut progress,
    )
    .await;
    // Whatever is still queued for observers leaves before the run ends.
    for publisher in &watched.publishers {
        publisher.flush().await;
    }
    if let Some(bus) = &options.events
        && let Err(e) = bus.sync().await
    {
        tracing::warn!(error = %e, "the last events may not have left");
    }
    // Stop answering and close every ledger, so the files are complete for
    // the audit and for `market audit` whatever the run came to.
    for task in serving {
        task.abort();
    }
    for agent in &agents {
        agent.ledger().clone().close().await;
    }
    // The trading is over: the audit reads the files on real time (it
    // opens them afresh, and nothing of it holds a paused clock still).
    drop(paused);
    let mut report = report?;
    report.conclude(scenario).await?;
    Ok(report)
}

/// The rounds, then the report.
async fn trade(
    scenario: &Scenario,
    options: &Options,
    world: &World,
    (agents, watched, operators): (&[Agent], &Watched, &BTreeMap<String, Endpoint>),
    published: &Traffic,
    progress: &mut impl FnMut(&RoundRecord),
) -> Result<Report, SimulateError> {
    let tick = Duration::from_secs(u64::from(scenario.spec.tick_seconds));
    let tick_ms = i64::from(scenario.spec.tick_seconds) * 1000;
    let mut now_ms = 0;
    for _ in 0..2 {
        world.advance(tick)?;
        now_ms += tick_ms;
        sample_all(agents, now_ms).await?;
    }
    watched.publish(agents).await?;
    let mut history = vec![snapshot(0, agents, Vec::new(), Sent::default()).await?];
    let mut trades = Vec::new();
    let mut placements = Vec::new();
    let quiet_to_stop = quiet_rounds_to_stop(scenario);
    let mut quiet = 0;
    let stop = loop {
        let round = history.len() as u32;
        if round > scenario.spec.rounds {
            break Stop::RoundLimit;
        }
        let before = published.read();
        let placed = place_arrivals(round, scenario, world, operators, published).await?;
        let made = if scenario.spec.concurrent {
            concurrent_round(round, agents, world, published).await?
        } else {
            sequential_round(round, agents, world, published).await?
        };
        // A host still waiting out its hysteresis before this round's
        // sample may act after it: the run is not over.
        let waited = agents.iter().any(Agent::is_holding);
        world.advance(tick)?;
        now_ms += tick_ms;
        sample_all(agents, now_ms).await?;
        watched.publish(agents).await?;
        let traded = !made.is_empty() || !placed.is_empty();
        let to_arrive = world.vms.iter().any(|vm| vm.arrive > Some(round));
        let record = snapshot(round, agents, made.clone(), published.read() - before).await?;
        progress(&record);
        let overloaded = record
            .hosts
            .iter()
            .any(|h| h.class == Classification::Overloaded);
        history.push(record);
        trades.extend(made);
        placements.extend(placed);
        pause_for_watchers(options.pace).await;
        let waiting = waited || agents.iter().any(Agent::is_holding);
        quiet = if traded || waiting || to_arrive {
            0
        } else {
            quiet + 1
        };
        if quiet >= quiet_to_stop {
            break if overloaded {
                Stop::Stuck
            } else {
                Stop::Quiescent
            };
        }
    };
    let made = report::Made { trades, placements };
    report::assemble(scenario, options, world, agents, history, made, stop).await
}

/// How many rounds in a row without a trade end a run: one, when every
/// host calls as its state asks (a round without a trade leaves every
/// state, and so every call, as it was); two, when a host plays a kind
/// that starts by turn (a call market), whose next round is held by
/// another host and may clear what an empty one did not (an auctioneer
/// stopped; on the wall clock, a trader heard too late).
fn quiet_rounds_to_stop(scenario: &Scenario) -> u32 {
    let by_turn = scenario
        .protocols
        .iter()
        .flatten()
        .any(|p| p.kind().initiates() == Initiates::ByTurn);
    if by_turn { 2 } else { 1 }
}

/// Holds tokio's clock paused for a run on [`Time::Simulated`], and lets
/// it go again when the run ends, however it ends.
struct PausedClock;

impl PausedClock {
    fn for_run(options: &Options) -> Result<Option<PausedClock>, SimulateError> {
        if options.time == Time::Wall {
            return Ok(None);
        }
        if Time::for_run(options.nats.as_deref(), options.events.as_ref()) == Time::Wall {
            return Err(SimulateError::Time(
                "cannot carry messages through a NATS server",
            ));
        }
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        if flavor != tokio::runtime::RuntimeFlavor::CurrentThread {
            return Err(SimulateError::Time(
                "needs a current-thread runtime: other threads' work would look idle",
            ));
        }
        tokio::time::pause();
        Ok(Some(PausedClock))
    }
}

impl Drop for PausedClock {
    fn drop(&mut self) {
        tokio::time::resume();
    }
}

/// `--pace`: real time between rounds, so a person can follow. A blocking
/// wait keeps a paused clock still meanwhile.
async fn pause_for_watchers(pace: Duration) {
    if pace.is_zero() {
        return;
    }
    if let Err(e) = tokio::task::spawn_blocking(move || std::thread::sleep(pace)).await {
        tracing::warn!(error = %e, "the pause between rounds was cut short");
    }
}

/// Places the VMs that arrive at `round`, one call each, as the operator
/// of each VM's zone.
async fn place_arrivals(
    round: u32,
    scenario: &Scenario,
    world: &World,
    operators: &BTreeMap<String, Endpoint>,
    published: &Traffic,
) -> Result<Vec<PlacementRecord>, SimulateError> {
    let Some(protocol) = &scenario.placement else {
        return Ok(Vec::new());
    };
    let mut placed = Vec::new();
    for (index, vm) in world.vms.iter().enumerate() {
        if vm.arrive != Some(round) {
            continue;
        }
        let zone = scenario.arrival_zone(index);
        let operator = operators
            .get(zone)
            .ok_or_else(|| SimulateError::Placement {
                vm: vm.spec.name.clone(),
                reason: format!("no host is in zone {zone}"),
            })?;
        let start = published.read();
        let (task, domain) = arrival(vm);
        let call = placement::operate(operator, protocol, &task, &domain, CALL)
            .await
            .map_err(|e| SimulateError::Placement {
                vm: vm.spec.name.clone(),
                reason: e.to_string(),
            })?;
        world.follow_workloads()?;
        placed.push(PlacementRecord {
            round,
            messages: (published.read() - start).messages,
            call,
        });
    }
    Ok(placed)
}

/// A placement call of the simulation: loopback timing, as the agents'
/// own calls, and the default award rule.
pub(crate) const CALL: CallTerms = CallTerms {
    recruit_ms: 50,
    window_ms: 500,
    start_within_ms: 2_000,
    award: AwardRule::FirstPrice,
};

/// What an arriving VM is placed as: its task (any offer is accepted) and
/// its definition.
fn arrival(vm: &SimVm) -> (Task, String) {
    let task = placement::new_vm(&vm.spec, 0, Credits(i64::MIN));
    (task, vm.spec.to_xml("test"))
}

/// Each host in turn, each call counted on its own.
async fn sequential_round(
    round: u32,
    agents: &[Agent],
    world: &World,
    published: &Traffic,
) -> Result<Vec<RoundTrade>, SimulateError> {
    let mut made = Vec::new();
    for agent in agents {
        let start = published.read();
        let traded = traded(agent.take_initiative().await?);
        if !traded.is_empty() {
            world.follow_workloads()?;
        }
        let messages = (published.read() - start).messages;
        made.extend(traded.into_iter().map(|trade| RoundTrade {
            round,
            messages,
            trade,
        }));
    }
    Ok(made)
}

/// Every host's call at the same moment, as daemons whose periods line up
/// would make them: contractors answer several calls at once and hold
/// capacity for each offer. The calls share the round's messages, so each
/// trade reports the messages of the whole round.
async fn concurrent_round(
    round: u32,
    agents: &[Agent],
    world: &World,
    published: &Traffic,
) -> Result<Vec<RoundTrade>, SimulateError> {
    let start = published.read();
    let outcomes = futures::future::join_all(agents.iter().map(Agent::take_initiative)).await;
    let messages = (published.read() - start).messages;
    let mut made = Vec::new();
    for outcome in outcomes {
        made.extend(traded(outcome?).into_iter().map(|trade| RoundTrade {
            round,
            messages,
            trade,
        }));
    }
    if !made.is_empty() {
        world.follow_workloads()?;
    }
    Ok(made)
}

/// The zones at once, the hosts of each zone in turn: each of `zones` is
/// the agents of one zone, and its turn starts at host `first` (modulo the
/// zone's size) and wraps around, so that no host always calls first.
/// The trades made, zone by zone.
///
/// A zone's calls reach that zone only, so zones cannot meet; within a zone
/// one call ends before the next begins. On simulated time the round is
/// therefore the same every run: no call's outcome depends on the order in
/// which another call's ledgers answered, which hosts calling all at once
/// ([`concurrent_round`]) cannot promise.
pub(crate) async fn zoned_round(
    zones: &[&[Agent]],
    first: usize,
) -> Result<Vec<TradeReport>, SimulateError> {
    let turns = zones.iter().map(|zone| async move {
        let mut made = Vec::new();
        for k in 0..zone.len() {
            let agent = &zone[(first + k) % zone.len()];
            made.extend(traded(agent.take_initiative().await?));
        }
        Ok::<_, SimulateError>(made)
    });
    let mut made = Vec::new();
    for outcome in futures::future::join_all(turns).await {
        made.extend(outcome?);
    }
    Ok(made)
}

/// The trades an initiative made: one by a call, every leg of what a call
/// market cleared.
fn traded(outcome: Initiative) -> Vec<TradeReport> {
    match outcome {
        Initiative::Traded(trade) => vec![trade],
        Initiative::Cleared(trades) => trades,
        _ => Vec::new(),
    }
}

pub(crate) fn prepare_run_dir(path: &Path) -> Result<(), SimulateError> {
    let error = |reason: String| SimulateError::RunDir {
        path: path.to_path_buf(),
        reason,
    };
    std::fs::create_dir_all(path).map_err(|e| error(e.to_string()))?;
    let mut entries = std::fs::read_dir(path).map_err(|e| error(e.to_string()))?;
    if entries.next().is_some() {
        return Err(error(
            "is not empty: its ledgers would mix with this run's; choose another".into(),
        ));
    }
    Ok(())
}

/// The hosts of a run, trading.
pub(crate) struct Started {
    pub(crate) agents: Vec<Agent>,
    /// Each agent's task answering calls.
    pub(crate) serving: Vec<JoinHandle<()>>,
    /// Each host's events, in agent order.
    pub(crate) publishers: Vec<Publisher>,
    /// The endpoints arriving VMs are placed from, one per zone.
    pub(crate) operators: BTreeMap<String, Endpoint>,
}

/// What observers hear about the hosts: a status of each after every round.
struct Watched {
    publishers: Vec<Publisher>,
    /// A simulated tick, the hosts' trading period.
    period_ms: u64,
}

impl Watched {
    async fn publish(&self, agents: &[Agent]) -> Result<(), SimulateError> {
        for (agent, publisher) in agents.iter().zip(&self.publishers) {
            publisher.status(agent.status(publisher, self.period_ms).await?);
        }
        Ok(())
    }
}

/// Opens every host's ledger and starts its agent answering on the bus and
/// publishing its events.
pub(crate) async fn start_agents(
    scenario: &Scenario,
    options: &Options,
    world: &World,
    published: &Arc<Traffic>,
) -> Result<Started, SimulateError> {
    let ledger_options = LedgerOptions {
        // A simulation is rerun, not recovered after a power cut.
        durability: Durability::Normal,
        outside_work: match options.time {
            Time::Simulated => OutsideWork::tracked(),
            Time::Wall => OutsideWork::untracked(),
        },
        ..LedgerOptions::default()
    };
    let mut ledgers = Vec::new();
    let mut reach = InProcess {
        hosts: BTreeMap::new(),
    };
    for host in &world.hosts {
        let path = options.run_dir.join(format!("{}.ledger.sqlite", host.name));
        let ledger = Ledger::open(&path, &host.name, &ledger_options).await?;
        let hv: Arc<dyn Hypervisor> = host.hypervisor.clone();
        reach.hosts.insert(host.name.clone(), (ledger.clone(), hv));
        ledgers.push(ledger);
    }
    let reach: Arc<dyn Reach> = Arc::new(reach);
    // One clock for every host, read from the same origin. A clock made
    // per host would start when that host is made; on simulated time the
    // real seconds spent opening hundreds of ledgers do not move the
    // clock, so each later host would read ahead of the earlier ones by
    // them and find their `until` deadlines (an invitation's reply-by, a
    // fill's) already past.
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::system());
    let bus = MemoryBus::new();
    // Events are not counted: the messages per trade are the protocol's.
    let events_bus: Arc<dyn Bus> = match &options.events {
        Some(bus) => Arc::clone(bus),
        None => Arc::new(bus.clone()),
    };
    let mut started = Started {
        agents: Vec::new(),
        serving: Vec::new(),
        publishers: Vec::new(),
        operators: BTreeMap::new(),
    };
    for host in &scenario.spec.host {
        if started.operators.contains_key(host.zone()) {
            continue;
        }
        let operator = Endpoint {
            bus: Arc::new(CountingBus::new(
                endpoint(options, &bus, scenario::OPERATOR).await?,
                Arc::clone(published),
            )),
            space: SubjectSpace::in_zone(bus_name(host.zone())?),
            me: bus_name(scenario::OPERATOR)?,
            clock: Arc::clone(&clock),
            limits: WireLimits::default(),
            ids: InteractionIds::counted(),
        };
        started.operators.insert(host.zone().to_string(), operator);
    }
    for (((spec, policy), protocols), (host, ledger)) in scenario
        .spec
        .host
        .iter()
        .zip(&scenario.policies)
        .zip(&scenario.protocols)
        .zip(world.hosts.iter().zip(ledgers))
    {
        let me = bus_name(&spec.name)?;
        let space = SubjectSpace::in_zone(bus_name(spec.zone())?);
        let endpoint = CountingBus::new(
            endpoint(options, &bus, &spec.name).await?,
            Arc::clone(published),
        );
        let publisher = Publisher::start(
            Arc::clone(&events_bus),
            space.clone(),
            me.clone(),
            Arc::clone(&clock),
            events::DEFAULT_QUEUE,
        );
        let agent = Agent::new(AgentParts {
            identity: Identity {
                name: me.clone(),
                capacity: Resources::new(
                    u64::from(spec.cpus) * 1000,
                    spec.memory_mib,
                    spec.network_mbps,
                ),
            },
            policy: policy.clone(),
            hypervisor: host.hypervisor.clone(),
            ledger,
            peer: Endpoint {
                bus: Arc::new(endpoint),
                space: space.clone(),
                me,
                clock: Arc::clone(&clock),
                limits: WireLimits::default(),
                ids: InteractionIds::counted(),
            },
            protocols: protocols.clone(),
            reach: Arc::clone(&reach),
            // The hosts are sampled once a simulated tick: their period.
            config: AgentConfig {
                period_ms: i64::from(scenario.spec.tick_seconds) * 1000,
                ..options.agent
            },
            events: Some(publisher.clone()),
        });
        started.serving.push(agent.serve().await?);
        started.agents.push(agent);
        started.publishers.push(publisher);
    }
    Ok(started)
}

/// Host `host`'s way onto the bus: the run's in-process `bus`, or its own
/// connection to the NATS server of [`Options::nats`].
async fn endpoint(
    options: &Options,
    bus: &MemoryBus,
    host: &str,
) -> Result<Arc<dyn Bus>, SimulateError> {
    let Some(url) = &options.nats else {
        return Ok(Arc::new(bus.clone()));
    };
    let config = NatsConfig::new([url.as_str()], &format!("simulate-{host}"));
    let nats = NatsBus::connect(&config)
        .await
        .map_err(|source| SimulateError::Connect {
            host: host.to_string(),
            source,
        })?;
    Ok(Arc::new(nats))
}

/// `name` as a bus token (the scenario checked host names already).
fn bus_name(name: &str) -> Result<Token, SimulateError> {
    Token::new(name).map_err(|e| SimulateError::BusName {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) async fn sample_all(agents: &[Agent], now_ms: i64) -> Result<(), SimulateError> {
    for agent in agents {
        agent.sample(now_ms).await?;
    }
    Ok(())
}

/// Every host as its agent sees it at the end of a round.
async fn snapshot(
    round: u32,
    agents: &[Agent],
    trades: Vec<RoundTrade>,
    sent: Sent,
) -> Result<RoundRecord, SimulateError> {
    let mut hosts = Vec::new();
    for agent in agents {
        let host = agent.view().await?;
        hosts.push(HostPoint {
            name: host.name.clone(),
            vms: host.vms.iter().map(|vm| vm.name.clone()).collect(),
            load: host.load_one,
            memory_mib: host.vms.iter().map(|vm| vm.reserved.memory_mib).sum(),
            class: agent.classify().await?,
        });
    }
    Ok(RoundRecord {
        round,
        hosts,
        trades,
        messages: sent.messages,
        bytes: sent.bytes,
    })
}
