//! The live terminal view of `market watch`, drawn with ratatui: a header
//! with the zone's totals, the hosts table, the trades as they go, and a
//! line of keys. Drawing reads a [`Board`] and a [`ViewState`] and nothing
//! else, so a test renders it into ratatui's `TestBackend`.

use std::cmp::Ordering;

use market::bus::subject::HostName;
use market::policy::Classification;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table};

use super::board::{Board, HostRow, TradeRow};

/// The order of the hosts table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    /// By name.
    #[default]
    Name,
    /// Overloaded first, then satisfied, then underloaded.
    Class,
    /// Highest load first.
    Load,
    /// Lowest utility first: the unhappiest hosts on top.
    Utility,
    /// Longest silent first.
    LastSeen,
}

impl Sort {
    /// The next order, for the `s` key.
    pub fn next(self) -> Sort {
        match self {
            Sort::Name => Sort::Class,
            Sort::Class => Sort::Load,
            Sort::Load => Sort::Utility,
            Sort::Utility => Sort::LastSeen,
            Sort::LastSeen => Sort::Name,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Class => "class",
            Sort::Load => "load",
            Sort::Utility => "utility",
            Sort::LastSeen => "last seen",
        }
    }
}

/// A key the view understands (the binary maps the terminal's keys to
/// these, so tests need no terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `q`, Ctrl-C: quit.
    Quit,
    /// `s`: the next sort order.
    Sort,
    /// `f`: show only the next host (after the last: all again).
    Filter,
    /// Esc: show every host again.
    ClearFilter,
    /// `p`, space: freeze the view, or let it run again.
    Pause,
}

/// What the person watching chose.
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    /// The order of the hosts table.
    pub sort: Sort,
    /// Only this host's row and trades, when set.
    pub filter: Option<HostName>,
    /// A frozen copy of the board while paused.
    pub paused: Option<Board>,
}

impl ViewState {
    /// Applies `key`; false when it asks to quit.
    pub fn press(&mut self, key: Key, board: &Board) -> bool {
        match key {
            Key::Quit => return false,
            Key::Sort => self.sort = self.sort.next(),
            Key::Filter => {
                let mut names = board.hosts().keys();
                self.filter = match &self.filter {
                    None => names.next().cloned(),
                    Some(current) => names.find(|name| *name > current).cloned(),
                };
            }
            Key::ClearFilter => self.filter = None,
            Key::Pause => {
                self.paused = match self.paused {
                    Some(_) => None,
                    None => Some(board.clone()),
                };
            }
        }
        true
    }

    fn shows(&self, host: &HostName) -> bool {
        self.filter.as_ref().is_none_or(|only| only == host)
    }
}

/// Draws the whole view: `board` as of `now_ms`, or the frozen copy while
/// paused.
pub fn render(frame: &mut Frame<'_>, board: &Board, state: &ViewState, now_ms: i64) {
    let board = state.paused.as_ref().unwrap_or(board);
    let [header, hosts, trades, keys] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Percentage(55),
        Constraint::Min(4),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(totals(board, state, now_ms)), header);
    render_hosts(frame, hosts, board, state, now_ms);
    render_trades(frame, trades, board, state);
    frame.render_widget(
        Paragraph::new("q quit   s sort   f filter by host   Esc all hosts   p pause")
            .style(Style::new().add_modifier(Modifier::DIM)),
        keys,
    );
}

