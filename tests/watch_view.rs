//! The view of `market watch` drawn into ratatui's `TestBackend` for a
//! known sequence of events: the rows and columns an operator reads, the
//! totals, silent hosts, unknown wire versions, and what the keys do (sort,
//! filter by host, pause).
#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

use bourse::watch::view::{self, Key, Sort};
use bourse::watch::{Board, Observed, ViewState};
use market::bus::subject::{SubjectSpace, Token};
use market::credits::Credits;
use market::events::{HostStatus, TradeEvent, TradeState};
use market::policy::Classification;
use market::resources::Resources;
use market::wire::{Envelope, WireLimits, encode};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde::Serialize;

const NOW: i64 = 1_000_000;

fn t(s: &str) -> Token {
    Token::new(s).unwrap()
}

fn bytes<T: Serialize>(sender: &str, sequence: u64, body: T) -> Vec<u8> {
    let envelope = Envelope {
        sender: t(sender),
        recipient: None,
        interaction: None,
        sequence,
        body,
    };
    encode(&envelope, &WireLimits::default()).unwrap().to_vec()
}

fn status(host: &str, class: Classification, load: f64, vms: u32, utility: f64) -> HostStatus {
    HostStatus {
        host: t(host),
        zone: t("eu1"),
        class,
        holding: false,
        load_one: load,
        reserved: Resources::new(u64::from(vms) * 1000, u64::from(vms) * 512, 0),
        used: Resources::new(u64::from(vms) * 900, u64::from(vms) * 512, 0),
        capacity: Resources::new(4000, 8192, 1000),
        vm_count: vms,
        utility,
        protocols: vec![t("contract-net")],
        version: "0.1.0".into(),
        period_ms: 1000,
        at_ms: NOW,
    }
}

fn trade(id: &str, state: TradeState, reason: Option<&str>) -> TradeEvent {
    TradeEvent {
        trade_id: id.into(),
        interaction_id: id.into(),
        protocol: "contract-net".into(),
        kind: market::events::TradeKind::Migration,
        seller: t("h1"),
        buyer: t("h2"),
        vms: vec!["web1".into()],
        price: Credits::from_micros(1_500_000),
        state,
        reason: reason.map(Into::into),
        since_agreed_ms: 42,
        migration_ms: state.is_final().then_some(30),
        at_ms: NOW,
    }
}

/// A zone: h1 overloaded and trading web1 to h2 (settled), h2 underloaded,
/// h3 last heard 10 s ago (silent), h4 on a newer wire version, a second
/// trade that failed, and one message of garbage.
fn board() -> Board {
    let mut board = Board::new(SubjectSpace::in_zone(t("eu1")), None);
    let status_of = |h: &str| format!("bourse.eu1.hosts.{h}.status");
    let events: Vec<(String, Vec<u8>, i64)> = vec![
        (
            status_of("h3"),
            bytes(
                "h3",
                0,
                status("h3", Classification::Satisfied, 0.5, 1, 0.0),
            ),
            NOW - 10_000,
        ),
        (
            status_of("h1"),
            bytes(
                "h1",
                0,
                status("h1", Classification::Overloaded, 3.75, 4, -2.5),
            ),
            NOW - 500,
        ),
        (
            status_of("h2"),
            bytes(
                "h2",
                0,
                status("h2", Classification::Underloaded, 0.0, 0, -0.5),
            ),
            NOW - 400,
        ),
        (
            "bourse.eu1.trades.h1".into(),
            bytes("h1", 1, trade("aaaabbbbcccc", TradeState::Agreed, None)),
            NOW - 300,
        ),
        (
            "bourse.eu1.trades.h1".into(),
            bytes("h1", 2, trade("aaaabbbbcccc", TradeState::Migrating, None)),
            NOW - 250,
        ),
        (
            "bourse.eu1.trades.h1".into(),
            bytes("h1", 3, trade("aaaabbbbcccc", TradeState::Settled, None)),
            NOW - 200,
        ),
        (
            "bourse.eu1.trades.h1".into(),
            bytes("h1", 4, trade("ddddeeee", TradeState::Agreed, None)),
            NOW - 150,
        ),
        (
            "bourse.eu1.trades.h1".into(),
            bytes(
                "h1",
                5,
                trade("ddddeeee", TradeState::Failed, Some("destination full")),
            ),
            NOW - 100,
        ),
        // This version's tag, then bytes that are no status: truncated.
        (
            status_of("h2"),
            [
                &[u8::try_from(market::wire::SCHEMA_VERSION).unwrap()][..],
                b"garbage",
            ]
            .concat(),
            NOW - 50,
        ),
    ];
    for (subject, payload, at) in events {
        board.ingest(&subject, &payload, at);
    }
    let mut newer = bytes(
        "h4",
        0,
        status("h4", Classification::Satisfied, 0.0, 0, 0.0),
    );
    newer[0] = 9;
    let observed = board.ingest(&status_of("h4"), &newer, NOW - 20);
    assert!(
        matches!(
            observed,
            Observed::Dropped {
                reason: "wrong_version",
                ..
            }
        ),
        "{observed:?}"
    );
    board
}

