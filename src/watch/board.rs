//! The state of a zone as an observer hears it.

use std::collections::{BTreeMap, VecDeque};

use market::bus::subject::{HostName, Route, SubjectSpace};
use market::events::{HostStatus, TradeEvent, TradeKind, TradeState};
use market::wire::{Decoder, Envelope, Rejection, WireLimits, record_drop};

/// The largest event accepted: a status or a trade takes a few hundred
/// bytes, so anything near this is not one, and decoding stays cheap.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

/// Trades kept for the view; older ones scroll away.
pub const MAX_TRADES: usize = 500;

/// A host is silent once it has not been heard for this many of its
/// periods.
pub const SILENT_PERIODS: i64 = 3;

const MINUTE_MS: i64 = 60_000;

/// What one message was.
#[derive(Debug, Clone, PartialEq)]
pub enum Observed {
    /// A host's status.
    Status(Envelope<HostStatus>),
    /// A step of a trade.
    Trade(Envelope<TradeEvent>),
    /// Valid, but about hosts the filter leaves out.
    Filtered,
    /// Refused: counted, and shown.
    Dropped {
        /// Why, as the drop counter's `reason` label.
        reason: &'static str,
        /// Why, in words.
        detail: String,
    },
}

/// One host's row.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    /// Its last status; `None` when all that came was unreadable.
    pub status: Option<HostStatus>,
    /// When it was last heard, on the observer's clock.
    pub last_seen_ms: i64,
    /// The schema version of its last message when it was not the one
    /// this build reads (a host upgraded before or after the observer).
    pub unknown_version: Option<u16>,
}

/// One trade as last heard.
#[derive(Debug, Clone, PartialEq)]
pub struct TradeRow {
    /// Its latest event.
    pub event: TradeEvent,
    /// Every state it was reported in, in order of arrival.
    pub states: Vec<TradeState>,
    /// When its latest event arrived, on the observer's clock.
    pub seen_ms: i64,
}

/// The zone: hosts by name, trades newest first, totals, drops.
#[derive(Debug, Clone)]
pub struct Board {
    decoder: Decoder,
    space: SubjectSpace,
    only: Option<HostName>,
    hosts: BTreeMap<HostName, HostRow>,
    trades: VecDeque<TradeRow>,
    /// When each trade of the last minute was agreed (observer's clock).
    agreed: VecDeque<i64>,
    settled: u64,
    failed: u64,
    rolled_back: u64,
    dropped: BTreeMap<&'static str, u64>,
}

impl Board {
    /// The board of `space`, keeping only what concerns `only` (a host's
    /// status, trades it sells or buys) when given.
    pub fn new(space: SubjectSpace, only: Option<HostName>) -> Board {
        Board {
            decoder: Decoder::new(space.clone(), WireLimits::new(MAX_EVENT_BYTES)),
            space,
            only,
            hosts: BTreeMap::new(),
            trades: VecDeque::new(),
            agreed: VecDeque::new(),
            settled: 0,
            failed: 0,
            rolled_back: 0,
            dropped: BTreeMap::new(),
        }
    }

    /// The zone's subjects.
    pub fn space(&self) -> &SubjectSpace {
        &self.space
    }

    /// The host the board is limited to, if any.
    pub fn only(&self) -> Option<&HostName> {
        self.only.as_ref()
    }

    /// Takes one message received on `subject` at `now_ms`: decodes it
    /// (never panics), folds it in, and says what it was. A refused one is
    /// counted here and in `bourse_messages_dropped_total`.
    pub fn ingest(&mut self, subject: &str, payload: &[u8], now_ms: i64) -> Observed {
        match self.decode(subject, payload) {
            Ok(observed) => {
                self.fold(&observed, now_ms);
                observed
            }
            Err(rejection) => {
                record_drop(subject, &rejection);
                *self.dropped.entry(rejection.reason()).or_default() += 1;
                if let (Rejection::WrongVersion { found }, Ok(Route::HostStatus { host })) =
                    (&rejection, self.space.parse(subject))
                    && self.concerns(&host)
                {
                    let row = self.hosts.entry(host).or_insert(HostRow {
                        status: None,
                        last_seen_ms: now_ms,
                        unknown_version: None,
                    });
                    row.last_seen_ms = now_ms;
                    row.unknown_version = Some(*found);
                }
                Observed::Dropped {
                    reason: rejection.reason(),
                    detail: rejection.to_string(),
                }
            }
        }
    }

    fn concerns(&self, host: &HostName) -> bool {
        self.only.as_ref().is_none_or(|only| only == host)
    }

