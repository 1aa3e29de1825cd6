//! The scenario file: a simulated cluster (hosts with a capacity and a
//! policy file, VMs with a size, a CPU load, a placement group and a first
//! host), the protocols they trade by, how long to let them, and the
//! outcome to expect.
//!
//! ```toml
//! name = "seed002-scenario1"
//! protocols = ["contract-net"]                 # as in a bidder's configuration
//! rounds = 12
//! concurrent = false                           # true: all hosts call at once
//!
//! [protocol.contract-net]                      # optional settings
//! award = "second-price"
//!
//! [[host]]
//! name = "hp1"
//! cpus = 8
//! memory_mib = 16384
//! policy = "policies/seed002-scenario1.toml"   # relative to this file
//! # protocols = ["sealed-bid"]                 # this host plays others
//!
//! [[vm]]
//! name = "okvm1"
//! host = "hp1"
//! memory_mib = 512
//! cpu_load = 1.0                              # `while true; do true; done`
//! group = "replicas"                          # optional placement group
//! group_rule = "apart"                        # or "together"; apart by default
//!
//! [[vm]]
//! name = "web9"
//! arrive = 3                                  # instead of `host`: a new VM,
//!                                             # placed by the market at round 3
//! memory_mib = 512
//!
//! [[host]]                                   # a generated group: 200 hosts
//! name = "g"                                  # named g1 .. g200
//! count = 200
//! cpus = 8
//! memory_mib = 16384
//! policy = "policies/seed001-agility.toml"
//!
//! [[vm]]                                      # 200 VMs w1 .. w200, VM i on g<i>
//! name = "w"                                  # (round robin over the group)
//! count = 200
//! host = "g"
//! memory_mib = 2048
//!
//! [expect]
//! every_host_satisfied = true
//! vm_count = { hp1 = 1, hp2 = 1, hp3 = 1, hp4 = 1 }
//! placement = { okvm1 = "hp1" }
//! hosts_running_at_most = 2
//! migrations_at_most = 3
//! hosts_at_most_ffd = true                     # no more hosts than first-fit decreasing
//! share_at_most_greedy_plus = 0.05             # largest share within greedy balance's + 0.05
//! ```
//!
//! A VM with `arrive = N` runs nowhere at first: at the start of round N
//! the simulation, as the operator (`market place` would), asks the hosts
//! to place it through their placement protocol, and the winner starts it.
//!
//! The protocols and their `[protocol.<name>]` settings are read by
//! `bidder::protocol::config`, the code that reads a daemon's; a model file
//! named there is checked when the scenario is loaded.
//!
//! Every table refuses unknown keys, and every error names the key path
//! (`host[2].policy`) and what is wrong ([`ScenarioError`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bidder::problem::{ConfigProblem, lines};
use bidder::protocol::config::{ProtocolFile, Selection, check_unused, default_names};
use bidder::protocol::{Kind, Protocol};
use market::bus::subject::Token;
use market::policy::{Policy, PolicyError};
use market::vm::{GroupRule, PlacementGroup};
use serde::Deserialize;

/// A scenario file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    /// A name for the report.
    pub name: String,
    /// What the scenario shows, in words.
    #[serde(default)]
    pub description: Option<String>,
    /// The protocols every host plays unless it names its own, in the
    /// order it tries them.
    #[serde(default = "default_names")]
    pub protocols: Vec<String>,
    /// `[protocol.<name>]` settings.
    #[serde(default)]
    pub protocol: BTreeMap<String, ProtocolFile>,
    /// At most this many rounds (each host acts once per round).
    #[serde(default = "default_rounds")]
    pub rounds: u32,
    /// Every host's call of a round starts at the same moment (as daemons
    /// whose periods line up), instead of one host after the other.
    #[serde(default)]
    pub concurrent: bool,
    /// Simulated seconds between two rounds: how far each host's clock
    /// moves, and the interval over which VM use is measured.
    #[serde(default = "default_tick_seconds")]
    pub tick_seconds: u32,
    /// The hosts, in the order they act in a round.
    pub host: Vec<HostSpec>,
    /// The VMs.
    #[serde(default)]
    pub vm: Vec<VmSpec>,
    /// What must hold at the end.
    #[serde(default)]
    pub expect: Expect,
}

