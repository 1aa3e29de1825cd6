//! A real live migration: two libvirt daemons in two network namespaces
//! (scripts/two-libvirt-hosts.sh), a tiny diskless QEMU guest in software
//! emulation, the migration driven by this crate's executor through
//! `LibvirtHypervisor`, the result checked with `virsh` and in both ledgers.
//! Also migrations libvirt refuses (an unreachable destination; a
//! destination that lacks the memory for the guest), one aborted at its
//! timeout, and the way back client-driven.
//!
//! Needs root and network namespaces, as CI has; fails saying so without
//! them rather than passing without having migrated anything.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bidder::hypervisor::libvirt::LibvirtHypervisor;
use bidder::hypervisor::{DomainUuid, Hypervisor, LiveTarget};
use bidder::migration::{Destination, Executor, Method, Outcome};
use market::credits::Credits;
use market::ledger::TradeState;
use support::*;

const GUEST: &str = "bourse-live-guest";
const GUEST_UUID: &str = "b0a5e000-0000-4000-8000-00000000cafe";
const LARGE_GUEST: &str = "bourse-live-large";
const LARGE_GUEST_UUID: &str = "b0a5e000-0000-4000-8000-0000000b16b1";

/// Both hosts, up while this lives; `Drop` tears them down, also when an
/// assertion failed.
struct TwoHosts {
    uri_a: String,
    uri_b: String,
    p2p_uri_b: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/two-libvirt-hosts.sh")
}

