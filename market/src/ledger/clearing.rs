//! Trades of several legs: a swap or a chain cleared as one trade, each
//! leg a trade of its own (one VM, its seller and buyer, its price), and
//! the whole list of legs in the ledger of every party.
//!
//! [`Ledger::record_clearing`] is the one write: in a single transaction
//! it records every leg this ledger's owner is a party of (as
//! [`Ledger::record_agreed`] would) and the list of all legs, so a party
//! has either all of its part of the trade or none of it. Each leg then
//! runs through the ordinary lifecycle (migrating, settled or failed),
//! leg after leg in the listed order; the audit checks that the parties
//! list the same legs and that no leg settled before the legs ahead of it.

use sqlx::Row;

use super::trade::{TradeId, TradeTerms, Transition};
use super::{Ledger, LedgerError, now_ms};

/// One trade of several legs, as a clearing agreed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearingTerms {
    /// The id every party records it under.
    pub clearing_id: String,
    /// Its legs, in the order they move; each moves one VM.
    pub legs: Vec<TradeTerms>,
}

/// One leg of a clearing as a ledger lists it (every party lists every
/// leg, including legs it is not a party of).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct LegRecord {
    /// The clearing.
    pub clearing_id: String,
    /// Its place in the order of moves, from 1.
    pub leg: u32,
    /// How many legs the clearing has.
    pub legs: u32,
    /// The leg's trade.
    pub trade_id: TradeId,
    /// The host its VM leaves.
    pub seller: String,
    /// The host its VM goes to.
    pub buyer: String,
    /// Its VM.
    pub vm_uuid: String,
}

