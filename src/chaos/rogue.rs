//! A peer of the zone with valid credentials of its own (user `rogue` in
//! the cluster's configuration) that sends what no honest host sends:
//! random bytes, truncated copies of the messages it hears, messages it
//! heard from others sent again under its own name, and its own messages
//! twice. The hosts must drop all of it and trade on.

use bytes::Bytes;
use futures::StreamExt;
use market::bus::subject::{Route, SubjectSpace, Token};
use market::bus::{Bus, NatsBus, NatsConfig};
use tokio::sync::mpsc;

use super::ChaosError;
use super::zone::{ROGUE, ZONE, Zone};
use crate::rng::Rng;

/// How many messages one burst sends.
const BURST: usize = 20;
/// How many heard messages are kept to replay.
const KEPT: usize = 32;

/// The handle the campaign sends bursts through.
pub struct Rogue {
    bursts: mpsc::UnboundedSender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Rogue {
    /// Connects as the rogue user to every node and starts listening to
    /// the zone's calls and trades, to have something to replay.
    pub async fn connect(zone: &Zone, hosts: Vec<String>, rng: Rng) -> Result<Rogue, ChaosError> {
        let name = token(ROGUE)?;
        let hosts = hosts
            .iter()
            .map(|h| token(h))
            .collect::<Result<Vec<_>, _>>()?;
        let models = ["contract-net", "reverse-call", "call-market"]
            .into_iter()
            .map(token)
            .collect::<Result<Vec<_>, _>>()?;
        let config = NatsConfig::for_host(zone.servers.clone(), &name, &zone.password_file(ROGUE));
        let bus = NatsBus::connect(&config).await?;
        let space = SubjectSpace::in_zone(token(ZONE)?);
        let mut heard = bus.subscribe(&format!("bourse.{ZONE}.invite.>")).await?;
        let (bursts, mut wanted) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut sender = Sender {
                bus,
                space,
                me: name,
                hosts,
                models,
                rng,
                heard: Vec::new(),
                last: None,
            };
            loop {
                tokio::select! {
                    message = heard.next() => match message {
                        Some(message) => sender.keep(message.payload),
                        None => break,
                    },
                    burst = wanted.recv() => match burst {
                        Some(()) => sender.burst().await,
                        None => break,
                    },
                }
            }
        });
        Ok(Rogue { bursts, task })
    }

    /// Asks for one burst of bad messages.
    pub fn burst(&self) {
        // The task ends only when this handle is dropped.
        let _ = self.bursts.send(());
    }

    /// Stops the peer.
    pub fn stop(self) {
        self.task.abort();
    }
}

fn token(text: &str) -> Result<Token, ChaosError> {
    Token::new(text).map_err(|e| ChaosError::Name(format!("{text}: {e}")))
}

struct Sender {
    bus: NatsBus,
    space: SubjectSpace,
    me: Token,
    hosts: Vec<Token>,
    models: Vec<Token>,
    rng: Rng,
    heard: Vec<Bytes>,
    last: Option<(String, Bytes)>,
}

impl Sender {
    fn keep(&mut self, payload: Bytes) {
        if self.heard.len() == KEPT {
            let at = self.rng.below(KEPT);
            self.heard[at] = payload;
        } else {
            self.heard.push(payload);
        }
    }

    async fn burst(&mut self) {
        for _ in 0..BURST {
            let (subject, payload) = self.one();
            if let Err(e) = self.bus.publish(&subject, payload.clone()).await {
                tracing::debug!(%subject, error = %e, "the rogue peer could not send");
            }
            self.last = Some((subject, payload));
        }
    }

    /// One bad message and where it goes.
    fn one(&mut self) -> (String, Bytes) {
        let subject = self.subject();
        let payload = match (self.rng.below(4), self.heard.is_empty(), &self.last) {
            // Its own last message again, to the same place.
            (0, _, Some(last)) => return last.clone(),
            // A message another host sent, under the rogue's own name.
            (1, false, _) => self.heard[self.rng.below(self.heard.len())].clone(),
            // A truncated copy of one.
            (2, false, _) => {
                let whole = &self.heard[self.rng.below(self.heard.len())];
                whole.slice(..self.rng.below(whole.len()))
            }
            _ => (0..1 + self.rng.below(200))
                .map(|_| self.rng.next_u64() as u8)
                .collect::<Vec<u8>>()
                .into(),
        };
        (subject, payload)
    }

    /// A subject the rogue may publish on, naming itself as the sender.
    fn subject(&mut self) -> String {
        let from = self.me.clone();
        let to = self.hosts[self.rng.below(self.hosts.len())].clone();
        let interaction = Token::new(format!("i{}", self.rng.next_u64() % 1000));
        let route = match (self.rng.below(4), interaction) {
            (1, _) => Route::Migrate { from, to },
            (2, Ok(interaction)) => Route::Lcc {
                interaction,
                from,
                to,
            },
            (3, _) => Route::HostStatus { host: from },
            _ => Route::Invite {
                model: self.models[self.rng.below(self.models.len())].clone(),
                from,
            },
        };
        self.space.subject(&route)
    }
}
