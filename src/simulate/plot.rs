//! The SVG of a run: every host's one-minute load average (top panel) and
//! the memory its VMs reserve (bottom panel) at the end of each round,
//! round 0 being the cluster before any trade. A point's shape is the
//! host's classification at that moment (circle satisfied, triangle up
//! overloaded, triangle down underloaded); a dashed line marks each round
//! that made trades, with the number of VMs it moved above it, and every
//! trade is a square on its buyer's line at that round (hover: the VM,
//! seller, buyer and price). Hosts with equal values are drawn 2 px apart
//! so no line hides another. Hand-written SVG: a plot needs no dependency.

use std::fmt::Write;

use bidder::migration::Outcome;
use market::policy::Classification;

use super::report::RoundRecord;

const WIDTH: f64 = 760.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const TOP: f64 = 50.0;
const GAP: f64 = 60.0;

/// Colours of the hosts, in scenario order (repeated past eight).
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One quantity plotted for every host.
struct Panel<'a> {
    title: &'a str,
    top: f64,
    value: fn(&RoundRecord, usize) -> f64,
}

/// The plot of `history` as an SVG document.
pub fn svg(title: &str, history: &[RoundRecord]) -> String {
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="15">{} — hosts per round</text>"#,
        escape(title)
    );
    let panels = [
        Panel {
            title: "load average (1 min)",
            top: TOP,
            value: |r, h| r.hosts.get(h).map_or(0.0, |p| p.load),
        },
        Panel {
            title: "VM memory (MiB)",
            top: TOP + PANEL + GAP,
            value: |r, h| r.hosts.get(h).map_or(0.0, |p| p.memory_mib as f64),
        },
    ];
    for panel in &panels {
        draw_panel(&mut out, panel, history);
    }
    legend(&mut out, history);
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel<'_>, history: &[RoundRecord]) {
    let rounds = history.len().saturating_sub(1).max(1) as f64;
    let hosts = history.first().map_or(0, |r| r.hosts.len());
    let highest = history
        .iter()
        .flat_map(|r| (0..hosts).map(move |h| (panel.value)(r, h)))
        .fold(0.0, f64::max);
    let y_max = nice_ceiling(highest);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |round: f64| LEFT + round / rounds * plot_width;
    let y = |v: f64| panel.top + PANEL - v / y_max * PANEL;
    // At most about 20 round numbers under the axis, so they never overlap.
    let label_every = (history.len() as u32).div_ceil(20).max(1);
    let frame = Frame {
        left: LEFT,
        top: panel.top,
        width: plot_width,
        height: PANEL,
    };
    grid(out, panel.title, &frame, y_max);
    for record in history {
        let at = x(f64::from(record.round));
        if !record.trades.is_empty() {
            let moved = record
                .trades
                .iter()
                .filter(|t| t.trade.outcome == Outcome::Settled)
                .count();
            let _ = writeln!(
                out,
                r##"<line x1="{at:.1}" x2="{at:.1}" y1="{}" y2="{}" stroke="#999" stroke-dasharray="4 3"/><text x="{at:.1}" y="{}" text-anchor="middle" font-size="10" fill="#555">{moved} moved</text>"##,
                panel.top,
                panel.top + PANEL,
                panel.top + 10.0,
            );
        }
        if record.round % label_every == 0 {
            let _ = writeln!(
                out,
                r#"<text x="{at:.1}" y="{}" text-anchor="middle">{}</text>"#,
                panel.top + PANEL + 16.0,
                record.round
            );
        }
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">round</text>"#,
        LEFT + plot_width / 2.0,
        panel.top + PANEL + 32.0
    );
    for host in 0..hosts {
        let colour = COLOURS[host % COLOURS.len()];
        // Hosts with equal values would hide each other's lines: each is
        // drawn a couple of pixels off the middle one.
        let nudge = (host as f64 - (hosts as f64 - 1.0) / 2.0) * 2.0;
        let at = |r: &RoundRecord| (x(f64::from(r.round)), y((panel.value)(r, host)) + nudge);
        let points: Vec<String> = history
            .iter()
            .map(|r| {
                let (px, py) = at(r);
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        for record in history {
            let class = record.hosts.get(host).map(|p| p.class);
            let (px, py) = at(record);
            marker(out, class, px, py, colour);
            let name = record.hosts.get(host).map(|p| p.name.as_str());
            for t in record
                .trades
                .iter()
                .filter(|t| Some(t.trade.buyer.as_str()) == name)
            {
                trade_mark(out, &t.trade, px, py);
            }
        }
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{}" width="{plot_width}" height="{PANEL}" fill="none" stroke="black"/>"#,
        panel.top
    );
}

/// A trade on its buyer's line: an outlined square, with what it was.
fn trade_mark(out: &mut String, trade: &bidder::agent::TradeReport, x: f64, y: f64) {
    let _ = writeln!(
        out,
        r#"<rect x="{:.1}" y="{:.1}" width="10" height="10" fill="none" stroke="black" stroke-width="1.5"><title>{} {} -> {} at {}</title></rect>"#,
        x - 5.0,
        y - 5.0,
        escape(&trade.vm),
        escape(&trade.seller),
        escape(&trade.buyer),
        trade.price
    );
}

/// The host's classification as a marker shape.
fn marker(out: &mut String, class: Option<Classification>, x: f64, y: f64, colour: &str) {
    let _ = match class {
        Some(Classification::Overloaded) => writeln!(
            out,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            y - 6.0,
            x - 5.0,
            y + 4.0,
            x + 5.0,
            y + 4.0
        ),
        Some(Classification::Underloaded) => writeln!(
            out,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            y + 6.0,
            x - 5.0,
            y - 4.0,
            x + 5.0,
            y - 4.0
        ),
        _ => writeln!(
            out,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}"/>"#
        ),
    };
}