impl ClearingTerms {
    /// The legs as every party lists them.
    pub fn records(&self) -> Vec<LegRecord> {
        let count = u32::try_from(self.legs.len()).unwrap_or(u32::MAX);
        self.legs
            .iter()
            .enumerate()
            .map(|(i, leg)| LegRecord {
                clearing_id: self.clearing_id.clone(),
                leg: u32::try_from(i + 1).unwrap_or(u32::MAX),
                legs: count,
                trade_id: leg.trade_id.clone(),
                seller: leg.seller.clone(),
                buyer: leg.buyer.clone(),
                vm_uuid: leg
                    .vms
                    .first()
                    .map(|vm| vm.uuid.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Why these terms cannot be recorded, if they cannot: no legs, a leg
    /// moving other than one VM, invalid leg terms, or `owner` a party of
    /// none of them.
    fn check(&self, owner: &str) -> Result<(), LedgerError> {
        let invalid =
            |trade_id: TradeId, reason: String| LedgerError::InvalidTerms { trade_id, reason };
        let Some(first) = self.legs.first() else {
            return Err(invalid(
                TradeId::new(&self.clearing_id)?,
                "a clearing needs at least one leg".into(),
            ));
        };
        for leg in &self.legs {
            leg.validate()?;
            if leg.vms.len() != 1 {
                return Err(invalid(
                    leg.trade_id.clone(),
                    format!("a leg moves one VM, this one {}", leg.vms.len()),
                ));
            }
        }
        if !self.legs.iter().any(|leg| leg.side_of(owner).is_some()) {
            return Err(LedgerError::NotAParty {
                trade_id: first.trade_id.clone(),
                buyer: first.buyer.clone(),
                seller: first.seller.clone(),
                owner: owner.to_string(),
            });
        }
        Ok(())
    }
}

impl Ledger {
    /// Records a clearing: every leg this ledger's owner is a party of, in
    /// state agreed, and the list of all legs, in one
    /// transaction. Recording the same clearing again is a no-op; a
    /// different clearing under the same id, or a leg whose trade id is
    /// recorded with other terms, is [`LedgerError::ConflictingTerms`].
    pub async fn record_clearing(
        &self,
        clearing: &ClearingTerms,
    ) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        clearing.check(&self.owner)?;
        let records = clearing.records();
        let mut tx = self.begin().await?;
        let listed = self
            .legs_where(&mut tx, "clearing_id = ?1", Some(&clearing.clearing_id))
            .await?;
        if !listed.is_empty() {
            if listed == records {
                return Ok(Transition::AlreadyApplied);
            }
            return Err(LedgerError::ConflictingTerms {
                trade_id: TradeId::new(&clearing.clearing_id)?,
                differences: format!("legs: {listed:?} vs {records:?}"),
            });
        }
        let at = now_ms();
        let mut agreed = Vec::new();
        for (leg, record) in clearing.legs.iter().zip(&records) {
            self.list_leg(&mut tx, record, at).await?;
            let Some(side) = leg.side_of(&self.owner) else {
                continue;
            };
            if self.already_recorded(&mut tx, leg).await? {
                continue;
            }
            let detail = format!(
                "leg {} of {} of clearing {}: {} buys from {} for {}",
                record.leg, record.legs, record.clearing_id, leg.buyer, leg.seller, leg.price
            );
            self.insert_agreed(&mut tx, leg, side, detail, at).await?;
            agreed.push((leg, side));
        }
        let transition = self
            .commit(tx, &records[0].trade_id, "clearing_agreed")
            .await?;
        for (leg, side) in agreed {
            super::lifecycle::count_price(leg, side);
        }
        Ok(transition)
    }

    /// Every leg of every clearing this ledger lists, by clearing and leg.
    pub async fn clearing_legs(&self) -> Result<Vec<LegRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.legs_where(&mut conn, "1", None).await
    }

    /// The legs of clearing `clearing_id`, in order (empty when this ledger
    /// lists none).
    pub async fn clearing(&self, clearing_id: &str) -> Result<Vec<LegRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.legs_where(&mut conn, "clearing_id = ?1", Some(clearing_id))
            .await
    }

    /// The legs of the clearing trade `trade_id` is a leg of (empty when it
    /// is a trade of its own).
    pub async fn clearing_of(&self, trade_id: &TradeId) -> Result<Vec<LegRecord>, LedgerError> {
        let _underway = self.outside.begin();
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        self.legs_where(
            &mut conn,
            "clearing_id = (SELECT clearing_id FROM clearing_legs WHERE trade_id = ?1)",
            Some(trade_id.as_str()),
        )
        .await
    }

    async fn legs_where(
        &self,
        conn: &mut sqlx::SqliteConnection,
        condition: &str,
        value: Option<&str>,
    ) -> Result<Vec<LegRecord>, LedgerError> {
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT clearing_id, leg, legs, trade_id, seller, buyer, vm_uuid FROM clearing_legs
             WHERE {condition} ORDER BY clearing_id, leg"
        )));
        let query = match value {
            Some(value) => query.bind(value.to_string()),
            None => query,
        };
        let rows = query.fetch_all(&mut *conn).await.map_err(|e| self.err(e))?;
        rows.iter()
            .map(|row| {
                let get = |column: &str| -> Result<String, LedgerError> {
                    row.try_get(column).map_err(|e| self.err(e))
                };
                let number = |column: &str| -> Result<u32, LedgerError> {
                    let n: i64 = row.try_get(column).map_err(|e| self.err(e))?;
                    u32::try_from(n).map_err(|_| LedgerError::BadRow {
                        path: self.path.clone(),
                        detail: format!("clearing leg {column} {n} is out of range"),
                    })
                };
                Ok(LegRecord {
                    clearing_id: get("clearing_id")?,
                    leg: number("leg")?,
                    legs: number("legs")?,
                    trade_id: TradeId::new(get("trade_id")?)?,
                    seller: get("seller")?,
                    buyer: get("buyer")?,
                    vm_uuid: get("vm_uuid")?,
                })
            })
            .collect()
    }

    async fn list_leg(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
        record: &LegRecord,
        at: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "INSERT INTO clearing_legs (clearing_id, leg, legs, trade_id, seller, buyer, vm_uuid,
                 recorded_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&record.clearing_id)
        .bind(record.leg)
        .bind(record.legs)
        .bind(record.trade_id.as_str())
        .bind(&record.seller)
        .bind(&record.buyer)
        .bind(&record.vm_uuid)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }
}
