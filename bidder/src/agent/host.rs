//! What a host offers the protocol kinds it plays ([`HostContext`]): its
//! view (the running domains as the market's VMs, with the room it holds
//! for open offers), pricing under one lock, the VMs it is giving, and
//! carrying out what they agree (the migration workflow, placements,
//! calling a leg off).

use std::sync::{Arc, Mutex};

use lcc::interp::Clock;
use lcc::sync::Locked;
use market::bus::subject::HostName;
use market::host::{Host, HostId};
use market::ledger::{ProtocolRef, TradeId, TradeKind, TradeTerms, VmRef};
use market::policy::Policy;
use market::policy::stability::Hysteresis;
use market::resources::{ResourceError, Resources};
use market::vm::{Vm, VmId};

use super::holds::Holds;
use super::usage::Usage;
use super::{AgentConfig, AgentError, Agreed, TradeFailure, TradeReport};
use crate::events::Publisher;
use crate::hypervisor::{
    DomainStats, DomainUuid, HostStats, Hypervisor, HypervisorError, blocking,
};
use crate::migration::{self, Destination, Executor, Method, Outcome, PeerLink};

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

/// Who a host is on the market.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Its name, unique in the zone: its bus name, ledger owner and
    /// hypervisor host.
    pub name: HostName,
    /// What the hardware offers (the policy may keep headroom free).
    pub capacity: Resources,
}

/// One host as the kinds it plays see it: shared by its roles and its
/// trading loop.
pub struct HostContext {
    pub(super) identity: Identity,
    pub(super) policy: Policy,
    pub(super) hypervisor: Arc<dyn Hypervisor>,
    pub(super) ledger: market::ledger::Ledger,
    pub(super) reach: Arc<dyn Reach>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) config: AgentConfig,
    pub(super) events: Option<Publisher>,
    pub(super) usage: Mutex<Usage>,
    pub(super) holds: Mutex<Holds>,
    /// VMs offered, in someone's call or this host's own, and not yet
    /// handed over or withdrawn: not offered again
    /// meanwhile, so no VM is sold twice.
    pub(super) giving: Mutex<std::collections::BTreeSet<DomainUuid>>,
    pub(super) hysteresis: Mutex<Hysteresis>,
    /// Serialises pricing with holding, so two offers never both count
    /// the same free room.
    pub(super) pricing: tokio::sync::Mutex<()>,
    /// The trades and placements it carries out now, which recovery
    /// leaves alone.
    pub(super) carrying: migration::carrying::Carrying,
    /// The host's clock at its last sample: what periods are counted by.
    pub(super) sampled_ms: std::sync::atomic::AtomicI64,
}

