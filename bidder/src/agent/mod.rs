//! The trading loop of one host: seed 002's two-stage pattern (figure 4.8)
//! with prices.
//!
//! # Stage one: observe and classify
//!
//! An [`Agent`] sees its host only through the [`Hypervisor`] trait: the
//! running domains (UUID, name, vCPUs, memory) and the host's load average.
//! A domain's measured use is the rate of its CPU time and interface bytes
//! between two [`Agent::sample`]s; a VM that has just arrived has no rate
//! yet, so until its second sample it is taken at the use its trade
//! announced. From that it builds the market's [`Host`] and asks its
//! [`Policy`] whether it is underloaded, satisfied or overloaded.
//!
//! # Stage two: interact
//!
//! - **Overloaded** ([`Agent::trade_as_manager`]): it offers the VM whose
//!   departure raises its utility most per unit of migration cost
//!   ([`Valuer::best_offer`], seed 002 section 6.1 rather than a random
//!   pick), recruits contractors over the bus (`market::runtime::recruit`)
//!   and plays `manager` of `models/contract-net.lcc`. The task it announces
//!   carries the VM's bundle and the most the manager pays to be rid of it
//!   (minus its ask), so a contractor never proposes a trade with negative
//!   surplus.
//! - **Every host** answers calls for proposals as `contractor`
//!   ([`Agent::serve`]): its price for the bundle is minus what taking it is
//!   worth under its own policy ([`Valuer::value_of_taking`]); a move its
//!   policy refuses (no room, anti-affinity) or that costs more than the
//!   manager pays is refused. The model awards the lowest price, which is
//!   the contractor that values the VM most.
//!
//! # After the award
//!
//! The winner's `perform` re-prices the bundle against its host as it is
//! now and commits (it will take the VM and expects its announced use); the
//! manager's `outcome(.., done)` then carries the trade out with
//! [`migration::Executor`]: the terms go into both ledgers before anything
//! moves, the domain is handed off to the winner's hypervisor, and credits
//! settle on success (docs/migration.md). The manager is the buyer of the
//! ledger's vocabulary (its VM leaves, it pays the price) and the winner the
//! seller.
//!
//! The components are in [`components`]; how a host reaches the destination
//! side of another host's workflow is [`Reach`].
//!
//! Interactions of one agent are not concurrent with each other: a
//! contractor prices against its current state and does not reserve
//! capacity between proposal and award, so callers run one interaction at a
//! time per zone (the simulation does) or accept that a host may be
//! awarded two VMs against one state.

pub mod components;
mod usage;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use lcc::term::Term;
use market::bus::BusError;
use market::credits::Credits;
use market::host::{Host, HostId};
use market::policy::{Classification, Policy};
use market::resources::{ResourceError, Resources};
use market::runtime::{self, InitiateError, Model, Participant, Peer, Recruitment};
use market::valuation::Valuer;
use market::vm::{Vm, VmId};
use tokio::task::JoinHandle;

use crate::hypervisor::{DomainUuid, Hypervisor, HypervisorError, blocking};
use crate::migration::{self, Destination, Method, PeerLink};

pub use components::Task;
use usage::Usage;

/// The role a host plays when it answers calls for proposals.
pub const CONTRACTOR: &str = "contractor";

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
}

impl Default for AgentConfig {
    /// Loopback and in-process buses answer in well under a millisecond;
    /// these leave room for a loaded test machine.
    fn default() -> Self {
        AgentConfig {
            recruit_ms: 50,
            window_ms: 500,
            grace_ms: 2_000,
        }
    }
}

impl AgentConfig {
    /// How long a contractor keeps a role instance before abandoning it.
    fn lifetime(&self) -> Duration {
        let ms = self.recruit_ms + self.window_ms + 2 * self.grace_ms;
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)) + Duration::from_secs(5)
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
    #[error("host {host}: contract-net: {source}")]
    Interaction {
        /// The host.
        host: String,
        /// What failed.
        source: InitiateError,
    },
    /// The contractor side could not subscribe to invitations.
    #[error("host {host}: cannot listen for calls for proposals: {source}")]
    Bus {
        /// The host.
        host: String,
        /// What failed.
        source: BusError,
    },
}

