//! A short chaos campaign: `market chaos` as a user runs it, with a fixed
//! seed, 12 bidders on simulated hosts over a 3-node nats-server cluster,
//! 90 s of faults of every kind and the quiet end. It must exit 0 with no
//! violation, trades settled and every kind of fault injected. Needs root
//! (the campaign mounts a tmpfs under each ledger; CI runs as root) and
//! `nats-server`.
//!
//! Ignored in the default run until the open bug of docs/reliability.md
//! ("A buyer that never hears the call-off") is fixed: a buyer killed or
//! stopped at the moment its call-market leg is called off keeps it
//! agreed, and about one run in three ends with that violation. Run it
//! with `cargo test --test chaos -- --ignored`.
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

#[test]
#[ignore = "fails about one run in three on the open call-off bug of docs/reliability.md"]
fn a_short_campaign_with_a_fixed_seed_finds_no_violation() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args([
            "chaos",
            "--seed",
            "7",
            "--duration-s",
            "90",
            "--fault-every-ms",
            "1500",
        ])
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
    assert!(summary.contains("seed: 7"), "{summary}");
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
