//! `market place`: asks a zone to place a new VM. The hosts that are up
//! price it under their own policies in a placement call
//! (`bidder::protocol::placement`); the best offer wins and the winner
//! records the placement in its ledger, then defines and starts the VM.
//!
//! It connects like `market watch`, typically as the operator user that
//! `market nats-config --operator` writes, which may start placements and
//! nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use bidder::hypervisor::{DomainSpec, DomainUuid, HypervisorError};
use bidder::protocol::placement::{self, Answer, CallReport, CallTerms, Ended};
use bidder::protocol::terms::Task;
use bidder::protocol::{ModelSource, PLACEMENT, Protocol, ProtocolConfig};
use bourse::outln;
use bourse::output::OutputError;
use clap::Args;
use lcc::interp::TokioClock;
use market::bus::subject::{HostName, SubjectSpace, Token};
use market::bus::{Bus, BusError};
use market::credits::Credits;
use market::mechanism::contract_net::AwardRule;
use market::runtime::{Endpoint, InitiateError, InteractionIds};
use market::vm::{GroupRule, PlacementGroup};
use market::wire::WireLimits;

use crate::connect::{ConnectArgs, ConnectError};

/// Arguments of `market place`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 when the VM runs; 1 when no host can or will take it, the winner \
                  could not start it or did not report, or the zone cannot be reached; 2 on a usage error; \
                  141 when its reader goes away (what the call did stands)."
)]
pub struct PlaceArgs {
    /// The zone (the second token of its subjects).
    #[arg(long)]
    zone: Token,
    /// The first token of the zone's subjects.
    #[arg(long, default_value = SubjectSpace::DEFAULT_PREFIX)]
    prefix: Token,
    /// The VM's libvirt domain XML. Its vCPUs and memory are the bundle;
    /// a `<bourse:placement>` element in its metadata its group. Without
    /// `<uuid>` it is given a new one, as `virsh define` does.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "vcpus", "memory_mib", "image", "group"])]
    domain: Option<PathBuf>,
    /// Instead of --domain: the new VM's name; the command writes a
    /// minimal definition from it and the options below.
    #[arg(long, required_unless_present = "domain", requires_all = ["vcpus", "memory_mib"])]
    name: Option<String>,
    /// With --name: virtual CPUs.
    #[arg(long)]
    vcpus: Option<u32>,
    /// With --name: memory, MiB.
    #[arg(long)]
    memory_mib: Option<u64>,
    /// With --name: the disk image it boots from (qcow2 by its extension,
    /// raw otherwise), a path on the hosts.
    #[arg(long, requires = "name")]
    image: Option<String>,
    /// With --name: libvirt's domain type (`kvm`, `qemu`; `test` for the
    /// test driver).
    #[arg(long, default_value = "kvm", requires = "name")]
    domain_type: String,
    /// With --name: a placement group (docs/economics.md).
    #[arg(long, requires = "name")]
    group: Option<String>,
    /// The group's rule.
    #[arg(long, value_parser = ["apart", "together"], default_value = "apart", requires = "group")]
    group_rule: String,
    /// The network bandwidth it needs, Mbit/s (part of the bundle).
    #[arg(long, default_value_t = 0)]
    network_mbps: u64,
    /// The least a host must pay to win it, in micro-credits (negative:
    /// the most the operator pays a host to run it). Default: any offer.
    #[arg(long, allow_hyphen_values = true)]
    reserve: Option<i64>,
    /// How the winner is chosen and what it pays: first-price or
    /// second-price.
    #[arg(long, default_value = "first-price", value_parser = award_rule)]
    award: AwardRule,
    /// The protocol's name: the one the hosts play it under.
    #[arg(long, default_value = "placement")]
    protocol: Token,
    /// A placement model of your own (the hosts must run the same text).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// The name this command speaks as on the bus: the seller in the
    /// winner's ledger. Default: the --user, or `operator`.
    #[arg(long = "as")]
    operator: Option<HostName>,
    /// How long hosts have to join the call, ms.
    #[arg(long, default_value_t = 500)]
    recruit_ms: i64,
    /// How long they have to answer, ms.
    #[arg(long, default_value_t = 1_000)]
    window_ms: i64,
    /// How long the winner has to start the VM and report, ms.
    #[arg(long, default_value_t = 60_000)]
    start_within_ms: i64,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
    /// How to reach the zone.
    #[command(flatten)]
    connect: ConnectArgs,
}

