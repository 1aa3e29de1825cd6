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
//! What a host does in an interaction belongs to the kinds of its
//! protocols, behind one interface ([`kind`]): [`Agent::serve`] answers,
//! for every protocol, the role its kind answers, and
//! [`Agent::take_initiative`] starts the role its kind starts, by turn or
//! when the acting state calls for it ([`Initiates`]), trying the
//! protocols in the configured order until one trades. The agent names no
//! kind: `bidder::protocol` holds them.
//!
//! # What stays here
//!
//! The neutral work every protocol shares, which kinds reach through
//! [`HostContext`]: the host's view, capacity held for open offers
//! (`holds`), and carrying out an agreed trade
//! ([`HostContext::carry_out`]): the terms go into both ledgers before
//! anything moves, the migration workflow moves the VM, and credits settle
//! on success (docs/migration.md). How a host reaches the destination side
//! of another host's workflow is [`Reach`].

mod error;
mod holds;
mod host;
pub mod kind;
mod outcome;
mod protocol;
mod usage;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use market::events::HostStatus;
use market::host::Host;
use market::policy::Classification;
use market::policy::Policy;
use market::runtime::{self, Endpoint, Participant};
use tokio::task::JoinHandle;

use crate::events::Publisher;
use crate::hypervisor::Hypervisor;
use crate::migration;

pub use error::{AgentError, TradeFailure};
pub use host::{HostContext, Identity, Reach, vm_id};
pub use kind::{
    Initiates, Kind, KindPlay, KindSettings, NoSettings, Play, ProtocolKind, Role, Signature,
    read_settings,
};
pub use outcome::{Agreed, Initiative, Report, TradeReport};
pub use protocol::{ModelSource, Protocol, ProtocolConfig, ProtocolError};

use holds::Holds;
use usage::Usage;

/// Timing of the interactions an agent starts and plays, in milliseconds of
/// the peers' clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentConfig {
    /// How long an initiator waits for responders to join.
    pub recruit_ms: i64,
    /// How long responders have to answer a call.
    pub window_ms: i64,
    /// How long the winner has to report after it is accepted.
    pub grace_ms: i64,
    /// How long a winner holds the capacity of a VM it was awarded for the
    /// VM to arrive; a migration that takes longer is counted again only
    /// once the VM runs here.
    pub arrival_ms: i64,
    /// The trading period, in ms of the clock the host is sampled by: a
    /// kind that starts by turn numbers its turns by it, so every host of
    /// a zone must use the same.
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

/// One host's bidder: observes, classifies, trades.
pub struct Agent {
    host: Arc<HostContext>,
    peer: Endpoint,
    protocols: Vec<Protocol>,
    /// The host's part in each protocol's kind, index by index.
    plays: Vec<Arc<dyn KindPlay>>,
    /// The host's part in each kind it plays, once.
    kinds: Vec<Arc<dyn KindPlay>>,
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

impl Agent {
    /// An agent from its parts.
    pub fn new(parts: AgentParts) -> Agent {
        let hysteresis = parts.policy.stability().hysteresis();
        let host = Arc::new(HostContext {
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
            carrying: migration::carrying::Carrying::default(),
            sampled_ms: std::sync::atomic::AtomicI64::new(0),
        });
        let mut kinds: Vec<(Kind, Arc<dyn KindPlay>)> = Vec::new();
        let plays = parts
            .protocols
            .iter()
            .map(|protocol| {
                let kind = protocol.kind();
                if let Some((_, play)) = kinds.iter().find(|(k, _)| *k == kind) {
                    return Arc::clone(play);
                }
                let play = kind.join(Arc::clone(&host));
                kinds.push((kind, Arc::clone(&play)));
                play
            })
            .collect();
        Agent {
            host,
            peer: parts.peer,
            protocols: parts.protocols,
            plays,
            kinds: kinds.into_iter().map(|(_, play)| play).collect(),
        }
    }

    /// Each protocol with the host's part in its kind.
    fn played(&self) -> impl Iterator<Item = (&Protocol, &Arc<dyn KindPlay>)> {
        self.protocols.iter().zip(&self.plays)
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        self.host.identity.name.as_str()
    }

    /// The host's policy.
    pub fn policy(&self) -> &Policy {
        &self.host.policy
    }

    /// The host's ledger.
    pub fn ledger(&self) -> &market::ledger::Ledger {
        &self.host.ledger
    }

    /// The protocols it plays.
    pub fn protocols(&self) -> &[Protocol] {
        &self.protocols
    }

    /// What this host's roles carry out now, read live
    /// ([`migration::carrying`]): the trades and placements they carry
    /// out, and what its kinds hold ([`KindPlay::holds`]: legs of a trade
    /// still under way, which wait for their turn). Recovery leaves them
    /// be.
    pub fn in_hand(&self) -> migration::carrying::InHand {
        let host = Arc::clone(&self.host);
        let kinds = self.kinds.clone();
        migration::carrying::InHand::new(move |trade_id| {
            host.carrying.holds(trade_id) || kinds.iter().any(|k| k.holds(trade_id))
        })
    }

