//! One behaviour suite, run against every hypervisor implementation: the
//! libvirt adapter on libvirt's `test:///` driver (a node file per host) and
//! the simulated host (in memory and with a state file). Whatever a bidder
//! relies on must hold for both.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use bidder::hypervisor::libvirt::LibvirtHypervisor;
use bidder::hypervisor::simulated::{Capacity, SimulatedHypervisor};
use bidder::hypervisor::{
    DomainSpec, DomainState, DomainUuid, Hypervisor, HypervisorError, LiveTarget,
};
use market::vm::{GroupRule, PlacementGroup};

const NODE_XML: &str = "<node>\n  <cpu><mhz>2000</mhz><model>x86_64</model><active>4</active>\
    <total>4</total><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads></cpu>\n  \
    <memory>16777216</memory>\n</node>\n";

/// A host of each kind, named `host`, with its backing files in `dir`.
fn libvirt_host(dir: &tempfile::TempDir, host: &str) -> LibvirtHypervisor {
    let node = dir.path().join(format!("{host}.xml"));
    std::fs::write(&node, NODE_XML).unwrap();
    LibvirtHypervisor::connect(host, &format!("test://{}", node.display())).unwrap()
}

fn memory_host(_dir: &tempfile::TempDir, host: &str) -> SimulatedHypervisor {
    SimulatedHypervisor::in_memory(
        host,
        Capacity {
            cpus: 4,
            memory_mib: 16 * 1024,
        },
    )
}

fn file_host(dir: &tempfile::TempDir, host: &str) -> SimulatedHypervisor {
    let capacity = Capacity {
        cpus: 4,
        memory_mib: 16 * 1024,
    };
    SimulatedHypervisor::open(&dir.path().join(format!("{host}.json")), host, capacity).unwrap()
}

fn vm(n: u8) -> DomainSpec {
    DomainSpec {
        uuid: DomainUuid::parse(&format!("6695eb01-f6a4-4304-89aa-97f2502e19{n:02x}")).unwrap(),
        name: format!("vm{n}"),
        vcpus: 2,
        memory_kib: 512 * 1024,
        interfaces: vec!["tap0".into()],
        group: None,
    }
}

fn an_empty_host_has_nothing(h: &dyn Hypervisor) {
    assert!(h.domains().unwrap().is_empty());
    let unknown = vm(1).uuid;
    assert!(h.find(&unknown).unwrap().is_none());
    for result in [
        h.domain_xml(&unknown).map(drop),
        h.start(&unknown),
        h.destroy(&unknown),
        h.undefine(&unknown),
    ] {
        assert!(
            matches!(result, Err(HypervisorError::NoSuchDomain { .. })),
            "{result:?}"
        );
    }
}

fn a_domain_goes_through_its_life(h: &dyn Hypervisor) {
    let spec = vm(1);
    assert_eq!(h.define(&spec.to_xml("test")).unwrap(), spec.uuid);
    let defined = h.find(&spec.uuid).unwrap().unwrap();
    assert_eq!(
        (defined.name.as_str(), defined.state, defined.vcpus),
        ("vm1", DomainState::ShutOff, 2)
    );
    assert_eq!(defined.memory_kib, spec.memory_kib);
    assert!(
        defined.interfaces.is_empty(),
        "a stopped domain has no interface counters"
    );

    h.start(&spec.uuid).unwrap();
    let running = h.find(&spec.uuid).unwrap().unwrap();
    assert_eq!(running.state, DomainState::Running);
    assert_eq!(
        running
            .interfaces
            .iter()
            .map(|i| i.device.as_str())
            .collect::<Vec<_>>(),
        ["tap0"]
    );
    assert!(h.start(&spec.uuid).is_err(), "starting a running domain");
    assert!(
        matches!(
            h.undefine(&spec.uuid),
            Err(HypervisorError::WrongState { .. })
        ),
        "undefining a running domain is refused"
    );

    h.destroy(&spec.uuid).unwrap();
    assert_eq!(
        h.find(&spec.uuid).unwrap().unwrap().state,
        DomainState::ShutOff
    );
    assert!(
        h.destroy(&spec.uuid).is_err(),
        "destroying a stopped domain"
    );

    h.undefine(&spec.uuid).unwrap();
    assert!(h.find(&spec.uuid).unwrap().is_none());
}

fn the_xml_carries_the_domain_to_another_host(a: &dyn Hypervisor, b: &dyn Hypervisor) {
    let spec = vm(2);
    a.define(&spec.to_xml("test")).unwrap();
    let xml = a.domain_xml(&spec.uuid).unwrap();
    assert_eq!(DomainSpec::parse(&xml).unwrap(), spec);
    assert_eq!(b.define(&xml).unwrap(), spec.uuid);
    b.start(&spec.uuid).unwrap();
    assert_eq!(
        b.find(&spec.uuid).unwrap().unwrap().state,
        DomainState::Running
    );
    assert_eq!(
        a.find(&spec.uuid).unwrap().unwrap().state,
        DomainState::ShutOff,
        "hosts are independent"
    );
}