/// An award rule by the name configuration files give it.
fn award_rule(name: &str) -> Result<AwardRule, String> {
    use serde::de::IntoDeserializer;
    let name: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.into_deserializer();
    serde::Deserialize::deserialize(name).map_err(|e| e.to_string())
}

#[derive(Debug, thiserror::Error)]
enum PlaceError {
    #[error("cannot read the domain definition {path}: {source}")]
    ReadDomain {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a domain definition bourse can place: {reason}")]
    BadDomain { path: PathBuf, reason: String },
    #[error("the VM: {0}")]
    BadVm(String),
    #[error("no UUID for the new VM: the operating system's random source failed: {0}")]
    Random(getrandom::Error),
    #[error(
        "--user {name:?} cannot be a bus name ({reason}): give --as NAME, the operator user of `market nats-config --operator`"
    )]
    BadName { name: String, reason: String },
    #[error(transparent)]
    Protocol(#[from] bidder::protocol::ProtocolError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("{0}")]
    Bus(#[from] BusError),
    #[error(
        "the server refuses: {0} (is this user allowed to start placements? `market nats-config --operator NAME` writes one that is, and --as must be that name)"
    )]
    Refused(String),
    #[error("the call failed: {0}")]
    Call(#[from] Box<InitiateError>),
    #[error("cannot print JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Runs `market place`.
pub async fn run(args: PlaceArgs) -> Result<ExitCode, OutputError> {
    match place(&args).await {
        Ok(report) => Ok(if matches!(report.ended, Ended::Started { .. }) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }),
        Err(PlaceError::Output(e)) => Err(e),
        Err(e) => {
            eprintln!("market place: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn place(args: &PlaceArgs) -> Result<CallReport, PlaceError> {
    let (task, domain) = vm_of(args)?;
    let protocol = Protocol::load(ProtocolConfig {
        name: args.protocol.clone(),
        kind: PLACEMENT,
        model: match &args.model {
            Some(path) => ModelSource::File(path.clone()),
            None => ModelSource::Shipped(PLACEMENT.shipped_model()),
        },
        settings: toml::Table::new(),
    })?;
    let me = operator_name(args)?;
    let bus = Arc::new(args.connect.bus(&format!("market-place-{me}")).await?);
    let mut refusals = bus.server_errors();
    let peer = Endpoint {
        bus: Arc::clone(&bus) as Arc<dyn Bus>,
        space: SubjectSpace::new(args.prefix.clone(), args.zone.clone()),
        me,
        clock: Arc::new(TokioClock::system()),
        limits: WireLimits::default(),
        ids: InteractionIds::Random,
    };
    let terms = CallTerms {
        recruit_ms: args.recruit_ms,
        window_ms: args.window_ms,
        start_within_ms: args.start_within_ms,
        award: args.award,
    };
    let report = placement::operate(&peer, &protocol, &task, &domain, terms)
        .await
        .map_err(Box::new);
    // The server judges publications asynchronously; after a round trip
    // it has said whether it refused the invitation.
    bus.sync().await?;
    if let Ok(refusal) = refusals.try_recv() {
        return Err(PlaceError::Refused(refusal));
    }
    let report = report?;
    if args.json {
        outln!("{}", serde_json::to_string(&report)?)?;
    } else {
        print_report(&report)?;
    }
    Ok(report)
}

/// The name the command speaks as.
fn operator_name(args: &PlaceArgs) -> Result<HostName, PlaceError> {
    if let Some(name) = &args.operator {
        return Ok(name.clone());
    }
    let name = args.connect.user().unwrap_or("operator");
    Token::new(name).map_err(|e| PlaceError::BadName {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

/// The VM the arguments describe, as a task (reserving what the
/// definition says), and its XML.
fn vm_of(args: &PlaceArgs) -> Result<(Task, String), PlaceError> {
    let (spec, xml) = match &args.domain {
        Some(path) => from_file(path)?,
        None => generated(args)?,
    };
    if spec.vcpus == 0 || spec.memory_kib == 0 {
        return Err(PlaceError::BadVm(format!(
            "{} reserves {} vCPUs and {} KiB: a VM needs both",
            spec.name, spec.vcpus, spec.memory_kib
        )));
    }
    let reserve = Credits(args.reserve.unwrap_or(i64::MIN));
    let task = placement::new_vm(&spec, args.network_mbps, reserve);
    Ok((task, xml))
}

/// The definition in the operator's file, given a fresh UUID when it has
/// none (as `virsh define` would; the file itself is left as it is).
fn from_file(path: &Path) -> Result<(DomainSpec, String), PlaceError> {
    let written = std::fs::read_to_string(path).map_err(|source| PlaceError::ReadDomain {
        path: path.to_owned(),
        source,
    })?;
    let bad = |e: HypervisorError| PlaceError::BadDomain {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    let fresh = DomainUuid::random().map_err(PlaceError::Random)?;
    let xml = DomainSpec::with_uuid(&written, &fresh)
        .map_err(bad)?
        .unwrap_or(written);
    let spec = DomainSpec::parse(&xml).map_err(bad)?;
    Ok((spec, xml))
}

/// A minimal definition from `--name` and its options.
fn generated(args: &PlaceArgs) -> Result<(DomainSpec, String), PlaceError> {
    let (Some(name), Some(vcpus), Some(memory_mib)) = (&args.name, args.vcpus, args.memory_mib)
    else {
        return Err(PlaceError::BadVm(
            "give --domain FILE, or --name with --vcpus and --memory-mib".into(),
        ));
    };
    let group = match &args.group {
        None => None,
        Some(group) => {
            let rule =
                GroupRule::parse(&args.group_rule).map_err(|e| PlaceError::BadVm(e.to_string()))?;
            Some(PlacementGroup::new(group, rule).map_err(|e| PlaceError::BadVm(e.to_string()))?)
        }
    };
    let spec = DomainSpec {
        uuid: DomainUuid::random().map_err(PlaceError::Random)?,
        name: name.clone(),
        vcpus,
        memory_kib: memory_mib.saturating_mul(1024),
        interfaces: vec![],
        group,
    };
    let xml = match &args.image {
        Some(image) => spec.to_xml_booting(&args.domain_type, image),
        None => spec.to_xml(&args.domain_type),
    };
    // Read back: the name must survive XML as it was given.
    let read = DomainSpec::parse(&xml).map_err(|e| PlaceError::BadVm(e.to_string()))?;
    Ok((read, xml))
}

/// The VM and its UUID, the answers, then how the call ended.
fn print_report(report: &CallReport) -> Result<(), OutputError> {
    let vm = format!("{} (uuid {})", report.vm, report.uuid);
    match &report.trade_id {
        Some(trade) => outln!("placement {trade} of {vm}")?,
        None => outln!("placement of {vm}")?,
    }
    if report.answers.is_empty() {
        outln!("  no answers")?;
    }
    for answer in &report.answers {
        let said = match &answer.answer {
            Answer::Offer { price } => format!("offers {price}"),
            Answer::Refused { why } => format!("refuses: {why}"),
            Answer::Present { why } => format!("already has it: {why}"),
        };
        outln!("  {:<16} {said}", answer.host)?;
    }
    let silent: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| !report.answers.iter().any(|a| &a.host == *h))
        .map(String::as_str)
        .collect();
    if !silent.is_empty() {
        outln!("  no answer in time from {}", silent.join(", "))?;
    }
    match &report.ended {
        Ended::Started { host, price } => {
            outln!("placed: {} runs at {host}, which pays {price}", report.vm)?;
        }
        Ended::Failed {
            host,
            price,
            reason,
        } => eprintln!(
            "not placed: {host} won at {price} but could not start it: {reason} (its ledger rolled the placement back)"
        ),
        Ended::Silent { host, price } => eprintln!(
            "unknown: {host} won at {price} but did not report in time; `market ledger show` on its ledger says how trade {} ended",
            report.trade_id.as_deref().unwrap_or("?")
        ),
        Ended::Refused { reason } => eprintln!("not placed: {reason}"),
    }
    Ok(())
}
