//! Opening a ledger file safely: look at it read-only first, so a file from
//! a newer bourse, a damaged file or some other database is refused before
//! anything is written to it; then apply the migrations in `migrations/`.

use std::collections::BTreeSet;
use std::path::Path;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

use super::error::LedgerError;

/// The ledger schema, embedded at compile time from the workspace's
/// top-level `migrations/` (the path is relative to `market/Cargo.toml`).
pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// The table in which sqlx records applied migrations.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What the read-only look at a file found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaStatus {
    /// No file, or a file without tables: a new ledger may be created.
    Empty,
    /// Every migration this build knows is applied, and no other.
    Current,
    /// Some of this build's migrations are not applied yet (newest applied).
    Older(i64),
}

/// The newest schema version this build carries.
pub(crate) fn newest_known_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Looks at the file without writing to it and says whether it may be used.
pub(crate) async fn inspect(path: &Path) -> Result<SchemaStatus, LedgerError> {
    if !path.exists() {
        return Ok(SchemaStatus::Empty);
    }
    let sqlx_err = |e| LedgerError::from_sqlx(path, e);
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(sqlx_err)?;
    let tables: BTreeSet<String> =
        sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .map_err(sqlx_err)?
            .iter()
            .map(|row| row.try_get::<String, _>("name"))
            .collect::<Result<_, _>>()
            .map_err(sqlx_err)?;
    if tables.is_empty() {
        return Ok(SchemaStatus::Empty);
    }
    if !tables.contains(MIGRATIONS_TABLE) {
        return Err(LedgerError::NotALedger {
            path: path.to_path_buf(),
            detail: format!("it has tables but no {MIGRATIONS_TABLE} table"),
        });
    }
    let applied: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .map_err(sqlx_err)?
        .iter()
        .map(|row| row.try_get::<i64, _>("version"))
        .collect::<Result<_, _>>()
        .map_err(sqlx_err)?;
    conn.close().await.map_err(sqlx_err)?;
    status_of(path, &applied)
}

/// Compares the versions applied to a file with the ones this build knows.
fn status_of(path: &Path, applied: &[i64]) -> Result<SchemaStatus, LedgerError> {
    let known = newest_known_version();
    let found = applied.iter().copied().max().unwrap_or(0);
    if applied.iter().any(|v| !MIGRATOR.version_exists(*v)) {
        return Err(LedgerError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    if MIGRATOR.iter().all(|m| applied.contains(&m.version)) {
        Ok(SchemaStatus::Current)
    } else {
        Ok(SchemaStatus::Older(found))
    }
}
