//! `market`: the observer and tooling CLI of bourse.
//!
//! A thin dispatcher: each group of subcommands lives in its own module
//! (`market protocol ...` in [`protocol`]), defines its clap arguments
//! there, and returns the process's exit code. Logs go to stderr through
//! `tracing` (set `RUST_LOG=debug` to see them). What the commands print
//! on stdout goes through `bourse::output`: a reader that goes away
//! (`| head`) comes back here as `OutputError::ReaderGone`, a quiet
//! exit 141 for every command alike (`bourse::output::exit_code`).

mod audit;
mod chaos;
mod connect;
mod ledger;
mod manual;
mod nats_config;
mod place;
mod progress;
mod protocol;
mod replay;
mod simulate;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "market",
    version,
    about = "Observe and operate a bourse market: hosts trading virtual machines",
    after_help = "A command whose reader goes away (`| head`) stops quietly with exit status 141."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check and format LCC interaction models (see docs/lcc.md).
    #[command(subcommand)]
    Protocol(protocol::ProtocolCommand),
    /// Look into one host's ledger file: its trades, or one trade in full.
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// Cross-check the ledgers of many hosts; exit 1 listing every
    /// discrepancy (see docs/ledger.md).
    Audit(audit::AuditArgs),
    /// Write a zone's nats-server configuration: one user per host, each
    /// allowed to publish only as itself; for one server, or for each node
    /// of a cluster with --node (see docs/bus.md).
    NatsConfig(nats_config::NatsConfigArgs),
    /// Run a simulated cluster trading VMs end to end from a scenario file;
    /// exit 1 when an expectation fails (see docs/simulate.md).
    Simulate(simulate::SimulateArgs),
    /// Replay a day of PlanetLab traces on CloudSim's 800-host cluster under
    /// consolidation policies (see docs/replay.md).
    Replay(replay::ReplayArgs),
    /// Place a new VM: the zone's hosts bid for it, the winner starts it;
    /// exit 1 saying why when none can or will (see docs/operations.md,
    /// "Placing a VM").
    Place(Box<place::PlaceArgs>),
    /// Watch a zone live: hosts, trades, totals, from the events every
    /// host publishes (see docs/operations.md, "Watching a zone").
    Watch(watch::WatchArgs),
    /// Run a fault campaign over a zone of bidders on simulated hosts and
    /// a 3-node NATS cluster; exit 1 on any violated invariant, naming the
    /// seed that replays it (see docs/reliability.md). Needs root.
    Chaos(chaos::ChaosArgs),
    /// Write the manual pages of market and of every subcommand into a
    /// directory (the Debian package ships them).
    Man(manual::ManArgs),
    /// Print market's completion script for a shell (bash, zsh, fish,
    /// elvish, powershell).
    Completions(manual::CompletionsArgs),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    // Usage errors exit with code 2 (clap's convention, and ours for
    // "could not even start").
    let cli = Cli::parse();
    let printed = match cli.command {
        Command::Protocol(command) => protocol::run(command),
        Command::Ledger(command) => ledger::run(command).await,
        Command::Audit(args) => audit::run(args).await,
        Command::NatsConfig(args) => nats_config::run(args),
        Command::Simulate(args) => simulate::run(args).await,
        Command::Replay(args) => replay::run(args),
        Command::Place(args) => place::run(*args).await,
        Command::Watch(args) => watch::run(args).await,
        Command::Chaos(args) => chaos::run(args).await,
        Command::Man(args) => manual::man(args),
        Command::Completions(args) => manual::completions(args),
    };
    bourse::output::exit_code("market", printed)
}
