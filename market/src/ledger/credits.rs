//! Credits: the integer money of the market, and how a settlement moves it.
//!
//! Balances start at 0 and may go negative (there is no allowance and no
//! overdraft check: whether a host can afford a trade is its policy's
//! business, decided before it agrees). The ledger holds one balance row for
//! its owner and one per counterparty; a settlement adds the price to the
//! seller's row and takes it from the buyer's, so the rows of one ledger sum
//! to zero and the owners' balances across all ledgers sum to zero too: the
//! market takes no fee and has no surplus.

use sqlx::{Sqlite, Transaction};

use crate::credits::Credits;

/// Adds `amount` to `host`'s balance inside the settlement's transaction,
/// creating the row at 0 first if the host is new to this ledger.
pub(crate) async fn add_to_balance(
    tx: &mut Transaction<'static, Sqlite>,
    host: &str,
    amount: Credits,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO credit_balances (host, balance_micro) VALUES (?1, ?2)
         ON CONFLICT (host) DO UPDATE SET balance_micro = balance_micro + ?2",
    )
    .bind(host)
    .bind(amount.0)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