fn default_rounds() -> u32 {
    20
}

fn default_tick_seconds() -> u32 {
    60
}

/// One host.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    /// Host name: a bus token (letters, digits, `-`, `_`).
    pub name: String,
    /// Physical CPUs.
    pub cpus: u32,
    /// Memory for VMs, MiB.
    pub memory_mib: u64,
    /// Network capacity, Mbit/s.
    #[serde(default = "default_network")]
    pub network_mbps: u64,
    /// Policy file, relative to the scenario file.
    pub policy: PathBuf,
    /// The protocols this host plays, if not the scenario's.
    #[serde(default)]
    pub protocols: Option<Vec<String>>,
    /// The zone it trades in (a bus token, default [`DEFAULT_ZONE`]):
    /// calls reach only the hosts of the caller's zone, as daemons with
    /// different `zone` settings do.
    #[serde(default)]
    pub zone: Option<String>,
    /// A generated group: this entry stands for `count` hosts named
    /// `<name>1` .. `<name><count>`, alike in everything else.
    #[serde(default)]
    pub count: Option<u32>,
}

fn default_network() -> u64 {
    1000
}

/// One VM.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmSpec {
    /// Domain name.
    pub name: String,
    /// The host it starts on; or, with `arrive`, none.
    #[serde(default)]
    pub host: Option<String>,
    /// A new VM placed by the market at the start of this round (1 for the
    /// first), instead of starting on `host`.
    #[serde(default)]
    pub arrive: Option<u32>,
    /// For a VM that arrives: the zone whose hosts are asked to place it
    /// (default: the first host's).
    #[serde(default)]
    pub zone: Option<String>,
    /// Virtual CPUs.
    #[serde(default = "default_vcpus")]
    pub vcpus: u32,
    /// Memory, MiB.
    pub memory_mib: u64,
    /// Busy fraction of each vCPU, 0.0 to 1.0 (1.0: a `while true` loop).
    #[serde(default)]
    pub cpu_load: f64,
    /// Its placement group, written into its domain's metadata.
    #[serde(default)]
    pub group: Option<String>,
    /// The group's rule: `apart` (the default) or `together`.
    #[serde(default)]
    pub group_rule: Option<String>,
    /// A generated group: this entry stands for `count` VMs named
    /// `<name>1` .. `<name><count>`; when `host` names a generated group
    /// of hosts, VM i starts on its host i (round robin).
    #[serde(default)]
    pub count: Option<u32>,
}

fn default_vcpus() -> u32 {
    1
}

/// The expected outcome; every part is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Every host ends satisfied under its policy.
    #[serde(default)]
    pub every_host_satisfied: bool,
    /// VMs per host at the end.
    #[serde(default)]
    pub vm_count: BTreeMap<String, usize>,
    /// Where named VMs end.
    #[serde(default)]
    pub placement: BTreeMap<String, String>,
    /// Exactly this many trades settle.
    #[serde(default)]
    pub trades: Option<usize>,
    /// At the end, at most this many hosts run a VM.
    #[serde(default)]
    pub hosts_running_at_most: Option<usize>,
    /// At most this many VMs move (migrations, counted per VM).
    #[serde(default)]
    pub migrations_at_most: Option<usize>,
    /// No two VMs of an `apart` group end on one host.
    #[serde(default)]
    pub groups_apart: bool,
    /// At the end, no more hosts run VMs than first-fit decreasing packs
    /// the same VMs onto.
    #[serde(default)]
    pub hosts_at_most_ffd: bool,
    /// At the end, the largest dominant share is at most greedy
    /// balancing's on the same VMs plus this much.
    #[serde(default)]
    pub share_at_most_greedy_plus: Option<f64>,
}

