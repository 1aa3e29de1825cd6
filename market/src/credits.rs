//! Money: integer micro-credits.
//!
//! Prices, bids, asks and payments are whole numbers of micro-credits
//! (1 credit = 1 000 000 micro-credits) so that every sum the ledger stores
//! is exact and "payments sum to zero" can be checked with `==`. Utilities
//! are real numbers (in credits); they become money only at the edge, in
//! [`Credits::from_credits_floor`], rounded so a bidder never offers more
//! than its utility says a move is worth.

use serde::{Deserialize, Serialize};

/// An amount of money in micro-credits; negative amounts are payments the
/// other way.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Credits(pub i64);

/// Micro-credits in one credit.
pub const MICROS_PER_CREDIT: i64 = 1_000_000;

impl Credits {
    /// No money.
    pub const ZERO: Credits = Credits(0);

    /// An amount in micro-credits.
    pub const fn from_micros(micros: i64) -> Self {
        Credits(micros)
    }

    /// The amount in micro-credits.
    pub const fn micros(self) -> i64 {
        self.0
    }

    /// A real amount of credits rounded down to a micro-credit (towards minus
    /// infinity), saturating at the ends of `i64`; `None` for NaN.
    ///
    /// Rounding down makes a valuation conservative: what a host offers to
    /// pay never exceeds what its utility gains, and what it asks never falls
    /// short of what it loses (an ask is the negated floor of a gain).
    pub fn from_credits_floor(credits: f64) -> Option<Self> {
        if credits.is_nan() {
            return None;
        }
        // `as` saturates for out-of-range and infinite floats.
        Some(Credits((credits * MICROS_PER_CREDIT as f64).floor() as i64))
    }

    /// The amount in credits, for people and logs.
    pub fn as_credits(self) -> f64 {
        self.0 as f64 / MICROS_PER_CREDIT as f64
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Credits) -> Option<Credits> {
        self.0.checked_add(other.0).map(Credits)
    }

    /// `self - other`, or `None` on overflow.
    pub fn checked_sub(self, other: Credits) -> Option<Credits> {
        self.0.checked_sub(other.0).map(Credits)
    }
}

impl std::fmt::Display for Credits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let unit = MICROS_PER_CREDIT as u64;
        write!(f, "{sign}{}.{:06} cr", abs / unit, abs % unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_rounds_towards_minus_infinity() {
        assert_eq!(Credits::from_credits_floor(1.5), Some(Credits(1_500_000)));
        assert_eq!(Credits::from_credits_floor(-0.0000001), Some(Credits(-1)));
        assert_eq!(Credits::from_credits_floor(f64::NAN), None);
        assert_eq!(
            Credits::from_credits_floor(f64::INFINITY),
            Some(Credits(i64::MAX))
        );
    }

    #[test]
    fn display_shows_six_decimals() {
        assert_eq!(Credits(-1_500_000).to_string(), "-1.500000 cr");
        assert_eq!(Credits(42).to_string(), "0.000042 cr");
    }
}
