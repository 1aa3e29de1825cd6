//! `market nats-config`: writes a zone's nats-server configuration with one
//! user per host, and a password file per user: for one server, or for
//! every node of a cluster (`--node`, repeated).
//!
//! The permissions themselves come from `market::bus::permissions` (next to
//! the subject layout they protect), a cluster's listeners and routes from
//! `market::bus::cluster`; this command chooses passwords and writes files.
//! Passwords are 256 bits from the operating system's CSPRNG, written in
//! hex. A password file that already exists is kept, so adding a host to a
//! running zone (or writing the files again) does not lock the others out;
//! delete a file to rotate that password.

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bourse::outln;
use bourse::output::OutputError;
use market::bus::cluster::{Cluster, ClusterError, ClusterNode, PlainName, RouteAccount};
use market::bus::permissions::{Account, Users, server_config};
use market::bus::subject::{HostName, SubjectSpace, Token};

/// Write a zone's nats-server configuration: one user per host, each
/// allowed to publish only on subjects that name it as the sender; for one
/// server, or for each node of a cluster.
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
    /// A node of a nats-server cluster for the zone, where hosts, the other
    /// nodes' routes and (optionally) monitoring reach it; repeat for each
    /// node. Writes `nats-server-<NAME>.conf` per node instead of
    /// `nats-server.conf`.
    #[arg(
        long = "node",
        value_name = "NAME=HOST:CLIENT_PORT:CLUSTER_PORT[:MONITOR_PORT]"
    )]
    nodes: Vec<ClusterNode>,
    /// The cluster's name (default: the zone).
    #[arg(long, requires = "nodes")]
    cluster_name: Option<Token>,
    /// The user the nodes' routes authenticate as (its password in
    /// `<user>.password`, like the others).
    #[arg(long, default_value = "route", requires = "nodes")]
    route_user: PlainName,
    /// Directory for the configuration files and one `<user>.password` per
    /// user (created if missing; existing password files are kept).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, thiserror::Error)]
enum NatsConfigError {
    #[error(
        "user {0} is named twice: every host, the observer, the operator and the cluster's \
         routes (--route-user, `route` unless given) need distinct names"
    )]
    Duplicate(String),
    #[error("{0}")]
    Cluster(#[from] ClusterError),
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
    /// What was written could not be reported (its reader went away).
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
    check_distinct_users(args)?;
    let cluster = if args.nodes.is_empty() {
        None
    } else {
        let name = args
            .cluster_name
            .clone()
            .unwrap_or_else(|| args.zone.clone());
        Some(Cluster::new(name, args.nodes.clone())?)
    };
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
    let users = Users {
        hosts: &hosts,
        observer: observer.as_ref(),
        operator: operator.as_ref().map(|o| (o, &args.placement_protocol)),
    };
    let space = SubjectSpace::new(args.prefix.clone(), args.zone.clone());
    let extra: String = [
        observer.as_ref().map(|_| ", an observer"),
        operator.as_ref().map(|_| ", an operator"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let whom = format!("{} hosts{extra}", hosts.len());
    match &cluster {
        None => write_server(&args.out, &space, &users, &whom)?,
        Some(cluster) => write_cluster(args, cluster, &space, &users, &whom)?,
    }
    outln!(
        "give each host its password file; its bidder connects with user = <host>, \
         password_file = <host>.password, inbox_prefix = \"_INBOX.<host>\""
    )?;
    Ok(())
}

/// Every user of the servers has its own name and password file: the
/// hosts, the observer, the operator and, in a cluster, the routes.
fn check_distinct_users(args: &NatsConfigArgs) -> Result<(), NatsConfigError> {
    let routes = (!args.nodes.is_empty()).then(|| args.route_user.as_str());
    let mut seen = BTreeSet::new();
    for name in args
        .hosts
        .iter()
        .chain(&args.observer)
        .chain(&args.operator)
        .map(Token::as_str)
        .chain(routes)
    {
        if !seen.insert(name) {
            return Err(NatsConfigError::Duplicate(name.to_owned()));
        }
    }
    Ok(())
}

/// One server: `nats-server.conf`, its users only (listen address and the
/// rest are the operator's, or nats-server's defaults).
fn write_server(
    dir: &Path,
    space: &SubjectSpace,
    users: &Users<'_>,
    whom: &str,
) -> Result<(), NatsConfigError> {
    let config_path = dir.join("nats-server.conf");
    write_private(&config_path, &server_config(space, users))?;
    outln!("wrote {} ({whom})", config_path.display())?;
    outln!(
        "start the server with: nats-server -c {}",
        config_path.display()
    )?;
    Ok(())
}

/// A cluster: `nats-server-<node>.conf` for each node, the routes'
/// password in `<route user>.password`.
fn write_cluster(
    args: &NatsConfigArgs,
    cluster: &Cluster,
    space: &SubjectSpace,
    users: &Users<'_>,
    whom: &str,
) -> Result<(), NatsConfigError> {
    let routes = RouteAccount {
        user: args.route_user.clone(),
        password: password(&args.out, args.route_user.as_str())?,
    };
    let mut starts = Vec::new();
    for node in cluster.nodes() {
        let path = args.out.join(format!("nats-server-{}.conf", node.name));
        write_private(&path, &cluster.node_config(node, space, &routes, users))?;
        let monitoring = node
            .monitor_address()
            .map(|address| format!("; monitoring http://{address}"))
            .unwrap_or_default();
        starts.push(format!(
            "  {}: nats-server -c {}   (on {}{monitoring})",
            node.name,
            path.display(),
            node.host
        ));
    }
    outln!(
        "wrote the configuration of the {} nodes of cluster {} ({whom}) in {}",
        cluster.nodes().len(),
        cluster.name(),
        args.out.display()
    )?;
    outln!("start each node on its machine, with its own file:")?;
    for start in starts {
        outln!("{start}")?;
    }
    outln!(
        "the nodes' routes authenticate as user {} (password in {}, already in every node's file)",
        routes.user,
        password_path(&args.out, routes.user.as_str()).display()
    )?;
    outln!("every host's [nats] table lists every node:")?;
    outln!("  servers = {:?}", cluster.client_urls())?;
    Ok(())
}

/// The account of `user`, with the password of its file, or a new one.
fn account(dir: &Path, user: &Token) -> Result<Account, NatsConfigError> {
    Ok(Account {
        user: user.clone(),
        password: password(dir, user.as_str())?,
    })
}

/// The password of `user` from its file, or a new one written there.
fn password(dir: &Path, user: &str) -> Result<String, NatsConfigError> {
    let path = password_path(dir, user);
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => Ok(existing.trim().to_owned()),
        Ok(_) => new_password(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => new_password(&path),
        Err(source) => Err(NatsConfigError::ReadPassword { path, source }),
    }
}

/// Where the password of `user` is kept.
fn password_path(dir: &Path, user: &str) -> PathBuf {
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
