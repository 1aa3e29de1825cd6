//! The ledger: one SQLite file per bidder recording every trade it agreed,
//! how the migration went, the credits it moved, and an append-only log.
//!
//! A trade is written here before anything moves, and every change is one
//! transaction committed (with `synchronous=FULL` by default, so it is on
//! disk) before the call returns: a bidder that acknowledges a message after
//! the call has made the change durable before acknowledging it. A crash at
//! any moment therefore leaves each trade in one of the states of
//! [`TradeState`], which crash recovery reads back with
//! [`Ledger::unfinished_trades`] and [`Ledger::open_attempt`].
//!
//! - [`trade`]: terms, states and the lifecycle rules (pure).
//! - [`attempt`]: migration attempts (method, source, destination, outcome).
//! - [`credits`]: micro-credits and how a settlement moves them.
//! - [`events`]: the append-only event log.
//! - [`audit`]: the cross-check of many hosts' ledgers behind `market audit`.
//! - `schema`: safe opening (newer schema, damaged file) and migrations.
//!
//! The schema is in the workspace's `migrations/`; docs/ledger.md describes
//! it with the lifecycle diagram and the recovery contract.

pub mod attempt;
pub mod audit;
mod clearing;
pub mod credits;
mod error;
pub mod events;
mod lifecycle;
mod read;
mod schema;
pub mod trade;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Row, SqlitePool};

pub use attempt::{AttemptOutcome, MigrationAttempt, MigrationMethod};
pub use clearing::{ClearingTerms, LegRecord};
pub use error::LedgerError;
pub use events::LedgerEvent;
use schema::SchemaStatus;

use crate::time::OutsideWork;
pub use trade::{
    ProtocolRef, Side, TradeId, TradeKind, TradeRecord, TradeState, TradeTerms, Transition, VmRef,
};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is fsynced at every commit, so a
    /// committed change survives a power cut. The default: a trade moves
    /// credits and VMs.
    #[default]
    Full,
    /// `synchronous=NORMAL`: a commit survives a crash of the process but
    /// may be lost on power failure. Only for simulations and baselines.
    Normal,
}

/// Settings for [`Ledger::open`].
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Commit durability; [`Durability::Full`] unless a simulation asks.
    pub durability: Durability,
    /// How long a change waits for another writer of the same file.
    pub busy_timeout: Duration,
    /// Cap on the file size in pages (SQLite `max_page_count`): a quota
    /// after which changes fail with [`LedgerError::Full`] like on a full
    /// disk. `None`: no cap beyond the disk.
    pub max_pages: Option<u32>,
    /// Tells a paused clock that a statement is under way on SQLite's
    /// thread ([`crate::time`]): a simulation's ledgers share one
    /// [`OutsideWork::tracked`]; a daemon's hold nothing.
    pub outside_work: OutsideWork,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            durability: Durability::Full,
            busy_timeout: Duration::from_secs(5),
            max_pages: None,
            outside_work: OutsideWork::untracked(),
        }
    }
}

/// Connections per ledger: writes are serialised by SQLite anyway; a few
/// let reads run beside a write.
const POOL_SIZE: u32 = 4;

/// One bidder's ledger file, open. Cheap to clone (a connection pool).
#[derive(Debug, Clone)]
pub struct Ledger {
    pool: SqlitePool,
    path: PathBuf,
    owner: String,
    outside: OutsideWork,
}

impl Ledger {
    /// Opens the ledger of host `owner` at `path`, creating it if missing
    /// and migrating it to this build's schema.
    ///
    /// Refuses, without modifying the file, one with a newer schema
    /// ([`LedgerError::NewerSchema`]), a damaged one ([`LedgerError::Corrupt`]),
    /// another database ([`LedgerError::NotALedger`]) and another host's
    /// ledger ([`LedgerError::OwnerMismatch`]).
    pub async fn open(
        path: impl AsRef<Path>,
        owner: &str,
        options: &LedgerOptions,
    ) -> Result<Ledger, LedgerError> {
        let path = path.as_ref();
        let _underway = options.outside_work.begin();
        schema::inspect(path).await?;
        let pool = connect(path, options, false).await?;
        schema::MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| LedgerError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        let found = claim_owner(&pool, path, owner).await?;
        if found != owner {
            pool.close().await;
            return Err(LedgerError::OwnerMismatch {
                path: path.to_path_buf(),
                expected: owner.to_string(),
                found,
            });
        }
        tracing::debug!(path = %path.display(), owner, "ledger open");
        Ok(Ledger {
            pool,
            path: path.to_path_buf(),
            owner: owner.to_string(),
            outside: options.outside_work.clone(),
        })
    }

