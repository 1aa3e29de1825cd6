//! models/overload-underload.lcc: two hosts loop through idle, overloaded
//! and underloaded as the load their components report changes, and move
//! VMs until the load is even.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod interaction_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use interaction_support::{Log, atom, clock, model_file, program};
use lcc::ast::Mode;
use lcc::channel::Hub;
use lcc::component::{Components, Failure};
use lcc::interp::RoleInstance;
use lcc::term::{Symbol, Term};

/// The cluster the components read and change: which host runs which VMs.
#[derive(Clone, Default)]
struct Cluster(Arc<Mutex<HashMap<String, Vec<String>>>>);

/// A host is overloaded above this many VMs and underloaded below it.
const EVEN: usize = 3;

impl Cluster {
    fn set(&self, host: &str, vms: &[&str]) {
        let vms = vms.iter().map(|v| v.to_string()).collect();
        self.0.lock().unwrap().insert(host.to_owned(), vms);
    }

    fn count(&self, host: &str) -> usize {
        self.0.lock().unwrap().get(host).map_or(0, Vec::len)
    }

    fn migrate(&self, vm: &str, to: &str) -> bool {
        let mut hosts = self.0.lock().unwrap();
        let Some(from) = hosts
            .iter_mut()
            .find(|(_, vms)| vms.iter().any(|v| v == vm))
        else {
            return false;
        };
        from.1.retain(|v| v != vm);
        hosts.entry(to.to_owned()).or_default().push(vm.to_owned());
        true
    }
}

/// The components of host `me`, whose only partner is `other`.
fn host(me: &'static str, other: &'static str, cluster: &Cluster, log: &Log) -> Components {
    let mut c = Components::new();
    let (cl, lg) = (cluster.clone(), log.clone());
    c.register_fn("overloaded", &[Mode::Out], move |_| {
        let n = cl.count(me);
        if n > EVEN {
            lg.push(format!("{me} overloaded"));
            Ok(vec![Term::Int((n - EVEN) as i64)])
        } else {
            Err(Failure::no("not overloaded"))
        }
    });
    let (cl, lg) = (cluster.clone(), log.clone());
    c.register_fn("underloaded", &[Mode::Out], move |_| {
        let n = cl.count(me);
        if n < EVEN {
            lg.push(format!("{me} underloaded"));
            Ok(vec![Term::Int((EVEN - n) as i64)])
        } else {
            Err(Failure::no("not underloaded"))
        }
    });
    let lg = log.clone();
    c.register_async("settle", &[], move |_| {
        let lg = lg.clone();
        async move {
            lg.push(format!("{me} idle"));
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(vec![])
        }
    });
    c.register_fn("partner", &[Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), Term::atom(other)])
    });
    c.register_fn("can_migrate", &[Mode::In, Mode::In], |args| {
        match (&args[0], &args[1]) {
            (Term::Int(capacity), Term::Int(_)) if *capacity > 0 => Ok(vec![]),
            _ => Err(Failure::no("no capacity")),
        }
    });
    c.register_fn("get_hostname", &[Mode::Out], move |_| {
        Ok(vec![Term::atom(me)])
    });
    let cl = cluster.clone();
    c.register_fn("get_random_vm", &[Mode::Out], move |_| {
        let hosts = cl.0.lock().unwrap();
        match hosts.get(me).and_then(|vms| vms.first()) {
            Some(vm) => Ok(vec![Term::atom(vm)]),
            None => Err(Failure::no("no VM to give away")),
        }
    });
    let (cl, lg) = (cluster.clone(), log.clone());
    c.register_fn("migrate_vm", &[Mode::In, Mode::In], move |args| {
        let (vm, to) = (args[0].to_string(), args[1].to_string());
        if cl.migrate(&vm, &to) {
            lg.push(format!("{me} migrated {vm} to {to}"));
            Ok(vec![])
        } else {
            Err(Failure::broken(format!("no VM {vm}")))
        }
    });
    c.register_async("wait_for_migration", &[], |_| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(vec![])
    });
    c
}

#[tokio::test(start_paused = true)]
async fn hosts_change_roles_as_their_load_changes_and_even_it_out() {
    let program = program(model_file("overload-underload"));
    let (cluster, log) = (Cluster::default(), Log::default());
    cluster.set("h1", &["a", "b", "c"]);
    cluster.set("h2", &["d", "e", "f"]);
    let hub = Hub::new();
    let mut tasks = Vec::new();
    for (me, other) in [("h1", "h2"), ("h2", "h1")] {
        let mut instance = RoleInstance::start(
            Arc::clone(&program),
            atom("idle"),
            Symbol::new(me),
            &host(me, other, &cluster, &log),
            clock(),
            hub.join(Symbol::new(me)),
        )
        .unwrap();
        tasks.push(tokio::spawn(async move { instance.run().await }));
    }

    // Even load: both hosts stay idle, looping.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        log.count("h1 idle") >= 5 && log.count("h2 idle") >= 5,
        "{:?}",
        log.entries()
    );
    assert!(
        !log.entries().iter().any(|e| e.contains("loaded")),
        "{:?}",
        log.entries()
    );

    // h1 takes on two more VMs, h2 loses two: they trade until even.
    cluster.set("h1", &["a", "b", "c", "x", "y"]);
    cluster.set("h2", &["d"]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        (cluster.count("h1"), cluster.count("h2")),
        (3, 3),
        "{:?}",
        log.entries()
    );
    let entries = log.entries();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.starts_with("h1 migrated"))
            .count(),
        2,
        "{entries:?}"
    );
    assert!(log.count("h1 overloaded") >= 2, "{entries:?}");
    assert!(log.count("h2 underloaded") >= 2, "{entries:?}");

    // And back to idle: the last thing each host did is settle.
    let idle_before = (log.count("h1 idle"), log.count("h2 idle"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(log.count("h1 idle") > idle_before.0 && log.count("h2 idle") > idle_before.1);
    for task in &tasks {
        assert!(
            !task.is_finished(),
            "a host's loop ended: {:?}",
            log.entries()
        );
    }
    for task in tasks {
        task.abort();
    }
}
