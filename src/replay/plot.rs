//! The SVG of one or more replays of the same day: active hosts, power
//! (kW) and migrations started at every step, one line per policy, the
//! lower bound dashed where it applies; and of several days: energy per
//! day, one line per policy, the bound dashed. Axis helpers are shared
//! with `market simulate`'s plot.

use std::fmt::Write;

use crate::simulate::plot::{Frame, escape, grid, nice_ceiling};

use super::Outcome;
use super::bound::BoundStep;
use super::datacenter::StepRecord;
use super::days::Day;

const WIDTH: f64 = 860.0;
const PANEL: f64 = 180.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 170.0;
const TOP: f64 = 50.0;
const GAP: f64 = 55.0;
const COLOURS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// A panel: its title, the value of a policy's step, and the value of the
/// lower bound's step where the bound applies.
type PanelSpec = (
    &'static str,
    fn(&StepRecord) -> f64,
    Option<fn(&BoundStep) -> f64>,
);

/// One line of a panel.
struct Series<'a> {
    name: &'a str,
    colour: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

/// The x axis of a panel: where it ends, its labelled ticks, its title.
struct Axis {
    end: f64,
    ticks: Vec<(f64, String)>,
    title: &'static str,
}

impl Axis {
    /// Hours of the day, a tick every hour or few up to the last point.
    fn hours(series: &[Series<'_>]) -> Axis {
        let end = series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
            .fold(1.0, f64::max)
            .ceil();
        let every = (end / 12.0).ceil().max(1.0);
        let mut ticks = Vec::new();
        let mut h = 0.0;
        while h <= end {
            ticks.push((h, h.to_string()));
            h += every;
        }
        Axis {
            end,
            ticks,
            title: "hour of the day",
        }
    }
}

/// The opening of an SVG of `panels` panels titled `title`.
fn open(title: &str, panels: usize) -> String {
    let height = TOP + panels as f64 * (PANEL + GAP) + 10.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="24" font-size="15">{}</text>"#,
        escape(title)
    );
    out
}

/// Energy per day of several days' replays: a line per policy, the lower
/// bound (under the same rules) dashed; days in the order run, at equal
/// spacing.
pub fn days_svg(title: &str, days: &[Day]) -> String {
    let mut out = open(title, 1);
    let policies = days.first().map_or(0, |d| d.outcomes.len());
    let line = |k: usize, figure: fn(&Outcome) -> f64| -> Vec<(f64, f64)> {
        days.iter()
            .enumerate()
            .filter_map(|(i, d)| d.outcomes.get(k).map(|o| (i as f64 + 0.5, figure(o))))
            .collect()
    };
    let mut series: Vec<Series<'_>> = (0..policies)
        .map(|k| Series {
            name: days[0].outcomes[k].policy.as_str(),
            colour: COLOURS[k % COLOURS.len()],
            dashed: false,
            points: line(k, |o| o.energy_kwh),
        })
        .collect();
    series.push(Series {
        name: "lower bound",
        colour: "#444",
        dashed: true,
        points: line(0, |o| o.lower_bound_kwh),
    });
    let axis = Axis {
        end: days.len() as f64,
        ticks: days
            .iter()
            .enumerate()
            .map(|(i, d)| (i as f64 + 0.5, d.day.clone()))
            .collect(),
        title: "day",
    };
    panel(&mut out, "energy (kWh)", TOP, &series, &axis);
    legend(&mut out, &series);
    out.push_str("</svg>\n");
    out
}

/// The plot of `outcomes` (each with its steps) and, per step, the lower
/// bound's hosts and watts.
pub fn svg(title: &str, outcomes: &[Outcome], bound: &[BoundStep]) -> String {
    let mut out = open(title, 3);
    let panels: [PanelSpec; 3] = [
        (
            "active hosts",
            |s| s.active_hosts as f64,
            Some(|b| b.hosts as f64),
        ),
        (
            "power (kW)",
            |s| s.watts / 1000.0,
            Some(|b| b.watts / 1000.0),
        ),
        ("migrations started", |s| s.migrations as f64, None),
    ];
    for (i, (name, value, limit)) in panels.iter().enumerate() {
        let mut series: Vec<Series<'_>> = outcomes
            .iter()
            .enumerate()
            .map(|(k, o)| Series {
                name: &o.policy,
                colour: COLOURS[k % COLOURS.len()],
                dashed: false,
                points: o
                    .steps
                    .iter()
                    .map(|s| (s.seconds / 3600.0, value(s)))
                    .collect(),
            })
            .collect();
        if let Some(limit) = limit {
            series.push(Series {
                name: "lower bound",
                colour: "#444",
                dashed: true,
                points: bound
                    .iter()
                    .map(|b| (b.seconds / 3600.0, limit(b)))
                    .collect(),
            });
        }
        let axis = Axis::hours(&series);
        panel(
            &mut out,
            name,
            TOP + i as f64 * (PANEL + GAP),
            &series,
            &axis,
        );
        if i == 0 {
            legend(&mut out, &series);
        }
    }
    out.push_str("</svg>\n");
    out
}

fn panel(out: &mut String, title: &str, top: f64, series: &[Series<'_>], axis: &Axis) {
    let highest = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = nice_ceiling(highest);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |h: f64| LEFT + h / axis.end * plot_width;
    let y = |v: f64| top + PANEL - v / y_max * PANEL;
    let frame = Frame {
        left: LEFT,
        top,
        width: plot_width,
        height: PANEL,
    };
    grid(out, title, &frame, y_max);
    for (at, label) in &axis.ticks {
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x(*at),
            top + PANEL + 16.0,
            escape(label)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        LEFT + plot_width / 2.0,
        top + PANEL + 32.0,
        axis.title
    );
    for s in series {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(h, v)| format!("{:.1},{:.1}", x(h), y(v)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5"{dash} points="{}"/>"#,
            s.colour,
            points.join(" ")
        );
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{plot_width}" height="{PANEL}" fill="none" stroke="black"/>"#
    );
}

fn legend(out: &mut String, series: &[Series<'_>]) {
    let left = WIDTH - RIGHT + 20.0;
    for (i, s) in series.iter().enumerate() {
        let y = TOP + 10.0 + 20.0 * i as f64;
        let dash = if s.dashed {
            r#" stroke-dasharray="5 3""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r#"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="{}" stroke-width="3"{dash}/><text x="{}" y="{}">{}</text>"#,
            left + 20.0,
            s.colour,
            left + 26.0,
            y + 4.0,
            escape(s.name)
        );
    }
}
