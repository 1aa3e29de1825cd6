//! A `nats-server` process on a free loopback port.
//!
//! Tests, benchmarks and simulations over real NATS start one with
//! [`LocalNatsServer::start`] (a cluster's nodes with
//! [`LocalNatsServer::start_node`]); it is killed with SIGKILL (by its
//! process id, never by name) when the value is dropped, as a crash would. The server's own log is kept in memory
//! and shown in the error if it fails to start, so a broken configuration
//! file says what is wrong.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lcc::sync::Locked;

/// The executable started: Debian's package installs it on the PATH.
const EXECUTABLE: &str = "nats-server";
/// How long a server may take to accept connections.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many free ports are tried when another process takes the one picked.
const PORT_ATTEMPTS: usize = 5;
/// How many lines of the server's log are kept for error messages.
const LOG_LINES: usize = 40;
/// The line `nats-server` logs once it accepts clients.
const READY_LINE: &str = "Server is ready";

#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    #[error("cannot start {EXECUTABLE}: {source}; install it (Debian package `nats-server`)")]
    Spawn { source: std::io::Error },
    #[error("cannot find a free loopback port: {source}")]
    Port { source: std::io::Error },
    #[error("{EXECUTABLE} exited during startup ({status}); its log:\n{log}")]
    Exited { status: String, log: String },
    #[error(
        "{EXECUTABLE} did not accept connections on port {port} within {STARTUP_TIMEOUT:?}; its log:\n{log}"
    )]
    NotReady { port: u16, log: String },
}

/// A running `nats-server`, listening on `127.0.0.1:<port>`.
#[derive(Debug)]
pub struct LocalNatsServer {
    child: Child,
    setup: Setup,
    log: Arc<Mutex<VecDeque<String>>>,
    /// This process logged [`READY_LINE`].
    ready: Arc<AtomicBool>,
}

/// What a server is started with, kept to start it again.
#[derive(Debug, Clone)]
struct Setup {
    /// Its client port on 127.0.0.1.
    port: u16,
    config: Option<PathBuf>,
    /// The configuration file sets the listen address (a cluster node's):
    /// the port is only waited for, not given on the command line.
    listen_in_config: bool,
}

impl LocalNatsServer {
    /// Starts a server with the default configuration (no authentication).
    pub fn start() -> Result<Self, LocalServerError> {
        Self::start_with(None)
    }

    /// Starts a server with a configuration file (such as one written by
    /// `market nats-config`); the listen address and port given on the
    /// command line override the file's.
    pub fn start_with_config(config: &Path) -> Result<Self, LocalServerError> {
        Self::start_with(Some(config.to_owned()))
    }

    /// Starts a node of a cluster from its configuration file (as
    /// `market nats-config --node` writes it), which sets where it listens:
    /// `client_port` on 127.0.0.1, where it is waited for. The other nodes
    /// need not be up; it routes to them once they are.
    pub fn start_node(config: &Path, client_port: u16) -> Result<Self, LocalServerError> {
        Self::spawn(Setup {
            port: client_port,
            config: Some(config.to_owned()),
            listen_in_config: true,
        })
    }

    fn start_with(config: Option<PathBuf>) -> Result<Self, LocalServerError> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let setup = Setup {
                port: free_port()?,
                config: config.clone(),
                listen_in_config: false,
            };
            match Self::spawn(setup) {
                Ok(server) => return Ok(server),
                // Another process may have taken the port between our probe
                // and the server's bind: try another one.
                Err(e @ LocalServerError::Exited { .. }) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or(LocalServerError::NotReady {
            port: 0,
            log: String::new(),
        }))
    }

    fn spawn(setup: Setup) -> Result<Self, LocalServerError> {
        let mut command = Command::new(EXECUTABLE);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if !setup.listen_in_config {
            command.args(["-a", "127.0.0.1", "-p", &setup.port.to_string()]);
        }
        if let Some(config) = &setup.config {
            command.arg("-c").arg(config);
        }
        let mut child = command
            .spawn()
            .map_err(|source| LocalServerError::Spawn { source })?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_LINES)));
        let ready = Arc::new(AtomicBool::new(false));
        if let Some(stderr) = child.stderr.take() {
            let (log, ready) = (Arc::clone(&log), Arc::clone(&ready));
            // Reading the pipe also keeps the server from blocking on a full
            // stderr; the thread ends when the server does.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.ends_with(READY_LINE) {
                        ready.store(true, Ordering::SeqCst);
                    }
                    let mut log = log.locked();
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let mut server = Self {
            child,
            setup,
            log,
            ready,
        };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Waits for this process to say it is ready and to accept a
    /// connection. The port alone is not enough: a server of another test
    /// that took the same port between our probe and our bind answers on
    /// it while ours fails and exits.
    fn wait_until_ready(&mut self) -> Result<(), LocalServerError> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the log reader catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return Err(LocalServerError::Exited {
                    status: status.to_string(),
                    log: self.log(),
                });
            }
            if self.ready.load(Ordering::SeqCst)
                && TcpStream::connect((Ipv4Addr::LOCALHOST, self.setup.port)).is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                return Err(LocalServerError::NotReady {
                    port: self.setup.port,
                    log: self.log(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's recent log lines.
    pub fn log(&self) -> String {
        let log = self.log.locked();
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.setup.port)
    }

    /// The server's process id, to signal it (`SIGSTOP` leaves its
    /// connections open and silent, as a machine that hangs does).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server and starts a new one on the same port with the same
    /// configuration: what a client sees when its server restarts.
    pub fn restart(&mut self) -> Result<(), LocalServerError> {
        self.stop();
        let fresh = Self::spawn(self.setup.clone())?;
        let old = std::mem::replace(self, fresh);
        drop(old);
        Ok(())
    }

    fn stop(&mut self) {
        // Kills this child by its pid; an error means it has already exited.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LocalNatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on right now: bind to port 0 and let the kernel
/// choose, then release it for the server.
fn free_port() -> Result<u16, LocalServerError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|source| LocalServerError::Port { source })
}