/// A checked scenario, with its policies loaded.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// As written.
    pub spec: ScenarioSpec,
    /// Each host's policy, in host order.
    pub policies: Vec<Policy>,
    /// The protocols each host plays, loaded and checked, in host order.
    pub protocols: Vec<Vec<Protocol>>,
    /// Each VM's placement group, in VM order.
    pub groups: Vec<Option<PlacementGroup>>,
    /// The placement protocol arriving VMs are placed by: the first one
    /// a host plays (`None` when no VM arrives).
    pub placement: Option<Protocol>,
    /// Where the file was read from (for the report).
    pub path: PathBuf,
}

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("{file}: {path}: {reason}")]
    Syntax {
        /// The scenario file.
        file: PathBuf,
        /// Key path (`host[1].cpus`), `.` for the top.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// Values that parse but mean nothing sensible.
    #[error("{}", lines(file.display(), problems))]
    Invalid {
        /// The scenario file.
        file: PathBuf,
        /// Each key's problem (at least one).
        problems: Vec<ConfigProblem>,
    },
    /// A host's policy file was refused.
    #[error("{file}: {path}: policy {policy}: {source}")]
    Policy {
        /// The scenario file.
        file: PathBuf,
        /// Key path of the `policy` key.
        path: String,
        /// The policy file.
        policy: PathBuf,
        /// Why it was refused (boxed: a policy error is large, and a
        /// scenario's errors travel through every `Result` of loading).
        source: Box<PolicyError>,
    },
}

impl Scenario {
    /// Reads, parses and checks a scenario file and loads its policies.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        Scenario::parse(path, &Scenario::read(path)?)
    }

    fn read(path: &Path) -> Result<String, ScenarioError> {
        std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Parses and checks `text`, read from `path` (policy files are found
    /// relative to it).
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::from_spec(path, Scenario::read_spec(path, text)?)
    }

    /// The scenario at `path` with every host playing `protocols` instead
    /// of what the file says (`market simulate --protocols`): the same
    /// cluster under another protocol, for comparison.
    pub fn playing(path: &Path, protocols: &[String]) -> Result<Scenario, ScenarioError> {
        let mut spec = Scenario::read_spec(path, &Scenario::read(path)?)?;
        spec.protocols = protocols.to_vec();
        for host in &mut spec.host {
            host.protocols = None;
        }
        Scenario::from_spec(path, spec)
    }

    /// The file's contents as written, or where they do not read.
    fn read_spec(path: &Path, text: &str) -> Result<ScenarioSpec, ScenarioError> {
        let syntax = |key: String, reason: String| ScenarioError::Syntax {
            file: path.to_path_buf(),
            path: if key.is_empty() { ".".into() } else { key },
            reason,
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|e| syntax(String::new(), e.message().trim().to_string()))?;
        let spec: ScenarioSpec = serde_path_to_error::deserialize(deserializer)
            .map_err(|e| syntax(e.path().to_string(), e.inner().message().trim().to_string()))?;
        Ok(spec)
    }

    /// Checks a scenario built in code (`market replay` builds its
    /// cluster this way) as if read from `path`: policy files are found
    /// relative to it, errors name it.
    pub fn from_spec(path: &Path, mut spec: ScenarioSpec) -> Result<Scenario, ScenarioError> {
        let invalid = |problems: Vec<ConfigProblem>| ScenarioError::Invalid {
            file: path.to_path_buf(),
            problems,
        };
        generate(&mut spec).map_err(|p| invalid(vec![p]))?;
        check(path, &spec)?;
        let groups = groups(&spec).map_err(|p| invalid(vec![p]))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let protocols = protocols(&spec, base).map_err(invalid)?;
        let placement = placement_protocol(&spec, &protocols).map_err(|p| invalid(vec![p]))?;
        let policies = spec
            .host
            .iter()
            .enumerate()
            .map(|(i, host)| load_policy(path, i, &base.join(&host.policy)))
            .collect::<Result<_, _>>()?;
        Ok(Scenario {
            spec,
            policies,
            protocols,
            groups,
            placement,
            path: path.to_path_buf(),
        })
    }
}

/// Each host's protocols: its own list or the scenario's, resolved with
/// the settings of `[protocol.<name>]`.
fn protocols(spec: &ScenarioSpec, base: &Path) -> Result<Vec<Vec<Protocol>>, Vec<ConfigProblem>> {
    let lists: Vec<&[String]> = spec
        .host
        .iter()
        .map(|h| h.protocols.as_deref().unwrap_or(&spec.protocols))
        .collect();
    check_unused(&spec.protocol, &lists)?;
    let keys: Vec<String> = spec
        .host
        .iter()
        .enumerate()
        .map(|(i, h)| match h.protocols {
            Some(_) => format!("host[{i}].protocols"),
            None => "protocols".to_string(),
        })
        .collect();
    lists
        .iter()
        .zip(&keys)
        .map(|(names, key)| {
            Selection {
                names,
                names_key: key,
                settings: &spec.protocol,
                base,
            }
            .resolve()
        })
        .collect()
}

