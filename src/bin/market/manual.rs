//! `market man` and `market completions`: the manual pages and the shell
//! completions, generated from the clap definitions the binary parses
//! with, so they say exactly what `--help` says. The Debian package ships
//! their output (docs/operations.md, "Install from the package").

use std::path::PathBuf;
use std::process::ExitCode;

use bourse::output::OutputError;
use bourse::{out, outln};
use clap::CommandFactory;
use clap_complete::Shell;

use crate::Cli;

/// Where `market man` writes.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory for market.1 and one page per subcommand
    /// (market-simulate.1, market-protocol-check.1, ...); created if
    /// missing.
    #[arg(long)]
    out: PathBuf,
}

/// Which shell `market completions` writes for.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    shell: Shell,
}

/// Writes every page; exit 1 saying why when a page cannot be written.
pub fn man(args: ManArgs) -> Result<ExitCode, OutputError> {
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| clap_mangen::generate_to(Cli::command(), &args.out));
    match written {
        Ok(()) => {
            outln!("wrote the man pages of market into {}", args.out.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!(
                "market man: cannot write the pages into {}: {e}",
                args.out.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints the completion script to stdout.
pub fn completions(args: CompletionsArgs) -> Result<ExitCode, OutputError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "market", &mut script);
    out!("{}", String::from_utf8_lossy(&script))?;
    Ok(ExitCode::SUCCESS)
}