impl TwoHosts {
    /// Starts them; fails the test, with the script's reason, when it
    /// cannot (exit 2: not root or a tool missing; 3: no network
    /// namespaces here).
    fn up() -> TwoHosts {
        let output = Command::new("bash")
            .arg(script())
            .arg("up")
            .output()
            .unwrap();
        if !output.status.success() {
            // Tear down whatever half started before failing.
            let _ = Command::new("bash").arg(script()).arg("down").status();
            panic!(
                "two-libvirt-hosts.sh up failed ({}); this test needs root and network \
                 namespaces, as CI has: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let env = String::from_utf8_lossy(&output.stdout).to_string();
        let value = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or_else(|| panic!("no {name} in {env}"))
                .to_string()
        };
        TwoHosts {
            uri_a: value("URI_A"),
            uri_b: value("URI_B"),
            p2p_uri_b: value("P2P_URI_B"),
        }
    }
}

impl TwoHosts {
    /// Shapes host A's side of the link to `rate` (`off` removes it).
    fn throttle(&self, rate: &str) {
        let status = Command::new("bash")
            .arg(script())
            .args(["throttle", rate])
            .status()
            .unwrap();
        assert!(status.success(), "throttle {rate}: {status}");
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("down").status();
    }
}

fn virsh(uri: &str, args: &[&str]) -> String {
    let output = Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn guest_xml() -> String {
    format!(
        "<domain type='qemu'>
  <name>{GUEST}</name>
  <uuid>{GUEST_UUID}</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"
    )
}

/// A guest whose 64 MiB of memory are file-backed and preallocated: host B
/// keeps file-backed guest memory on a 48 MiB tmpfs (see the script), so B
/// lacks the memory for it and QEMU at B fails to start.
fn large_guest_xml() -> String {
    format!(
        "<domain type='qemu'>
  <name>{LARGE_GUEST}</name>
  <uuid>{LARGE_GUEST_UUID}</uuid>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <memoryBacking><source type='file'/><access mode='shared'/><allocation mode='immediate'/></memoryBacking>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>"
    )
}

#[tokio::test]
async fn a_live_migration_between_two_libvirt_daemons_moves_the_guest_and_settles_both_ledgers() {
    let hosts = TwoHosts::up();
    let a: Arc<dyn Hypervisor> = Arc::new(LibvirtHypervisor::connect("a", &hosts.uri_a).unwrap());
    let b: Arc<dyn Hypervisor> = Arc::new(LibvirtHypervisor::connect("b", &hosts.uri_b).unwrap());
    let uuid = DomainUuid::parse(GUEST_UUID).unwrap();
    a.define(&guest_xml()).unwrap();
    a.start(&uuid).unwrap();
    assert_eq!(virsh(&hosts.uri_a, &["domstate", GUEST]), "running");

    let dir = tempfile::tempdir().unwrap();
    let (ledger_a, ledger_b) = (ledger(dir.path(), "a").await, ledger(dir.path(), "b").await);
    let guest = bidder::hypervisor::DomainSpec::parse(&guest_xml()).unwrap();
    let executor = |uri: &str, bandwidth_mib_s: u64, timeout: Duration| {
        let target = LiveTarget {
            destination_uri: uri.to_string(),
            peer_to_peer: true,
            bandwidth_mib_s: Some(bandwidth_mib_s),
            timeout,
        };
        Executor::new(
            ledger_a.clone(),
            a.clone(),
            Destination::new(ledger_b.clone(), b.clone()),
            Method::Live(target),
        )
    };

    // libvirt refuses: nothing answers at 10.77.0.99.
    let refused = terms("live-refused", "a", "b", &[&guest], 1_000_000);
    let unreachable = executor("qemu+tcp://10.77.0.99/system", 256, Duration::from_secs(60));
    let outcome = unreachable.execute(&refused).await.unwrap();
    let Outcome::Failed { reason } = outcome else {
        panic!("an unreachable destination must fail the trade: {outcome:?}");
    };
    assert!(
        reason.contains("10.77.0.99"),
        "libvirt's reason names the host: {reason}"
    );
    assert_eq!(
        virsh(&hosts.uri_a, &["domstate", GUEST]),
        "running",
        "the guest stayed at A"
    );
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &refused.trade_id).await,
            (TradeState::Failed, Some(reason.clone()))
        );
    }

    // libvirt refuses: B lacks the memory for the large guest.
    let large_uuid = DomainUuid::parse(LARGE_GUEST_UUID).unwrap();
    a.define(&large_guest_xml()).unwrap();
    a.start(&large_uuid).unwrap();
    let large = bidder::hypervisor::DomainSpec::parse(&large_guest_xml()).unwrap();
    let too_large = terms("live-no-memory", "a", "b", &[&large], 1_000_000);
    let outcome = executor(&hosts.p2p_uri_b, 256, Duration::from_secs(60))
        .execute(&too_large)
        .await
        .unwrap();
    let Outcome::Failed { reason } = outcome else {
        panic!("a destination without the memory must fail the trade: {outcome:?}");
    };
    assert!(
        reason.contains("prealloc") && reason.contains("libvirt"),
        "libvirt's reason says the memory could not be allocated: {reason}"
    );
    assert_eq!(
        virsh(&hosts.uri_a, &["domstate", LARGE_GUEST]),
        "running",
        "the large guest stayed at A"
    );
    assert!(
        !virsh(&hosts.uri_b, &["list", "--all", "--name"])
            .lines()
            .any(|l| l == LARGE_GUEST),
        "B kept nothing of it"
    );
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &too_large.trade_id).await,
            (TradeState::Failed, Some(reason.clone()))
        );
        assert!(
            ledger
                .balances()
                .await
                .unwrap()
                .values()
                .all(|b| *b == Credits(0)),
            "credits untouched"
        );
    }
    // Only the failure paths needed it; two TCG guests on a small machine
    // would slow the migrations below.
    a.destroy(&large_uuid).unwrap();
    a.undefine(&large_uuid).unwrap();

    // Too slow: over a 256 kbit/s link the guest's memory takes about 20 s;
    // the job is aborted after 3 s and the guest keeps running at A.
    let slow = terms("live-slow", "a", "b", &[&guest], 1_000_000);
    let throttled = executor(&hosts.p2p_uri_b, 256, Duration::from_secs(3));
    hosts.throttle("256kbit");
    let outcome = throttled.execute(&slow).await.unwrap();
    hosts.throttle("off");
    let Outcome::Failed { reason } = outcome else {
        panic!("a migration past its timeout must be aborted: {outcome:?}");
    };
    assert!(reason.contains("aborted after 3 s"), "{reason}");
    assert_eq!(
        virsh(&hosts.uri_a, &["domstate", GUEST]),
        "running",
        "the guest stayed at A"
    );
    assert!(
        !virsh(&hosts.uri_b, &["list", "--all", "--name"])
            .lines()
            .any(|l| l == GUEST)
    );
    assert_eq!(
        state_of(&ledger_b, &slow.trade_id).await.0,
        TradeState::Failed
    );

    // The real one, peer to peer from A's libvirtd to B's.
    let trade = terms("live-1", "a", "b", &[&guest], 4_000_000);
    let fast = executor(&hosts.p2p_uri_b, 256, Duration::from_secs(60));
    assert_eq!(fast.execute(&trade).await.unwrap(), Outcome::Settled);

    assert_eq!(
        virsh(&hosts.uri_b, &["domstate", GUEST]),
        "running",
        "the guest runs on B"
    );
    assert!(virsh(&hosts.uri_b, &["dominfo", GUEST]).contains("Persistent:     yes"));
    assert!(
        !virsh(&hosts.uri_a, &["list", "--all", "--name"])
            .lines()
            .any(|l| l == GUEST),
        "the guest is gone from A"
    );
    for ledger in [&ledger_a, &ledger_b] {
        assert_eq!(
            state_of(ledger, &trade.trade_id).await.0,
            TradeState::Settled
        );
    }
    assert_eq!(ledger_a.balance("a").await.unwrap(), Credits(4_000_000));
    assert_eq!(ledger_b.balance("b").await.unwrap(), Credits(-4_000_000));
    let report = audit_of(&[&ledger_a, &ledger_b]).await;
    assert!(report.is_consistent(), "{:?}", report.discrepancies);

    // And back, client-driven: this process holds both connections (B's
    // daemon never needs to reach A's); the memory still crosses the veth.
    let home = LiveTarget {
        destination_uri: hosts.uri_a.clone(),
        peer_to_peer: false,
        bandwidth_mib_s: None,
        timeout: Duration::from_secs(60),
    };
    let back = Executor::new(
        ledger_b.clone(),
        b.clone(),
        Destination::new(ledger_a.clone(), a.clone()),
        Method::Live(home),
    );
    let return_trade = terms("live-2", "b", "a", &[&guest], 3_000_000);
    assert_eq!(back.execute(&return_trade).await.unwrap(), Outcome::Settled);
    assert_eq!(virsh(&hosts.uri_a, &["domstate", GUEST]), "running");
    assert!(
        !virsh(&hosts.uri_b, &["list", "--all", "--name"])
            .lines()
            .any(|l| l == GUEST),
        "the guest is gone from B"
    );
    assert_eq!(ledger_a.balance("a").await.unwrap(), Credits(1_000_000));
    let report = audit_of(&[&ledger_a, &ledger_b]).await;
    assert!(report.is_consistent(), "{:?}", report.discrepancies);
    drop(hosts);
}