/// The name the simulation speaks as when it places arriving VMs.
pub const OPERATOR: &str = "operator";

/// The zone of a host that names none.
pub const DEFAULT_ZONE: &str = "sim";

impl HostSpec {
    /// The zone it trades in.
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or(DEFAULT_ZONE)
    }
}

impl Scenario {
    /// The zone whose hosts place VM `index` when it arrives.
    pub fn arrival_zone(&self, index: usize) -> &str {
        self.spec.vm[index]
            .zone
            .as_deref()
            .or_else(|| self.spec.host.first().map(HostSpec::zone))
            .unwrap_or(DEFAULT_ZONE)
    }
}

/// The protocol arriving VMs are placed by, if any VM arrives.
fn placement_protocol(
    spec: &ScenarioSpec,
    protocols: &[Vec<Protocol>],
) -> Result<Option<Protocol>, ConfigProblem> {
    let Some(first) = spec.vm.iter().position(|vm| vm.arrive.is_some()) else {
        return Ok(None);
    };
    if let Some(i) = spec.host.iter().position(|h| h.name == OPERATOR) {
        return Err(ConfigProblem::value(
            format!("host[{i}].name"),
            OPERATOR,
            "the name arriving VMs are placed by: rename the host",
        ));
    }
    protocols
        .iter()
        .flatten()
        .find(|p| p.kind() == Kind::Placement)
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            ConfigProblem::at(
                format!("vm[{first}].arrive"),
                "no host plays a placement protocol: add \"placement\" to `protocols`",
            )
        })
}

/// Each VM's placement group, checked.
fn groups(spec: &ScenarioSpec) -> Result<Vec<Option<PlacementGroup>>, ConfigProblem> {
    spec.vm
        .iter()
        .enumerate()
        .map(|(i, vm)| {
            let rule = match &vm.group_rule {
                None => GroupRule::Apart,
                Some(rule) => GroupRule::parse(rule).map_err(|e| {
                    ConfigProblem::value(format!("vm[{i}].group_rule"), rule, e.to_string())
                })?,
            };
            match &vm.group {
                None if vm.group_rule.is_some() => Err(ConfigProblem::at(
                    format!("vm[{i}].group_rule"),
                    "a rule without a group: add `group`",
                )),
                None => Ok(None),
                Some(name) => PlacementGroup::new(name, rule).map(Some).map_err(|e| {
                    ConfigProblem::value(format!("vm[{i}].group"), name, e.to_string())
                }),
            }
        })
        .collect()
}

fn load_policy(file: &Path, index: usize, policy: &Path) -> Result<Policy, ScenarioError> {
    let key = format!("host[{index}].policy");
    let text = std::fs::read_to_string(policy).map_err(|e| ScenarioError::Invalid {
        file: file.to_path_buf(),
        problems: vec![ConfigProblem::value(
            key.clone(),
            policy.display(),
            format!("cannot read it: {e}"),
        )],
    })?;
    Policy::from_toml(&text).map_err(|source| ScenarioError::Policy {
        file: file.to_path_buf(),
        path: key,
        policy: policy.to_path_buf(),
        source: Box::new(source),
    })
}

