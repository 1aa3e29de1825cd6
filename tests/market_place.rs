//! `market place` as an operator runs it: `bidder` daemons as processes on
//! libvirt's `test:///` driver, a real nats-server with the permissions
//! `market nats-config --operator` writes, SQLite ledgers on disk.
//!
//! - Two hosts whose policies price a new VM differently: the VM starts on
//!   the one that offered more, its ledger records the placement settled,
//!   `market audit` passes, `market watch` shows the placement published by
//!   its host, and a second placement of the same name is refused because
//!   that host says the domain runs there.
//! - Bad input: a bundle larger than any host (every host refuses, each
//!   saying why), a malformed domain XML, and a user whose permissions do
//!   not allow placements: a clear error, exit 1, nothing recorded. A
//!   definition libvirt refuses: the winner's ledger rolls the placement
//!   back with libvirt's words, nothing stays defined, audit passes.
//! - A placement model of one's own, under its own name: configured on the
//!   hosts, allowed by `market nats-config --placement-protocol`, used by
//!   `market place --protocol --model`; the shipped text finds no host.
//! - A definition without `<uuid>` is given a fresh one, as `virsh
//!   define` gives it: the output names it, the winner's ledger and libvirt
//!   know the VM by it, and the operator's file is left as written.
//! - Two placements at the same moment at a zone with room for one VM:
//!   exactly one is placed (capacity is held while a call is open).
//! - The power-saving arrivals of `market simulate`, across processes: six
//!   new VMs placed one after the other on three power-saving hosts fill
//!   the fullest host that fits, and end on as few hosts as first-fit
//!   decreasing packs them onto.
//!
//! A crash of the winner between recording and starting is covered by
//! tests/crash_recovery.rs (the daemon's start-up recovery runs the same
//! `migration::placement::recover`).
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod daemon_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use daemon_support::{Daemon, Settings, WANTS_MEMORY, ZONE, credentials, market_audit, trades_in};
use market::bus::LocalNatsServer;
use market::ledger::{TradeKind, TradeState};

/// Wants 1 GiB of VMs, at half the weight: it takes a VM too, at another
/// price than a host that wants 4 GiB.
const WANTS_LITTLE: &str = "[policy]\nname = \"wants-little\"\n\
    [[policy.condition]]\nmetric = \"vm_memory_mib\"\nunderloaded_below = 1024\nweight = 0.5\n";

/// A zone configured by `market nats-config` with hosts a, b and c, an
/// observer and an operator, its nats-server running; files in a
/// temporary directory.
struct Zone {
    dir: tempfile::TempDir,
    nats: PathBuf,
    url: String,
    _server: LocalNatsServer,
}

impl Zone {
    fn start() -> Zone {
        Zone::start_with(&[])
    }

    /// A zone whose `market nats-config` also gets `extra`.
    fn start_with(extra: &[&str]) -> Zone {
        let dir = tempfile::tempdir().unwrap();
        let nats = dir.path().join("nats");
        let out = Command::new(env!("CARGO_BIN_EXE_market"))
            .args([
                "nats-config",
                "--zone",
                ZONE,
                "--host",
                "a",
                "--host",
                "b",
                "--host",
                "c",
            ])
            .args(["--observer", "watch", "--operator", "ops"])
            .args(extra)
            .arg("--out")
            .arg(&nats)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let server = LocalNatsServer::start_with_config(&nats.join("nats-server.conf")).unwrap();
        Zone {
            url: server.url(),
            dir,
            nats,
            _server: server,
        }
    }

    /// A bidder of the zone, with its user's credentials.
    fn daemon(&self, name: &str, policy: &str) -> Daemon {
        self.daemon_with(name, policy, Settings::default())
    }

    /// A bidder of the zone with `settings` (its credentials added).
    fn daemon_with(&self, name: &str, policy: &str, settings: Settings) -> Daemon {
        let settings = Settings {
            nats: credentials(&self.nats, name),
            ..settings
        };
        Daemon::start_with(self.dir.path(), &self.url, name, policy, &[], &settings)
    }