fn totals(board: &Board, state: &ViewState, now_ms: i64) -> Vec<Line<'static>> {
    let silent = board
        .hosts()
        .values()
        .filter(|row| Board::is_silent(row, now_ms))
        .count();
    let dropped: u64 = board.dropped().values().sum();
    let zone = board.space().zone().to_string();
    let mut first = vec![
        Span::styled(
            format!("zone {zone}"),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {} hosts ({silent} silent)  {} trades/min  {} in flight  {} settled  {} failed  {dropped} dropped",
            board.hosts().len(),
            board.trades_per_minute(now_ms),
            board.in_flight(),
            board.settled(),
            board.failures(),
        )),
    ];
    if state.paused.is_some() {
        first.push(Span::styled(
            "  PAUSED",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    let mut second = format!("sorted by {}", state.sort.label());
    if let Some(host) = &state.filter {
        second.push_str(&format!(", only {host}"));
    }
    if let Some(only) = board.only() {
        second.push_str(&format!(" (--host {only})"));
    }
    if dropped > 0 {
        let reasons: Vec<String> = board
            .dropped()
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect();
        second.push_str(&format!("; dropped: {}", reasons.join(", ")));
    }
    vec![Line::from(first), Line::raw(second)]
}

fn class_rank(row: &HostRow) -> u8 {
    match row.status.as_ref().map(|s| s.class) {
        Some(Classification::Overloaded) => 0,
        Some(Classification::Satisfied) => 1,
        Some(Classification::Underloaded) => 2,
        None => 3,
    }
}

fn compare(sort: Sort, a: (&HostName, &HostRow), b: (&HostName, &HostRow)) -> Ordering {
    // Hosts with no readable status go last whatever the order.
    let number =
        |row: &HostRow, f: fn(&market::events::HostStatus) -> f64| row.status.as_ref().map(f);
    let known_first = |x: Option<f64>, y: Option<f64>, order: fn(f64, f64) -> Ordering| match (x, y)
    {
        (Some(x), Some(y)) => order(x, y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    };
    let by = match sort {
        Sort::Name => Ordering::Equal,
        Sort::Class => class_rank(a.1).cmp(&class_rank(b.1)),
        Sort::Load => known_first(
            number(a.1, |s| s.load_one),
            number(b.1, |s| s.load_one),
            |x, y| y.total_cmp(&x),
        ),
        Sort::Utility => known_first(
            number(a.1, |s| s.utility),
            number(b.1, |s| s.utility),
            |x, y| x.total_cmp(&y),
        ),
        Sort::LastSeen => a.1.last_seen_ms.cmp(&b.1.last_seen_ms),
    };
    by.then_with(|| a.0.cmp(b.0))
}

fn render_hosts(frame: &mut Frame<'_>, area: Rect, board: &Board, state: &ViewState, now_ms: i64) {
    let mut rows: Vec<(&HostName, &HostRow)> = board
        .hosts()
        .iter()
        .filter(|(name, _)| state.shows(name))
        .collect();
    rows.sort_by(|a, b| compare(state.sort, *a, *b));
    // Only what fits is turned into cells: a zone of thousands stays cheap.
    let visible = usize::from(area.height.saturating_sub(3));
    let total = rows.len();
    let lines = rows
        .into_iter()
        .take(visible)
        .map(|(name, row)| host_line(name, row, now_ms));
    let title = if total > visible {
        format!(" hosts ({visible} of {total}) ")
    } else {
        format!(" hosts ({total}) ")
    };
    let table = Table::new(
        lines,
        [
            Constraint::Length(16),
            Constraint::Length(20),
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(17),
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Min(13),
        ],
    )
    .header(
        Row::new([
            "HOST",
            "CLASS",
            "LOAD",
            "CPU",
            "MEMORY MiB",
            "VMS",
            "UTILITY",
            "LAST SEEN",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::new().borders(Borders::TOP).title(title));
    frame.render_widget(table, area);
}

fn host_line(name: &HostName, row: &HostRow, now_ms: i64) -> Row<'static> {
    let silent = Board::is_silent(row, now_ms);
    let ago = now_ms.saturating_sub(row.last_seen_ms).max(0) / 1000;
    let seen = if silent {
        format!("{ago}s SILENT")
    } else {
        format!("{ago}s ago")
    };
    let mut cells = vec![name.to_string()];
    match (&row.status, row.unknown_version) {
        (_, Some(version)) => {
            cells.push(format!("wire v{version}?"));
            cells.extend(std::iter::repeat_n(String::new(), 5));
        }
        (Some(s), None) => {
            let class = match s.class {
                Classification::Overloaded => "overloaded",
                Classification::Satisfied => "satisfied",
                Classification::Underloaded => "underloaded",
            };
            cells.push(if s.holding {
                format!("{class} (holding)")
            } else {
                class.to_owned()
            });
            cells.push(format!("{:.2}", s.load_one));
            cells.push(format!(
                "{:.1}/{:.0}",
                s.reserved.cpu_cores(),
                s.capacity.cpu_cores()
            ));
            cells.push(format!(
                "{}/{}",
                s.reserved.memory_mib, s.capacity.memory_mib
            ));
            cells.push(s.vm_count.to_string());
            cells.push(format!("{:.2}", s.utility));
        }
        (None, None) => cells.extend(std::iter::repeat_n(String::new(), 6)),
    }
    cells.push(seen);
    let style = if silent {
        Style::new().fg(Color::Red).add_modifier(Modifier::DIM)
    } else {
        match row.status.as_ref().map(|s| s.class) {
            Some(Classification::Overloaded) => Style::new().fg(Color::Yellow),
            _ => Style::new(),
        }
    };
    Row::new(cells).style(style)
}

fn render_trades(frame: &mut Frame<'_>, area: Rect, board: &Board, state: &ViewState) {
    let visible = usize::from(area.height.saturating_sub(2));
    let lines: Vec<Row<'static>> = board
        .trades()
        .filter(|t| state.shows(&t.event.seller) || state.shows(&t.event.buyer))
        .take(visible)
        .map(trade_line)
        .collect();
    let table = Table::new(
        lines,
        [
            Constraint::Length(8),
            Constraint::Length(28),
            Constraint::Length(24),
            Constraint::Length(12),
            Constraint::Length(14),
            Constraint::Length(8),
            Constraint::Min(10),
        ],
    )
    .header(
        Row::new([
            "TRADE",
            "STATE",
            "SELLER > BUYER",
            "VMS",
            "PRICE",
            "TOOK",
            "REASON",
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::new().borders(Borders::TOP).title(" trades "));
    frame.render_widget(table, area);
}

fn trade_line(row: &TradeRow) -> Row<'static> {
    let e = &row.event;
    let states: Vec<&str> = row.states.iter().map(|s| s.as_str()).collect();
    let style = match e.state {
        market::events::TradeState::Settled => Style::new().fg(Color::Green),
        market::events::TradeState::Failed | market::events::TradeState::RolledBack => {
            Style::new().fg(Color::Red)
        }
        _ => Style::new().fg(Color::Cyan),
    };
    Row::new([
        e.trade_id.chars().take(8).collect::<String>(),
        states.join(">"),
        format!("{} > {}", e.seller, e.buyer),
        e.vms.join(","),
        e.price.to_string(),
        format!("{}ms", e.since_agreed_ms),
        e.reason.clone().unwrap_or_default(),
    ])
    .style(style)
}
