//! Bad input does not stop a host. While eight contract-net rounds run
//! over a real nats-server, an attacker publishes random bytes and
//! truncated envelopes on every subject the hosts listen to:
//!
//! - the invitation subject (`invite.contract-net.*`), which every host
//!   that runs the model listens to all the time (the manager's host too:
//!   it also takes part in others' rounds), every 10 ms from before the
//!   first round until after the last;
//! - the LCC subjects of each running interaction (`lcc.<id>.*.<host>`),
//!   which each host in it listens to while its role runs, for the manager
//!   and every contractor: a batch for every round, while it runs.
//!
//! These are all the subjects `market::runtime` subscribes to (status,
//! trade and migration subjects are the bidder's, flooded by its own
//! tests). Every round completes with the right outcome, the invitation
//! flood went on through every round, the hosts' listeners are still
//! running at the end, and the drop counters equal exactly what was sent:
//! every bad invitation once per listening host, every bad LCC message
//! once. What is asserted is counted, never timed: how fast rounds go
//! under a flood is measured by `market/benches/flood.rs`.
//!
//! To make the LCC count exact, garbage goes to an interaction only while
//! every host's channel for it is certainly open: from the end of
//! recruitment (each contractor opened its channel before it joined) until
//! the round ends, which is no sooner than its collection deadline (the
//! manager's list names a host that never answers); a round that ended
//! before its batch was out fails the test.
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod flood_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flood_support::{
    Attacker, CONTRACTORS, LCC_PER_HOST, OUTCOME, TICK, contract_net, dropped, manager_components,
    peer, serve_zone,
};
use lcc::term::Term;
use market::bus::LocalNatsServer;
use market::runtime::{Recruitment, recruit};
use market::wire::InteractionId;
use tokio::sync::mpsc::{self, error::TryRecvError};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How many rounds run under the flood.
const ROUNDS: usize = 8;
/// Named in the call for proposals, never answers: the manager collects
/// until its window closes.
const ABSENT: &str = "c9";
const WINDOW_MS: i64 = 600;
const GRACE_MS: i64 = 300;

/// A round the attacker is told about, and where it says, once its batch
/// for the round is on the server, how many bad invitations it had sent.
type Told = (InteractionId, oneshot::Sender<u64>);

/// Floods the invitation subject every tick until the rounds are over
/// (`told` closed), and the LCC subjects of each round it is told about,
/// at once.
async fn flood(mut attacker: Attacker, mut told: mpsc::UnboundedReceiver<Told>) -> Attacker {
    loop {
        match told.try_recv() {
            Ok((interaction, flooded)) => {
                attacker.round(interaction).await;
                let _ = flooded.send(attacker.invitations_sent);
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => break,
        }
        attacker.invitations().await;
        tokio::time::sleep(TICK).await;
    }
    attacker.sync().await;
    attacker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_keep_trading_under_a_flood_on_every_subject_and_count_every_bad_message() {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let server = LocalNatsServer::start().unwrap();
    let url = server.url();

    // Every host runs contract-net as a contractor; the manager's host
    // also initiates.
    let (manager, _, hosts) = serve_zone(&url).await;

    let attacker = Attacker::new(peer(&url, "attacker").await);
    let (tell, told) = mpsc::unbounded_channel();
    let flood = tokio::spawn(flood(attacker, told));

    // Meanwhile the manager trades, round after round.
    let model = contract_net();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let mut flooded_by = Vec::new();
    for round in 0..ROUNDS {
        let recruitment = Recruitment {
            role: "contractor".into(),
            within_ms: 100,
            reach: None,
        };
        let recruited = recruit(&manager, &model, &recruitment).await.unwrap();
        assert_eq!(recruited.players.len(), CONTRACTORS.len());
        // Every channel of the interaction is open now.
        let (flooded, batch_out) = oneshot::channel();
        tell.send((recruited.interaction.id, flooded)).unwrap();
        let components = manager_components(&outcomes);
        let role = |mut players: Vec<Term>| {
            players.push(Term::atom(ABSENT));
            Term::apply(
                "manager",
                vec![
                    Term::apply("task", vec![Term::Int(round as i64)]),
                    Term::list(players),
                    Term::Int(WINDOW_MS),
                    Term::Int(GRACE_MS),
                ],
            )
        };
        let run = recruited.run(&manager, &model, role, &components);
        tokio::pin!(run);
        tokio::select! {
            invitations = batch_out => flooded_by.push(invitations.unwrap()),
            result = &mut run => panic!("round {round} ended before its flood was out: {result:?}"),
        }
        run.await.unwrap();
    }
    drop(tell);
    let attacker = flood.await.unwrap();

    // Every round under the flood, each with the right outcome.
    assert!(
        flooded_by.windows(2).all(|w| w[0] < w[1]) && flooded_by[0] > 0,
        "bad invitations sent by each round: {flooded_by:?}"
    );
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes, vec![OUTCOME; ROUNDS]);
    // The hosts are still listening.
    assert!(hosts.iter().all(|serving| !serving.is_finished()));

    // Every bad message reached its listeners and was dropped and counted.
    let expected_lcc = (ROUNDS * (CONTRACTORS.len() + 1) * LCC_PER_HOST) as u64;
    assert_eq!(attacker.lcc_sent, expected_lcc);
    let expected_invites = attacker.invitations_sent * (CONTRACTORS.len() as u64 + 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut invite_drops, mut lcc_drops) = (0, 0);
    while Instant::now() < deadline {
        let rendered = metrics.render();
        (invite_drops, lcc_drops) = (dropped(&rendered, "invite"), dropped(&rendered, "lcc"));
        if invite_drops >= expected_invites && lcc_drops >= expected_lcc {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(invite_drops, expected_invites);
    assert_eq!(lcc_drops, expected_lcc);
}
