//! `[policy.stability] hold_observations` on the live path: the agent the
//! daemon and `market simulate` both run acts on a state only once it has
//! seen it that many samples in a row. Two simulated hosts on the
//! in-process bus: `a` (policy with `hold_observations = 3`, load-balancing
//! thresholds of seed 002) and `b`, an empty host that answers calls.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::sync::Arc;
use std::time::Duration;

use bidder::agent::{Agent, AgentConfig, AgentParts, Identity, Initiative, Reach};
use bidder::hypervisor::simulated::{Capacity, DomainLoad, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use bidder::migration::Destination;
use bidder::protocol::{CONTRACT_NET, ModelSource, Protocol, ProtocolConfig};
use lcc::interp::TokioClock;
use market::bus::MemoryBus;
use market::bus::subject::{SubjectSpace, Token};
use market::ledger::{Ledger, LedgerOptions};
use market::policy::Policy;
use market::resources::Resources;
use market::runtime::{Endpoint, InteractionIds};
use market::wire::WireLimits;

const POLICY: &str = r#"
[policy]
name = "held"
[[policy.condition]]
metric = "load_one"
underloaded_below = 0.50
overloaded_above = 1.50
[policy.stability]
hold_observations = 3
"#;

struct InProcess(Vec<(String, Ledger, Arc<dyn Hypervisor>)>);

impl Reach for InProcess {
    fn destination(&self, host: &str) -> Option<Destination> {
        self.0
            .iter()
            .find(|(name, _, _)| name == host)
            .map(|(_, ledger, hv)| Destination::new(ledger.clone(), Arc::clone(hv)))
    }
}

struct Cluster {
    a: Agent,
    b: Agent,
    hosts: Vec<Arc<SimulatedHypervisor>>,
    vms: Vec<DomainUuid>,
    now_ms: std::sync::atomic::AtomicI64,
    _dir: tempfile::TempDir,
}

async fn cluster() -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let bus = MemoryBus::new();
    let names = ["a", "b"];
    let hosts: Vec<Arc<SimulatedHypervisor>> = names
        .iter()
        .map(|n| {
            Arc::new(SimulatedHypervisor::in_memory(
                n,
                Capacity {
                    cpus: 4,
                    memory_mib: 4096,
                },
            ))
        })
        .collect();
    let mut vms = Vec::new();
    for i in 1..=2u8 {
        let uuid = DomainUuid::parse(&format!("00000000-0000-4000-8000-0000000000{i:02}")).unwrap();
        let spec = DomainSpec {
            uuid: uuid.clone(),
            name: format!("vm{i}"),
            vcpus: 1,
            memory_kib: 512 * 1024,
            interfaces: Vec::new(),
            group: None,
        };
        hosts[0].define(&spec.to_xml("test")).unwrap();
        hosts[0].start(&uuid).unwrap();
        vms.push(uuid);
    }
    let mut ledgers = Vec::new();
    for name in names {
        let path = dir.path().join(format!("{name}.ledger.sqlite"));
        ledgers.push(
            Ledger::open(&path, name, &LedgerOptions::default())
                .await
                .unwrap(),
        );
    }
    let reach: Arc<dyn Reach> = Arc::new(InProcess(
        names
            .iter()
            .zip(&ledgers)
            .zip(&hosts)
            .map(|((n, l), h)| {
                (
                    n.to_string(),
                    l.clone(),
                    Arc::clone(h) as Arc<dyn Hypervisor>,
                )
            })
            .collect(),
    ));
    let protocol = Protocol::load(ProtocolConfig {
        name: Token::new("contract-net").unwrap(),
        kind: CONTRACT_NET,
        model: ModelSource::Shipped(lcc::models::CONTRACT_NET),
        settings: toml::Table::new(),
    })
    .unwrap();
    let mut agents = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let agent = Agent::new(AgentParts {
            identity: Identity {
                name: Token::new(*name).unwrap(),
                capacity: Resources::new(4000, 4096, 1000),
            },
            policy: Policy::from_toml(POLICY).unwrap(),
            hypervisor: Arc::clone(&hosts[i]) as Arc<dyn Hypervisor>,
            ledger: ledgers[i].clone(),
            peer: Endpoint {
                bus: Arc::new(bus.clone()),
                space: SubjectSpace::in_zone(Token::new("t").unwrap()),
                me: Token::new(*name).unwrap(),
                clock: Arc::new(TokioClock::system()),
                limits: WireLimits::default(),
                ids: InteractionIds::Random,
            },
            protocols: vec![protocol.clone()],
            reach: Arc::clone(&reach),
            config: AgentConfig::default(),
            events: None,
        });
        agent.serve().await.unwrap();
        agents.push(agent);
    }
    let b = agents.pop().unwrap();
    let a = agents.pop().unwrap();
    Cluster {
        a,
        b,
        hosts,
        vms,
        now_ms: std::sync::atomic::AtomicI64::new(0),
        _dir: dir,
    }
}

impl Cluster {
    /// Both VMs busy (`a`'s load 2.0, overloaded) or idle (load 0).
    fn busy(&self, busy: bool) {
        for uuid in &self.vms {
            self.hosts[0]
                .set_load(
                    uuid,
                    DomainLoad {
                        cpu_utilisation: if busy { 1.0 } else { 0.0 },
                        ..DomainLoad::default()
                    },
                )
                .unwrap();
        }
    }

    /// A minute passes and both hosts sample once.
    async fn observe(&self) {
        for host in &self.hosts {
            host.advance(Duration::from_secs(60)).unwrap();
        }
        let now = self
            .now_ms
            .fetch_add(60_000, std::sync::atomic::Ordering::Relaxed)
            + 60_000;
        self.a.sample(now).await.unwrap();
        self.b.sample(now).await.unwrap();
    }
}

#[tokio::test]
async fn a_host_acts_on_overload_only_after_seeing_it_three_samples_in_a_row() {
    let c = cluster().await;
    // Seen once, then gone: no trade, ever.
    c.busy(true);
    c.observe().await;
    assert_eq!(
        c.a.take_initiative().await.unwrap(),
        Initiative::Holding { seen: 1, hold: 3 }
    );
    assert!(c.a.is_holding());
    c.busy(false);
    c.observe().await;
    assert!(matches!(
        c.a.take_initiative().await.unwrap(),
        Initiative::NothingToDo(_)
    ));
    // Seen twice in a row: still waiting.
    c.busy(true);
    c.observe().await;
    c.observe().await;
    assert_eq!(
        c.a.take_initiative().await.unwrap(),
        Initiative::Holding { seen: 2, hold: 3 }
    );
    assert!(c.b.ledger().trades(None).await.unwrap().is_empty());
    // The third sample in a row: it trades.
    c.observe().await;
    assert!(!c.a.is_holding());
    let round = c.a.take_initiative().await.unwrap();
    let Initiative::Traded(trade) = round else {
        panic!("no trade after three overloaded samples: {round:?}");
    };
    assert_eq!((trade.seller.as_str(), trade.buyer.as_str()), ("a", "b"));
}
