//! `market ledger`: look into one host's ledger file (read-only).
//!
//! - `market ledger trades LEDGER [--state S] [--json]`: one line per trade.
//! - `market ledger show LEDGER TRADE_ID [--json]`: terms, state, migration
//!   attempts and the trade's events.
//!
//! Exit status: 0 on success, 1 when the ledger cannot be read or the trade
//! is not in it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bourse::out;
use bourse::output::OutputError;
use clap::Subcommand;
use market::ledger::{
    Ledger, LedgerError, LedgerEvent, MigrationAttempt, TradeId, TradeKind, TradeRecord, TradeState,
};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// The `market ledger` subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// List the trades of a ledger, in the order they were recorded.
    Trades {
        /// The ledger file (one per bidder).
        ledger: PathBuf,
        /// Only trades in this state: agreed, migrating, settled, failed,
        /// rolled_back.
        #[arg(long, value_parser = parse_state)]
        state: Option<TradeState>,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one trade: terms, state, migration attempts and events.
    Show {
        /// The ledger file.
        ledger: PathBuf,
        /// The trade id both parties share.
        trade_id: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_state(s: &str) -> Result<TradeState, String> {
    TradeState::parse(s).ok_or_else(|| {
        let names: Vec<&str> = TradeState::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown state {s:?}; one of {}", names.join(", "))
    })
}

/// Runs a `market ledger` subcommand.
pub async fn run(command: LedgerCommand) -> Result<ExitCode, OutputError> {
    let text = match command {
        LedgerCommand::Trades {
            ledger,
            state,
            json,
        } => trades(&ledger, state, json).await,
        LedgerCommand::Show {
            ledger,
            trade_id,
            json,
        } => show(&ledger, &trade_id, json).await,
    };
    match text {
        Ok(text) => {
            out!("{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(message) => {
            eprintln!("market ledger: {message}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn open(path: &Path) -> Result<Ledger, String> {
    Ledger::open_read_only(path)
        .await
        .map_err(|e| format!("cannot read the ledger: {e}"))
}

/// The text of `trades`: a table, or one JSON array.
async fn trades(path: &Path, state: Option<TradeState>, json: bool) -> Result<String, String> {
    let ledger = open(path).await?;
    let trades = ledger.trades(state).await.map_err(read_error)?;
    ledger.close().await;
    if json {
        let text = serde_json::to_string_pretty(&trades).map_err(|e| e.to_string())?;
        return Ok(format!("{text}\n"));
    }
    Ok(trades_table(&trades))
}

/// The `trades` table: a header and one aligned row per trade.
fn trades_table(trades: &[TradeRecord]) -> String {
    let header = [
        "TRADE",
        "KIND",
        "STATE",
        "SIDE",
        "WITH",
        "VMS",
        "CPU(m)",
        "MEM(MiB)",
        "NET(Mb/s)",
        "PRICE",
        "AGREED (UTC)",
    ];
    let rows: Vec<[String; 11]> = trades
        .iter()
        .map(|t| {
            let vms: Vec<&str> = t.terms.vms.iter().map(|vm| vm.name.as_str()).collect();
            [
                t.terms.trade_id.to_string(),
                t.terms.kind.to_string(),
                t.state.to_string(),
                t.our_side.to_string(),
                t.terms.counterparty(t.our_side).to_string(),
                vms.join(","),
                t.terms.resources.cpu_millicores.to_string(),
                t.terms.resources.memory_mib.to_string(),
                t.terms.resources.network_mbps.to_string(),
                t.terms.price.to_string(),
                utc(t.agreed_at_ms),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The text of `show`: the trade in full, or one JSON object.
async fn show(path: &Path, trade_id: &str, json: bool) -> Result<String, String> {
    let id = TradeId::new(trade_id).map_err(|e| e.to_string())?;
    let ledger = open(path).await?;
    let Some(trade) = ledger.trade(&id).await.map_err(read_error)? else {
        return Err(format!(
            "no trade {id} in {} (ledger of {}); `market ledger trades {}` lists them",
            path.display(),
            ledger.owner(),
            path.display()
        ));
    };
    let attempts = ledger.attempts(&id).await.map_err(read_error)?;
    let events = ledger.events(Some(&id)).await.map_err(read_error)?;
    let owner = ledger.owner().to_string();
    ledger.close().await;
    if json {
        let value = serde_json::json!({
            "ledger_owner": owner,
            "trade": trade,
            "attempts": attempts,
            "events": events,
        });
        let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
        return Ok(format!("{text}\n"));
    }
    let shown = Shown {
        owner: &owner,
        trade: &trade,
        attempts: &attempts,
        events: &events,
    };
    Ok(shown.to_string())
}

/// One trade as `show` prints it for a person.
struct Shown<'a> {
    owner: &'a str,
    trade: &'a TradeRecord,
    attempts: &'a [MigrationAttempt],
    events: &'a [LedgerEvent],
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown {
            owner,
            trade,
            attempts,
            events,
        } = self;
        let terms = &trade.terms;
        writeln!(f, "trade        {}", terms.trade_id)?;
        writeln!(f, "ledger of    {owner} ({})", trade.our_side)?;
        writeln!(f, "kind         {}", terms.kind)?;
        writeln!(f, "state        {}", trade.state)?;
        if let Some(reason) = &trade.reason {
            writeln!(f, "reason       {reason}")?;
        }
        let seller_role = match terms.kind {
            TradeKind::Migration => "the VMs leave it",
            TradeKind::Placement => "the operator who asked for the new VMs",
        };
        writeln!(
            f,
            "seller       {} ({seller_role}; it is paid the price)",
            terms.seller
        )?;
        writeln!(
            f,
            "buyer        {} (the VMs arrive; it pays the price)",
            terms.buyer
        )?;
        writeln!(f, "price        {}", terms.price)?;
        writeln!(
            f,
            "bundle       cpu {}m, memory {} MiB, network {} Mbit/s",
            terms.resources.cpu_millicores,
            terms.resources.memory_mib,
            terms.resources.network_mbps
        )?;
        for vm in &terms.vms {
            writeln!(f, "vm           {} {}", vm.uuid, vm.name)?;
        }
        writeln!(
            f,
            "protocol     {} (hash {})",
            terms.protocol.name, terms.protocol.hash
        )?;
        writeln!(f, "interaction  {}", terms.interaction_id)?;
        writeln!(f, "agreed       {}", utc(trade.agreed_at_ms))?;
        writeln!(f, "updated      {}", utc(trade.updated_at_ms))?;
        if attempts.is_empty() {
            writeln!(f, "attempts     none")?;
        } else {
            writeln!(f, "attempts")?;
        }
        for a in attempts.iter() {
            let end = match (a.outcome, a.ended_at_ms) {
                (Some(outcome), Some(at)) => format!("{outcome} at {}", utc(at)),
                _ => "open".to_string(),
            };
            let reason = a
                .reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            writeln!(
                f,
                "  #{} {} {} -> {}, started {}, {end}{reason}",
                a.attempt,
                a.method,
                a.source,
                a.destination,
                utc(a.started_at_ms)
            )?;
        }
        writeln!(f, "events")?;
        for e in events.iter() {
            let from = e
                .from_state
                .map(|s| s.to_string())
                .unwrap_or("-".to_string());
            let detail = e
                .detail
                .as_deref()
                .map(|d| format!("  {d}"))
                .unwrap_or_default();
            writeln!(
                f,
                "  {:>6} {} {:<17} {from} -> {}{detail}",
                e.seq,
                utc(e.at_ms),
                e.kind,
                e.to_state
            )?;
        }
        Ok(())
    }
}

fn read_error(e: LedgerError) -> String {
    format!("reading the ledger failed: {e}")
}

/// `YYYY-MM-DD HH:MM:SS.mmm` in UTC from milliseconds since the Unix epoch.
/// A time no calendar date stands for (beyond the year 9999, from a damaged
/// or hand-edited ledger) is shown as its number, so one bad field does not
/// hide the rest of a trade.
fn utc(ms: i64) -> String {
    const FORMAT: &[BorrowedFormatItem<'_>] =
        format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|time| time.format(FORMAT).ok())
        .unwrap_or_else(|| format!("{ms} ms after the Unix epoch"))
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(utc(1_795_392_000_000), "2026-11-23 00:00:00.000");
        assert_eq!(utc(-1), "1969-12-31 23:59:59.999");
        assert_eq!(utc(i64::MAX), "9223372036854775807 ms after the Unix epoch");
    }
}