    /// Opens an existing ledger read-only (for `market ledger` and
    /// `market audit`): never creates, migrates or writes. The owner is
    /// read from the file.
    pub async fn open_read_only(path: impl AsRef<Path>) -> Result<Ledger, LedgerError> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(LedgerError::Missing {
                path: path.to_path_buf(),
            });
        }
        match schema::inspect(path).await? {
            SchemaStatus::Current => {}
            SchemaStatus::Empty => {
                return Err(LedgerError::NotALedger {
                    path: path.to_path_buf(),
                    detail: "the database is empty".to_string(),
                });
            }
            SchemaStatus::Older(found) => {
                return Err(LedgerError::OlderSchema {
                    path: path.to_path_buf(),
                    found,
                    known: schema::newest_known_version(),
                });
            }
        }
        let pool = connect(path, &LedgerOptions::default(), true).await?;
        let owner: String = sqlx::query("SELECT host FROM ledger_owner")
            .fetch_optional(&pool)
            .await
            .map_err(|e| LedgerError::from_sqlx(path, e))?
            .map(|row| row.try_get("host"))
            .transpose()
            .map_err(|e| LedgerError::from_sqlx(path, e))?
            .ok_or_else(|| LedgerError::NotALedger {
                path: path.to_path_buf(),
                detail: "no owner recorded".to_string(),
            })?;
        Ok(Ledger {
            pool,
            path: path.to_path_buf(),
            owner,
            outside: OutsideWork::untracked(),
        })
    }

    /// The host whose ledger this is.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes every connection (checkpointing the WAL where possible).
    pub async fn close(self) {
        let _underway = self.outside.begin();
        self.pool.close().await;
    }

    /// Classifies an sqlx error on this ledger.
    fn err(&self, source: sqlx::Error) -> LedgerError {
        LedgerError::from_sqlx(&self.path, source)
    }
}

/// Opens the pool with WAL, the chosen durability, foreign keys and the
/// busy timeout on every connection.
async fn connect(
    path: &Path,
    options: &LedgerOptions,
    read_only: bool,
) -> Result<SqlitePool, LedgerError> {
    let synchronous = match options.durability {
        Durability::Full => SqliteSynchronous::Full,
        Durability::Normal => SqliteSynchronous::Normal,
    };
    let mut connect = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(!read_only)
        .read_only(read_only)
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout)
        .synchronous(synchronous);
    if !read_only {
        connect = connect.journal_mode(SqliteJournalMode::Wal);
    }
    if let Some(pages) = options.max_pages {
        connect = connect.pragma("max_page_count", pages.to_string());
    }
    SqlitePoolOptions::new()
        .max_connections(POOL_SIZE)
        // A connection that comes back still counting a transaction open
        // is closed, not pooled: on SQLITE_FULL (a full disk, the page
        // quota) SQLite rolls the transaction back by itself, sqlx's own
        // ROLLBACK then fails and leaves its count at one, and every later
        // transaction on that connection would be refused ("begin_with at
        // non-zero transaction depth"). Closing it also ends any
        // transaction left open; the pool opens a fresh connection.
        .after_release(|conn, _| Box::pin(async move { Ok(!conn.is_in_transaction()) }))
        .connect_with(connect)
        .await
        .map_err(|e| LedgerError::from_sqlx(path, e))
}

/// Records `owner` in a new ledger and returns the owner on file.
async fn claim_owner(pool: &SqlitePool, path: &Path, owner: &str) -> Result<String, LedgerError> {
    let sqlx_err = |e| LedgerError::from_sqlx(path, e);
    sqlx::query(
        "INSERT INTO ledger_owner (singleton, host, created_at_ms) VALUES (1, ?1, ?2)
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(owner)
    .bind(now_ms())
    .execute(pool)
    .await
    .map_err(sqlx_err)?;
    sqlx::query("SELECT host FROM ledger_owner")
        .fetch_one(pool)
        .await
        .map_err(sqlx_err)?
        .try_get("host")
        .map_err(sqlx_err)
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