    /// `market watch --json` as the observer, subscribed: its process and
    /// the file its lines go to.
    fn watch(&self) -> (std::process::Child, PathBuf) {
        let (out, err) = (
            self.dir.path().join("watch.jsonl"),
            self.dir.path().join("watch.log"),
        );
        let child = Command::new(env!("CARGO_BIN_EXE_market"))
            .args([
                "watch", "--json", "--zone", ZONE, "--server", &self.url, "--user", "watch",
            ])
            .arg("--password-file")
            .arg(self.nats.join("watch.password"))
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&err)
            .unwrap_or_default()
            .contains("watching zone")
        {
            assert!(Instant::now() < deadline, "market watch did not subscribe");
            std::thread::sleep(Duration::from_millis(20));
        }
        (child, out)
    }

    /// Runs `market place` as `user` with `args`.
    fn place(&self, user: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_market"))
            .args([
                "place", "--zone", ZONE, "--server", &self.url, "--user", user,
            ])
            .arg("--password-file")
            .arg(self.nats.join(format!("{user}.password")))
            .args(["--domain-type", "test"])
            .args(args)
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(out)))
}

async fn placements(ledger: &Path) -> Vec<market::ledger::TradeRecord> {
    let mut all = Vec::new();
    for state in TradeState::ALL {
        all.extend(trades_in(ledger, state).await);
    }
    all.retain(|t| t.terms.kind == TradeKind::Placement);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_that_values_a_new_vm_most_starts_it() {
    let zone = Zone::start();
    let a = zone.daemon("a", WANTS_MEMORY);
    let b = zone.daemon("b", WANTS_LITTLE);

    let (mut watcher, watched) = zone.watch();

    let vm = ["--name", "web1", "--vcpus", "1", "--memory-mib", "512"];
    let out = zone.place("ops", &[&vm[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["result"], "started", "{report}");
    let answers = report["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 2, "{report}");
    let best = answers
        .iter()
        .filter(|a| a["answer"] == "offer")
        .max_by_key(|a| a["price"].as_i64().unwrap())
        .unwrap();
    assert_eq!(report["host"], best["host"], "{report}");
    assert_ne!(answers[0]["price"], answers[1]["price"], "{report}");
    let (winner, loser) = if report["host"] == "a" {
        (&a, &b)
    } else {
        (&b, &a)
    };

    let placed = placements(&winner.ledger).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].state, TradeState::Settled);
    assert_eq!(placed[0].terms.seller, "ops");
    assert_eq!(placed[0].terms.vms[0].name, "web1");
    assert!(placements(&loser.ledger).await.is_empty());

    // The winner published the placement's steps; the observer saw them.
    let deadline = Instant::now() + Duration::from_secs(10);
    let settled = loop {
        let lines = std::fs::read_to_string(&watched).unwrap_or_default();
        let found = lines
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["trade"]["kind"] == "placement" && l["trade"]["state"] == "settled");
        if let Some(line) = found {
            break line;
        }
        assert!(Instant::now() < deadline, "no placement event:\n{lines}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(settled["trade"]["buyer"], winner.name.as_str(), "{settled}");
    assert_eq!(settled["trade"]["seller"], "ops", "{settled}");
    let _ = watcher.kill();
    let _ = watcher.wait();

    // It runs at the winner: the same name again is refused, the winner
    // saying so.
    let out = zone.place("ops", &vm);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    let running_there = format!("is Running at {}", winner.name);
    assert!(
        said.contains("already in the zone") && said.contains(&running_there),
        "{said}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_market"))
        .args(["ledger", "trades"])
        .arg(&winner.ledger)
        .output()
        .unwrap();
    assert!(text(&out).contains("placement"), "{}", text(&out));
    let ledgers = [a.ledger.clone(), b.ledger.clone()];
    a.stop();
    b.stop();
    let (ok, report) = market_audit(&[&ledgers[0], &ledgers[1]]);
    assert!(ok, "market audit:\n{report}");
    assert!(report.contains("1 placement(s) by ops"), "{report}");
}

/// A placement model of one's own, played under its own name: the hosts
/// configure it (`[protocol.NAME] model, kind = "placement"`),
/// `market nats-config --placement-protocol NAME` lets the operator start
/// it, and `market place --protocol NAME --model FILE` places with it; the
/// shipped model's text differs, so a call with it finds no host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_model_of_ones_own_places_under_its_own_name() {
    let zone = Zone::start_with(&["--placement-protocol", "quiet-placement"]);
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("lcc-protocols/models/placement.lcc"),
    )
    .unwrap();
    let model = zone.dir.path().join("quiet-placement.lcc");
    std::fs::write(&model, format!("// The zone's own copy.\n{shipped}")).unwrap();
    let settings = || Settings {
        keys: "protocols = [\"contract-net\", \"quiet-placement\"]".into(),
        tables: format!(
            "[protocol.quiet-placement]\nmodel = \"{}\"\nkind = \"placement\"\n",
            model.display()
        ),
        ..Settings::default()
    };
    let a = zone.daemon_with("a", WANTS_MEMORY, settings());
    let b = zone.daemon_with("b", WANTS_LITTLE, settings());
    let vm = ["--name", "web1", "--vcpus", "1", "--memory-mib", "512"];
    let own = [
        "--protocol",
        "quiet-placement",
        "--model",
        model.to_str().unwrap(),
    ];

    // The shipped text under the zone's name: no host runs that model.
    let out = zone.place("ops", &[&vm[..], &own[..2]].concat());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(placements(&a.ledger).await.is_empty());
    assert!(placements(&b.ledger).await.is_empty());

    let out = zone.place("ops", &[&vm[..], &own[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let report = json(&out);
    assert_eq!(report["result"], "started", "{report}");
    assert_eq!(report["answers"].as_array().unwrap().len(), 2, "{report}");
    let winner = if report["host"] == "a" { &a } else { &b };
    let placed = placements(&winner.ledger).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].terms.protocol.name, "quiet-placement");
    assert_eq!(placed[0].state, TradeState::Settled);

    // The operator may start this protocol only: the shipped name is
    // refused by the server.
    let out = zone.place(
        "ops",
        &["--name", "web2", "--vcpus", "1", "--memory-mib", "512"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("refuses"), "{}", text(&out));

    let ledgers = [a.ledger.clone(), b.ledger.clone()];
    a.stop();
    b.stop();
    let (ok, report) = market_audit(&[&ledgers[0], &ledgers[1]]);
    assert!(ok, "market audit:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_placed_is_refused_saying_why_and_nothing_is_recorded() {
    let zone = Zone::start();
    let a = zone.daemon("a", WANTS_MEMORY);
    let b = zone.daemon("b", WANTS_LITTLE);

    let huge = ["--name", "huge", "--vcpus", "64", "--memory-mib", "1048576"];
    let out = zone.place("ops", &huge);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("no host will take it"), "{said}");
    for host in ["a:", "b:"] {
        assert!(said.contains(host), "{said}");
    }

    let xml = zone.dir.path().join("bad.xml");
    std::fs::write(&xml, "<domain type='test'><name>x</name>").unwrap();
    let out = zone.place("ops", &["--domain", xml.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("is not a domain definition"),
        "{}",
        text(&out)
    );

    let vm = ["--name", "web2", "--vcpus", "1", "--memory-mib", "512"];
    let out = zone.place("watch", &vm);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the server refuses"), "{}", text(&out));

    assert!(placements(&a.ledger).await.is_empty());
    assert!(placements(&b.ledger).await.is_empty());

    // A definition libvirt refuses: the winner recorded the placement,
    // could not define it, and rolled the record back.
    let refused = zone.dir.path().join("bogus.xml");
    std::fs::write(
        &refused,
        "<domain type='test'><name>bogus</name><uuid>11111111-2222-4333-8444-555555555555</uuid>\
         <memory unit='MiB'>512</memory><vcpu>1</vcpu><os><type>bogus</type></os></domain>",
    )
    .unwrap();
    let out = zone.place("ops", &["--domain", refused.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("could not start it") && said.contains("unknown OS type"),
        "{said}"
    );
    let mut recorded = placements(&a.ledger).await;
    recorded.extend(placements(&b.ledger).await);
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].state, TradeState::RolledBack);
    assert!(
        recorded[0]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("unknown OS type")
    );

    let ledgers = [a.ledger.clone(), b.ledger.clone()];
    a.stop();
    b.stop();
    let (ok, report) = market_audit(&[&ledgers[0], &ledgers[1]]);
    assert!(ok, "market audit:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_without_uuid_is_placed_with_one_generated_and_printed() {
    let zone = Zone::start();
    let a = zone.daemon("a", WANTS_MEMORY);
    let file = zone.dir.path().join("web1.xml");
    let written = "<domain type='test'>\n  <name>web1</name>\n  <memory unit='MiB'>512</memory>\n  \
        <vcpu>1</vcpu>\n  <os><type>hvm</type></os>\n</domain>\n";
    std::fs::write(&file, written).unwrap();
    let domain = ["--domain", file.to_str().unwrap()];

    let out = zone.place("ops", &domain);
    assert!(out.status.success(), "{}", text(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    let uuid = said
        .split("(uuid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no uuid printed:\n{said}"));
    let version_4 = bidder::hypervisor::DomainUuid::parse(uuid).is_ok()
        && uuid.as_bytes()[14] == b'4'
        && matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b');
    assert!(version_4, "{uuid} is not a random (version 4) UUID");
    let placed = placements(&a.ledger).await;
    assert_eq!(placed.len(), 1, "{placed:?}");
    assert_eq!(placed[0].state, TradeState::Settled);
    assert_eq!(placed[0].terms.vms[0].uuid, uuid);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);

    // libvirt at the winner knows it by that UUID: the same file again
    // gets another UUID, and the name that runs at a refuses it.
    let again = zone.place("ops", &[&domain[..], &["--json"]].concat());
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    let report = json(&again);
    assert_ne!(report["uuid"], uuid, "{report}");
    let refusal = text(&again);
    assert!(
        refusal.contains(&format!("web1 ({uuid}) is Running at a")),
        "{refusal}"
    );
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_placements_at_once_for_room_for_one_place_one() {
    let zone = Zone::start();
    // Four CPUs: room for one 3-vCPU VM.
    let a = zone.daemon("a", WANTS_MEMORY);

    let outs: Vec<Output> = std::thread::scope(|scope| {
        let calls: Vec<_> = ["big1", "big2"]
            .into_iter()
            .map(|name| {
                let zone = &zone;
                scope.spawn(move || {
                    zone.place(
                        "ops",
                        &["--name", name, "--vcpus", "3", "--memory-mib", "512"],
                    )
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let placed = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(placed, 1, "{}\n---\n{}", text(&outs[0]), text(&outs[1]));
    let refused = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(text(refused).contains("not placed"), "{}", text(refused));
    let recorded = placements(&a.ledger).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0].state, TradeState::Settled);
    a.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_saving_hosts_pack_arriving_vms_as_first_fit_decreasing_does() {
    let zone = Zone::start();
    let policy = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/policies/seed001-power-saving.toml"
    ))
    .unwrap();
    let hosts: Vec<Daemon> = ["a", "b", "c"]
        .iter()
        .map(|name| zone.daemon(name, &policy))
        .collect();
    // Four CPUs less the policy's one-core headroom: three 1-vCPU VMs a
    // host, so first-fit decreasing packs six onto two hosts.
    for i in 1..=6 {
        let name = format!("new{i}");
        let out = zone.place(
            "ops",
            &["--name", &name, "--vcpus", "1", "--memory-mib", "512"],
        );
        assert!(out.status.success(), "{name}: {}", text(&out));
    }
    let mut counts = Vec::new();
    for host in &hosts {
        let placed = placements(&host.ledger).await;
        assert!(
            placed.iter().all(|t| t.state == TradeState::Settled),
            "{placed:?}"
        );
        counts.push(placed.len());
    }
    assert_eq!(counts, [3, 3, 0], "VMs placed per host");
    let ledgers: Vec<_> = hosts.iter().map(|h| h.ledger.clone()).collect();
    for host in hosts {
        host.stop();
    }
    let (ok, report) = market_audit(&ledgers.iter().map(|p| p.as_path()).collect::<Vec<_>>());
    assert!(ok, "market audit:\n{report}");
}
