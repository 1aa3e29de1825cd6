//! What each running VM uses, measured as rates between two samples of its
//! counters: CPU time for cores, interface bytes for bandwidth.
//!
//! libvirt reports counters, not rates, and a domain's counters restart when
//! it starts on another host; so a rate needs two samples on this host. A VM
//! that has just arrived is taken at the use its trade announced until then.

use std::collections::BTreeMap;

use market::resources::Resources;
use market::vm::VmId;

use super::vm_id;
use crate::hypervisor::{DomainStats, DomainUuid};

/// Counters of one domain at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    cpu_time_ns: u64,
    bytes: u64,
}

/// Measured cpu (millicores) and network (Mbit/s) of one domain.
#[derive(Debug, Clone, Copy, Default)]
struct Rate {
    cpu_millicores: u64,
    network_mbps: u64,
}

/// Samples and rates of the domains running here.
#[derive(Debug, Default)]
pub(super) struct Usage {
    samples: BTreeMap<DomainUuid, Sample>,
    rates: BTreeMap<DomainUuid, Rate>,
}

impl Usage {
    /// Takes a sample of every active domain; domains no longer active are
    /// forgotten.
    pub(super) fn sample(&mut self, at_ms: i64, domains: &[DomainStats]) {
        let mut samples = BTreeMap::new();
        for d in domains.iter().filter(|d| d.state.is_active()) {
            let now = Sample {
                at_ms,
                cpu_time_ns: d.cpu_time_ns,
                bytes: d
                    .interfaces
                    .iter()
                    .map(|i| i.rx_bytes.saturating_add(i.tx_bytes))
                    .fold(0, u64::saturating_add),
            };
            if let Some(before) = self.samples.get(&d.uuid)
                && let Some(rate) = rate(before, &now)
            {
                self.rates.insert(d.uuid.clone(), rate);
            }
            samples.insert(d.uuid.clone(), now);
        }
        self.rates.retain(|uuid, _| samples.contains_key(uuid));
        self.samples = samples;
    }

    /// A VM arriving with this announced use: taken at it until measured.
    pub(super) fn expect(&mut self, uuid: DomainUuid, used: &Resources) {
        self.samples.remove(&uuid);
        self.rates.insert(
            uuid,
            Rate {
                cpu_millicores: used.cpu_millicores,
                network_mbps: used.network_mbps,
            },
        );
    }

    /// What the domain uses; memory is taken as its whole allocation (a
    /// guest's own use is invisible without a balloon driver).
    pub(super) fn used(&self, uuid: &DomainUuid, memory_mib: u64) -> Resources {
        let rate = self.rates.get(uuid).copied().unwrap_or_default();
        Resources::new(rate.cpu_millicores, memory_mib, rate.network_mbps)
    }

    /// The UUID of a VM this host has sampled or expects.
    pub(super) fn uuid_of(&self, vm: VmId) -> Option<DomainUuid> {
        self.samples
            .keys()
            .chain(self.rates.keys())
            .find(|uuid| vm_id(uuid) == vm)
            .cloned()
    }
}

/// The rate between two samples, if they are in order (a counter that went
/// down belongs to a domain that restarted).
fn rate(before: &Sample, now: &Sample) -> Option<Rate> {
    let ms = u64::try_from(now.at_ms.checked_sub(before.at_ms)?).ok()?;
    if ms == 0 {
        return None;
    }
    let cpu_ns = now.cpu_time_ns.checked_sub(before.cpu_time_ns)?;
    let bytes = now.bytes.checked_sub(before.bytes)?;
    Some(Rate {
        // 1 core for 1 ms is 1e6 ns: millicores = ns / ms / 1000.
        cpu_millicores: cpu_ns / ms / 1000,
        // bits per ms / 1000 = Mbit/s.
        network_mbps: bytes.saturating_mul(8) / ms / 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hypervisor::DomainState;

    fn domain(cpu_time_ns: u64) -> DomainStats {
        DomainStats {
            uuid: DomainUuid::parse("00000000-0000-4000-8000-000000000001").unwrap_or_else(|e| {
                panic!("{e}");
            }),
            name: "okvm1".into(),
            state: DomainState::Running,
            vcpus: 1,
            memory_kib: 512 * 1024,
            cpu_time_ns,
            interfaces: Vec::new(),
            group: None,
        }
    }

    #[test]
    fn one_busy_core_for_a_minute_is_a_thousand_millicores() {
        let mut usage = Usage::default();
        usage.sample(0, &[domain(0)]);
        usage.sample(60_000, &[domain(60_000_000_000)]);
        let d = domain(0);
        assert_eq!(usage.used(&d.uuid, 512).cpu_millicores, 1000);
        // A restarted domain keeps its last rate until measured again.
        usage.sample(120_000, &[domain(5)]);
        assert_eq!(usage.used(&d.uuid, 512).cpu_millicores, 1000);
        // An arriving VM is taken at what its trade announced.
        usage.expect(d.uuid.clone(), &Resources::new(250, 512, 0));
        assert_eq!(usage.used(&d.uuid, 512).cpu_millicores, 250);
        // Gone: forgotten.
        usage.sample(180_000, &[]);
        assert_eq!(usage.used(&d.uuid, 512).cpu_millicores, 0);
    }
}
