//! `market protocol check|fmt`: the tooling for protocol authors.
//!
//! Exit codes, the same for both: 0 when all is well (for `check`,
//! warnings allowed), 1 when a model has an error (or, with `fmt --check`,
//! is not in canonical form), 2 when a file cannot be read or written.
//! Diagnostics go to stderr, rendered like rustc's; `check --json` prints
//! them to stdout instead, as one JSON array. `check --kind KIND` also
//! checks that a bidder can play the model as that kind: the roles the
//! kind starts and answers are defined (E0117) and every component they
//! call is one a bidder provides (E0112), as the bidder itself checks at
//! start (docs/lcc.md, "The bidder's components").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bidder::protocol::{self, Kind};
use bourse::output::OutputError;
use bourse::{out, outln};
use clap::Subcommand;
use lcc::check::check_source;
use lcc::diagnostic::LocatedDiagnostic;
use lcc::pretty::format_source;

#[derive(Debug, Subcommand)]
pub enum ProtocolCommand {
    /// Check models for errors (exit 1) and warnings (exit 0).
    Check {
        /// The `.lcc` files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the diagnostics as a JSON array on stdout.
        #[arg(long)]
        json: bool,
        /// Also check that a bidder can play the models as this kind
        /// (`contract-net`, `reverse-call`): its roles and components.
        #[arg(long, value_parser = parse_kind)]
        kind: Option<Kind>,
    },
    /// Print models in canonical form (comments kept).
    Fmt {
        /// The `.lcc` files to format.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Rewrite the files in place instead of printing them.
        #[arg(long, conflicts_with = "check")]
        write: bool,
        /// Print nothing; exit 1 if a file is not in canonical form.
        #[arg(long)]
        check: bool,
    },
}

/// How a run ended, worst first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Clean = 0,
    ModelError = 1,
    Unreadable = 2,
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> Self {
        ExitCode::from(outcome as u8)
    }
}

pub fn run(command: ProtocolCommand) -> Result<ExitCode, OutputError> {
    let outcome = match command {
        ProtocolCommand::Check { files, json, kind } => check(&files, json, kind)?,
        ProtocolCommand::Fmt {
            files,
            write,
            check,
        } => fmt(&files, write, check)?,
    };
    Ok(outcome.into())
}

fn read(path: &Path) -> Result<String, Outcome> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        Outcome::Unreadable
    })
}

fn parse_kind(name: &str) -> Result<Kind, String> {
    protocol::kind(name).ok_or_else(|| {
        let kinds: Vec<&str> = protocol::kinds().iter().map(|k| k.name()).collect();
        format!("unknown kind {name:?}: a bidder plays {}", kinds.join(", "))
    })
}

/// The checker's diagnostics, and with a kind what keeps a bidder from
/// playing the model as that kind.
fn diagnose(source: &str, kind: Option<Kind>) -> Vec<lcc::diagnostic::Diagnostic> {
    let mut diagnostics = check_source(source);
    if let (Some(kind), Ok(model)) = (kind, lcc::syntax::parse(source)) {
        diagnostics.extend(kind.missing(&model));
    }
    diagnostics
}

fn check(files: &[PathBuf], json: bool, kind: Option<Kind>) -> Result<Outcome, OutputError> {
    let mut outcome = Outcome::Clean;
    let mut located: Vec<LocatedDiagnostic> = Vec::new();
    let (mut errors, mut warnings, mut unread) = (0, 0, 0);
    for path in files {
        let source = match read(path) {
            Ok(source) => source,
            Err(unreadable) => {
                outcome = outcome.max(unreadable);
                unread += 1;
                continue;
            }
        };
        let name = path.display().to_string();
        let diagnostics = diagnose(&source, kind);
        tracing::debug!(file = %name, diagnostics = diagnostics.len(), "checked");
        for d in &diagnostics {
            if d.is_error() {
                errors += 1;
                outcome = outcome.max(Outcome::ModelError);
            } else {
                warnings += 1;
            }
            if json {
                located.push(d.locate(&name, &source));
            } else {
                eprintln!("{}", d.render(&name, &source));
            }
        }
    }
    if json {
        match serde_json::to_string_pretty(&located) {
            Ok(text) => outln!("{text}")?,
            Err(e) => {
                eprintln!("error: cannot write the diagnostics as JSON: {e}");
                return Ok(Outcome::Unreadable);
            }
        }
    } else {
        // An unreadable file was not checked: the summary must not say so.
        let not_read = if unread > 0 {
            format!(", {unread} file(s) not read")
        } else {
            String::new()
        };
        eprintln!(
            "checked {} file(s): {errors} error(s), {warnings} warning(s){not_read}",
            files.len() - unread
        );
    }
    Ok(outcome)
}

fn fmt(files: &[PathBuf], write: bool, check_only: bool) -> Result<Outcome, OutputError> {
    let mut outcome = Outcome::Clean;
    for path in files {
        let source = match read(path) {
            Ok(source) => source,
            Err(unreadable) => {
                outcome = outcome.max(unreadable);
                continue;
            }
        };
        let formatted = match format_source(&source) {
            Ok(formatted) => formatted,
            Err(syntax) => {
                eprintln!("{}", syntax.render(&path.display().to_string(), &source));
                outcome = outcome.max(Outcome::ModelError);
                continue;
            }
        };
        if check_only {
            if formatted != source {
                eprintln!("{} is not in canonical form", path.display());
                outcome = outcome.max(Outcome::ModelError);
            }
        } else if write {
            if formatted != source
                && let Err(e) = std::fs::write(path, &formatted)
            {
                eprintln!("error: cannot write {}: {e}", path.display());
                outcome = outcome.max(Outcome::Unreadable);
            }
        } else {
            out!("{formatted}")?;
        }
    }
    Ok(outcome)
}
