//! What the tests that run `bidder` daemons as processes share: their
//! libvirt test-driver nodes, their policies, free ports and the metrics
//! they scrape (tests/bidder_daemon.rs, tests/market_watch.rs).

use std::net::{Ipv4Addr, TcpListener};

/// The zone every test daemon is in.
pub const ZONE: &str = "dc1";

/// A libvirt test-driver node with these (name, uuid suffix) domains of
/// 512 MiB, running.
pub fn node_xml(vms: &[u8]) -> String {
    let domains: String = vms
        .iter()
        .map(|n| {
            format!(
                "<domain type='test'><name>vm{n}</name>\
                 <uuid>6695eb01-f6a4-4304-89aa-97f2502e19{n:02x}</uuid>\
                 <memory unit='MiB'>512</memory><vcpu>1</vcpu>\
                 <os><type>hvm</type></os></domain>\n"
            )
        })
        .collect();
    format!(
        "<node>\n<cpu><mhz>2000</mhz><model>x86_64</model><active>4</active><total>4</total>\
         <nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>\n\
         <memory>16777216</memory>\n{domains}</node>\n"
    )
}

/// Wants no VM at all: overloaded while it has one.
pub const GIVES_ALL: &str = "[policy]\nname = \"gives-all\"\n\
    [[policy.condition]]\nmetric = \"vm_count\"\noverloaded_above = 0\n";

/// Wants 4 GiB of VMs: underloaded below.
pub const WANTS_MEMORY: &str = "[policy]\nname = \"wants-memory\"\n\
    [[policy.condition]]\nmetric = \"vm_memory_mib\"\nunderloaded_below = 4096\n";

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of one sample line of the Prometheus text, 0 when absent.
pub fn sample(metrics: &str, name_and_labels: &str) -> u64 {
    metrics
        .lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}
