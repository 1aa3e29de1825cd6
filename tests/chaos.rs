//! Two short chaos campaigns: `market chaos` as a user runs it, 12
//! bidders on simulated hosts over a 3-node nats-server cluster, 80 s of
//! faults of every kind and the quiet end; first with a fixed seed, then
//! with a new one, printed (`scripts/test.sh` runs this file with
//! `--nocapture`, so CI's log shows it), so that every run of the suite
//! also tries a campaign nobody has tried. Each must exit 0 with no
//! violation, trades settled and every kind of fault injected. Needs root
//! (the campaign mounts a tmpfs under each ledger; CI runs as root) and
//! `nats-server`.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use std::process::Command;

/// The figure after `label` on a line of the summary.
fn figure(summary: &str, label: &str) -> u64 {
    summary
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in the summary:\n{summary}"))
}

/// One after the other: two campaigns at once would share the machine's
/// two cores, and each its faults' timing.
#[test]
fn short_chaos_campaigns_find_no_violation() {
    campaign(7);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    eprintln!("chaos: a campaign with a new seed, {seed}");
    campaign(u64::from(seed));
}

fn campaign(seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["chaos", "--seed"])
        .arg(seed.to_string())
        .args(["--duration-s", "80", "--fault-every-ms", "1500"])
        .arg("--bidder")
        .arg(env!("CARGO_BIN_EXE_bidder"))
        .arg("--dir")
        .arg(dir.path().join("zone"))
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The summary in the test's output, to read what the run did.
    eprintln!("{summary}");
    assert_eq!(output.status.code(), Some(0), "{summary}\n{stderr}");
    assert!(summary.contains(&format!("seed: {seed}")), "{summary}");
    assert_eq!(figure(&summary, "violations:"), 0, "{summary}");
    let settled = summary
        .lines()
        .find_map(|l| l.strip_prefix("trades: "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|s| s.strip_suffix(" settled"))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(settled.is_some_and(|n| n > 0), "{summary}");
    for kind in [
        "bidder SIGKILLed",
        "bidder SIGSTOPped",
        "nats-server node SIGKILLed",
        "ledger disk full",
        "rogue peer burst",
    ] {
        assert!(figure(&summary, kind) > 0, "no {kind}:\n{summary}");
    }
}