/// The screen as text, one string per row.
fn draw(board: &Board, state: &ViewState) -> Vec<String> {
    let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
    terminal
        .draw(|frame| view::render(frame, board, state, NOW))
        .unwrap();
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

/// The row that starts with `first` (after trimming), split into words.
fn row<'a>(screen: &'a [String], first: &str) -> Vec<&'a str> {
    screen
        .iter()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first}:\n{}", screen.join("\n")))
}

fn host_order(screen: &[String]) -> Vec<String> {
    screen
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() == 2 && w.starts_with('h'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn hosts_trades_and_totals_are_drawn_in_their_columns() {
    let board = board();
    let screen = draw(&board, &ViewState::default());
    let text = screen.join("\n");
    assert!(
        text.contains(
            "zone eu1  4 hosts (1 silent)  2 trades/min  0 in flight  1 settled  1 failed  2 dropped"
        ),
        "{text}"
    );
    assert!(
        text.contains("dropped: truncated 1, wrong_version 1"),
        "{text}"
    );
    for column in [
        "HOST",
        "CLASS",
        "LOAD",
        "CPU",
        "MEMORY MiB",
        "VMS",
        "UTILITY",
        "LAST SEEN",
    ] {
        assert!(text.contains(column), "{column}\n{text}");
    }
    assert_eq!(
        row(&screen, "h1"),
        [
            "h1",
            "overloaded",
            "3.75",
            "4.0/4",
            "2048/8192",
            "4",
            "-2.50",
            "0s",
            "ago"
        ]
    );
    assert_eq!(
        row(&screen, "h2"),
        [
            "h2",
            "underloaded",
            "0.00",
            "0.0/4",
            "0/8192",
            "0",
            "-0.50",
            "0s",
            "ago"
        ]
    );
    assert_eq!(
        row(&screen, "h3"),
        [
            "h3",
            "satisfied",
            "0.50",
            "1.0/4",
            "512/8192",
            "1",
            "0.00",
            "10s",
            "SILENT"
        ]
    );
    assert_eq!(row(&screen, "h4"), ["h4", "wire", "v9?", "0s", "ago"]);
    // Trades, the latest change first, each with the states it went through.
    assert_eq!(
        row(&screen, "ddddeeee"),
        [
            "ddddeeee",
            "agreed>failed",
            "h1",
            ">",
            "h2",
            "web1",
            "1.500000",
            "cr",
            "42ms",
            "destination",
            "full"
        ]
    );
    assert_eq!(
        row(&screen, "aaaabbbb")[..2],
        ["aaaabbbb", "agreed>migrating>settled"]
    );
    let trades_at = |id: &str| screen.iter().position(|l| l.contains(id)).unwrap();
    assert!(trades_at("ddddeeee") < trades_at("aaaabbbb"));
    assert!(text.contains("q quit"), "{text}");
}

#[test]
fn keys_sort_filter_and_pause_the_view() {
    let mut board = board();
    let mut state = ViewState::default();
    assert_eq!(host_order(&draw(&board, &state)), ["h1", "h2", "h3", "h4"]);

    // s: by class (overloaded first), then by load, highest first.
    assert!(state.press(Key::Sort, &board));
    assert_eq!(state.sort, Sort::Class);
    assert_eq!(host_order(&draw(&board, &state))[..3], ["h1", "h3", "h2"]);
    assert!(state.press(Key::Sort, &board));
    assert_eq!(state.sort, Sort::Load);
    assert_eq!(host_order(&draw(&board, &state))[..3], ["h1", "h3", "h2"]);
    assert!(state.press(Key::Sort, &board));
    assert_eq!(state.sort, Sort::Utility);
    assert_eq!(host_order(&draw(&board, &state))[..3], ["h1", "h2", "h3"]);

    // f: only h1, then only h2 (whose trades it buys are still shown).
    assert!(state.press(Key::Filter, &board));
    let screen = draw(&board, &state);
    assert_eq!(host_order(&screen), ["h1"]);
    assert!(screen.join("\n").contains("only h1"));
    assert!(state.press(Key::Filter, &board));
    let screen = draw(&board, &state);
    assert_eq!(host_order(&screen), ["h2"]);
    assert!(screen.join("\n").contains("aaaabbbb"));
    assert!(state.press(Key::ClearFilter, &board));
    assert_eq!(host_order(&draw(&board, &state)).len(), 4);

    // p: the view freezes while events keep coming, then catches up.
    assert!(state.press(Key::Pause, &board));
    board.ingest(
        "bourse.eu1.hosts.h5.status",
        &bytes(
            "h5",
            0,
            status("h5", Classification::Satisfied, 0.1, 1, 0.0),
        ),
        NOW,
    );
    let screen = draw(&board, &state);
    assert!(screen.join("\n").contains("PAUSED"));
    assert!(!host_order(&screen).contains(&"h5".to_owned()));
    assert!(state.press(Key::Pause, &board));
    assert!(host_order(&draw(&board, &state)).contains(&"h5".to_owned()));

    // q quits.
    assert!(!state.press(Key::Quit, &board));
}

#[test]
fn a_host_filter_keeps_its_own_status_and_trades_only() {
    let mut board = Board::new(SubjectSpace::in_zone(t("eu1")), Some(t("h2")));
    let h1 = bytes(
        "h1",
        0,
        status("h1", Classification::Overloaded, 1.0, 1, 0.0),
    );
    assert_eq!(
        board.ingest("bourse.eu1.hosts.h1.status", &h1, NOW),
        Observed::Filtered
    );
    let bought = bytes("h1", 1, trade("abc", TradeState::Agreed, None));
    assert!(matches!(
        board.ingest("bourse.eu1.trades.h1", &bought, NOW),
        Observed::Trade(_)
    ));
    assert!(board.hosts().is_empty());
    assert_eq!(board.in_flight(), 1);
}

#[test]
fn a_thousand_hosts_draw_only_the_rows_that_fit() {
    let mut board = Board::new(SubjectSpace::in_zone(t("eu1")), None);
    for i in 0..1000 {
        let name = format!("host{i:04}");
        let payload = bytes(
            &name,
            0,
            status(&name, Classification::Satisfied, 0.0, 1, 0.0),
        );
        board.ingest(&format!("bourse.eu1.hosts.{name}.status"), &payload, NOW);
    }
    let text = draw(&board, &ViewState::default()).join("\n");
    assert!(text.contains("1000 hosts (0 silent)"), "{text}");
    assert!(text.contains("hosts (14 of 1000)"), "{text}");
    assert!(
        text.contains("host0000") && !text.contains("host0999"),
        "{text}"
    );
}