/// A VM's placement group lives in its definition's metadata: read with
/// the domain's statistics and carried by its XML to the next host.
fn the_placement_group_travels_with_the_definition(a: &dyn Hypervisor, b: &dyn Hypervisor) {
    let spec = DomainSpec {
        group: Some(PlacementGroup::new("replicas", GroupRule::Apart).unwrap()),
        ..vm(5)
    };
    a.define(&spec.to_xml("test")).unwrap();
    a.start(&spec.uuid).unwrap();
    assert_eq!(a.find(&spec.uuid).unwrap().unwrap().group, spec.group);
    let xml = a.domain_xml(&spec.uuid).unwrap();
    b.define(&xml).unwrap();
    assert_eq!(b.domains().unwrap()[0].group, spec.group);
}

fn names_belong_to_one_uuid_and_redefining_replaces(h: &dyn Hypervisor) {
    let first = vm(3);
    h.define(&first.to_xml("test")).unwrap();
    let impostor = DomainSpec {
        uuid: vm(4).uuid,
        ..first.clone()
    };
    assert!(
        h.define(&impostor.to_xml("test")).is_err(),
        "a name taken by another UUID"
    );
    let bigger = DomainSpec {
        vcpus: 4,
        ..first.clone()
    };
    h.define(&bigger.to_xml("test")).unwrap();
    let domains = h.domains().unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0].vcpus, 4);
}

fn host_figures_are_sane(h: &dyn Hypervisor) {
    let stats = h.host_stats().unwrap();
    assert!(stats.memory_total_kib > 0);
    assert!(stats.memory_available_kib <= stats.memory_total_kib);
    assert!(
        stats
            .load_average
            .iter()
            .all(|l| l.is_finite() && *l >= 0.0)
    );
}

fn a_host_that_cannot_live_migrate_says_so_and_keeps_the_domain(h: &dyn Hypervisor) {
    let spec = vm(5);
    h.define(&spec.to_xml("test")).unwrap();
    h.start(&spec.uuid).unwrap();
    let target = LiveTarget {
        destination_uri: "test:///default".into(),
        peer_to_peer: true,
        bandwidth_mib_s: None,
        timeout: std::time::Duration::from_secs(5),
    };
    let err = h.live_migrate(&spec.uuid, &target).unwrap_err();
    assert!(
        matches!(
            err,
            HypervisorError::Libvirt { .. } | HypervisorError::LiveMigrationUnsupported { .. }
        ),
        "{err}"
    );
    assert_eq!(
        h.find(&spec.uuid).unwrap().unwrap().state,
        DomainState::Running
    );
}

macro_rules! behaviour_suite {
    ($module:ident, $make:ident) => {
        mod $module {
            use super::*;

            #[test]
            fn empty_host() {
                let dir = tempfile::tempdir().unwrap();
                an_empty_host_has_nothing(&$make(&dir, "a"));
            }

            #[test]
            fn lifecycle() {
                let dir = tempfile::tempdir().unwrap();
                a_domain_goes_through_its_life(&$make(&dir, "a"));
            }

            #[test]
            fn xml_hand_over() {
                let dir = tempfile::tempdir().unwrap();
                the_xml_carries_the_domain_to_another_host(&$make(&dir, "a"), &$make(&dir, "b"));
            }

            #[test]
            fn placement_group() {
                let dir = tempfile::tempdir().unwrap();
                the_placement_group_travels_with_the_definition(
                    &$make(&dir, "a"),
                    &$make(&dir, "b"),
                );
            }

            #[test]
            fn names_and_redefinition() {
                let dir = tempfile::tempdir().unwrap();
                names_belong_to_one_uuid_and_redefining_replaces(&$make(&dir, "a"));
            }

            #[test]
            fn no_live_migration() {
                let dir = tempfile::tempdir().unwrap();
                a_host_that_cannot_live_migrate_says_so_and_keeps_the_domain(&$make(&dir, "a"));
            }

            #[test]
            fn host_stats() {
                let dir = tempfile::tempdir().unwrap();
                host_figures_are_sane(&$make(&dir, "a"));
            }
        }
    };
}

behaviour_suite!(libvirt_test_driver, libvirt_host);
behaviour_suite!(simulated_in_memory, memory_host);
behaviour_suite!(simulated_with_state_file, file_host);

#[test]
fn libvirt_refuses_an_unknown_uri_with_its_reason() {
    let err = LibvirtHypervisor::connect("x", "bogus+driver:///nowhere").unwrap_err();
    assert!(matches!(err, HypervisorError::Libvirt { .. }), "{err}");
}
