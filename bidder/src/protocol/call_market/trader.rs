//! The components a host provides as trader: every host answers every
//! round it is called to (waiting a while for one it is still in to end,
//! and passing if it does not).

use std::sync::Arc;

use lcc::component::{Components, Failure};
use lcc::term::Term;
use market::ledger::ProtocolRef;

use super::Seat;
use super::party;
use super::terms::{Filled, Posted, read_catalogue};
use crate::protocol::Protocol;
use crate::protocol::terms::text;
use crate::protocol::vocabulary::{CALLED_OFF, CARRY, LEAVE, LIST_FOR, ORDERS_FOR, RECORD};

/// The round an argument names.
pub(super) fn round_of(term: &Term) -> Result<String, Failure> {
    text(term).ok_or_else(|| Failure::broken(format!("round {term} is not an id")))
}

/// What bourse records a trade's protocol as.
pub(super) fn protocol_ref(protocol: &Protocol) -> ProtocolRef {
    ProtocolRef {
        name: protocol.name().to_string(),
        hash: protocol.model().hash().to_string(),
    }
}

/// Counts and logs a term a peer sent that does not read; the round goes
/// on without it.
pub(super) fn refused(host: &str, what: &'static str, from: &str, why: &str) {
    metrics::counter!("bourse_call_market_refused_total", "what" => what).increment(1);
    tracing::warn!(host, from, what, why, "refused in a call-market round");
}

/// The components a host provides as trader of `protocol`.
pub(crate) fn trader(inner: Arc<Seat>, protocol: &Protocol) -> Components {
    let mut components = Components::new();
    let name = protocol.name().to_string();
    let listing = Arc::clone(&inner);
    components.register_async(LIST_FOR.name, LIST_FOR.modes, move |args| {
        let (inner, protocol) = (Arc::clone(&listing), name.clone());
        async move {
            let round = round_of(&args[0])?;
            let (Term::Int(seq), Term::Int(list_by), Some(roster)) =
                (&args[1], &args[2], args[3].as_list())
            else {
                return Err(Failure::no(format!(
                    "not a round number, a deadline and a roster: {args:?}"
                )));
            };
            let roster: Vec<String> = roster.into_iter().filter_map(text).collect();
            inner.heard_round(&protocol, u64::try_from(*seq).unwrap_or_default(), &roster);
            // Half the time left to list in, so that a pass still arrives.
            let now = inner.host.now_ms();
            let by_ms = now.saturating_add(list_by.saturating_sub(now) / 2);
            let listing = party::list(&inner, &round, roster, by_ms)
                .await
                .inspect_err(|why| {
                    tracing::debug!(host = %inner.host.name(), %round, %why, "sits the round out");
                })?;
            let mut out = args[..4].to_vec();
            out.push(listing.to_term());
            Ok(out)
        }
    });
    let ordering = Arc::clone(&inner);
    components.register_async(ORDERS_FOR.name, ORDERS_FOR.modes, move |args| {
        let inner = Arc::clone(&ordering);
        async move {
            let round = round_of(&args[0])?;
            let catalogue = read_catalogue(&args[1]).map_err(|why| {
                refused(inner.host.name(), "catalogue", "the auctioneer", &why);
                Failure::no(why)
            })?;
            let posted = party::orders(&inner, &round, &catalogue).await?;
            tracing::debug!(host = %inner.host.name(), %round, orders = posted.len(), "posts its orders");
            let terms = posted.iter().map(Posted::to_term).collect();
            Ok(vec![args[0].clone(), args[1].clone(), Term::list(terms)])
        }
    });
    let recording = Arc::clone(&inner);
    let reference = protocol_ref(protocol);
    components.register_async(RECORD.name, RECORD.modes, move |args| {
        let (inner, protocol) = (Arc::clone(&recording), reference.clone());
        async move {
            let round = round_of(&args[0])?;
            tracing::debug!(host = %inner.host.name(), %round, "hears its trade");
            let recorded = match Filled::from_term(&args[1]) {
                Ok(filled) => party::take_part(&inner, &protocol, &round, &filled).await,
                Err(why) => Err(why),
            };
            match recorded {
                Ok(()) => {
                    tracing::info!(host = %inner.host.name(), %round, "recorded its trade");
                    Ok(vec![])
                }
                Err(why) => {
                    refused(inner.host.name(), "trade", "the auctioneer", &why);
                    Err(Failure::no(why))
                }
            }
        }
    });
    let carrying = Arc::clone(&inner);
    components.register_async(CARRY.name, CARRY.modes, move |args| {
        let inner = Arc::clone(&carrying);
        async move { carry(&inner, &args).await }
    });
    let calling_off = Arc::clone(&inner);
    components.register_async(CALLED_OFF.name, CALLED_OFF.modes, move |args| {
        let inner = Arc::clone(&calling_off);
        async move {
            let round = round_of(&args[0])?;
            // `any`: the auctioneer fell silent; a host has one trade a round.
            let clearing = text(&args[1]).filter(|id| id != "any");
            party::call_off(&inner, &round, clearing.as_deref(), &args[2].to_string()).await;
            Ok(vec![])
        }
    });
    components.register_fn(LEAVE.name, LEAVE.modes, move |args| {
        let round = round_of(&args[0])?;
        tracing::debug!(host = %inner.host.name(), %round, why = %args[1], "leaves the round");
        party::leave(&inner, &round);
        Ok(vec![])
    });
    components
}

/// `carry(+Round, +Id, +K, -Report)`, for traders and the auctioneer alike.
pub(super) async fn carry(inner: &Seat, args: &[Term]) -> Result<Vec<Term>, Failure> {
    let (Some(id), Term::Int(k)) = (text(&args[1]), &args[2]) else {
        return Err(Failure::no(format!("not a trade and leg: {args:?}")));
    };
    let report = party::carry(inner, &id, *k).await;
    Ok(vec![
        args[0].clone(),
        args[1].clone(),
        args[2].clone(),
        report,
    ])
}
