//! What the flood tests and the flood benchmark share: the attacker's
//! garbage, the whole messages it cuts short, and the drop counter they
//! check it against; and the zone whose contract-net rounds the flood
//! targets (its hosts, their components). Used by
//! `market/tests/bad_input_flood.rs` and `market/benches/flood.rs` (LCC
//! hosts over `market::runtime`) and, through `#[path]`, by the root
//! package's `tests/bidder_daemon.rs` (whole daemons, the garbage only), so
//! every flood sends the same kind of bad input and counts it the same way.
#![allow(dead_code)] // each user takes a different part
#![allow(clippy::unwrap_used)] // fixtures: a failure here is a failed test or run

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use lcc::ast::Mode;
use lcc::component::Components;
use lcc::interp::TokioClock;
use lcc::term::Term;
use market::bus::subject::{Route, SubjectSpace, Token};
use market::bus::{NatsBus, NatsConfig};
use market::credits::Credits;
use market::mechanism::contract_net::{AwardRule, answer_award};
use market::runtime::{Band, Endpoint, InteractionIds, Invitation, Model, Offer, Participant};
use market::wire::{Envelope, Interaction, InteractionId, MessageTerm, WireLimits, encode};
use tokio::task::JoinHandle;

/// xorshift64: reproducible garbage without a dependency.
pub struct Garbage(pub u64);

impl Garbage {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Random bytes, or a valid envelope cut short.
    pub fn payload(&mut self, whole: &[u8]) -> Bytes {
        if self.next().is_multiple_of(2) {
            let len = (self.next() % 200) as usize;
            Bytes::from((0..len).map(|_| self.next() as u8).collect::<Vec<u8>>())
        } else {
            let cut = (self.next() % whole.len() as u64) as usize;
            Bytes::copy_from_slice(&whole[..cut])
        }
    }
}

/// A whole contract-net invitation from `sender`: what the attacker cuts
/// short, so that some garbage gets as far as the envelope's body.
pub fn invitation(sender: &Token) -> Bytes {
    let envelope = Envelope {
        sender: sender.clone(),
        recipient: None,
        interaction: None,
        sequence: 0,
        body: Invitation {
            role: "contractor".into(),
            reply_by_ms: i64::MAX,
            band: Band::EVERYONE,
        },
    };
    // A fixed, small envelope: it always encodes.
    encode(&envelope, &WireLimits::default()).unwrap()
}

/// A whole LCC message from `sender` to `to` in `interaction` of the
/// contract net: what the attacker cuts short on the round's subjects.
fn lcc_message(sender: &Token, to: &Token, interaction: InteractionId) -> Bytes {
    let envelope = Envelope {
        sender: sender.clone(),
        recipient: Some(to.clone()),
        interaction: Some(Interaction {
            id: interaction,
            model: contract_net().hash(),
        }),
        sequence: 0,
        body: MessageTerm(Term::apply("propose", vec![Term::Int(0), Term::Int(1)])),
    };
    encode(&envelope, &WireLimits::default()).unwrap()
}

/// Sums `bourse_messages_dropped_total` over its reasons, for messages
/// that came on subjects of `kind`, in a Prometheus text rendering.
pub fn dropped(metrics: &str, kind: &str) -> u64 {
    let label = format!("kind=\"{kind}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("bourse_messages_dropped_total{") && l.contains(&label))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .and_then(|value| value.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("the sample {l:?} has no whole number for its value"))
        })
        .sum()
}

/// How often the attacker floods the invitation subject.
pub const TICK: Duration = Duration::from_millis(10);
/// Bad invitations per host and tick.
pub const PER_TICK: usize = 5;
/// Bad LCC messages per host and round.
pub const LCC_PER_HOST: usize = 150;

/// The attacker of the flooded zone, with valid credentials of its own,
/// and what it sent: bad invitations (each reaches every host) and bad
/// LCC messages (each reaches one host).
pub struct Attacker {
    peer: Endpoint,
    garbage: Garbage,
    invite_subject: String,
    invitation: Bytes,
    pub invitations_sent: u64,
    pub lcc_sent: u64,
}

impl Attacker {
    pub fn new(peer: Endpoint) -> Self {
        let invite_subject = space().subject(&Route::Invite {
            model: Token::new("contract-net").unwrap(),
            from: peer.me.clone(),
        });
        let invitation = invitation(&peer.me);
        Attacker {
            peer,
            garbage: Garbage(0x9e37_79b9_7f4a_7c15),
            invite_subject,
            invitation,
            invitations_sent: 0,
            lcc_sent: 0,
        }
    }

