//! The writing half of [`Ledger`]: each lifecycle step is one `BEGIN
//! IMMEDIATE` transaction that checks the current state, applies the rule of
//! [`TradeState::step`], appends to the event log and commits before
//! returning. A step that was already applied returns
//! [`Transition::AlreadyApplied`] and writes nothing.

use sqlx::{Row, Sqlite, Transaction};

use super::attempt::{AttemptOutcome, MigrationMethod};
use super::credits;
use super::events::{self, NewEvent};
use super::trade::{Action, Step, TradeId, TradeState, TradeTerms, Transition};
use super::{Ledger, LedgerError, now_ms};
use crate::credits::Credits;

/// The parts of a trade row a step needs.
struct Current {
    state: TradeState,
    buyer: String,
    seller: String,
    price: Credits,
}

impl Ledger {
    /// Records a trade both parties agreed, in state [`TradeState::Agreed`].
    ///
    /// Recording the same terms again is a no-op ([`Transition::AlreadyApplied`],
    /// whatever state the trade has reached); different terms under the same
    /// id are [`LedgerError::ConflictingTerms`]. The owner must be the buyer
    /// or the seller.
    pub async fn record_agreed(&self, terms: &TradeTerms) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        terms.validate()?;
        let side = terms
            .side_of(&self.owner)
            .ok_or_else(|| LedgerError::NotAParty {
                trade_id: terms.trade_id.clone(),
                buyer: terms.buyer.clone(),
                seller: terms.seller.clone(),
                owner: self.owner.clone(),
            })?;
        let mut tx = self.begin().await?;
        if self.already_recorded(&mut tx, terms).await? {
            return Ok(Transition::AlreadyApplied);
        }
        let detail = format!(
            "{} buys from {} for {} ({} VM(s))",
            terms.buyer,
            terms.seller,
            terms.price,
            terms.vms.len()
        );
        self.insert_agreed(&mut tx, terms, side, detail, now_ms())
            .await?;
        let transition = self.commit(tx, &terms.trade_id, "agreed").await?;
        count_price(terms, side);
        Ok(transition)
    }

    /// True when `terms` are recorded already; an error when their trade id
    /// is recorded with other terms.
    pub(super) async fn already_recorded(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        terms: &TradeTerms,
    ) -> Result<bool, LedgerError> {
        let Some(existing) = self.load_terms(tx, &terms.trade_id).await? else {
            return Ok(false);
        };
        let differences = existing.differences(terms);
        if differences.is_empty() {
            return Ok(true);
        }
        Err(LedgerError::ConflictingTerms {
            trade_id: terms.trade_id.clone(),
            differences: differences.join("; "),
        })
    }

    /// Inserts a trade in state agreed, with its `agreed` event.
    pub(super) async fn insert_agreed(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        terms: &TradeTerms,
        side: super::Side,
        detail: String,
        at: i64,
    ) -> Result<(), LedgerError> {
        self.insert_trade(tx, terms, side, at)
            .await
            .map_err(|e| self.err(e))?;
        let event = NewEvent {
            trade_id: &terms.trade_id,
            kind: "agreed",
            from_state: None,
            to_state: TradeState::Agreed,
            detail: Some(detail),
        };
        events::append(tx, event, at).await.map_err(|e| self.err(e))
    }

    /// Records that migration attempt `attempt` (1, 2, ...) of the trade
    /// started with `method`, moving the VMs from the seller to the buyer;
    /// the trade becomes [`TradeState::Migrating`].
    ///
    /// Call it before touching libvirt, so recovery knows an attempt may
    /// have begun. Recording an attempt that is already recorded with the
    /// same method is a no-op; a new attempt needs the previous one ended
    /// ([`Ledger::end_attempt`]) and the next number.
    pub async fn start_migration(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        method: MigrationMethod,
    ) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        let mut tx = self.begin().await?;
        let current = self.current(&mut tx, trade_id).await?;
        let mismatch = |reason: String| LedgerError::AttemptMismatch {
            trade_id: trade_id.clone(),
            attempt,
            reason,
        };
        let attempts: Vec<(u32, String, bool)> = sqlx::query(
            "SELECT attempt, method, outcome IS NULL AS open FROM migration_attempts
             WHERE trade_id = ?1 ORDER BY attempt",
        )
        .bind(trade_id.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .iter()
        .map(|row| {
            Ok((
                row.try_get("attempt")?,
                row.try_get("method")?,
                row.try_get("open")?,
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(|e| self.err(e))?;
        if let Some((_, recorded, _)) = attempts.iter().find(|(n, _, _)| *n == attempt) {
            if recorded == method.as_str() {
                return Ok(Transition::AlreadyApplied);
            }
            return Err(mismatch(format!(
                "already recorded with method {recorded}, not {method}"
            )));
        }
        let next = match current.state.step(Action::StartMigration) {
            Ok(Step::To(next)) => next,
            Ok(Step::AlreadyThere) | Err(_) => {
                return Err(LedgerError::IllegalTransition {
                    trade_id: trade_id.clone(),
                    from: current.state,
                    action: Action::StartMigration.verb(),
                });
            }
        };
        if let Some((n, _, true)) = attempts.last() {
            return Err(mismatch(format!("attempt {n} has not ended")));
        }
        let expected = attempts.last().map_or(1, |(n, _, _)| n + 1);
        if attempt != expected {
            return Err(mismatch(format!("the next attempt is number {expected}")));
        }
        let at = now_ms();
        sqlx::query(
            "INSERT INTO migration_attempts
                 (trade_id, attempt, method, source, destination, started_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(trade_id.as_str())
        .bind(attempt)
        .bind(method.as_str())
        .bind(&current.seller)
        .bind(&current.buyer)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        self.set_state(&mut tx, trade_id, next, None, at).await?;
        let event = NewEvent {
            trade_id,
            kind: "migration_started",
            from_state: Some(current.state),
            to_state: next,
            detail: Some(format!(
                "attempt {attempt}, {method}, {} -> {}",
                current.seller, current.buyer
            )),
        };
        events::append(&mut tx, event, at)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx, trade_id, "migration_started").await
    }

    /// Closes attempt `attempt` with `outcome` without deciding the trade
    /// (it stays [`TradeState::Migrating`]), so another attempt may follow.
    /// Closing it again with the same outcome is a no-op.
    pub async fn end_attempt(
        &self,
        trade_id: &TradeId,
        attempt: u32,
        outcome: AttemptOutcome,
        reason: Option<&str>,
    ) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        let mut tx = self.begin().await?;
        let current = self.current(&mut tx, trade_id).await?;
        let recorded: Option<Option<String>> = sqlx::query(
            "SELECT outcome FROM migration_attempts WHERE trade_id = ?1 AND attempt = ?2",
        )
        .bind(trade_id.as_str())
        .bind(attempt)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .map(|row| row.try_get("outcome"))
        .transpose()
        .map_err(|e| self.err(e))?;
        let mismatch = |reason: String| LedgerError::AttemptMismatch {
            trade_id: trade_id.clone(),
            attempt,
            reason,
        };
        match recorded {
            None => return Err(mismatch("no such attempt is recorded".to_string())),
            Some(Some(done)) if done == outcome.as_str() => return Ok(Transition::AlreadyApplied),
            Some(Some(done)) => return Err(mismatch(format!("it already ended as {done}"))),
            Some(None) => {}
        }
        let at = now_ms();
        self.close_attempt(&mut tx, trade_id, attempt, outcome, reason, at)
            .await?;
        let event = NewEvent {
            trade_id,
            kind: "attempt_ended",
            from_state: Some(current.state),
            to_state: current.state,
            detail: Some(attempt_detail(attempt, outcome, reason)),
        };
        events::append(&mut tx, event, at)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx, trade_id, "attempt_ended").await
    }

    /// The VMs run at the buyer: the trade becomes [`TradeState::Settled`],
    /// an open attempt is closed as succeeded, and the buyer pays the seller
    /// the price, all in one transaction. The only step that moves credits.
    pub async fn settle(&self, trade_id: &TradeId) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        self.finish(trade_id, Action::Settle, None).await
    }

    /// The migration failed with `reason` (libvirt's words): the trade
    /// becomes [`TradeState::Failed`], an open attempt is closed as failed,
    /// no credits move.
    pub async fn fail(&self, trade_id: &TradeId, reason: &str) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        self.finish(trade_id, Action::Fail, Some(reason)).await
    }

    /// The trade is called off (never started, or recovery put a half-done
    /// migration back): it becomes [`TradeState::RolledBack`], an open
    /// attempt is closed as interrupted, no credits move.
    pub async fn roll_back(
        &self,
        trade_id: &TradeId,
        reason: &str,
    ) -> Result<Transition, LedgerError> {
        let _underway = self.outside.begin();
        self.finish(trade_id, Action::RollBack, Some(reason)).await
    }

    /// One of the three final steps.
    async fn finish(
        &self,
        trade_id: &TradeId,
        action: Action,
        reason: Option<&str>,
    ) -> Result<Transition, LedgerError> {
        let mut tx = self.begin().await?;
        let current = self.current(&mut tx, trade_id).await?;
        let next = match current.state.step(action) {
            Ok(Step::To(next)) => next,
            Ok(Step::AlreadyThere) => return Ok(Transition::AlreadyApplied),
            Err(verb) => {
                return Err(LedgerError::IllegalTransition {
                    trade_id: trade_id.clone(),
                    from: current.state,
                    action: verb,
                });
            }
        };
        let at = now_ms();
        let (kind, outcome) = match action {
            Action::Settle => ("settled", AttemptOutcome::Succeeded),
            Action::Fail => ("failed", AttemptOutcome::Failed),
            _ => ("rolled_back", AttemptOutcome::Interrupted),
        };
        let open_attempt: Option<u32> = sqlx::query(
            "SELECT attempt FROM migration_attempts WHERE trade_id = ?1 AND outcome IS NULL",
        )
        .bind(trade_id.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .map(|row| row.try_get("attempt"))
        .transpose()
        .map_err(|e| self.err(e))?;
        let mut detail = Vec::new();
        if let Some(attempt) = open_attempt {
            self.close_attempt(&mut tx, trade_id, attempt, outcome, reason, at)
                .await?;
            detail.push(attempt_detail(attempt, outcome, reason));
        } else if let Some(reason) = reason {
            detail.push(reason.to_string());
        }
        if action == Action::Settle {
            credits::add_to_balance(&mut tx, &current.seller, current.price)
                .await
                .map_err(|e| self.err(e))?;
            credits::add_to_balance(&mut tx, &current.buyer, Credits(-current.price.0))
                .await
                .map_err(|e| self.err(e))?;
            detail.push(format!(
                "{} paid {} to {}",
                current.buyer, current.price, current.seller
            ));
        }
        self.set_state(&mut tx, trade_id, next, reason, at).await?;
        let event = NewEvent {
            trade_id,
            kind,
            from_state: Some(current.state),
            to_state: next,
            detail: (!detail.is_empty()).then(|| detail.join("; ")),
        };
        events::append(&mut tx, event, at)
            .await
            .map_err(|e| self.err(e))?;
        self.commit(tx, trade_id, kind).await
    }

    /// Starts a write transaction, taking the write lock at once so two
    /// writers never deadlock upgrading a read lock.
    pub(super) async fn begin(&self) -> Result<Transaction<'static, Sqlite>, LedgerError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| self.err(e))
    }

    /// Commits (durably, per the options) and counts the step.
    pub(super) async fn commit(
        &self,
        tx: Transaction<'static, Sqlite>,
        trade_id: &TradeId,
        kind: &'static str,
    ) -> Result<Transition, LedgerError> {
        tx.commit().await.map_err(|e| self.err(e))?;
        metrics::counter!("ledger_transitions_total", "kind" => kind).increment(1);
        tracing::info!(ledger = %self.path.display(), trade = %trade_id, kind, "ledger change committed");
        Ok(Transition::Applied)
    }

    /// The state, parties and price of a recorded trade.
    async fn current(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        trade_id: &TradeId,
    ) -> Result<Current, LedgerError> {
        let row =
            sqlx::query("SELECT state, buyer, seller, price_micro FROM trades WHERE trade_id = ?1")
                .bind(trade_id.as_str())
                .fetch_optional(&mut **tx)
                .await
                .map_err(|e| self.err(e))?
                .ok_or_else(|| LedgerError::UnknownTrade(trade_id.clone()))?;
        let state: String = row.try_get("state").map_err(|e| self.err(e))?;
        Ok(Current {
            state: self.parse_state(&state)?,
            buyer: row.try_get("buyer").map_err(|e| self.err(e))?,
            seller: row.try_get("seller").map_err(|e| self.err(e))?,
            price: Credits(row.try_get("price_micro").map_err(|e| self.err(e))?),
        })
    }

    async fn set_state(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        trade_id: &TradeId,
        state: TradeState,
        reason: Option<&str>,
        at: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE trades SET state = ?2, reason = COALESCE(?3, reason), updated_at_ms = ?4
             WHERE trade_id = ?1",
        )
        .bind(trade_id.as_str())
        .bind(state.as_str())
        .bind(reason)
        .bind(at)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn close_attempt(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        trade_id: &TradeId,
        attempt: u32,
        outcome: AttemptOutcome,
        reason: Option<&str>,
        at: i64,
    ) -> Result<(), LedgerError> {
        sqlx::query(
            "UPDATE migration_attempts SET ended_at_ms = ?3, outcome = ?4, reason = ?5
             WHERE trade_id = ?1 AND attempt = ?2",
        )
        .bind(trade_id.as_str())
        .bind(attempt)
        .bind(at)
        .bind(outcome.as_str())
        .bind(reason)
        .execute(&mut **tx)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn insert_trade(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        terms: &TradeTerms,
        side: super::Side,
        at: i64,
    ) -> Result<(), sqlx::Error> {
        // validate() checked that the resources fit in i64.
        let amount = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO trades (trade_id, interaction_id, protocol_name, protocol_hash,
                 buyer, seller, our_side, cpu_millicores, memory_mib, network_mbps,
                 price_micro, state, agreed_at_ms, updated_at_ms, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14)",
        )
        .bind(terms.trade_id.as_str())
        .bind(&terms.interaction_id)
        .bind(&terms.protocol.name)
        .bind(&terms.protocol.hash)
        .bind(&terms.buyer)
        .bind(&terms.seller)
        .bind(side.as_str())
        .bind(amount(terms.resources.cpu_millicores))
        .bind(amount(terms.resources.memory_mib))
        .bind(amount(terms.resources.network_mbps))
        .bind(terms.price.0)
        .bind(TradeState::Agreed.as_str())
        .bind(at)
        .bind(terms.kind.as_str())
        .execute(&mut **tx)
        .await?;
        for (position, vm) in terms.vms.iter().enumerate() {
            sqlx::query(
                "INSERT INTO trade_vms (trade_id, position, vm_uuid, vm_name) VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(terms.trade_id.as_str())
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(&vm.uuid)
            .bind(&vm.name)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }
}

fn attempt_detail(attempt: u32, outcome: AttemptOutcome, reason: Option<&str>) -> String {
    match reason {
        Some(reason) => format!("attempt {attempt} {outcome}: {reason}"),
        None => format!("attempt {attempt} {outcome}"),
    }
}

/// Counts the price of a trade this ledger's owner agreed to, once it is
/// durable (`bourse_trade_price_credits`, by kind and by the owner's side).
pub(super) fn count_price(terms: &TradeTerms, side: super::Side) {
    metrics::histogram!(
        "bourse_trade_price_credits",
        "kind" => terms.kind.as_str(),
        "side" => side.as_str(),
    )
    .record(terms.price.as_credits());
}