/// Expands every entry with a `count` into the hosts or VMs it stands
/// for, in place; later checks see (and name in their errors) the
/// expanded lists.
fn generate(spec: &mut ScenarioSpec) -> Result<(), ConfigProblem> {
    let counted = |count: Option<u32>, key: String| match count {
        Some(0) => Err(ConfigProblem::value(key, 0, "must be at least 1")),
        other => Ok(other),
    };
    let mut groups: BTreeMap<String, u32> = BTreeMap::new();
    let mut hosts = Vec::new();
    for (i, host) in spec.host.iter().enumerate() {
        let Some(n) = counted(host.count, format!("host[{i}].count"))? else {
            hosts.push(host.clone());
            continue;
        };
        groups.insert(host.name.clone(), n);
        hosts.extend((1..=n).map(|k| HostSpec {
            name: format!("{}{k}", host.name),
            count: None,
            ..host.clone()
        }));
    }
    let mut vms = Vec::new();
    for (i, vm) in spec.vm.iter().enumerate() {
        let Some(n) = counted(vm.count, format!("vm[{i}].count"))? else {
            vms.push(vm.clone());
            continue;
        };
        vms.extend((1..=n).map(|k| {
            let host = vm.host.as_ref().map(|h| match groups.get(h) {
                Some(&size) => format!("{h}{}", (k - 1) % size + 1),
                None => h.clone(),
            });
            VmSpec {
                name: format!("{}{k}", vm.name),
                host,
                count: None,
                ..vm.clone()
            }
        }));
    }
    spec.host = hosts;
    spec.vm = vms;
    Ok(())
}

