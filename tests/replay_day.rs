//! Whole days of the PlanetLab traces on the 800 hosts of CloudSim's
//! experiment: the policies against CloudSim 3.0.3's figures for day
//! 20110303, and the lower bound below every policy at every step under
//! both memory rules.
//!
//! The traces come from the archive beside the repository
//! (`../shared/data/planetlab-workload.tar.gz`, where docs/replay.md and CI
//! have them), unpacked once under Cargo's temporary folder for tests.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use bourse::replay::policy::PolicyName;
use bourse::replay::policy::market::MarketSetup;
use bourse::replay::rules::Memory;
use bourse::replay::trace::{self, Trace};
use bourse::replay::{self, DAY_SECONDS, Outcome, Setup};

/// The archive, relative to the repository's root.
const ARCHIVE: &str = "../shared/data/planetlab-workload.tar.gz";
/// Samples in a day's trace.
const DAY_SAMPLES: usize = 288;
/// How far from CloudSim's energy and migrations a policy may be.
const TOLERANCE: f64 = 0.05;

/// The unpacked archive's `planetlab` folder.
fn planetlab() -> &'static Path {
    static UNPACKED: OnceLock<PathBuf> = OnceLock::new();
    UNPACKED.get_or_init(unpack)
}

/// Unpacks the archive unless an earlier run did; into a fresh folder
/// renamed when complete, so an interrupted run leaves no half day.
fn unpack() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let done = tmp.join("planetlab-workload");
    if !done.join("planetlab").is_dir() {
        let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join(ARCHIVE);
        let partial = tmp.join(format!("planetlab-workload.{}", std::process::id()));
        fs::create_dir_all(&partial).expect("a folder to unpack into");
        let status = Command::new("tar")
            .arg("xzf")
            .arg(&archive)
            .arg("-C")
            .arg(&partial)
            .status()
            .expect("tar runs");
        assert!(
            status.success(),
            "cannot unpack {}: the PlanetLab traces are expected there",
            archive.display()
        );
        // Another test process may have finished first: either copy will do.
        let _ = fs::remove_dir_all(&done);
        fs::rename(&partial, &done).expect("the unpacked traces move into place");
    }
    done.join("planetlab")
}

fn day(name: &str) -> Vec<Trace> {
    trace::read_day(&planetlab().join(name), DAY_SAMPLES).expect("the day's traces read")
}

/// `policy` on the whole of day 20110303 on 800 hosts under `memory`.
fn replay_20110303(policy: &str, memory: Memory) -> Outcome {
    let traces = day("20110303");
    let setup = Setup {
        hosts: 800,
        seconds: DAY_SECONDS,
        policy: policy.parse::<PolicyName>().expect("a known policy"),
        memory,
        seed: 1,
        // Only `market` reads it.
        market: MarketSetup {
            policy: PathBuf::from("unused"),
            run_dir: PathBuf::from("unused"),
            zone_hosts: 100,
            reach: None,
        },
    };
    replay::run(&traces, &setup, &mut |_, _| {}).expect("a reference policy never fails")
}

/// Every step of `o`, the bound's draw is at most the policy's.
fn assert_bound_below(o: &Outcome) {
    assert_eq!(o.steps.len(), o.lower_bound_steps.len());
    for (step, bound) in o.steps.iter().zip(&o.lower_bound_steps) {
        assert_eq!(step.seconds, bound.seconds);
        assert!(
            bound.watts <= step.watts,
            "{} ({} memory) at {} s: bound {:.1} W on {} hosts above the policy's {:.1} W on {}",
            o.policy,
            o.memory,
            step.seconds,
            bound.watts,
            bound.hosts,
            step.watts,
            step.active_hosts
        );
    }
    assert!(o.lower_bound_kwh <= o.energy_kwh, "{}", summary(o));
}

/// The figures of `o` a failure should show (its steps are too many).
fn summary(o: &Outcome) -> String {
    format!(
        "{} ({} memory): {:.2} kWh, {} migrations, {} VMs unplaced, peak {} MB on a host, bound {:.2} kWh",
        o.policy,
        o.memory,
        o.energy_kwh,
        o.migrations,
        o.unplaced_vms,
        o.peak_host_memory_mb,
        o.lower_bound_kwh
    )
}

/// `policy` on 20110303 within [`TOLERANCE`] of CloudSim's energy and
/// migrations, and above the bound at every step.
fn assert_matches_cloudsim(policy: &str, kwh: f64, migrations: usize) {
    let o = replay_20110303(policy, Memory::Cloudsim);
    // DVFS migrates nothing: any migration is off by all of it.
    let off = |ours: f64, theirs: f64| (ours - theirs).abs() / theirs.max(1.0);
    assert!(
        off(o.energy_kwh, kwh) <= TOLERANCE,
        "{policy}: {:.2} kWh, CloudSim {kwh}",
        o.energy_kwh
    );
    assert!(
        off(o.migrations as f64, migrations as f64) <= TOLERANCE,
        "{policy}: {} migrations, CloudSim {migrations}",
        o.migrations
    );
    assert_bound_below(&o);
}

#[test]
fn dvfs_matches_cloudsim() {
    assert_matches_cloudsim("dvfs", 764.96, 0);
}

#[test]
fn thr_mmt_matches_cloudsim() {
    assert_matches_cloudsim("thr-mmt-0.8", 198.08, 27_728);
}

#[test]
fn lr_mmt_matches_cloudsim() {
    assert_matches_cloudsim("lr-mmt-1.2", 167.83, 27_649);
}

#[test]
fn mad_mmt_matches_cloudsim() {
    assert_matches_cloudsim("mad-mmt-2.5", 189.79, 27_781);
}

#[test]
fn lr_mc_matches_cloudsim() {
    assert_matches_cloudsim("lr-mc-1.2", 153.87, 23_351);
}

#[test]
fn lr_rs_matches_cloudsim() {
    assert_matches_cloudsim("lr-rs-1.2", 153.95, 23_418);
}

#[test]
fn lr_mu_matches_cloudsim() {
    assert_matches_cloudsim("lr-mu-1.2", 180.62, 30_102);
}

#[test]
fn iqr_mmt_matches_cloudsim() {
    assert_matches_cloudsim("iqr-mmt-1.5", 193.63, 27_592);
}

/// Held to 4 GB, no host ever holds more, and the bound, which counts
/// the memory too, stays below every policy at every step. (Under
/// CloudSim's rule the validation tests above check the bound; there the
/// policies pile up to ten times a host's memory on it.)
#[test]
fn enforced_memory_binds_every_policy_and_the_bound() {
    for policy in [
        "dvfs",
        "thr-mmt-0.8",
        "lr-mmt-1.2",
        "mad-mmt-2.5",
        "lr-mc-1.2",
        "lr-rs-1.2",
        "lr-mu-1.2",
        "iqr-mmt-1.5",
    ] {
        let o = replay_20110303(policy, Memory::Enforced);
        assert!(o.peak_host_memory_mb <= 4096, "{}", summary(&o));
        assert_eq!(o.unplaced_vms, 0, "{}", summary(&o));
        assert_bound_below(&o);
    }
}