    fn decode(&self, subject: &str, payload: &[u8]) -> Result<Observed, Rejection> {
        match self.space.parse(subject)? {
            Route::HostStatus { host } => {
                let envelope: Envelope<HostStatus> = self.decoder.decode(subject, payload)?;
                if envelope.body.host != host {
                    return Err(Rejection::AddressMismatch { field: "host" });
                }
                Ok(if self.concerns(&host) {
                    Observed::Status(envelope)
                } else {
                    Observed::Filtered
                })
            }
            Route::Trades { from } => {
                let envelope: Envelope<TradeEvent> = self.decoder.decode(subject, payload)?;
                if *envelope.body.publisher() != from {
                    let field = match envelope.body.kind {
                        TradeKind::Migration => "seller",
                        TradeKind::Placement => "buyer",
                    };
                    return Err(Rejection::AddressMismatch { field });
                }
                let trade = &envelope.body;
                Ok(
                    if self.concerns(&trade.seller) || self.concerns(&trade.buyer) {
                        Observed::Trade(envelope)
                    } else {
                        Observed::Filtered
                    },
                )
            }
            _ => Err(Rejection::Unexpected {
                what: "not an event subject".into(),
            }),
        }
    }

    fn fold(&mut self, observed: &Observed, now_ms: i64) {
        match observed {
            Observed::Status(envelope) => {
                let status = &envelope.body;
                self.hosts.insert(
                    status.host.clone(),
                    HostRow {
                        status: Some(status.clone()),
                        last_seen_ms: now_ms,
                        unknown_version: None,
                    },
                );
            }
            Observed::Trade(envelope) => self.fold_trade(&envelope.body, now_ms),
            Observed::Filtered | Observed::Dropped { .. } => {}
        }
    }

    fn fold_trade(&mut self, event: &TradeEvent, now_ms: i64) {
        match event.state {
            TradeState::Agreed => {
                let since = now_ms.saturating_sub(MINUTE_MS);
                while self.agreed.front().is_some_and(|&t| t < since) {
                    self.agreed.pop_front();
                }
                self.agreed.push_back(now_ms);
            }
            TradeState::Migrating => {}
            TradeState::Settled => self.settled += 1,
            TradeState::Failed => self.failed += 1,
            TradeState::RolledBack => self.rolled_back += 1,
        }
        let at = self
            .trades
            .iter()
            .position(|t| t.event.trade_id == event.trade_id);
        let mut row = match at.and_then(|i| self.trades.remove(i)) {
            Some(row) => row,
            None => TradeRow {
                event: event.clone(),
                states: Vec::new(),
                seen_ms: now_ms,
            },
        };
        row.states.push(event.state);
        row.event = event.clone();
        row.seen_ms = now_ms;
        self.trades.push_front(row);
        self.trades.truncate(MAX_TRADES);
    }

    /// Every host heard, by name.
    pub fn hosts(&self) -> &BTreeMap<HostName, HostRow> {
        &self.hosts
    }

    /// Trades, the most recently changed first.
    pub fn trades(&self) -> impl Iterator<Item = &TradeRow> {
        self.trades.iter()
    }

    /// True when `row`'s host has not been heard for [`SILENT_PERIODS`] of
    /// its periods (a second when its period is unknown).
    pub fn is_silent(row: &HostRow, now_ms: i64) -> bool {
        let period = row
            .status
            .as_ref()
            .map_or(1_000, |s| i64::try_from(s.period_ms).unwrap_or(i64::MAX));
        now_ms.saturating_sub(row.last_seen_ms) > period.saturating_mul(SILENT_PERIODS)
    }

    /// Trades agreed in the minute before `now_ms`.
    pub fn trades_per_minute(&self, now_ms: i64) -> usize {
        let since = now_ms.saturating_sub(MINUTE_MS);
        self.agreed.iter().filter(|&&t| t >= since).count()
    }

    /// Trades heard agreed or migrating and not yet heard ending.
    pub fn in_flight(&self) -> usize {
        self.trades
            .iter()
            .filter(|t| !t.event.state.is_final())
            .count()
    }

    /// Trades heard settled.
    pub fn settled(&self) -> u64 {
        self.settled
    }

    /// Trades heard failed or rolled back.
    pub fn failures(&self) -> u64 {
        self.failed + self.rolled_back
    }

    /// Messages dropped, by reason.
    pub fn dropped(&self) -> &BTreeMap<&'static str, u64> {
        &self.dropped
    }
}