/// What one attempt to trade as manager came to.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerRound {
    /// The host is not overloaded: nothing to give away.
    NotOverloaded(Classification),
    /// Overloaded, but no VM's departure raises its utility.
    NothingToOffer,
    /// No peer joined the interaction.
    NoContractors,
    /// The interaction ended without a trade (no proposal, or the winner
    /// failed or fell silent), in the model's words.
    NoTrade {
        /// The VM offered.
        vm: String,
        /// `no_proposals`, `silent`, `failed(..)`.
        report: String,
    },
    /// A trade was agreed and carried out (or failed while moving).
    Traded(TradeReport),
}

/// One agreed trade as the manager saw it end.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeReport {
    /// The shared trade id.
    pub trade_id: String,
    /// The VM's domain name.
    pub vm: String,
    /// The host it left (the manager, buyer in the ledger).
    pub from: String,
    /// The host it went to (the winner, seller in the ledger).
    pub to: String,
    /// What the manager paid the winner (negative: what it was paid).
    pub price: Credits,
    /// How the migration workflow ended.
    pub outcome: migration::Outcome,
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

/// What the components and the loop share.
pub(crate) struct Inner {
    identity: Identity,
    policy: Policy,
    hypervisor: Arc<dyn Hypervisor>,
    ledger: market::ledger::Ledger,
    reach: Arc<dyn Reach>,
    usage: Mutex<Usage>,
}

/// One host's bidder: observes, classifies, trades.
pub struct Agent {
    inner: Arc<Inner>,
    peer: Peer,
    model: Model,
    config: AgentConfig,
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
    pub peer: Peer,
    /// The contract-net model it runs (`models/contract-net.lcc`).
    pub model: Model,
    /// How it reaches other hosts' migration workflow.
    pub reach: Arc<dyn Reach>,
    /// Interaction timing.
    pub config: AgentConfig,
}

