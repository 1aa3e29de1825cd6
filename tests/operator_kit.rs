//! What the Debian package gives an operator, checked against the real
//! binaries (the package itself is built, installed and checked by
//! scripts/test-package.sh):
//!
//! - `bidder --check` on the packaged default configuration, pointed at
//!   libvirt's `test:///default`, prints what the host would play and
//!   exits 0; with mistakes in several keys it exits 1 naming every one
//!   (key, value, reason), and starts nothing (no ledger is created).
//! - Every metric the Grafana dashboard (deploy/grafana/) queries exists in
//!   the `/metrics` of running bidders that traded a VM and were sent a
//!   malformed message.
//! - `market man` writes a page for market and every subcommand, and the
//!   completion scripts name every subcommand.
//! - The example zone (deploy/zone-example/) is current: its `nats/` is
//!   what its README's `market nats-config` writes, and each host's
//!   configuration passes `bidder --check`.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use daemon_support::{Daemon, GIVES_ALL, WANTS_MEMORY, ZONE, wait_for_settled};
use market::bus::subject::{Route, SubjectSpace, Token};
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};

const PACKAGED: &str = include_str!("../deploy/package/bidder.toml");
const DASHBOARD: &str = include_str!("../deploy/grafana/bourse-bidders.json");

/// The packaged configuration with its files in `dir` and libvirt's test
/// driver, as an operator trying it on a machine without QEMU would.
fn packaged_config(dir: &Path) -> std::path::PathBuf {
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/policies/seed001-power-saving.toml"
    );
    let text = PACKAGED
        .replace("qemu:///system", "test:///default")
        .replace("/var/lib/bourse/ledger.sqlite", "ledger.sqlite")
        .replace("/etc/bourse/policy.toml", policy);
    let path = dir.join("bidder.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn check(config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bidder"))
        .arg("--check")
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn check_passes_on_the_packaged_configuration_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = packaged_config(dir.path());
    let output = check(&config);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stdout}\n{stderr}");
    for expected in [
        "host h1 in zone zone1",
        "nats: nats://127.0.0.1:4222",
        "hypervisor test:///default: 1 domains defined, 1 running: test",
        "protocol contract-net (kind contract-net",
        "starts manager when overloaded, answers as contractor, award first-price",
        "protocol placement (kind placement",
        "created at first start",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in:\n{stdout}");
    }
    assert!(stderr.contains("is ready to run"), "{stderr}");
    assert!(
        !dir.path().join("ledger.sqlite").exists(),
        "--check created the ledger"
    );
}

