//! `bidder --config host.toml`: the per-host daemon. Reads its
//! configuration, then runs `bidder::daemon::run` until SIGTERM or ctrl-c
//! (docs/operations.md). `--check` reads and checks everything instead,
//! and starts nothing; `--man` and `--completions` print its manual page
//! and completion scripts for the Debian package.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use clap_complete::Shell;
use tracing_subscriber::EnvFilter;

/// Trade this host's VMs with the other hosts of its zone.
///
/// Every host runs one bidder. It watches its host through libvirt, trades
/// VMs with the other hosts of its zone over NATS by the protocols its
/// configuration names, records every trade in its SQLite ledger before
/// anything moves, and carries trades out by migration.
#[derive(Debug, Parser)]
#[command(name = "bidder", version)]
struct Args {
    /// The host's configuration file (TOML; the package's is
    /// /etc/bourse/bidder.toml).
    #[arg(long, required_unless_present_any = ["man", "completions"])]
    config: Option<PathBuf>,
    /// Read and check the configuration, the policy, the protocols' models,
    /// the bus's credential files, the ledger and the hypervisor; print
    /// what this host would play and with whom, and exit 0, or 1 listing
    /// every problem (key, value, reason). Starts nothing.
    #[arg(long, requires = "config")]
    check: bool,
    /// Print the manual page (section 8) to stdout.
    #[arg(long, conflicts_with_all = ["config", "completions"])]
    man: bool,
    /// Print the completion script for a shell to stdout.
    #[arg(long, value_name = "SHELL", conflicts_with = "config")]
    completions: Option<Shell>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.man {
        let mut page = Vec::new();
        return match clap_mangen::Man::new(Args::command())
            .section("8")
            .render(&mut page)
        {
            Ok(()) => print(&page),
            Err(e) => {
                eprintln!("bidder: cannot render the manual page: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(shell) = args.completions {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Args::command(), "bidder", &mut script);
        return print(&script);
    }
    let Some(path) = args.config else {
        // clap requires --config unless --man or --completions is given.
        return ExitCode::from(2);
    };
    if args.check {
        return check(&path);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in journald or files.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bidder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Listening before anything else, and apart from the loop: a signal
    // that comes while the daemon starts (its configuration read, its
    // ledger opened) is not lost, and does not kill it before it can stop
    // cleanly; it is logged when it arrives.
    let signals = runtime.block_on(async { Signals::listen() });
    let (requested, stop) = tokio::sync::oneshot::channel();
    runtime.spawn(async move {
        signals.any().await;
        let _ = requested.send(());
    });
    let stopped = async {
        // An error means the listener is gone: stop rather than run blind.
        let _ = stop.await;
    };
    let config = match bidder::daemon::DaemonConfig::load(&path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("bidder: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(bidder::daemon::run(config, stopped)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bidder: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `bidder --check`: the plan on stdout, every problem on stderr.
fn check(path: &Path) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("bidder: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = runtime.block_on(bidder::daemon::check::check(path));
    let mut plan = String::new();
    for line in &report.plan {
        plan.push_str(line);
        plan.push('\n');
    }
    let printed = print(plan.as_bytes());
    if printed != ExitCode::SUCCESS {
        return printed;
    }
    if report.problems.is_empty() {
        eprintln!("bidder: {} is ready to run", path.display());
        return ExitCode::SUCCESS;
    }
    eprintln!(
        "{}",
        bidder::problem::lines(
            format_args!("bidder: configuration {}", path.display()),
            &report.problems
        )
    );
    eprintln!(
        "bidder: {} problem(s) in {}; nothing was started",
        report.problems.len(),
        path.display()
    );
    ExitCode::FAILURE
}

/// Writes `bytes` to stdout, ending as every command of bourse does when
/// the reader goes away (`bourse::output`).
fn print(bytes: &[u8]) -> ExitCode {
    let printed = bourse::out!("{}", String::from_utf8_lossy(bytes)).map(|()| ExitCode::SUCCESS);
    bourse::output::exit_code("bidder", printed)
}

/// Resolves at SIGTERM (what service managers send) or ctrl-c.
/// SIGTERM and SIGINT (ctrl-c), each listened for from the moment
/// [`Signals::listen`] returns.
struct Signals {
    terminate: Option<tokio::signal::unix::Signal>,
    interrupt: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs both handlers now (inside the runtime).
    fn listen() -> Signals {
        use tokio::signal::unix::{SignalKind, signal};
        let watch = |kind: SignalKind, name: &str| match signal(kind) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch {name}");
                None
            }
        };
        Signals {
            terminate: watch(SignalKind::terminate(), "SIGTERM"),
            interrupt: watch(SignalKind::interrupt(), "SIGINT"),
        }
    }

    /// Resolves at the first of either signal.
    async fn any(mut self) {
        tokio::select! {
            () = received(self.terminate.as_mut()) => {}
            () = received(self.interrupt.as_mut()) => {}
        }
        tracing::info!("shutdown requested: finishing the round in hand");
    }
}

/// Resolves when `signal` arrives; never, for one not watched.
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
