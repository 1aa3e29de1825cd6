//! Everything that can go wrong with a ledger, typed so that callers can
//! tell "this message was a replay" from "this file is damaged".

use std::path::PathBuf;

use super::trade::{TradeId, TradeState};

/// An error from a [`Ledger`](super::Ledger) operation.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The file was written by a newer bourse: its schema has migrations
    /// this build does not know. The file is left untouched.
    #[error(
        "ledger {path} has schema version {found}, newer than the newest this build knows ({known}); \
         upgrade bourse to open it (the file was not modified)"
    )]
    NewerSchema {
        /// The ledger file.
        path: PathBuf,
        /// The newest migration version recorded in the file.
        found: i64,
        /// The newest migration version this build carries.
        known: i64,
    },

    /// The file is older than this build and was opened read-only, so it
    /// could not be migrated.
    #[error(
        "ledger {path} has schema version {found}, older than this build's ({known}); \
         open it once read-write (start its bidder) to migrate it"
    )]
    OlderSchema {
        /// The ledger file.
        path: PathBuf,
        /// The newest migration version recorded in the file.
        found: i64,
        /// The newest migration version this build carries.
        known: i64,
    },

    /// The file is not an SQLite database, or its pages are damaged.
    #[error("ledger {path} is not a readable SQLite database ({detail}); restore it from a backup")]
    Corrupt {
        /// The ledger file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },

    /// An SQLite database, but not a bourse ledger (no ledger schema in it).
    #[error("{path} is an SQLite database but not a bourse ledger ({detail})")]
    NotALedger {
        /// The file.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },

    /// No ledger exists at the path (and it was opened without creating).
    #[error("no ledger at {path}")]
    Missing {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// The disk (or the configured size cap) is full. The change that hit it
    /// was rolled back entirely: nothing of it is in the ledger.
    #[error(
        "ledger {path} is full (disk or size cap reached); the change was rolled back, \
         free space and retry"
    )]
    Full {
        /// The ledger file.
        path: PathBuf,
    },

    /// The ledger belongs to another host.
    #[error("ledger {path} belongs to host {found:?}, not {expected:?}")]
    OwnerMismatch {
        /// The ledger file.
        path: PathBuf,
        /// The host that tried to open it.
        expected: String,
        /// The host recorded in the file.
        found: String,
    },

    /// The trade does not name this ledger's owner as buyer or seller.
    #[error("trade {trade_id} is between {buyer:?} and {seller:?}, not host {owner:?}")]
    NotAParty {
        /// The trade.
        trade_id: TradeId,
        /// Its buyer.
        buyer: String,
        /// Its seller.
        seller: String,
        /// This ledger's owner.
        owner: String,
    },

    /// The terms are malformed (e.g. no VM, a party trading with itself).
    #[error("trade {trade_id} has invalid terms: {reason}")]
    InvalidTerms {
        /// The trade.
        trade_id: TradeId,
        /// What is wrong.
        reason: String,
    },

    /// The trade is already recorded with different terms.
    #[error("trade {trade_id} is already recorded with different terms: {differences}")]
    ConflictingTerms {
        /// The trade.
        trade_id: TradeId,
        /// Every field that differs, `field: recorded vs offered`.
        differences: String,
    },

    /// No trade with this id is recorded.
    #[error("no trade {0} in the ledger")]
    UnknownTrade(TradeId),

    /// The lifecycle does not allow this step from the trade's state.
    #[error("trade {trade_id} is {from}; it cannot {action}")]
    IllegalTransition {
        /// The trade.
        trade_id: TradeId,
        /// Its current state.
        from: TradeState,
        /// The refused step, in words ("settle", "start a migration", ...).
        action: &'static str,
    },

    /// A migration attempt was referred to that does not match the ledger.
    #[error("trade {trade_id}, migration attempt {attempt}: {reason}")]
    AttemptMismatch {
        /// The trade.
        trade_id: TradeId,
        /// The attempt number given.
        attempt: u32,
        /// Why it does not match.
        reason: String,
    },

    /// A trade id that cannot be used (empty, too long, control characters).
    #[error("invalid trade id {0:?}: 1 to 128 printable characters without spaces")]
    InvalidTradeId(String),

    /// The file holds a value this build cannot read (e.g. an unknown state).
    #[error("ledger {path} holds an unreadable value: {detail}")]
    BadRow {
        /// The ledger file.
        path: PathBuf,
        /// Which value.
        detail: String,
    },

    /// Applying the schema migrations failed.
    #[error("migrating ledger {path}: {source}")]
    Migrate {
        /// The ledger file.
        path: PathBuf,
        /// sqlx's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// Any other SQLite error (I/O, locked beyond the busy timeout, ...).
    #[error("ledger {path}: {source}")]
    Sqlite {
        /// The ledger file.
        path: PathBuf,
        /// sqlx's error.
        #[source]
        source: sqlx::Error,
    },
}

/// SQLite primary result codes the ledger tells apart.
const SQLITE_CORRUPT: i64 = 11;
const SQLITE_FULL: i64 = 13;
const SQLITE_NOTADB: i64 = 26;

impl LedgerError {
    /// Classifies an sqlx error on the ledger at `path`: a full disk and a
    /// damaged file get their own variants so callers and people can act.
    pub(crate) fn from_sqlx(path: &std::path::Path, source: sqlx::Error) -> Self {
        let path = path.to_path_buf();
        let primary_code = source
            .as_database_error()
            .and_then(|e| e.code())
            .and_then(|code| code.parse::<i64>().ok())
            .map(|code| code & 0xff);
        match primary_code {
            Some(SQLITE_FULL) => LedgerError::Full { path },
            Some(SQLITE_CORRUPT | SQLITE_NOTADB) => LedgerError::Corrupt {
                path,
                detail: source.to_string(),
            },
            _ => LedgerError::Sqlite { path, source },
        }
    }
}
