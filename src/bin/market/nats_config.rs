//! `market nats-config`: writes a zone's nats-server configuration with one
//! user per host, and a password file per user.
//!
//! The permissions themselves come from `market::bus::permissions` (next to
//! the subject layout they protect); this command chooses passwords and
//! writes files. Passwords are 256 bits from the operating system's CSPRNG,
//! written in hex. A password file that already exists is kept, so adding a
//! host to a running zone does not lock the others out; delete a file to
//! rotate that password.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bourse::outln;
use bourse::output::OutputError;
use market::bus::permissions::{Account, server_config};
use market::bus::subject::{HostName, SubjectSpace, Token};

/// Write a zone's nats-server configuration: one user per host, each
/// allowed to publish only on subjects that name it as the sender.
#[derive(Debug, clap::Args)]
pub struct NatsConfigArgs {
    /// The zone: the second token of every subject of this cluster.
    #[arg(long)]
    zone: Token,
    /// The first token of every subject.
    #[arg(long, default_value = SubjectSpace::DEFAULT_PREFIX)]
    prefix: Token,
    /// A host of the zone (its user name on the server); repeat for each.
    #[arg(long = "host", value_name = "HOST", required = true)]
    hosts: Vec<HostName>,
    /// A user that may listen to the whole zone and publish nothing, for
    /// `market watch`.
    #[arg(long)]
    observer: Option<Token>,
    /// A user that may start placements of new VMs and nothing else, for
    /// `market place`.
    #[arg(long)]
    operator: Option<Token>,
    /// The placement protocol the operator may start (the name the hosts
    /// play it under).
    #[arg(long, default_value = "placement", requires = "operator")]
    placement_protocol: Token,
    /// Directory for `nats-server.conf` and one `<user>.password` per user
    /// (created if missing; existing password files are kept).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum NatsConfigError {
    #[error(
        "user {0} is named twice: every host, the observer and the operator need distinct names"
    )]
    Duplicate(Token),
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the existing password file {path}: {source}")]
    ReadPassword {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the operating system's random source failed: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Writes the configuration; exit code 1 (after saying why) when it cannot.
pub fn run(args: NatsConfigArgs) -> Result<ExitCode, OutputError> {
    match write(&args) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(NatsConfigError::Output(e)) => Err(e),
        Err(e) => {
            eprintln!("market nats-config: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Writes the configuration and prints what was written and how to use it.
fn write(args: &NatsConfigArgs) -> Result<(), NatsConfigError> {
    let mut seen = BTreeSet::new();
    for name in args
        .hosts
        .iter()
        .chain(&args.observer)
        .chain(&args.operator)
    {
        if !seen.insert(name) {
            return Err(NatsConfigError::Duplicate(name.clone()));
        }
    }
    std::fs::create_dir_all(&args.out).map_err(|source| NatsConfigError::CreateDir {
        path: args.out.clone(),
        source,
    })?;
    let hosts = args
        .hosts
        .iter()
        .map(|host| account(&args.out, host))
        .collect::<Result<Vec<_>, _>>()?;
    let observer = args
        .observer
        .as_ref()
        .map(|name| account(&args.out, name))
        .transpose()?;
    let operator = args
        .operator
        .as_ref()
        .map(|name| account(&args.out, name))
        .transpose()?;

    let space = SubjectSpace::new(args.prefix.clone(), args.zone.clone());
    let config_path = args.out.join("nats-server.conf");
    let text = server_config(
        &space,
        &hosts,
        observer.as_ref(),
        operator.as_ref().map(|o| (o, &args.placement_protocol)),
    );
    write_private(&config_path, &text)?;

    let extra: String = [
        observer.as_ref().map(|_| ", an observer"),
        operator.as_ref().map(|_| ", an operator"),
    ]
    .into_iter()
    .flatten()
    .collect();
    outln!(
        "wrote {} ({} hosts{extra})",
        config_path.display(),
        hosts.len(),
    )?;
    outln!(
        "start the server with: nats-server -c {}",
        config_path.display()
    )?;
    outln!(
        "give each host its password file; its bidder connects with user = <host>, \
         password_file = <host>.password, inbox_prefix = \"_INBOX.<host>\""
    )?;
    Ok(())
}

/// The account of `user`, with the password of its file, or a new one.
fn account(dir: &Path, user: &Token) -> Result<Account, NatsConfigError> {
    let path = password_path(dir, user);
    let password = match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => existing.trim().to_owned(),
        Ok(_) => new_password(&path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_password(&path)?,
        Err(source) => return Err(NatsConfigError::ReadPassword { path, source }),
    };
    Ok(Account {
        user: user.clone(),
        password,
    })
}

/// Where the password of `user` is kept.
fn password_path(dir: &Path, user: &Token) -> PathBuf {
    dir.join(format!("{user}.password"))
}

fn new_password(path: &Path) -> Result<String, NatsConfigError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(NatsConfigError::Random)?;
    let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(path, &format!("{password}\n"))?;
    Ok(password)
}

/// Writes a file only its owner can read: it holds passwords.
fn write_private(path: &Path, text: &str) -> Result<(), NatsConfigError> {
    let write_error = |source| NatsConfigError::Write {
        path: path.to_owned(),
        source,
    };
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(write_error)?;
    file.write_all(text.as_bytes()).map_err(write_error)
}
