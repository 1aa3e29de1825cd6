//! Progress of a long command on stderr: a bar redrawn in place on a
//! terminal, plain lines otherwise, so that logs and CI output stay
//! readable. Hand-written: one line of progress needs no dependency.

use std::io::{IsTerminal, Write};

/// When plain (not a terminal) output prints a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plain {
    /// One line each tenth of the run: a day's replay has 288 steps.
    EveryTenth,
    /// One line each step, with its detail: a simulation's rounds are few
    /// and each says what happened.
    EveryStep,
}

/// One bar on stderr.
pub struct Progress {
    label: String,
    unit: &'static str,
    plain: Plain,
    terminal: bool,
    last_tenth: usize,
}

impl Progress {
    /// A bar labelled `label`, counting `unit`s.
    pub fn new(label: &str, unit: &'static str, plain: Plain) -> Progress {
        Progress {
            label: label.to_string(),
            unit,
            plain,
            terminal: std::io::stderr().is_terminal(),
            last_tenth: 0,
        }
    }

    /// The same bar printing plain lines even on a terminal: for bars
    /// shown at the same time, which redrawn in place would overwrite each
    /// other.
    pub fn plain_only(mut self) -> Progress {
        self.terminal = false;
        self
    }

    /// `done` of `total` are done; `detail` says what the last one did.
    pub fn show(&mut self, done: usize, total: usize, detail: &str) {
        let total = total.max(1);
        let mut err = std::io::stderr();
        if self.terminal {
            let filled = done.min(total) * 30 / total;
            // One line of a narrow terminal: a long detail would wrap, and
            // `\r` then redraws only its last part.
            let detail: String = detail.chars().take(60).collect();
            // Erase to the end of the line: a shorter detail leaves no tail.
            let _ = write!(
                err,
                "\r{:<14} [{}{}] {done}/{total} {}s {detail}\x1b[K",
                self.label,
                "#".repeat(filled),
                " ".repeat(30 - filled),
                self.unit,
            );
            let _ = err.flush();
            return;
        }
        match self.plain {
            Plain::EveryStep => {
                let _ = writeln!(err, "{detail}");
            }
            Plain::EveryTenth => {
                let tenth = done * 10 / total;
                if tenth > self.last_tenth {
                    self.last_tenth = tenth;
                    let _ = writeln!(err, "{}: {} {done}/{total}", self.label, self.unit);
                }
            }
        }
    }

    /// Ends the bar's line on a terminal.
    pub fn finish(&mut self) {
        if self.terminal {
            let _ = writeln!(std::io::stderr());
        }
    }
}
