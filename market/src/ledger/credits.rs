//! Credits: the integer money of the market, and how a settlement moves it.
//!
//! Balances start at 0 and may go negative (there is no allowance and no
//! overdraft check: whether a host can afford a trade is its policy's
//! business, decided before it agrees). The ledger holds one balance row for
//! its owner and one per counterparty; a settlement adds the price to the
//! seller's row and takes it from the buyer's, so the rows of one ledger sum
//! to zero and the owners' balances across all ledgers sum to zero too: the
//! market takes no fee and has no surplus.

use std::fmt;

use serde::Serialize;
use sqlx::{Sqlite, Transaction};

/// An amount of credits in millionths, so sums are exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct MicroCredits(pub i64);

impl MicroCredits {
    /// Micro-credits in one credit.
    pub const PER_CREDIT: i64 = 1_000_000;

    /// Zero credits.
    pub const ZERO: MicroCredits = MicroCredits(0);
}

impl fmt::Display for MicroCredits {
    /// Shown as credits with six decimals, e.g. `-1.250000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let per = Self::PER_CREDIT.unsigned_abs();
        write!(f, "{sign}{}.{:06}", abs / per, abs % per)
    }
}

/// Adds `amount` to `host`'s balance inside the settlement's transaction,
/// creating the row at 0 first if the host is new to this ledger.
pub(crate) async fn add_to_balance(
    tx: &mut Transaction<'static, Sqlite>,
    host: &str,
    amount: MicroCredits,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_as_credits() {
        assert_eq!(MicroCredits(1_250_000).to_string(), "1.250000");
        assert_eq!(MicroCredits(-5).to_string(), "-0.000005");
        assert_eq!(MicroCredits(0).to_string(), "0.000000");
        assert_eq!(MicroCredits(i64::MIN).to_string(), "-9223372036854.775808");
    }
}
