//! The reading half of [`Ledger`]: trades, attempts, events and balances,
//! decoded into the types of [`super::trade`], [`super::attempt`] and
//! [`super::events`]. Values the build does not know are reported as
//! [`LedgerError::BadRow`], never guessed.

use std::collections::BTreeMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

use super::attempt::{AttemptOutcome, MigrationAttempt, MigrationMethod};
use super::events::LedgerEvent;
use super::trade::{
    ProtocolRef, Side, TradeId, TradeKind, TradeRecord, TradeState, TradeTerms, VmRef,
};
use super::{Ledger, LedgerError};
use crate::credits::Credits;
use crate::resources::Resources;

const TRADE_COLUMNS: &str = "trade_id, interaction_id, protocol_name, protocol_hash, buyer, seller,
     our_side, cpu_millicores, memory_mib, network_mbps, price_micro, state, reason,
     agreed_at_ms, updated_at_ms, kind";

impl Ledger {
    /// The trade with this id, if recorded.
    pub async fn trade(&self, trade_id: &TradeId) -> Result<Option<TradeRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        let found = self
            .select_trades(&mut conn, "trade_id = ?1", &[trade_id.as_str()])
            .await?;
        Ok(found.into_iter().next())
    }

    /// Every trade, in the order they were recorded; only those in `state`
    /// when given.
    pub async fn trades(&self, state: Option<TradeState>) -> Result<Vec<TradeRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let states: Vec<TradeState> = match state {
            Some(state) => vec![state],
            None => TradeState::ALL.to_vec(),
        };
        self.trades_in(&states).await
    }

    /// Trades not yet in a final state (agreed or migrating), in the order
    /// they were recorded: what crash recovery must resume.
    pub async fn unfinished_trades(&self) -> Result<Vec<TradeRecord>, LedgerError> {
        let _underway = self.outside.begin();
        self.trades_in(&[TradeState::Agreed, TradeState::Migrating])
            .await
    }

    /// Every trade whose VMs include `vm_uuid`, in the order recorded.
    pub async fn trades_of_vm(&self, vm_uuid: &str) -> Result<Vec<TradeRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let all = self.trades(None).await?;
        Ok(all
            .into_iter()
            .filter(|t| t.terms.vms.iter().any(|vm| vm.uuid == vm_uuid))
            .collect())
    }

    async fn trades_in(&self, states: &[TradeState]) -> Result<Vec<TradeRecord>, LedgerError> {
        let placeholders: Vec<String> = (1..=states.len()).map(|i| format!("?{i}")).collect();
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let condition = format!("state IN ({})", placeholders.join(", "));
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.select_trades(&mut conn, &condition, &names).await
    }

    /// The trades the SQL `condition` on `trades` selects (its `?1`, `?2`,
    /// ... bound to `binds`), in the order they were recorded, each with
    /// its VMs: the one query behind every read of trades. Recovery reads
    /// the unfinished ones every period, so the condition is applied by
    /// SQLite (`trades_by_state`), not to every trade ever recorded.
    async fn select_trades(
        &self,
        conn: &mut SqliteConnection,
        condition: &str,
        binds: &[&str],
    ) -> Result<Vec<TradeRecord>, LedgerError> {
        let mut trades = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE {condition} ORDER BY rowid"
        )));
        let mut vms = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT trade_id, vm_uuid, vm_name FROM trade_vms
             WHERE trade_id IN (SELECT trade_id FROM trades WHERE {condition})
             ORDER BY trade_id, position"
        )));
        for value in binds {
            trades = trades.bind(*value);
            vms = vms.bind(*value);
        }
        let rows = trades
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        let vm_rows = vms.fetch_all(&mut *conn).await.map_err(|e| self.err(e))?;
        let mut vms: BTreeMap<String, Vec<VmRef>> = BTreeMap::new();
        for row in &vm_rows {
            let id: String = row.try_get("trade_id").map_err(|e| self.err(e))?;
            let vm = VmRef {
                uuid: row.try_get("vm_uuid").map_err(|e| self.err(e))?,
                name: row.try_get("vm_name").map_err(|e| self.err(e))?,
            };
            vms.entry(id).or_default().push(vm);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("trade_id").map_err(|e| self.err(e))?;
                self.decode_trade(row, vms.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    /// The migration attempts of a trade, first to last.
    pub async fn attempts(&self, trade_id: &TradeId) -> Result<Vec<MigrationAttempt>, LedgerError> {
        let _underway = self.outside.begin();
        let rows = sqlx::query(
            "SELECT attempt, method, source, destination, started_at_ms, ended_at_ms, outcome, reason
             FROM migration_attempts WHERE trade_id = ?1 ORDER BY attempt",
        )
        .bind(trade_id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|row| self.decode_attempt(row)).collect()
    }

    /// The attempt under way (or under way when the process died), if any.
    pub async fn open_attempt(
        &self,
        trade_id: &TradeId,
    ) -> Result<Option<MigrationAttempt>, LedgerError> {
        let _underway = self.outside.begin();
        Ok(self
            .attempts(trade_id)
            .await?
            .into_iter()
            .find(MigrationAttempt::is_open))
    }

    /// The event log, oldest first; only one trade's events when given.
    pub async fn events(
        &self,
        trade_id: Option<&TradeId>,
    ) -> Result<Vec<LedgerEvent>, LedgerError> {
        let _underway = self.outside.begin();
        let rows = sqlx::query(
            "SELECT seq, trade_id, at_ms, kind, from_state, to_state, detail FROM events
             WHERE ?1 IS NULL OR trade_id = ?1 ORDER BY seq",
        )
        .bind(trade_id.map(TradeId::as_str))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|row| self.decode_event(row)).collect()
    }

    /// Every credit balance on file (the owner's and each counterparty's,
    /// as this ledger saw them), by host name.
    pub async fn balances(&self) -> Result<BTreeMap<String, Credits>, LedgerError> {
        let _underway = self.outside.begin();
        let rows = sqlx::query("SELECT host, balance_micro FROM credit_balances ORDER BY host")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let host: String = row.try_get("host")?;
                let micro: i64 = row.try_get("balance_micro")?;
                Ok((host, Credits(micro)))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.err(e))
    }

    /// `host`'s balance as this ledger sees it (0 if it never traded).
    pub async fn balance(&self, host: &str) -> Result<Credits, LedgerError> {
        let _underway = self.outside.begin();
        Ok(self.balances().await?.remove(host).unwrap_or_default())
    }

    /// The terms of a recorded trade, inside a running transaction.
    pub(super) async fn load_terms(
        &self,
        conn: &mut SqliteConnection,
        trade_id: &TradeId,
    ) -> Result<Option<TradeTerms>, LedgerError> {
        let found = self
            .select_trades(conn, "trade_id = ?1", &[trade_id.as_str()])
            .await?;
        Ok(found.into_iter().next().map(|record| record.terms))
    }

    fn decode_trade(&self, row: &SqliteRow, vms: Vec<VmRef>) -> Result<TradeRecord, LedgerError> {
        let get_text = |col: &str| row.try_get::<String, _>(col).map_err(|e| self.err(e));
        let get_int = |col: &str| row.try_get::<i64, _>(col).map_err(|e| self.err(e));
        let amount = |col: &str| -> Result<u64, LedgerError> {
            let v = get_int(col)?;
            u64::try_from(v).map_err(|_| self.bad_row(format!("{col} = {v}")))
        };
        let trade_id =
            TradeId::new(get_text("trade_id")?).map_err(|e| self.bad_row(e.to_string()))?;
        let kind_text = get_text("kind")?;
        let kind = TradeKind::parse(&kind_text)
            .ok_or_else(|| self.bad_row(format!("trade kind {kind_text:?}")))?;
        let side_text = get_text("our_side")?;
        let our_side =
            Side::parse(&side_text).ok_or_else(|| self.bad_row(format!("side {side_text:?}")))?;
        Ok(TradeRecord {
            terms: TradeTerms {
                trade_id,
                kind,
                interaction_id: get_text("interaction_id")?,
                protocol: ProtocolRef {
                    name: get_text("protocol_name")?,
                    hash: get_text("protocol_hash")?,
                },
                buyer: get_text("buyer")?,
                seller: get_text("seller")?,
                vms,
                resources: Resources::new(
                    amount("cpu_millicores")?,
                    amount("memory_mib")?,
                    amount("network_mbps")?,
                ),
                price: Credits(get_int("price_micro")?),
            },
            our_side,
            state: self.parse_state(&get_text("state")?)?,
            reason: row.try_get("reason").map_err(|e| self.err(e))?,
            agreed_at_ms: get_int("agreed_at_ms")?,
            updated_at_ms: get_int("updated_at_ms")?,
        })
    }

    fn decode_attempt(&self, row: &SqliteRow) -> Result<MigrationAttempt, LedgerError> {
        let method: String = row.try_get("method").map_err(|e| self.err(e))?;
        let outcome: Option<String> = row.try_get("outcome").map_err(|e| self.err(e))?;
        let outcome = outcome
            .map(|o| {
                AttemptOutcome::parse(&o).ok_or_else(|| self.bad_row(format!("outcome {o:?}")))
            })
            .transpose()?;
        Ok(MigrationAttempt {
            attempt: row.try_get("attempt").map_err(|e| self.err(e))?,
            method: MigrationMethod::parse(&method)
                .ok_or_else(|| self.bad_row(format!("method {method:?}")))?,
            source: row.try_get("source").map_err(|e| self.err(e))?,
            destination: row.try_get("destination").map_err(|e| self.err(e))?,
            started_at_ms: row.try_get("started_at_ms").map_err(|e| self.err(e))?,
            ended_at_ms: row.try_get("ended_at_ms").map_err(|e| self.err(e))?,
            outcome,
            reason: row.try_get("reason").map_err(|e| self.err(e))?,
        })
    }

    fn decode_event(&self, row: &SqliteRow) -> Result<LedgerEvent, LedgerError> {
        let from: Option<String> = row.try_get("from_state").map_err(|e| self.err(e))?;
        let to: String = row.try_get("to_state").map_err(|e| self.err(e))?;
        let id: String = row.try_get("trade_id").map_err(|e| self.err(e))?;
        Ok(LedgerEvent {
            seq: row.try_get("seq").map_err(|e| self.err(e))?,
            trade_id: TradeId::new(id).map_err(|e| self.bad_row(e.to_string()))?,
            at_ms: row.try_get("at_ms").map_err(|e| self.err(e))?,
            kind: row.try_get("kind").map_err(|e| self.err(e))?,
            from_state: from.map(|s| self.parse_state(&s)).transpose()?,
            to_state: self.parse_state(&to)?,
            detail: row.try_get("detail").map_err(|e| self.err(e))?,
        })
    }

    pub(super) fn parse_state(&self, state: &str) -> Result<TradeState, LedgerError> {
        TradeState::parse(state).ok_or_else(|| self.bad_row(format!("trade state {state:?}")))
    }

    fn bad_row(&self, detail: String) -> LedgerError {
        LedgerError::BadRow {
            path: self.path.clone(),
            detail,
        }
    }
}
