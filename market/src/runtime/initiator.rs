//! Starting an interaction: recruit role players, then play the initial
//! role with them.
//!
//! Recruitment needs no directory: the initiator publishes an
//! [`Invitation`] on `invite.<model>.<me>`, and every peer that runs the
//! model (same hash) and accepts the role answers `join(Role)` on the
//! interaction's own LCC subject. The initiator takes joins until the
//! role's maximum (from `r(Role, Kind, Min, Max)`) or until the recruiting
//! deadline, and gives up if fewer than the minimum joined.
//!
//! With a `reach`, the initiator asks a few peers first and widens: each
//! invitation names a band of draws ([`Band`]; every peer draws for
//! itself from the interaction's id), the first one in 4,096 of them, each
//! next band four times wider than all before it, until `reach` peers
//! joined or every peer was asked. A zone's size is never needed: in a zone
//! of 10,000 the first band already holds about `reach` peers, in one of
//! 100 the fourth does, and the joins stay about `reach` to four times it.

use std::sync::Arc;

use lcc::channel::Channel;
use lcc::component::Components;
use lcc::interp::{Completion, RoleFailure, RoleInstance};
use lcc::term::{Symbol, Term};

use super::channel::BusChannel;
use super::endpoint::Endpoint;
use super::invitation::{Band, DRAWS, Invitation, join};
use super::model::Model;
use crate::bus::BusError;
use crate::bus::subject::{HostName, Route, Token};
use crate::wire::{EncodeError, Envelope, Interaction, Rejection, encode, record_drop};

#[derive(Debug, thiserror::Error)]
pub enum InitiateError {
    #[error("model {model} declares no role {role}")]
    UnknownRole { model: Token, role: String },
    #[error("only {joined} peers joined as {role} by the deadline; the model needs at least {min}")]
    NotEnoughPlayers {
        role: String,
        min: u32,
        joined: usize,
    },
    #[error("cannot draw an interaction id: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error("cannot encode the invitation: {0}")]
    Encode(#[from] EncodeError),
    #[error("recruitment failed: {0}")]
    Channel(#[from] lcc::channel::ChannelError),
    #[error(transparent)]
    Role(#[from] RoleFailure),
}

/// Who to recruit: peers for `role`, each invitation answered within
/// `within_ms`; every peer of the zone, or about `reach` of them.
#[derive(Debug, Clone)]
pub struct Recruitment {
    pub role: String,
    pub within_ms: i64,
    pub reach: Option<u32>,
}

/// The bands a recruitment asks in turn: everyone at once, or widening
/// from one draw in 4,096 (each band four times all before it).
fn bands(reach: Option<u32>) -> Vec<Band> {
    if reach.is_none() {
        return vec![Band::EVERYONE];
    }
    let mut bands = Vec::new();
    let mut from = 0;
    let mut to = DRAWS >> 12;
    while from < DRAWS {
        bands.push(Band { from, to });
        from = to;
        to = (to * 4).min(DRAWS);
    }
    bands
}

/// An interaction whose players have been recruited, ready to run.
pub struct Recruited {
    /// The players, in the order they joined.
    pub players: Vec<HostName>,
    pub interaction: Interaction,
    channel: BusChannel,
}

/// Publishes the invitation and collects joins.
pub async fn recruit(
    peer: &Endpoint,
    model: &Model,
    recruitment: &Recruitment,
) -> Result<Recruited, InitiateError> {
    let role = &recruitment.role;
    let (min, max) = model
        .players(role)
        .ok_or_else(|| InitiateError::UnknownRole {
            model: model.name().clone(),
            role: role.clone(),
        })?;
    let interaction = Interaction {
        id: peer.new_interaction_id().map_err(InitiateError::Random)?,
        model: model.hash(),
    };
    let mut channel = BusChannel::open(
        Arc::clone(&peer.bus),
        peer.space.clone(),
        peer.me.clone(),
        interaction,
        peer.limits,
    )
    .await?;
    let subject = peer.space.subject(&Route::Invite {
        model: model.name().clone(),
        from: peer.me.clone(),
    });
    let enough = recruitment
        .reach
        .map_or(max as usize, |r| r as usize)
        .min(max as usize);
    let mut players: Vec<HostName> = Vec::new();
    for band in bands(recruitment.reach) {
        if players.len() >= enough {
            break;
        }
        let reply_by_ms = peer.clock.now_ms() + recruitment.within_ms;
        let invitation = Envelope {
            sender: peer.me.clone(),
            recipient: None,
            interaction: Some(interaction),
            sequence: 0,
            body: Invitation {
                role: role.clone(),
                reply_by_ms,
                band,
            },
        };
        peer.bus
            .publish(&subject, encode(&invitation, &peer.limits)?)
            .await?;
        take_joins(
            &mut channel,
            &subject,
            role,
            reply_by_ms,
            peer,
            &mut players,
            max,
        )
        .await?;
    }
    if players.len() < min as usize {
        return Err(InitiateError::NotEnoughPlayers {
            role: role.clone(),
            min,
            joined: players.len(),
        });
    }
    Ok(Recruited {
        players,
        interaction,
        channel,
    })
}

/// Takes `join(role)`s into `players` until `reply_by_ms` or `max`.
async fn take_joins(
    channel: &mut BusChannel,
    subject: &str,
    role: &str,
    reply_by_ms: i64,
    peer: &Endpoint,
    players: &mut Vec<HostName>,
    max: u32,
) -> Result<(), InitiateError> {
    let wanted = join(role);
    let mut deadline = peer.clock.sleep_until(reply_by_ms);
    while players.len() < max as usize {
        let delivery = tokio::select! {
            biased;
            () = &mut deadline => break,
            delivery = channel.recv() => delivery?,
        };
        let player = Token::new(delivery.from.as_str()).ok();
        match player {
            Some(player) if delivery.message.same(&wanted) => {
                if !players.contains(&player) {
                    players.push(player);
                }
            }
            _ => record_drop(
                subject,
                &Rejection::Unexpected {
                    what: format!(
                        "{} from {} while recruiting",
                        delivery.message, delivery.from
                    ),
                },
            ),
        }
    }
    Ok(())
}

impl Recruited {
    /// Plays the initial role, built from the players (as atoms), to its end.
    pub async fn run(
        self,
        peer: &Endpoint,
        model: &Model,
        role: impl FnOnce(Vec<Term>) -> Term,
        components: &Components,
    ) -> Result<Completion, InitiateError> {
        let players = self
            .players
            .iter()
            .map(|p| Term::Atom(Symbol::new(p.as_str())))
            .collect();
        let mut instance = RoleInstance::start(
            model.program(),
            role(players),
            Symbol::new(peer.me.as_str()),
            components,
            Arc::clone(&peer.clock),
            self.channel,
        )?;
        Ok(instance.run().await?)
    }
}
