//! The append-only event log: one row per committed change, numbered by a
//! sequence that only grows. SQLite triggers refuse UPDATE and DELETE on it,
//! so the history of a trade cannot be rewritten through SQL either.

use serde::Serialize;
use sqlx::{Sqlite, Transaction};

use super::trade::{TradeId, TradeState};

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerEvent {
    /// Position in the log; strictly increasing in commit order.
    pub seq: i64,
    /// The trade it concerns.
    pub trade_id: TradeId,
    /// When it was committed (ms since the Unix epoch).
    pub at_ms: i64,
    /// What happened: `agreed`, `migration_started`, `attempt_ended`,
    /// `settled`, `failed`, `rolled_back`.
    pub kind: String,
    /// State before (none for `agreed`).
    pub from_state: Option<TradeState>,
    /// State after.
    pub to_state: TradeState,
    /// Free text: attempt details, reasons, amounts.
    pub detail: Option<String>,
}

/// What a change appends to the log (the sequence and time are added).
pub(crate) struct NewEvent<'a> {
    pub trade_id: &'a TradeId,
    pub kind: &'static str,
    pub from_state: Option<TradeState>,
    pub to_state: TradeState,
    pub detail: Option<String>,
}

/// Appends `event` inside the change's transaction.
pub(crate) async fn append(
    tx: &mut Transaction<'static, Sqlite>,
    event: NewEvent<'_>,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (trade_id, at_ms, kind, from_state, to_state, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .bind(event.trade_id.as_str())
    .bind(at_ms)
    .bind(event.kind)
    .bind(event.from_state.map(TradeState::as_str))
    .bind(event.to_state.as_str())
    .bind(event.detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