fn legend(out: &mut String, history: &[RoundRecord]) {
    let left = WIDTH - RIGHT + 20.0;
    let Some(first) = history.first() else {
        return;
    };
    for (i, host) in first.hosts.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            r#"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{}</text>"#,
            left + 20.0,
            left + 26.0,
            y + 4.0,
            escape(&host.name)
        );
    }
    let y = TOP + 30.0 + 20.0 * first.hosts.len() as f64;
    for (i, (shape, name)) in [
        (Some(Classification::Satisfied), "satisfied"),
        (Some(Classification::Overloaded), "overloaded"),
        (Some(Classification::Underloaded), "underloaded"),
    ]
    .into_iter()
    .enumerate()
    {
        let row = y + 20.0 * i as f64;
        marker(out, shape, left + 10.0, row, "#444");
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{name}</text>"#,
            left + 26.0,
            row + 4.0
        );
    }
    let row = y + 60.0;
    let _ = writeln!(
        out,
        r##"<line x1="{left}" x2="{}" y1="{row}" y2="{row}" stroke="#999" stroke-dasharray="4 3"/><text x="{}" y="{}">trades made</text>"##,
        left + 20.0,
        left + 26.0,
        row + 4.0
    );
}

/// The smallest of 1, 2, 2.5, 5 times a power of ten at or above `v` (at
/// least 1), so axis ticks are round numbers.
/// Where a panel is drawn.
pub(crate) struct Frame {
    /// Left edge of the plotting area.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width of the plotting area.
    pub width: f64,
    /// Height of the plotting area.
    pub height: f64,
}

/// A panel's title above it and its horizontal grid: five lines from 0 to
/// `y_max`, each labelled on the left (the simulation's and the replay's
/// plots draw their panels alike).
pub(crate) fn grid(out: &mut String, title: &str, frame: &Frame, y_max: f64) {
    let y = |v: f64| frame.top + frame.height - v / y_max * frame.height;
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
        frame.left,
        frame.top - 8.0,
        escape(title)
    );
    for tick in 0..=4 {
        let v = y_max * f64::from(tick) / 4.0;
        let _ = writeln!(
            out,
            r##"<line x1="{}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            frame.left,
            frame.left + frame.width,
            frame.left - 6.0,
            y(v) + 4.0,
            tick_label(v),
            y = y(v),
        );
    }
}

pub(crate) fn nice_ceiling(v: f64) -> f64 {
    if v <= 1.0 || !v.is_finite() {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|c| *c >= v)
        .unwrap_or(10.0 * power)
}

pub(crate) fn tick_label(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(4.0), 5.0);
        assert_eq!(nice_ceiling(1024.0), 2000.0);
        assert_eq!(nice_ceiling(2048.0), 2500.0);
    }
}
