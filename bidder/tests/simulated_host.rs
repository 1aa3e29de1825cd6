//! What the simulated host adds to the shared behaviour: a memory capacity
//! it enforces, a deterministic clock (or one following the wall clock), a
//! state file that survives the process, and workloads that travel in the
//! domain's metadata.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::time::Duration;

use bidder::hypervisor::simulated::{
    self, Capacity, DomainLoad, SimulatedHypervisor, Swing, WORKLOAD_NAMESPACE,
};
use bidder::hypervisor::{DomainSpec, DomainUuid, Hypervisor, HypervisorError};

fn vm(n: u8, memory_mib: u64) -> DomainSpec {
    DomainSpec {
        uuid: DomainUuid::parse(&format!("00000000-0000-4000-8000-0000000000{n:02x}")).unwrap(),
        name: format!("vm{n}"),
        vcpus: 2,
        memory_kib: memory_mib * 1024,
        interfaces: vec!["tap0".into(), "tap1".into()],
        group: None,
    }
}

#[test]
fn a_domain_that_does_not_fit_in_free_memory_is_refused() {
    let h = SimulatedHypervisor::in_memory(
        "small",
        Capacity {
            cpus: 2,
            memory_mib: 1024,
        },
    );
    let (a, b) = (vm(1, 768), vm(2, 512));
    h.define(&a.to_xml("test")).unwrap();
    h.define(&b.to_xml("test")).unwrap();
    h.start(&a.uuid).unwrap();
    let err = h.start(&b.uuid).unwrap_err();
    assert!(
        matches!(
            err,
            HypervisorError::InsufficientMemory {
                needed_mib: 512,
                free_mib: 256,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(h.host_stats().unwrap().memory_available_kib, 256 * 1024);
    h.destroy(&a.uuid).unwrap();
    h.start(&b.uuid).unwrap();
}

#[test]
fn the_clock_accrues_cpu_time_bytes_and_load() {
    let h = SimulatedHypervisor::in_memory(
        "h",
        Capacity {
            cpus: 8,
            memory_mib: 4096,
        },
    );
    let spec = vm(1, 256);
    h.define(&spec.to_xml("test")).unwrap();
    h.start(&spec.uuid).unwrap();
    let load = DomainLoad {
        cpu_utilisation: 0.5,
        rx_bytes_per_s: 1000,
        tx_bytes_per_s: 10,
        swing: None,
    };
    h.set_load(&spec.uuid, load).unwrap();
    h.advance(Duration::from_secs(10)).unwrap();
    let stats = h.find(&spec.uuid).unwrap().unwrap();
    assert_eq!(stats.cpu_time_ns, 10_000_000_000, "2 vCPUs at 50% for 10 s");
    assert_eq!(
        stats.interfaces[0].rx_bytes, 5000,
        "10 kB spread over two interfaces"
    );
    assert_eq!(stats.interfaces[1].tx_bytes, 50);
    assert_eq!(h.host_stats().unwrap().load_average, [1.0; 3]);
}

/// An idle host's load is 0.00 as a real host's /proc gives it, not the
/// -0.0 an empty float sum is: `market watch` showed `-0.00` for it.
#[test]
fn an_idle_host_has_a_load_of_zero_not_minus_zero() {
    let h = SimulatedHypervisor::in_memory(
        "idle",
        Capacity {
            cpus: 4,
            memory_mib: 4096,
        },
    );
    // No domain running: none defined, then one defined but shut off.
    let shows_zero = |h: &SimulatedHypervisor| {
        let load = h.host_stats().unwrap().load_average;
        assert!(load.iter().all(|l| format!("{l:.2}") == "0.00"), "{load:?}");
    };
    shows_zero(&h);
    h.define(&vm(1, 256).to_xml("test")).unwrap();
    shows_zero(&h);
}

#[test]
fn the_state_file_survives_the_process_and_belongs_to_one_host() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.json");
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 4096,
    };
    let spec = vm(1, 256);
    {
        let h = SimulatedHypervisor::open(&path, "h", capacity).unwrap();
        h.define(&spec.to_xml("test")).unwrap();
        h.start(&spec.uuid).unwrap();
    }
    let reopened = SimulatedHypervisor::open(&path, "h", capacity).unwrap();
    assert!(
        reopened
            .find(&spec.uuid)
            .unwrap()
            .unwrap()
            .state
            .is_active()
    );
    let err = SimulatedHypervisor::open(&path, "other", capacity).unwrap_err();
    assert!(err.to_string().contains("not \"other\""), "{err}");
    std::fs::write(&path, b"{ torn").unwrap();
    let err = SimulatedHypervisor::open(&path, "h", capacity).unwrap_err();
    assert!(
        matches!(err, HypervisorError::SimulatedState { .. }),
        "{err}"
    );
}

#[test]
fn a_failed_operation_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.json");
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 100,
    };
    let h = SimulatedHypervisor::open(&path, "h", capacity).unwrap();
    let spec = vm(1, 256);
    h.define(&spec.to_xml("test")).unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(h.start(&spec.uuid).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// `spec`'s definition with a workload of `cpu` in its metadata.
fn with_workload(spec: &DomainSpec, cpu: &str) -> String {
    spec.to_xml("test").replace(
        "</domain>",
        &format!(
            "<metadata><w:workload xmlns:w='{WORKLOAD_NAMESPACE}' cpu='{cpu}'/></metadata></domain>"
        ),
    )
}

/// Hosts `a` and `b`, of 4 cores and 4 GiB each.
fn two_hosts() -> (SimulatedHypervisor, SimulatedHypervisor) {
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 4096,
    };
    (
        SimulatedHypervisor::in_memory("a", capacity),
        SimulatedHypervisor::in_memory("b", capacity),
    )
}

