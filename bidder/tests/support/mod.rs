//! Fixtures of the migration tests: real ledger files, libvirt `test:///`
//! hosts (one node file each), simulated hosts, trades and the audit.

#![allow(dead_code)] // each test file uses a different part
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::path::Path;
use std::sync::Arc;

use bidder::hypervisor::libvirt::LibvirtHypervisor;
use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor};
use market::credits::Credits;
use market::ledger::audit::{AuditReport, audit};
use market::ledger::{Ledger, LedgerOptions, ProtocolRef, TradeId, TradeState, TradeTerms, VmRef};
use market::resources::Resources;

pub const NODE_XML: &str = "<node>\n  <cpu><mhz>2000</mhz><model>x86_64</model><active>4</active>\
    <total>4</total><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>\n  \
    <memory>16777216</memory>\n</node>\n";

/// A libvirt `test:///` host with its own node file in `dir`.
pub fn libvirt_host(dir: &Path, host: &str) -> Arc<dyn Hypervisor> {
    let node = dir.join(format!("{host}.node.xml"));
    std::fs::write(&node, NODE_XML).unwrap();
    Arc::new(LibvirtHypervisor::connect(host, &format!("test://{}", node.display())).unwrap())
}

/// A simulated host whose state is kept in `dir/<host>.json`.
pub fn simulated_host(dir: &Path, host: &str, memory_mib: u64) -> Arc<dyn Hypervisor> {
    let capacity = Capacity {
        cpus: 4,
        memory_mib,
    };
    Arc::new(SimulatedHypervisor::open(&dir.join(format!("{host}.json")), host, capacity).unwrap())
}

/// The ledger of `host` in `dir`, opened read-write.
pub async fn ledger(dir: &Path, host: &str) -> Ledger {
    Ledger::open(
        dir.join(format!("{host}.ledger")),
        host,
        &LedgerOptions::default(),
    )
    .await
    .unwrap()
}

/// A VM of `memory_mib` MiB with one interface.
pub fn vm(n: u8, memory_mib: u64) -> DomainSpec {
    DomainSpec {
        uuid: DomainUuid::parse(&format!("5a1e0000-0000-4000-8000-0000000000{n:02x}")).unwrap(),
        name: format!("vm{n}"),
        vcpus: 1,
        memory_kib: memory_mib * 1024,
        interfaces: vec!["tap0".into()],
        group: None,
    }
}

/// Defines and starts `spec` on `host` (domain type `kind`).
pub fn run_on(host: &Arc<dyn Hypervisor>, spec: &DomainSpec, kind: &str) {
    host.define(&spec.to_xml(kind)).unwrap();
    host.start(&spec.uuid).unwrap();
}

/// Terms of trade `id`: `from` sells `vms` to `to`, which pays `price`
/// micro-credits.
pub fn terms(id: &str, from: &str, to: &str, vms: &[&DomainSpec], price: i64) -> TradeTerms {
    TradeTerms {
        trade_id: TradeId::new(id).unwrap(),
        kind: market::ledger::TradeKind::Migration,
        interaction_id: format!("interaction-{id}"),
        protocol: ProtocolRef {
            name: "contract-net".into(),
            hash: "test".into(),
        },
        seller: from.into(),
        buyer: to.into(),
        vms: vms
            .iter()
            .map(|vm| VmRef {
                uuid: vm.uuid.to_string(),
                name: vm.name.clone(),
            })
            .collect(),
        resources: Resources {
            cpu_millicores: 1000,
            memory_mib: vms.iter().map(|vm| vm.memory_mib()).sum(),
            network_mbps: 10,
        },
        price: Credits(price),
    }
}

/// The state of a trade and the reason on file, in one ledger.
pub async fn state_of(ledger: &Ledger, id: &TradeId) -> (TradeState, Option<String>) {
    let record = ledger.trade(id).await.unwrap().unwrap();
    (record.state, record.reason)
}

/// The audit of these ledgers.
pub async fn audit_of(ledgers: &[&Ledger]) -> AuditReport {
    let mut snapshots = Vec::new();
    for ledger in ledgers {
        snapshots.push(ledger.snapshot().await.unwrap());
    }
    audit(&snapshots)
}

/// The hosts on which the VM is running or paused.
pub fn active_on(hosts: &[&Arc<dyn Hypervisor>], uuid: &DomainUuid) -> Vec<String> {
    hosts
        .iter()
        .filter(|h| h.find(uuid).unwrap().is_some_and(|d| d.state.is_active()))
        .map(|h| h.host().to_string())
        .collect()
}

/// The hosts on which the VM is defined at all.
pub fn defined_on(hosts: &[&Arc<dyn Hypervisor>], uuid: &DomainUuid) -> Vec<String> {
    hosts
        .iter()
        .filter(|h| h.find(uuid).unwrap().is_some())
        .map(|h| h.host().to_string())
        .collect()
}
