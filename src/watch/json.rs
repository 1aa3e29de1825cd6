//! `market watch --json`: one JSON object per line for every message,
//! events and drops alike, so a script sees what the view would show.
//!
//! ```text
//! {"kind":"status","subject":"bourse.eu1.hosts.h1.status","received_ms":…,"sequence":7,"status":{…}}
//! {"kind":"trade","subject":"bourse.eu1.trades.h1","received_ms":…,"sequence":8,"trade":{…}}
//! {"kind":"dropped","subject":"…","received_ms":…,"reason":"wrong_version","detail":"schema version 9; …"}
//! ```
//!
//! The `status` and `trade` objects have the fields of
//! `market::events::HostStatus` and `TradeEvent` (docs/operations.md).

use serde_json::{Value, json};

use super::Observed;

/// The line for `observed`, received on `subject` at `received_ms`;
/// `None` for what the `--host` filter leaves out.
pub fn line(observed: &Observed, subject: &str, received_ms: i64) -> Option<String> {
    let value: Value = match observed {
        Observed::Status(envelope) => json!({
            "kind": "status",
            "subject": subject,
            "received_ms": received_ms,
            "sequence": envelope.sequence,
            "status": envelope.body,
        }),
        Observed::Trade(envelope) => json!({
            "kind": "trade",
            "subject": subject,
            "received_ms": received_ms,
            "sequence": envelope.sequence,
            "trade": envelope.body,
        }),
        Observed::Dropped { reason, detail, .. } => json!({
            "kind": "dropped",
            "subject": subject,
            "received_ms": received_ms,
            "reason": reason,
            "detail": detail,
        }),
        Observed::Filtered => return None,
    };
    Some(value.to_string())
}
