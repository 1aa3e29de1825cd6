//! Bad input does not stop a host. For 10 seconds, while contract-net
//! rounds run over a real nats-server, an attacker publishes random bytes
//! and truncated envelopes on every subject the hosts listen to:
//!
//! - the invitation subject (`invite.contract-net.*`), which every host
//!   that runs the model listens to all the time (the manager's host too:
//!   it also takes part in others' rounds);
//! - the LCC subjects of each running interaction (`lcc.<id>.*.<host>`),
//!   which each host in it listens to while its role runs, for the manager
//!   and every contractor.
//!
//! These are all the subjects `market::runtime` subscribes to (status,
//! trade and migration subjects are the bidder's, flooded by its own
//! tests). Every round still completes with the right outcome, rounds
//! keep completing in every stretch of the flood, the hosts' listeners are
//! still running at the end, and the drop counters equal exactly what was
//! sent: every bad invitation once per listening host, every bad LCC
//! message once.
//!
//! To make the LCC count exact, garbage goes to an interaction only while
//! every host's channel for it is certainly open: from the end of
//! recruitment (each contractor opened its channel before it joined) until
//! well before the collection deadline (the manager's list names a host
//! that never answers, so every role is still receiving until then).
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod flood_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use flood_support::{Garbage, dropped, invitation};
use lcc::ast::Mode;
use lcc::component::Components;
use lcc::interp::TokioClock;
use lcc::term::Term;
use market::bus::subject::{Route, SubjectSpace, Token};
use market::bus::{Bus, LocalNatsServer, NatsBus, NatsConfig};
use market::credits::Credits;
use market::mechanism::contract_net::{AwardRule, answer_award};
use market::runtime::{Model, Offer, Participant, Peer, Recruitment, recruit};
use market::wire::{Envelope, Interaction, InteractionId, MessageTerm, WireLimits, encode};
use tokio::sync::mpsc;
use tokio::time::Instant;

const FLOOD: Duration = Duration::from_secs(10);
/// Rounds must keep completing in every stretch this long.
const STRETCH: Duration = Duration::from_secs(2);
const CONTRACTORS: [(&str, i64); 3] = [("c1", 20), ("c2", 30), ("c3", 25)];
const MANAGER: &str = "m";
/// Named in the call for proposals, never answers: the manager collects
/// until its window closes.
const ABSENT: &str = "c9";
const WINDOW_MS: i64 = 600;
const GRACE_MS: i64 = 300;
/// How long after a round starts its LCC subjects are flooded: the rest of
/// the window is the margin for garbage in flight to be delivered while
/// every channel is still open.
const LCC_FLOOD: Duration = Duration::from_millis(300);
/// Garbage per host and tick (10 ms).
const PER_TICK: usize = 5;

fn space() -> SubjectSpace {
    SubjectSpace::in_zone(Token::new("flood").unwrap())
}

fn model() -> Model {
    Model::load(
        Token::new("contract-net").unwrap(),
        lcc::models::CONTRACT_NET.source,
    )
    .unwrap()
}

async fn peer(url: &str, me: &str) -> Peer {
    Peer {
        bus: Arc::new(NatsBus::connect(&NatsConfig::new([url], me)).await.unwrap()),
        space: space(),
        me: Token::new(me).unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
    }
}