    /// How long a role this host plays may run at most: a trade it
    /// agreed longer ago than this, that no role holds, is one nobody
    /// will carry out any more.
    pub fn role_lifetime(&self) -> Duration {
        let ms = self.host.config.recruit_ms + self.role_span_ms();
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)) + Duration::from_secs(5)
    }

    /// The longest a role of any protocol it plays runs
    /// ([`KindPlay::span_ms`]).
    fn role_span_ms(&self) -> i64 {
        self.played()
            .map(|(protocol, play)| play.span_ms(protocol, &self.host.config))
            .max()
            .unwrap_or_default()
    }

    /// The host is stopping: it starts nothing new and plays what its
    /// kinds are in to its end ([`KindPlay::play_out`]), for a
    /// role's span at most, so that it leaves none of the legs it recorded
    /// agreed behind it. Call it before aborting the task [`Agent::serve`]
    /// returned.
    pub async fn play_out_rounds(&self) {
        // What it is in began before now: it ends within a role's span.
        let by_ms = self.host.now_ms().saturating_add(self.role_span_ms());
        let ended = futures::future::join_all(self.kinds.iter().map(|k| k.play_out(by_ms))).await;
        if ended.contains(&false) {
            tracing::warn!(host = %self.name(), "what it was playing did not end in time; what it recorded there is left to recovery");
        }
    }

    /// Starts answering invitations, for every protocol the role its kind
    /// answers; the task runs until the bus closes.
    pub async fn serve(&self) -> Result<JoinHandle<()>, AgentError> {
        let offers = self
            .played()
            .map(|(protocol, play)| runtime::Offer {
                model: protocol.model().clone(),
                role: protocol.kind().roles()[1].name.to_string(),
                components: play.respond(protocol),
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
        let (domains, stats) = self.host.read_host().await?;
        self.host.usage().sample(at_ms, &domains);
        self.host
            .sampled_ms
            .store(at_ms, std::sync::atomic::Ordering::Relaxed);
        let host = self.host.host_from(&domains, &stats);
        let observed = self
            .host
            .policy
            .classify_host(&host)
            .map_err(|source| self.host.resource_error(source))?;
        self.host.hysteresis().observe(observed);
        Ok(())
    }

    /// The status of the host now, for observers (`market watch`), for a
    /// host trading every `period_ms` in `publisher`'s zone. Reads the host
    /// once (domains and load) and asks the policy, as a sample does.
    pub async fn status(
        &self,
        publisher: &Publisher,
        period_ms: u64,
    ) -> Result<HostStatus, AgentError> {
        let host = self.view().await?;
        let policy = self.policy();
        let resource_error = |source| self.host.resource_error(source);
        let metrics = host.metrics().map_err(resource_error)?;
        let state = policy
            .state(&host, &metrics, None, None)
            .map_err(resource_error)?;
        Ok(HostStatus {
            host: publisher.host().clone(),
            zone: publisher.space().zone().clone(),
            class: policy.classify(&state),
            holding: self.is_holding(),
            load_one: host.load_one,
            reserved: metrics.reserved,
            used: metrics.used,
            capacity: host.capacity,
            vm_count: u32::try_from(metrics.vm_count).unwrap_or(u32::MAX),
            utility: policy.utility(&state),
            protocols: self.protocols.iter().map(|p| p.name().clone()).collect(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            period_ms,
            at_ms: publisher.now_ms(),
        })
    }

    /// The host as the market sees it now.
    pub async fn view(&self) -> Result<Host, AgentError> {
        self.host.view().await
    }

    /// Underloaded, satisfied or overloaded, now.
    pub async fn classify(&self) -> Result<Classification, AgentError> {
        let host = self.view().await?;
        self.host
            .policy
            .classify_host(&host)
            .map_err(|source| self.host.resource_error(source))
    }

    /// True while the host has seen a new state fewer than
    /// `hold_observations` samples in a row, or has just started and
    /// listens before it initiates ([`KindPlay::listening`]): it may act
    /// later without anything else changing.
    pub fn is_holding(&self) -> bool {
        self.host.hysteresis().pending().is_some() || self.kinds.iter().any(|k| k.listening())
    }

    /// Stage two: first the kinds that start by turn ([`Initiates::ByTurn`],
    /// when it is this host's), then the role each protocol's kind starts
    /// in the state the host acts on ([`Initiates::When`]), in the
    /// configured order, until one trades. A kind starts only when the acting state and the state
    /// now agree, so a host never acts on a state it has just left.
    pub async fn take_initiative(&self) -> Result<Initiative, AgentError> {
        let play = Play {
            host: &self.host,
            peer: &self.peer,
            config: &self.host.config,
        };
        let mut held = None;
        for (protocol, kind) in self
            .played()
            .filter(|(p, _)| p.kind().initiates() == Initiates::ByTurn)
        {
            match kind.initiate(&play, protocol).await? {
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
            let h = self.host.hysteresis();
            (h.acting(), h.pending())
        };
        let callers: Vec<_> = self
            .played()
            .filter(|(p, _)| acting == now && p.kind().initiates() == Initiates::When(acting))
            .collect();
        if callers.is_empty() {
            let starts = |class| {
                self.protocols
                    .iter()
                    .any(|p| p.kind().initiates() == Initiates::When(class))
            };
            return Ok(match pending {
                Some((class, seen)) if class == now && starts(class) => Initiative::Holding {
                    seen,
                    hold: self.host.policy.stability().hold_observations,
                },
                _ => Initiative::NothingToDo(acting),
            });
        }
        let mut last = Initiative::NoPeers;
        for (protocol, kind) in callers {
            let Some(round) = kind.initiate(play, protocol).await? else {
                continue;
            };
            if matches!(round, Initiative::Traded(_)) {
                return Ok(round);
            }
            last = round;
        }
        Ok(last)
    }
}