impl Agent {
    /// An agent from its parts.
    pub fn new(parts: AgentParts) -> Agent {
        Agent {
            inner: Arc::new(Inner {
                identity: parts.identity,
                policy: parts.policy,
                hypervisor: parts.hypervisor,
                ledger: parts.ledger,
                reach: parts.reach,
                usage: Mutex::new(Usage::default()),
            }),
            peer: parts.peer,
            model: parts.model,
            config: parts.config,
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

    /// Starts answering calls for proposals as contractor; the task runs
    /// until the bus closes.
    pub async fn serve(&self) -> Result<JoinHandle<()>, AgentError> {
        let offer = runtime::Offer {
            model: self.model.clone(),
            role: CONTRACTOR.to_string(),
            components: components::contractor(Arc::clone(&self.inner)),
        };
        Participant::new(self.peer.clone(), vec![offer], self.config.lifetime())
            .start()
            .await
            .map_err(|source| AgentError::Bus {
                host: self.name().to_string(),
                source,
            })
    }

    /// Measures every running domain's use since the previous sample;
    /// `at_ms` is the host's clock (the simulated one in simulations).
    pub async fn sample(&self, at_ms: i64) -> Result<(), AgentError> {
        let domains = blocking(&self.inner.hypervisor, |h| h.domains())
            .await
            .map_err(|source| self.inner.hypervisor_error(source))?;
        self.inner.usage().sample(at_ms, &domains);
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

    /// Stage two for an overloaded host: offer the VM whose departure helps
    /// most in one contract-net interaction and carry out the trade.
    pub async fn trade_as_manager(&self) -> Result<ManagerRound, AgentError> {
        let host = self.view().await?;
        let inner = &self.inner;
        let class = inner
            .policy
            .classify_host(&host)
            .map_err(|source| inner.resource_error(source))?;
        if class != Classification::Overloaded {
            return Ok(ManagerRound::NotOverloaded(class));
        }
        let valuer =
            Valuer::new(&inner.policy, &host).map_err(|source| inner.resource_error(source))?;
        let Some(offer) = valuer.best_offer() else {
            return Ok(ManagerRound::NothingToOffer);
        };
        let Some(vm) = host.vm(offer.vm) else {
            return Ok(ManagerRound::NothingToOffer);
        };
        let task = Task {
            uuid: inner.usage().uuid_of(vm.id).unwrap_or_default(),
            name: vm.name.clone(),
            reserved: vm.reserved,
            used: vm.used,
            max_price: Credits(offer.ask.0.saturating_neg()),
        };
        tracing::info!(host = self.name(), vm = %vm.name, ask = %offer.ask, "overloaded: offering a VM");
        let recruitment = Recruitment {
            role: CONTRACTOR.to_string(),
            within_ms: self.config.recruit_ms,
        };
        let recruited = match runtime::recruit(&self.peer, &self.model, &recruitment).await {
            Ok(recruited) => recruited,
            Err(InitiateError::NotEnoughPlayers { .. }) => return Ok(ManagerRound::NoContractors),
            Err(source) => return Err(self.interaction_error(source)),
        };
        let ended = Arc::new(Mutex::new(None));
        let manager = components::manager(
            Arc::clone(inner),
            components::Agreement {
                interaction: recruited.interaction,
                protocol: self.model.name().to_string(),
            },
            Arc::clone(&ended),
        );
        let (window, grace) = (self.config.window_ms, self.config.grace_ms);
        let role = |contractors: Vec<Term>| {
            Term::apply(
                "manager",
                vec![
                    task.to_term(),
                    Term::list(contractors),
                    Term::Int(window),
                    Term::Int(grace),
                ],
            )
        };
        recruited
            .run(&self.peer, &self.model, role, &manager)
            .await
            .map_err(|source| self.interaction_error(source))?;
        let ended = ended
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        Ok(ended.unwrap_or(ManagerRound::NoTrade {
            vm: vm.name.clone(),
            report: "the interaction ended without an outcome".into(),
        }))
    }

    fn interaction_error(&self, source: InitiateError) -> AgentError {
        AgentError::Interaction {
            host: self.name().to_string(),
            source,
        }
    }
}

impl Inner {
    fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        // Usage is plain data replaced field by field; a panic elsewhere
        // cannot leave it half-written.
        self.usage
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn hypervisor_error(&self, source: HypervisorError) -> AgentError {
        AgentError::Hypervisor {
            host: self.identity.name.clone(),
            source,
        }
    }

    fn resource_error(&self, source: ResourceError) -> AgentError {
        AgentError::Resources {
            host: self.identity.name.clone(),
            source,
        }
    }

    /// The host now: its running domains as VMs, its load average.
    async fn view(&self) -> Result<Host, AgentError> {
        let (domains, stats) = blocking(&self.hypervisor, |h| Ok((h.domains()?, h.host_stats()?)))
            .await
            .map_err(|source| self.hypervisor_error(source))?;
        let usage = self.usage();
        let vms = domains
            .iter()
            .filter(|d| d.state.is_active())
            .map(|d| Vm {
                id: vm_id(&d.uuid),
                name: d.name.clone(),
                reserved: Resources::new(u64::from(d.vcpus) * 1000, d.memory_kib.div_ceil(1024), 0),
                used: usage.used(&d.uuid, d.memory_kib.div_ceil(1024)),
                group: None,
            })
            .collect();
        Ok(Host {
            id: self.identity.id,
            name: self.identity.name.clone(),
            capacity: self.identity.capacity,
            vms,
            load_one: stats.load_average[0],
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