fn contractor(pays: i64) -> Components {
    let mut components = Components::new();
    components.register_fn("offer", &[Mode::In, Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), args[1].clone(), Term::Int(pays)])
    });
    components.register_fn("perform", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components.register_fn("release", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

/// The attacker, and what it sent: bad invitations (each reaches every
/// host) and bad LCC messages (each reaches one host).
struct Attacker {
    bus: Arc<dyn Bus>,
    me: Token,
    garbage: Garbage,
    invitations_sent: u64,
    lcc_sent: u64,
}

impl Attacker {
    /// A whole LCC message from the attacker to `to` in `interaction`,
    /// to cut short.
    fn lcc_message(&self, interaction: InteractionId, to: &Token) -> Bytes {
        let envelope = Envelope {
            sender: self.me.clone(),
            recipient: Some(to.clone()),
            interaction: Some(Interaction {
                id: interaction,
                model: model().hash(),
            }),
            sequence: 0,
            body: MessageTerm(Term::apply("propose", vec![Term::Int(0), Term::Int(1)])),
        };
        encode(&envelope, &WireLimits::default()).unwrap()
    }

    /// Floods until `FLOOD` has passed: invitations all the time, the LCC
    /// subjects of the interaction it is told about until its deadline.
    async fn flood(mut self, mut told: mpsc::UnboundedReceiver<(InteractionId, Instant)>) -> Self {
        let invite_subject = space().subject(&Route::Invite {
            model: Token::new("contract-net").unwrap(),
            from: self.me.clone(),
        });
        let invitation = invitation(&self.me);
        let hosts: Vec<Token> = CONTRACTORS
            .iter()
            .map(|(name, _)| *name)
            .chain([MANAGER])
            .map(|name| Token::new(name).unwrap())
            .collect();
        let mut target: Option<(Vec<(String, Bytes)>, Instant)> = None;
        let started = Instant::now();
        while started.elapsed() < FLOOD {
            while let Ok((interaction, until)) = told.try_recv() {
                let subjects = hosts
                    .iter()
                    .map(|to| {
                        let subject = space().subject(&Route::Lcc {
                            interaction: interaction.token(),
                            from: self.me.clone(),
                            to: to.clone(),
                        });
                        (subject, self.lcc_message(interaction, to))
                    })
                    .collect();
                target = Some((subjects, until));
            }
            for _ in 0..PER_TICK * hosts.len() {
                let payload = self.garbage.payload(&invitation);
                self.bus.publish(&invite_subject, payload).await.unwrap();
                self.invitations_sent += 1;
            }
            if let Some((subjects, until)) = &target
                && Instant::now() < *until
            {
                for (subject, whole) in subjects {
                    for _ in 0..PER_TICK {
                        let payload = self.garbage.payload(whole);
                        self.bus.publish(subject, payload).await.unwrap();
                        self.lcc_sent += 1;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.bus.sync().await.unwrap();
        self
    }
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
    let manager = peer(&url, MANAGER).await;
    let mut hosts = Vec::new();
    for (name, price) in CONTRACTORS.into_iter().chain([(MANAGER, 10)]) {
        let offer = Offer {
            model: model(),
            role: "contractor".into(),
            components: contractor(price),
        };
        let host = if name == MANAGER {
            manager.clone()
        } else {
            peer(&url, name).await
        };
        let serving = Participant::new(host, vec![offer], Duration::from_secs(10))
            .start()
            .await
            .unwrap();
        hosts.push(serving);
    }

    let attacker = peer(&url, "attacker").await;
    let (tell, told) = mpsc::unbounded_channel();
    let flood = tokio::spawn(
        Attacker {
            bus: attacker.bus,
            me: attacker.me,
            garbage: Garbage(0x9e37_79b9_7f4a_7c15),
            invitations_sent: 0,
            lcc_sent: 0,
        }
        .flood(told),
    );

    // Meanwhile the manager keeps trading.
    let contract_net = model();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut completed = Vec::new();
    while started.elapsed() < FLOOD {
        let recruitment = Recruitment {
            role: "contractor".into(),
            within_ms: 100,
        };
        let recruited = recruit(&manager, &contract_net, &recruitment)
            .await
            .unwrap();
        assert_eq!(recruited.players.len(), CONTRACTORS.len());
        // Every channel of the interaction is open now. The attacker may
        // have finished its flood already (it started first): then there is
        // nobody to tell.
        let _ = tell.send((recruited.interaction.id, Instant::now() + LCC_FLOOD));
        let mut components = Components::new();
        let outcome = Arc::clone(&outcomes);
        components.register_fn(
            "award",
            &[Mode::In, Mode::In, Mode::Out, Mode::Out],
            |args| answer_award(args, Credits(i64::MIN), AwardRule::FirstPrice),
        );
        components.register_fn("outcome", &[Mode::In; 4], move |args| {
            outcome
                .lock()
                .unwrap()
                .push(format!("{} {} {}", args[1], args[2], args[3]));
            Ok(vec![])
        });
        let round = completed.len() as i64;
        let role = |mut players: Vec<Term>| {
            players.push(Term::atom(ABSENT));
            Term::apply(
                "manager",
                vec![
                    Term::apply("task", vec![Term::Int(round)]),
                    Term::list(players),
                    Term::Int(WINDOW_MS),
                    Term::Int(GRACE_MS),
                ],
            )
        };
        recruited
            .run(&manager, &contract_net, role, &components)
            .await
            .unwrap();
        completed.push(started.elapsed());
    }
    let attacker = flood.await.unwrap();

    // Trading went on all the time, every round with the right outcome.
    for stretch in 0..(FLOOD.as_secs() / STRETCH.as_secs()) as u32 {
        let (from, to) = (STRETCH * stretch, STRETCH * (stretch + 1));
        assert!(
            completed.iter().any(|t| (from..to).contains(t)),
            "no round completed between {from:?} and {to:?}: {completed:?}"
        );
    }
    assert!(completed.len() >= 8, "only {} rounds", completed.len());
    let outcomes = outcomes.lock().unwrap().clone();
    assert_eq!(outcomes.len(), completed.len());
    assert!(outcomes.iter().all(|o| o == "c2 30 done"), "{outcomes:?}");
    // The hosts are still listening.
    assert!(hosts.iter().all(|serving| !serving.is_finished()));

    // Every bad message reached its listeners and was dropped and counted.
    assert!(attacker.invitations_sent > 10_000);
    assert!(attacker.lcc_sent > 1_000);
    let expected_invites = attacker.invitations_sent * (CONTRACTORS.len() as u64 + 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut invite_drops, mut lcc_drops) = (0, 0);
    while Instant::now() < deadline {
        let rendered = metrics.render();
        (invite_drops, lcc_drops) = (dropped(&rendered, "invite"), dropped(&rendered, "lcc"));
        if invite_drops >= expected_invites && lcc_drops >= attacker.lcc_sent {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(invite_drops, expected_invites);
    assert_eq!(lcc_drops, attacker.lcc_sent);
}
