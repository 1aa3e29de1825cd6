//! `bidder --config host.toml`: the per-host daemon. Reads its
//! configuration, then runs `bidder::daemon::run` until SIGTERM or ctrl-c
//! (docs/operations.md).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// Trade this host's VMs with the other hosts of its zone.
#[derive(Debug, Parser)]
#[command(name = "bidder", version)]
struct Args {
    /// The host's configuration file (TOML; see docs/operations.md).
    #[arg(long)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in journald or files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = match bidder::daemon::DaemonConfig::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bidder: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bidder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Listening from the start, and apart from the loop, so a signal is
    // logged when it arrives and one during start-up is not lost.
    let (requested, stop) = tokio::sync::oneshot::channel();
    runtime.spawn(async move {
        shutdown().await;
        let _ = requested.send(());
    });
    let stopped = async {
        // An error means the listener is gone: stop rather than run blind.
        let _ = stop.await;
    };
    match runtime.block_on(bidder::daemon::run(config, stopped)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bidder: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves at SIGTERM (what service managers send) or ctrl-c.
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; stop with ctrl-c");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
    tracing::info!("shutdown requested: finishing the round in hand");
}