/// The checks serde cannot make: names, references, sizes.
fn check(file: &Path, spec: &ScenarioSpec) -> Result<(), ScenarioError> {
    let invalid = |path: String, reason: String| ScenarioError::Invalid {
        file: file.to_path_buf(),
        problems: vec![ConfigProblem::at(path, reason)],
    };
    if spec.host.len() < 2 {
        return Err(invalid(
            "host".into(),
            "a market needs at least two hosts".into(),
        ));
    }
    if spec.rounds == 0 || spec.tick_seconds == 0 {
        return Err(invalid(
            if spec.rounds == 0 {
                "rounds"
            } else {
                "tick_seconds"
            }
            .into(),
            "must be at least 1".into(),
        ));
    }
    let mut hosts = BTreeSet::new();
    for (i, host) in spec.host.iter().enumerate() {
        if Token::new(host.name.as_str()).is_err() {
            return Err(invalid(
                format!("host[{i}].name"),
                format!(
                    "{:?} cannot be a bus name: use letters, digits, '-' and '_'",
                    host.name
                ),
            ));
        }
        if !hosts.insert(host.name.as_str()) {
            return Err(invalid(
                format!("host[{i}].name"),
                format!("{} is named twice", host.name),
            ));
        }
        if host.cpus == 0 || host.memory_mib == 0 {
            return Err(invalid(
                format!("host[{i}]"),
                "cpus and memory_mib must be at least 1".into(),
            ));
        }
        if Token::new(host.zone()).is_err() {
            return Err(invalid(
                format!("host[{i}].zone"),
                format!(
                    "{:?} cannot be a bus name: use letters, digits, '-' and '_'",
                    host.zone()
                ),
            ));
        }
    }
    let zones: BTreeSet<&str> = spec.host.iter().map(HostSpec::zone).collect();
    let mut vms = BTreeSet::new();
    let mut memory: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, vm) in spec.vm.iter().enumerate() {
        if vm.name.trim().is_empty() || !vms.insert(vm.name.as_str()) {
            return Err(invalid(
                format!("vm[{i}].name"),
                format!("{:?} is empty or named twice", vm.name),
            ));
        }
        match (&vm.host, vm.arrive) {
            (Some(host), None) if !hosts.contains(host.as_str()) => {
                return Err(invalid(
                    format!("vm[{i}].host"),
                    format!("no host is named {host:?}"),
                ));
            }
            (Some(_), None) => {}
            (None, Some(round)) if round == 0 || round > spec.rounds => {
                return Err(invalid(
                    format!("vm[{i}].arrive"),
                    format!("must be a round from 1 to {}, not {round}", spec.rounds),
                ));
            }
            (None, Some(_)) => {}
            (Some(_), Some(_)) | (None, None) => {
                return Err(invalid(
                    format!("vm[{i}]"),
                    "give `host` (where it runs at first) or `arrive` (the round the market \
                     places it), not both or neither"
                        .into(),
                ));
            }
        }
        match (&vm.zone, vm.arrive) {
            (Some(_), None) => {
                return Err(invalid(
                    format!("vm[{i}].zone"),
                    "only a VM that arrives has a zone of its own; one that starts on a host \
                     is in its host's"
                        .into(),
                ));
            }
            (Some(zone), Some(_)) if !zones.contains(zone.as_str()) => {
                return Err(invalid(
                    format!("vm[{i}].zone"),
                    format!("no host is in zone {zone:?}"),
                ));
            }
            _ => {}
        }
        if !(0.0..=1.0).contains(&vm.cpu_load) {
            return Err(invalid(
                format!("vm[{i}].cpu_load"),
                format!("must be between 0.0 and 1.0, not {}", vm.cpu_load),
            ));
        }
        if vm.vcpus == 0 || vm.memory_mib == 0 {
            return Err(invalid(
                format!("vm[{i}]"),
                "vcpus and memory_mib must be at least 1".into(),
            ));
        }
        if let Some(host) = &vm.host {
            *memory.entry(host.as_str()).or_default() += vm.memory_mib;
        }
    }
    for (i, host) in spec.host.iter().enumerate() {
        let used = memory.get(host.name.as_str()).copied().unwrap_or(0);
        if used > host.memory_mib {
            return Err(invalid(
                format!("host[{i}].memory_mib"),
                format!("its VMs need {used} MiB but it has {} MiB", host.memory_mib),
            ));
        }
    }
    for host in spec.expect.vm_count.keys() {
        if !hosts.contains(host.as_str()) {
            return Err(invalid(
                format!("expect.vm_count.{host}"),
                "no such host".into(),
            ));
        }
    }
    for (vm, host) in &spec.expect.placement {
        if !vms.contains(vm.as_str()) || !hosts.contains(host.as_str()) {
            return Err(invalid(
                format!("expect.placement.{vm}"),
                format!("{vm} on {host}: no such VM or host"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = r#"
name = "t"
[[host]]
name = "a"
cpus = 1
memory_mib = 1024
policy = "p.toml"
[[host]]
name = "b"
cpus = 1
memory_mib = 1024
policy = "p.toml"
"#;

    fn refusal(text: &str) -> String {
        match Scenario::parse(Path::new("s.toml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let text = format!("{HOSTS}[[vm]]\nname = \"v\"\nhost = \"a\"\nmemory_mib = 1\nsize = 3\n");
        let e = refusal(&text);
        assert!(e.contains("vm[0]") && e.contains("size"), "{e}");
    }

    #[test]
    fn a_vm_on_an_unknown_host_is_refused() {
        let text = format!("{HOSTS}[[vm]]\nname = \"v\"\nhost = \"zz\"\nmemory_mib = 1\n");
        let e = refusal(&text);
        assert!(e.contains("vm[0].host") && e.contains("zz"), "{e}");
    }

    #[test]
    fn vms_that_do_not_fit_their_first_host_are_refused() {
        let text = format!("{HOSTS}[[vm]]\nname = \"v\"\nhost = \"a\"\nmemory_mib = 2048\n");
        let e = refusal(&text);
        assert!(e.contains("host[0].memory_mib"), "{e}");
    }

    #[test]
    fn a_group_that_is_not_a_valid_name_is_refused_with_its_key() {
        let text = format!(
            "{HOSTS}[[vm]]\nname = \"v\"\nhost = \"a\"\nmemory_mib = 1\ngroup = \"web tier\"\n"
        );
        let e = refusal(&text);
        assert!(e.contains("vm[0].group") && e.contains("web tier"), "{e}");
        let text = format!(
            "{HOSTS}[[vm]]\nname = \"v\"\nhost = \"a\"\nmemory_mib = 1\ngroup = \"w\"\ngroup_rule = \"near\"\n"
        );
        assert!(refusal(&text).contains("vm[0].group_rule"));
    }

    #[test]
    fn an_unknown_protocol_is_refused_with_its_key() {
        let text = format!("protocols = [\"auction-x\"]\n{HOSTS}");
        let e = refusal(&text);
        assert!(e.contains("protocols[0]") && e.contains("auction-x"), "{e}");
    }

    #[test]
    fn a_missing_policy_file_names_the_host() {
        let e = refusal(HOSTS);
        assert!(e.contains("host[0].policy") && e.contains("p.toml"), "{e}");
    }
}
