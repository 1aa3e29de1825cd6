//! The events of one trade, reported by the migration workflow as it goes.

use std::time::Instant;

use market::bus::subject::Token;
use market::events::{TradeEvent, TradeState};
use market::ledger::TradeTerms;

use super::Outcome;
use crate::events::Publisher;

/// Follows one trade through [`crate::migration::Executor::execute`]: each
/// step the workflow completes becomes one event, with the time since the
/// trade was agreed and, at the end, how long the move took.
pub(crate) struct Lifecycle<'a> {
    publisher: Option<&'a Publisher>,
    terms: &'a TradeTerms,
    agreed: Instant,
    migrating: Option<Instant>,
}

impl<'a> Lifecycle<'a> {
    /// A trade's lifecycle, reported through `publisher` if there is one.
    pub(crate) fn new(publisher: Option<&'a Publisher>, terms: &'a TradeTerms) -> Self {
        Lifecycle {
            publisher,
            terms,
            agreed: Instant::now(),
            migrating: None,
        }
    }

    /// The terms are in both ledgers.
    pub(crate) fn agreed(&mut self) {
        self.agreed = Instant::now();
        self.report(TradeState::Agreed, None);
    }

    /// An attempt is recorded: the VMs are about to move.
    pub(crate) fn migrating(&mut self) {
        self.migrating = Some(Instant::now());
        self.report(TradeState::Migrating, None);
    }

    /// The trade ended as `outcome` says.
    pub(crate) fn ended(&self, outcome: &Outcome) {
        let (state, reason) = final_state(outcome);
        self.report(state, reason);
    }

    fn report(&self, state: TradeState, reason: Option<String>) {
        let Some(publisher) = self.publisher else {
            return;
        };
        let Some(event) = event(self.terms, state, reason, publisher.now_ms()) else {
            return;
        };
        let millis =
            |since: Instant| u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        publisher.trade(TradeEvent {
            since_agreed_ms: millis(self.agreed),
            migration_ms: self.migrating.filter(|_| state.is_final()).map(millis),
            ..event
        });
    }
}

/// The event of a trade in `state` (no durations), or `None` when its
/// parties are not bus names (a ledger written by hand).
pub(crate) fn event(
    terms: &TradeTerms,
    state: TradeState,
    reason: Option<String>,
    at_ms: i64,
) -> Option<TradeEvent> {
    Some(TradeEvent {
        trade_id: terms.trade_id.to_string(),
        interaction_id: terms.interaction_id.clone(),
        protocol: terms.protocol.name.clone(),
        kind: terms.kind,
        seller: Token::new(terms.seller.as_str()).ok()?,
        buyer: Token::new(terms.buyer.as_str()).ok()?,
        vms: terms.vms.iter().map(|vm| vm.name.clone()).collect(),
        price: terms.price,
        state,
        reason,
        since_agreed_ms: 0,
        migration_ms: None,
        at_ms,
    })
}

/// Reports how crash recovery finished one of the host's trades (settled,
/// failed or rolled back after an interruption), from its ledger record.
pub async fn recovered(
    publisher: &Publisher,
    ledger: &market::ledger::Ledger,
    resolution: &crate::migration::recovery::Resolution,
) {
    let record = match ledger.trade(&resolution.trade_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!(error = %e, trade = %resolution.trade_id, "recovered trade not reported");
            return;
        }
    };
    let (state, reason) = final_state(&resolution.outcome);
    let now = publisher.now_ms();
    if let Some(event) = event(&record.terms, state, reason, now) {
        publisher.trade(TradeEvent {
            since_agreed_ms: u64::try_from(now.saturating_sub(record.agreed_at_ms)).unwrap_or(0),
            ..event
        });
    }
}

/// The state and reason an outcome stands for.
fn final_state(outcome: &Outcome) -> (TradeState, Option<String>) {
    match outcome {
        Outcome::Settled => (TradeState::Settled, None),
        Outcome::Failed { reason } => (TradeState::Failed, Some(reason.clone())),
        Outcome::RolledBack { reason } => (TradeState::RolledBack, Some(reason.clone())),
    }
}