#[test]
fn check_names_every_problem_with_its_key_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = packaged_config(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("period_ms = 10000", "period_ms = 0")
        .replace("cpus = 8", "cpus = 0")
        .replace(
            "protocols = [\"contract-net\", \"placement\"]",
            "protocols = [\"contract-net\", \"auction-x\"]",
        );
    std::fs::write(&config, text).unwrap();
    let output = refused(
        &config,
        &[
            "trading.period_ms: must be above 0 (got 0)",
            "capacity: cpus and memory_mib must be above 0",
            "protocols[1]: unknown protocol \"auction-x\"",
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("3 problem(s)"), "{stderr}");
    // A file that does not check has no plan to print.
    assert!(output.stdout.is_empty());

    // Problems beyond the file: a policy and a password file that are not
    // there, and a hypervisor that does not answer.
    let text = std::fs::read_to_string(packaged_config(dir.path()))
        .unwrap()
        .replace(
            "scenarios/policies/seed001-power-saving.toml",
            "scenarios/policies/none.toml",
        )
        .replace("test:///default", "test:///nowhere/node.xml")
        .replace(
            "# credentials = {",
            "credentials = { kind = \"password\", user = \"h1\", password_file = \"/nonexistent/h1.password\" }\n# ",
        );
    std::fs::write(&config, text).unwrap();
    refused(
        &config,
        &[
            ": policy: ",
            ": hypervisor: ",
            ": nats.credentials.password_file: cannot read it",
        ],
    );
}

/// `bidder --check` on `config` exits 1 and names each of `problems`.
fn refused(config: &Path, problems: &[&str]) -> Output {
    let output = check(config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    for problem in problems {
        assert!(stderr.contains(problem), "{problem:?} in:\n{stderr}");
    }
    output
}

/// The metric names a PromQL expression reads: the words of bourse's
/// prefixes (label names and functions have none of them).
fn metrics_in(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| {
            ["bourse_", "migration_", "ledger_", "lcc_"]
                .iter()
                .any(|prefix| word.starts_with(prefix))
        })
        .map(str::to_string)
        .collect()
}

/// Every metric the dashboard's panels query.
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap())
        .flat_map(|target| metrics_in(target["expr"].as_str().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_served_by_running_bidders() {
    let wanted = dashboard_metrics();
    for panel_subject in [
        "bourse_initiatives_total",
        "bourse_trade_price_credits_sum",
        "migration_steps_total",
        "migration_step_seconds_sum",
        "bourse_holds",
        "bourse_messages_dropped_total",
    ] {
        assert!(wanted.contains(panel_subject), "{wanted:?}");
    }

    let dir = tempfile::tempdir().unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();
    let b = Daemon::start(dir.path(), &url, "b", WANTS_MEMORY, &[]);
    let a = Daemon::start(dir.path(), &url, "a", GIVES_ALL, &[1]);
    wait_for_settled(&a, 1, Duration::from_secs(20)).await;

    // A malformed invitation: dropped and counted by both.
    let space = SubjectSpace::in_zone(Token::new(ZONE).unwrap());
    let bus: Arc<dyn Bus> = Arc::new(
        NatsBus::connect(&NatsConfig::new([url.as_str()], "stranger"))
            .await
            .unwrap(),
    );
    let invite = space.subject(&Route::Invite {
        model: Token::new("contract-net").unwrap(),
        from: Token::new("stranger").unwrap(),
    });
    bus.publish(&invite, Bytes::from_static(b"\x00not an envelope"))
        .await
        .unwrap();
    bus.sync().await.unwrap();

    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let missing = loop {
        let served = format!("{}\n{}", a.scrape(), b.scrape());
        let missing: Vec<&String> = wanted
            .iter()
            .filter(|metric| {
                !served
                    .lines()
                    .any(|line| !line.starts_with('#') && line.starts_with(metric.as_str()))
            })
            .collect();
        if missing.is_empty() || std::time::Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no bidder serves: {missing:?}"
    );
}

#[test]
fn man_pages_cover_every_subcommand_and_completions_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["man", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_market"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let subcommands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .take_while(|word| *word != "Options:")
        .filter(|word| *word != "help")
        .collect();
    assert!(subcommands.len() >= 10, "{subcommands:?}");
    let bash = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    let bash = String::from_utf8_lossy(&bash.stdout);
    for subcommand in subcommands {
        let page = dir.path().join(format!("market-{subcommand}.1"));
        let text = std::fs::read_to_string(&page).unwrap();
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{text}");
        assert!(bash.contains(subcommand), "{subcommand} not completed");
    }
    let page = Command::new(env!("CARGO_BIN_EXE_bidder"))
        .arg("--man")
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&page.stdout);
    assert!(page.contains(".TH bidder 8"), "{page}");
    assert!(page.contains("\\-\\-check"), "{page}");
}

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/zone-example");

/// The example zone's `nats/` is what the command in its README writes:
/// run again with its password files, it writes the same node files.
#[test]
fn the_example_zone_is_what_market_nats_config_writes() {
    let readme = std::fs::read_to_string(format!("{EXAMPLE}/README.md")).unwrap();
    let command = readme
        .split("`nats/` is exactly what this command writes:")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .unwrap()
        .replace("\\\n", " ");
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(&args[..2], ["market", "nats-config"], "{command}");
    assert_eq!(args.last(), Some(&"nats"), "{command}");

    let dir = tempfile::tempdir().unwrap();
    let committed = Path::new(EXAMPLE).join("nats");
    for entry in std::fs::read_dir(&committed).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "password") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(&args[1..args.len() - 1])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    for node in ["n1", "n2", "n3"] {
        let name = format!("nats-server-{node}.conf");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(&name)).unwrap(),
            std::fs::read_to_string(committed.join(&name)).unwrap(),
            "deploy/zone-example/nats/{name} is not what the README's command writes"
        );
    }
}

/// Each example host's configuration passes `bidder --check`, with its
/// password file and libvirt's test driver in place of the host's.
#[test]
fn the_example_hosts_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let policy = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/policies/seed001-power-saving.toml"
    );
    for host in ["h1", "h2", "h3"] {
        let text = std::fs::read_to_string(format!("{EXAMPLE}/{host}.toml"))
            .unwrap()
            .replace("qemu:///system", "test:///default")
            .replace("/var/lib/bourse/ledger.sqlite", "ledger.sqlite")
            .replace("/etc/bourse/policy.toml", policy)
            .replace("/etc/bourse/nats/", &format!("{EXAMPLE}/nats/"));
        let config = dir.path().join(format!("{host}.toml"));
        std::fs::write(&config, text).unwrap();
        let output = check(&config);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{host}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("host {host} in zone ")),
            "{host}: {stdout}"
        );
        assert!(
            stdout.contains("nats://192.0.2.1:4222, nats://192.0.2.2:4222, nats://192.0.2.3:4222"),
            "{stdout}"
        );
    }
}
