//! Taking part: answer invitations for the models and roles this host
//! offers, and play them.
//!
//! A host decides for itself which models it runs: it listens only on
//! `invite.<model>.*` for the models it has loaded, and joins only when the
//! invitation's model hash is the hash of its own text of that model (the
//! allowlist is the set of models it loaded), for a role it offers, before
//! the invitation's reply deadline. Every role instance it plays is given
//! a lifetime: an interaction whose initiator vanished, or that recruited
//! enough players without it, is abandoned then.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lcc::channel::{Channel, ChannelError};
use lcc::component::Components;
use lcc::interp::{Completion, RoleFailure, RoleInstance};
use lcc::term::{Symbol, Term};
use tokio::task::{JoinHandle, JoinSet};

use super::channel::BusChannel;
use super::endpoint::Endpoint;
use super::invitation::{Invitation, draw, join};
use super::model::Model;
use crate::bus::subject::{HostName, Route};
use crate::bus::{BusError, Message};
use crate::wire::{Decoder, Envelope, Interaction, InteractionId, Rejection, record_drop};

/// A role of a model this host plays, with the components it provides.
#[derive(Clone)]
pub struct Offer {
    pub model: Model,
    /// The role name, played as the atom role (`contractor`, `trader`).
    pub role: String,
    pub components: Components,
}

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot join: {0}")]
    Join(#[from] ChannelError),
    #[error(transparent)]
    Role(#[from] RoleFailure),
    #[error("abandoned after {0:?}: the interaction did not end")]
    Abandoned(Duration),
}

/// Answers invitations for its offers.
pub struct Participant {
    peer: Endpoint,
    offers: Vec<Offer>,
    lifetime: Duration,
}

impl Participant {
    /// `lifetime` bounds each role instance this host plays.
    pub fn new(peer: Endpoint, offers: Vec<Offer>, lifetime: Duration) -> Self {
        Self {
            peer,
            offers,
            lifetime,
        }
    }

    /// Subscribes to the invitations of every offered model and returns
    /// once they are live; the returned task answers them until the bus
    /// closes.
    pub async fn start(self) -> Result<JoinHandle<()>, BusError> {
        let mut subscriptions = Vec::new();
        let mut models: Vec<&Model> = self.offers.iter().map(|o| &o.model).collect();
        models.dedup_by_key(|m| m.name().clone());
        for model in models {
            let pattern = self.peer.space.invites_for(model.name());
            subscriptions.push(self.peer.bus.subscribe(&pattern).await?);
        }
        self.peer.bus.sync().await?;
        let invitations = futures::stream::select_all(subscriptions);
        Ok(tokio::spawn(self.serve(invitations)))
    }

    async fn serve(self, mut invitations: impl futures::Stream<Item = Message> + Unpin) {
        let decoder = Decoder::new(self.peer.space.clone(), self.peer.limits);
        let mut answered: HashMap<InteractionId, i64> = HashMap::new();
        let mut playing = JoinSet::new();
        loop {
            tokio::select! {
                message = invitations.next() => {
                    let Some(message) = message else { break };
                    if let Some((offer, interaction, initiator)) =
                        self.accept(&decoder, &message, &mut answered)
                    {
                        let (peer, lifetime) = (self.peer.clone(), self.lifetime);
                        playing.spawn(async move {
                            let result = play(&peer, &offer, interaction, &initiator, lifetime).await;
                            (offer, interaction, result)
                        });
                    }
                }
                Some(ended) = playing.join_next(), if !playing.is_empty() => {
                    if let Ok((offer, interaction, result)) = ended {
                        report(&offer, interaction, &result);
                    }
                }
            }
        }
    }

    /// The offer, interaction and initiator of an invitation this host
    /// takes up, or `None` (a rejection is counted and logged).
    fn accept(
        &self,
        decoder: &Decoder,
        message: &Message,
        answered: &mut HashMap<InteractionId, i64>,
    ) -> Option<(Offer, Interaction, HostName)> {
        let envelope: Envelope<Invitation> =
            decoder.decode_or_drop(&message.subject, &message.payload)?;
        let Ok(Route::Invite { model, from }) = self.peer.space.parse(&message.subject) else {
            return None;
        };
        if from == self.peer.me {
            return None;
        }
        let drop = |rejection| {
            record_drop(&message.subject, &rejection);
            None
        };
        let Some(interaction) = envelope.interaction else {
            return drop(Rejection::Unexpected {
                what: "an invitation without an interaction".into(),
            });
        };
        let offer = self
            .offers
            .iter()
            .find(|o| o.model.name() == &model && o.role == envelope.body.role)?;
        if offer.model.hash() != interaction.model {
            return drop(Rejection::ModelNotAllowed {
                model,
                hash: interaction.model,
            });
        }
        let now = self.peer.clock.now_ms();
        if now > envelope.body.reply_by_ms {
            tracing::debug!(%interaction.id, "invitation arrived after its reply deadline");
            return None;
        }
        if !envelope
            .body
            .band
            .holds(draw(interaction.id, self.peer.me.as_str()))
        {
            // Not asked: the call wants fewer peers than the zone has.
            return None;
        }
        if answered.len() > 1024 {
            answered.retain(|_, reply_by| *reply_by >= now);
        }
        if answered
            .insert(interaction.id, envelope.body.reply_by_ms)
            .is_some()
        {
            return drop(Rejection::Duplicate {
                sender: from,
                sequence: envelope.sequence,
            });
        }
        Some((offer.clone(), interaction, from))
    }
}

/// Joins and plays one role instance.
async fn play(
    peer: &Endpoint,
    offer: &Offer,
    interaction: Interaction,
    initiator: &HostName,
    lifetime: Duration,
) -> Result<Completion, PlayError> {
    let channel = BusChannel::open(
        Arc::clone(&peer.bus),
        peer.space.clone(),
        peer.me.clone(),
        interaction,
        peer.limits,
    )
    .await?;
    channel
        .send(&Symbol::new(initiator.as_str()), join(&offer.role))
        .await?;
    let mut instance = RoleInstance::start(
        offer.model.program(),
        Term::atom(&offer.role),
        Symbol::new(peer.me.as_str()),
        &offer.components,
        Arc::clone(&peer.clock),
        channel,
    )?;
    match tokio::time::timeout(lifetime, instance.run()).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(PlayError::Abandoned(lifetime)),
    }
}

/// Logs and counts how a role instance ended.
fn report(offer: &Offer, interaction: Interaction, result: &Result<Completion, PlayError>) {
    let outcome = match result {
        Ok(_) => "completed",
        Err(PlayError::Abandoned(_)) => "abandoned",
        Err(_) => "failed",
    };
    metrics::counter!(
        "bourse_interactions_total",
        "model" => offer.model.name().to_string(),
        "role" => offer.role.clone(),
        "outcome" => outcome,
    )
    .increment(1);
    match result {
        Ok(_) => tracing::info!(%interaction.id, role = %offer.role, "interaction completed"),
        Err(e) => {
            tracing::warn!(%interaction.id, role = %offer.role, error = %e, "interaction ended without completing")
        }
    }
}