impl HostContext {
    pub(super) fn usage(&self) -> std::sync::MutexGuard<'_, Usage> {
        // Usage is plain data replaced field by field; a panic elsewhere
        // cannot leave it half-written.
        self.usage.locked()
    }

    pub(super) fn holds(&self) -> std::sync::MutexGuard<'_, Holds> {
        // One map insert or remove at a time: never half-written.
        self.holds.locked()
    }

    pub(super) fn hysteresis(&self) -> std::sync::MutexGuard<'_, Hysteresis> {
        // Plain counters, replaced whole.
        self.hysteresis.locked()
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        self.identity.name.as_str()
    }

    /// The host's ledger.
    pub fn ledger(&self) -> &market::ledger::Ledger {
        &self.ledger
    }

    /// The peers' clock now.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Resolves when `at_ms` of the peers' clock has come.
    pub fn sleep_until(&self, at_ms: i64) -> lcc::interp::Sleep {
        self.clock.sleep_until(at_ms)
    }

    /// The trading period the host was last sampled in.
    pub fn period(&self) -> u64 {
        let at = self.sampled_ms.load(std::sync::atomic::Ordering::Relaxed);
        u64::try_from(at / self.config.period_ms.max(1)).unwrap_or_default()
    }

    /// The host's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Held while pricing an offer and recording its hold.
    pub async fn pricing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.pricing.lock().await
    }

    /// Holds room for `vm` until `until_ms` of the peers' clock.
    pub fn hold(&self, uuid: DomainUuid, vm: Vm, until_ms: i64) {
        self.holds().hold(uuid, vm, until_ms);
    }

    /// Holds room for an awarded `vm` until it runs here, or at most
    /// `arrival_ms`.
    pub fn hold_until_arrival(&self, uuid: DomainUuid, vm: Vm) {
        let until = self.clock.now_ms().saturating_add(self.config.arrival_ms);
        self.holds().hold(uuid, vm, until);
    }

    /// Frees the room held for `uuid`.
    pub fn release(&self, uuid: &DomainUuid) {
        self.holds().release(uuid);
    }

    /// A VM arriving with this announced use: taken at it until measured.
    pub fn expect(&self, uuid: DomainUuid, used: &Resources) {
        self.usage().expect(uuid, used);
    }

    /// Marks `uuid` as offered; false when it already is, or when a
    /// trade this host's ledger holds unfinished names it: a VM still
    /// arriving runs here before its purchase settles, and sold on then
    /// it would be lost or doubled if the purchase were rolled back (found
    /// by `market chaos`: a leg sold a VM whose arrival had not settled).
    pub async fn start_giving(&self, uuid: &DomainUuid) -> bool {
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
    pub fn stop_giving(&self, uuid: &DomainUuid) {
        self.giving.locked().remove(uuid);
    }

    /// The UUID of a VM running here, by its market id.
    pub fn uuid_of(&self, vm: VmId) -> Option<DomainUuid> {
        self.usage().uuid_of(vm)
    }

    fn hypervisor_error(&self, source: HypervisorError) -> AgentError {
        AgentError::Hypervisor {
            host: self.identity.name.to_string(),
            source,
        }
    }

    pub fn resource_error(&self, source: ResourceError) -> AgentError {
        AgentError::Resources {
            host: self.identity.name.to_string(),
            source,
        }
    }

    /// The host now: its running domains as VMs, its load average.
    pub async fn view(&self) -> Result<Host, AgentError> {
        let (domains, stats) = self.read_host().await?;
        Ok(self.host_from(&domains, &stats))
    }

    /// The domains and the host's figures, in one call to the hypervisor.
    pub(super) async fn read_host(&self) -> Result<(Vec<DomainStats>, HostStats), AgentError> {
        blocking(&self.hypervisor, |h| Ok((h.domains()?, h.host_stats()?)))
            .await
            .map_err(|source| self.hypervisor_error(source))
    }

    /// The market's view of what the hypervisor said; holds for VMs that
    /// now run here, or whose time is up, end on the way.
    pub(super) fn host_from(&self, domains: &[DomainStats], stats: &HostStats) -> Host {
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
            id: HostId::OWN,
            name: self.identity.name.to_string(),
            capacity: self.identity.capacity,
            vms,
            load_one: stats.load_average[0],
        }
    }

    /// The host with the VMs it holds room for counted as running (but
    /// `except`'s): what a new offer is priced against.
    pub async fn view_with_holds(&self, except: Option<&DomainUuid>) -> Result<Host, AgentError> {
        Ok(self.with_holds(self.view().await?, except))
    }

    /// `host` (a view of this host) with the VMs it holds room for
    /// counted as running (but `except`'s).
    pub fn with_holds(&self, mut host: Host, except: Option<&DomainUuid>) -> Host {
        host.vms.extend(self.holds().vms(except));
        host
    }

    /// Why a new VM with this UUID or name cannot be placed here, if it
    /// cannot: a domain with either is defined here (running or not), or
    /// room is held for one (an open offer, a VM on its way).
    pub async fn present(
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
    pub async fn place(&self, terms: &TradeTerms, xml: &str) -> Result<Outcome, AgentError> {
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
    pub async fn execute(&self, terms: &TradeTerms) -> Result<Outcome, AgentError> {
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
    pub fn trade_error(&self, trade: &str, source: impl Into<TradeFailure>) -> AgentError {
        AgentError::Trade {
            host: self.identity.name.to_string(),
            trade: trade.to_string(),
            source: Box::new(source.into()),
        }
    }

    /// Calls off a leg of a trade this host is the source of and that did
    /// not move: rolled back in both ledgers (a leg that began to move is
    /// finished from where its VM is, as recovery does).
    pub async fn call_off_leg(
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
    pub async fn carry_out(&self, agreed: Agreed) -> Result<TradeReport, AgentError> {
        let terms = TradeTerms {
            interaction_id: agreed.trade_id.to_string(),
            trade_id: agreed.trade_id,
            kind: TradeKind::Migration,
            protocol: ProtocolRef {
                name: agreed.protocol.clone(),
                hash: agreed.model_hash.clone(),
            },
            seller: self.identity.name.to_string(),
            buyer: agreed.buyer.clone(),
            vms: vec![VmRef {
                uuid: agreed.vm_uuid.to_string(),
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
            seller: terms.seller,
            buyer: terms.buyer,
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