#[test]
fn a_workload_in_the_metadata_travels_with_the_definition() {
    let (a, b) = two_hosts();
    let spec = vm(1, 256);
    a.define(&with_workload(&spec, "0.5")).unwrap();
    a.start(&spec.uuid).unwrap();
    // As a hand-off does: the destination defines the source's XML.
    b.define(&a.domain_xml(&spec.uuid).unwrap()).unwrap();
    b.start(&spec.uuid).unwrap();
    for host in [&a, &b] {
        host.advance(Duration::from_secs(10)).unwrap();
        // 2 vCPUs half busy for 10 s: 10 s of CPU time.
        let d = host.find(&spec.uuid).unwrap().unwrap();
        assert_eq!(d.cpu_time_ns, 10_000_000_000);
        assert_eq!(host.host_stats().unwrap().load_average[0], 1.0);
    }
    for bad in ["1.5", "busy"] {
        let err = a.define(&with_workload(&vm(2, 256), bad)).unwrap_err();
        assert!(
            matches!(err, HypervisorError::BadXml { .. }),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_host_following_the_wall_clock_accrues_as_time_passes() {
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 4096,
    };
    let h = SimulatedHypervisor::in_memory("h", capacity).following_wall_clock();
    let spec = vm(1, 256);
    h.define(&with_workload(&spec, "1")).unwrap();
    h.start(&spec.uuid).unwrap();
    let before = h.find(&spec.uuid).unwrap().unwrap().cpu_time_ns;
    std::thread::sleep(Duration::from_millis(50));
    let after = h.find(&spec.uuid).unwrap().unwrap().cpu_time_ns;
    // Two busy vCPUs for at least 50 ms.
    assert!(after - before >= 100_000_000, "{before} -> {after}");
}

#[test]
fn a_swinging_workload_follows_the_host_clock_and_travels_with_the_guest() {
    let (a, b) = two_hosts();
    let spec = vm(1, 256);
    a.define(&spec.to_xml("test")).unwrap();
    a.start(&spec.uuid).unwrap();
    let load = DomainLoad {
        swing: Some(Swing {
            amplitude: 0.4,
            period_s: 40.0,
            phase: 0.0,
        }),
        ..DomainLoad::steady(0.5)
    };
    // A definition that declares no workload keeps none: simulations
    // drive such guests' loads themselves.
    a.set_load(&spec.uuid, load).unwrap();
    assert!(
        !a.domain_xml(&spec.uuid)
            .unwrap()
            .contains(WORKLOAD_NAMESPACE)
    );

    let declared =
        simulated::with_workload(&spec.to_xml("test"), &DomainLoad::steady(0.1)).unwrap();
    a.define(&declared).unwrap();
    a.set_load(&spec.uuid, load).unwrap();
    // A quarter of a wave: the crest, 0.9 of each of 2 vCPUs.
    a.advance(Duration::from_secs(10)).unwrap();
    assert!((a.host_stats().unwrap().load_average[0] - 1.8).abs() < 1e-9);
    // Half a wave more: the trough, 0.1.
    a.advance(Duration::from_secs(20)).unwrap();
    assert!((a.host_stats().unwrap().load_average[0] - 0.2).abs() < 1e-9);

    // The new load went into the definition a hand-off copies, once.
    let xml = a.domain_xml(&spec.uuid).unwrap();
    assert_eq!(xml.matches(WORKLOAD_NAMESPACE).count(), 1, "{xml}");
    b.define(&xml).unwrap();
    b.start(&spec.uuid).unwrap();
    b.advance(Duration::from_secs(10)).unwrap();
    assert!((b.host_stats().unwrap().load_average[0] - 1.8).abs() < 1e-9);
}

#[test]
fn a_swing_without_a_length_or_out_of_range_is_refused() {
    let h = SimulatedHypervisor::in_memory(
        "h",
        Capacity {
            cpus: 4,
            memory_mib: 4096,
        },
    );
    for attributes in [
        "cpu='0.5' swing='0.2'",
        "cpu='0.5' swing='1.5' period_s='10'",
        "cpu='0.5' swing='0.2' period_s='0'",
        "cpu='0.5' swing='0.2' period_s='10' phase='soon'",
    ] {
        let xml = vm(1, 256).to_xml("test").replace(
            "</domain>",
            &format!(
                "<metadata><w:workload xmlns:w='{WORKLOAD_NAMESPACE}' {attributes}/></metadata></domain>"
            ),
        );
        let err = h.define(&xml).unwrap_err();
        assert!(
            matches!(err, HypervisorError::BadXml { .. }),
            "{attributes}: {err}"
        );
    }
}