    /// One tick's [`PER_TICK`] bad invitations per host, on the subject
    /// every host listens to.
    pub async fn invitations(&mut self) {
        for _ in 0..PER_TICK * (CONTRACTORS.len() + 1) {
            let payload = self.garbage.payload(&self.invitation);
            let subject = &self.invite_subject;
            self.peer.bus.publish(subject, payload).await.unwrap();
            self.invitations_sent += 1;
        }
    }

    /// [`LCC_PER_HOST`] bad messages to each host on its subject of
    /// `interaction`, on the server when this returns.
    pub async fn round(&mut self, interaction: InteractionId) {
        let hosts = CONTRACTORS.iter().map(|(name, _)| *name).chain([MANAGER]);
        for to in hosts.map(|name| Token::new(name).unwrap()) {
            let subject = space().subject(&Route::Lcc {
                interaction: interaction.token(),
                from: self.peer.me.clone(),
                to: to.clone(),
            });
            let whole = lcc_message(&self.peer.me, &to, interaction);
            for _ in 0..LCC_PER_HOST {
                let payload = self.garbage.payload(&whole);
                self.peer.bus.publish(&subject, payload).await.unwrap();
                self.lcc_sent += 1;
            }
        }
        self.sync().await;
    }

    /// Returns once everything sent is on the server.
    pub async fn sync(&self) {
        self.peer.bus.sync().await.unwrap();
    }
}

/// The contractors of the flooded zone and what each pays for the task:
/// `c2` wins every round.
pub const CONTRACTORS: [(&str, i64); 3] = [("c1", 20), ("c2", 30), ("c3", 25)];
/// The host that holds the rounds (a contractor of others' rounds too).
pub const MANAGER: &str = "m";
/// Every round's outcome, as [`manager_components`] writes it.
pub const OUTCOME: &str = "c2 30 done";

pub fn space() -> SubjectSpace {
    SubjectSpace::in_zone(Token::new("flood").unwrap())
}

pub fn contract_net() -> Model {
    Model::load(
        Token::new("contract-net").unwrap(),
        lcc::models::CONTRACT_NET.source,
    )
    .unwrap()
}

/// `me` on a connection of its own to the server at `url`.
pub async fn peer(url: &str, me: &str) -> Endpoint {
    Endpoint {
        bus: Arc::new(NatsBus::connect(&NatsConfig::new([url], me)).await.unwrap()),
        space: space(),
        me: Token::new(me).unwrap(),
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    }
}

/// A contractor that offers `pays` for any task and performs at once.
pub fn contractor_components(price: i64) -> Components {
    let mut components = Components::new();
    components.register_fn("offer", &[Mode::In, Mode::In, Mode::Out], move |args| {
        Ok(vec![args[0].clone(), args[1].clone(), Term::Int(price)])
    });
    components.register_fn("perform", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components.register_fn("release", &[Mode::In, Mode::In], |_| Ok(vec![]));
    components
}

/// The manager's components: the highest offer wins, and each round's
/// outcome goes to `outcomes` as "winner price report".
pub fn manager_components(outcomes: &Arc<Mutex<Vec<String>>>) -> Components {
    let mut components = Components::new();
    let outcomes = Arc::clone(outcomes);
    components.register_fn(
        "award",
        &[Mode::In, Mode::In, Mode::Out, Mode::Out],
        |args| answer_award(args, Credits(i64::MIN), AwardRule::FirstPrice),
    );
    components.register_fn("outcome", &[Mode::In; 4], move |args| {
        outcomes
            .lock()
            .unwrap()
            .push(format!("{} {} {}", args[1], args[2], args[3]));
        Ok(vec![])
    });
    components
}

/// The zone's hosts, each on its own connection to `url`, each listening
/// for contract-net invitations all the time as a contractor (the
/// manager's host too, for others' rounds): the manager's peer, the
/// contractors' peers with what they pay, and the listeners.
pub async fn serve_zone(url: &str) -> (Endpoint, Vec<(Endpoint, i64)>, Vec<JoinHandle<()>>) {
    let manager = peer(url, MANAGER).await;
    let mut contractors = Vec::new();
    for (name, price) in CONTRACTORS {
        contractors.push((peer(url, name).await, price));
    }
    let mut hosts = contractors.clone();
    hosts.push((manager.clone(), 10));
    let mut listening = Vec::new();
    for (host, price) in hosts {
        let offer = Offer {
            model: contract_net(),
            role: "contractor".into(),
            components: contractor_components(price),
        };
        let serving = Participant::new(host, vec![offer], Duration::from_secs(10));
        listening.push(serving.start().await.unwrap());
    }
    (manager, contractors, listening)
}
