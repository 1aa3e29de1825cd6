//! `market watch`: the zone live, from the events every host publishes
//! (`market::events`): a terminal view of hosts and trades, or JSON lines
//! for scripts. The board and the view are `bourse::watch`; this module
//! connects, subscribes and runs the terminal.
//!
//! It connects like a bidder (`market::bus::NatsConfig`: servers, user and
//! password file, creds or nkey file, TLS), typically as the observer user
//! `market nats-config --observer` writes, which may only listen.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bourse::outln;
use bourse::output::OutputError;
use bourse::watch::view::{self, Key};
use bourse::watch::{Board, ViewState, json};
use clap::Args;
use futures::StreamExt;
use market::bus::subject::{HostName, SubjectSpace, Token};
use market::bus::{Bus, BusError, Message};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{broadcast, mpsc};

use crate::connect::{ConnectArgs, ConnectError};

/// Arguments of `market watch`.
#[derive(Debug, Args)]
#[command(
    after_help = "Keys: q or Ctrl-C quit, s sort, f filter by host, Esc all hosts, p pause.\n\
                  Exit status: 0 after q, Ctrl-C or SIGTERM; 141 when the reader of --json goes away; 1 when NATS cannot be reached or refuses the subscription; 2 on a usage error."
)]
pub struct WatchArgs {
    /// The zone to watch (the second token of its subjects).
    #[arg(long)]
    zone: Token,
    /// The first token of the zone's subjects.
    #[arg(long, default_value = SubjectSpace::DEFAULT_PREFIX)]
    prefix: Token,
    /// Only this host: its status and the trades it sells or buys.
    #[arg(long)]
    host: Option<HostName>,
    /// Print every event (and every message dropped) as one JSON line on
    /// stdout instead of the live view.
    #[arg(long)]
    json: bool,
    /// How to reach the zone's NATS servers.
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(
        "the server refuses: {0} (is this user allowed to subscribe to the zone? `market nats-config --observer NAME` writes one that is)"
    )]
    Refused(String),
    #[error("stdout is not a terminal: use --json for a pipe or a file")]
    NotATerminal,
    #[error("the terminal: {0}")]
    Terminal(#[from] std::io::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Runs `market watch`.
pub async fn run(args: WatchArgs) -> Result<ExitCode, OutputError> {
    match watch(args).await {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(WatchError::Output(e)) => Err(e),
        Err(e) => {
            eprintln!("market watch: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn watch(args: WatchArgs) -> Result<(), WatchError> {
    if !args.json && !std::io::stdout().is_terminal() {
        return Err(WatchError::NotATerminal);
    }
    let bus = args.connect.bus("market-watch").await?;
    let mut refusals = bus.server_errors();
    let space = SubjectSpace::new(args.prefix.clone(), args.zone.clone());
    let statuses = match &args.host {
        Some(host) => {
            space.subject(&market::bus::subject::Route::HostStatus { host: host.clone() })
        }
        None => space.all_host_status(),
    };
    let messages = futures::stream::select(
        bus.subscribe(&statuses).await?,
        bus.subscribe(&space.all_trades()).await?,
    );
    // The server judges subscriptions asynchronously; after a round trip
    // it has said whether it refuses them.
    bus.sync().await?;
    if let Ok(refusal) = refusals.try_recv() {
        return Err(WatchError::Refused(refusal));
    }
    let board = Board::new(space, args.host.clone());
    if args.json {
        eprintln!(
            "market watch: watching zone {} (prefix {})",
            args.zone, args.prefix
        );
        json_lines(board, messages, refusals).await
    } else {
        live(board, messages, refusals).await
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Resolves on SIGTERM (and never when it cannot be listened for).
async fn terminated() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

async fn json_lines(
    mut board: Board,
    mut messages: impl futures::Stream<Item = Message> + Unpin,
    mut refusals: broadcast::Receiver<String>,
) -> Result<(), WatchError> {
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            () = terminated() => {},
        }
    };
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                let now = now_ms();
                let observed = board.ingest(&message.subject, &message.payload, now);
                if let Some(line) = json::line(&observed, &message.subject, now) {
                    outln!("{line}")?;
                }
            }
            Ok(refusal) = refusals.recv() => eprintln!("market watch: the server says: {refusal}"),
        }
    }
}

/// Restores the terminal however the view ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The terminal's keys, read on a thread of their own (crossterm's reads
/// block), as the view's [`Key`]s.
fn keys() -> mpsc::Receiver<Key> {
    let (sender, receiver) = mpsc::channel(16);
    std::thread::spawn(move || {
        while !sender.is_closed() {
            match event::poll(Duration::from_millis(100)) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(_) => return,
            }
            let Ok(Event::Key(key)) = event::read() else {
                continue;
            };
            if key.kind != KeyEventKind::Press {
                continue;
            }
            let mapped = match key.code {
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Key::Quit,
                KeyCode::Char('q') => Key::Quit,
                KeyCode::Char('s') => Key::Sort,
                KeyCode::Char('f') => Key::Filter,
                KeyCode::Esc => Key::ClearFilter,
                KeyCode::Char('p' | ' ') => Key::Pause,
                _ => continue,
            };
            if sender.blocking_send(mapped).is_err() {
                return;
            }
        }
    });
    receiver
}

/// How often the view is redrawn: "last seen" moves every second, and
/// redrawing a thousand hosts more often than this is wasted work.
const REDRAW: Duration = Duration::from_millis(250);

async fn live(
    mut board: Board,
    mut messages: impl futures::Stream<Item = Message> + Unpin,
    mut refusals: broadcast::Receiver<String>,
) -> Result<(), WatchError> {
    let mut terminal = ratatui::try_init()?;
    let _guard = TerminalGuard;
    let mut keys = keys();
    let mut state = ViewState::default();
    let mut redraw = tokio::time::interval(REDRAW);
    redraw.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = terminated();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            _ = redraw.tick() => {
                let now = now_ms();
                terminal.draw(|frame| view::render(frame, &board, &state, now))?;
            }
            key = keys.recv() => {
                let Some(key) = key else { return Ok(()) };
                if !state.press(key, &board) {
                    return Ok(());
                }
                let now = now_ms();
                terminal.draw(|frame| view::render(frame, &board, &state, now))?;
            }
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                board.ingest(&message.subject, &message.payload, now_ms());
            }
            Ok(refusal) = refusals.recv() => tracing::warn!(%refusal, "the server refused something"),
        }
    }
}
