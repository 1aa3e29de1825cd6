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
//! [[vm]]                                      # a mixed group: sizes and loads
//! name = "m"                                  # drawn VM by VM from `seed`
//! count = 300                                 # (a top-level key, default 0)
//! host = "g"
//! [vm.draw]
//! vcpus = { 1 = 6, 2 = 3, 4 = 1 }             # weights per vCPU count
//! memory_mib_per_vcpu = [1024, 2048, 4096]    # each as likely
//! cpu_load = [0.1, 0.7]                       # uniform in the range
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
//!
//! Five files: what the file says (`spec.rs`), how counted entries expand
//! (`generate.rs`) and mixed groups draw (`draw.rs`), the checks serde
//! cannot make (`check.rs`), and here the checked scenario with its
//! policies and protocols loaded.

mod check;
mod draw;
mod generate;
mod spec;

use std::path::{Path, PathBuf};

use bidder::problem::{ConfigProblem, lines};
use bidder::protocol::config::{Selection, check_unused};
use bidder::protocol::{self, Protocol};
use market::policy::{Policy, PolicyError};
use market::vm::PlacementGroup;

pub use spec::{Expect, HostSpec, ScenarioSpec, VmDraw, VmSpec};

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
        let changes = Changes {
            protocols: Some(protocols.to_vec()),
            reach: None,
        };
        Scenario::load_changed(path, &changes)
    }

    /// The scenario at `path` with `changes` made to it: the same cluster
    /// under other protocols or another reach, for comparison.
    pub fn load_changed(path: &Path, changes: &Changes) -> Result<Scenario, ScenarioError> {
        let mut spec = Scenario::read_spec(path, &Scenario::read(path)?)?;
        if let Some(protocols) = &changes.protocols {
            spec.protocols = protocols.clone();
            for host in &mut spec.host {
                host.protocols = None;
            }
            // The settings of protocols nobody plays now go with them.
            spec.protocol.retain(|name, _| protocols.contains(name));
        }
        if let Some(reach) = changes.reach {
            set_reach(&mut spec, reach);
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
        generate::generate(&mut spec).map_err(|p| invalid(vec![p]))?;
        check::check(path, &spec)?;
        let groups = check::groups(&spec).map_err(|p| invalid(vec![p]))?;
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

/// What `market simulate` changes in a scenario for one run.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Every host plays these protocols (`--protocols`).
    pub protocols: Option<Vec<String>>,
    /// Every call (contract net, reverse call) invites about this many
    /// peers; 0, the whole zone (`--reach`).
    pub reach: Option<u32>,
}

/// Sets `reach` (0: none, the whole zone) on every protocol of `spec`
/// played as a call: a setting the other kinds do not take.
pub fn set_reach(spec: &mut ScenarioSpec, reach: u32) {
    let names: std::collections::BTreeSet<String> = spec
        .protocols
        .iter()
        .chain(spec.host.iter().flat_map(|h| h.protocols.iter().flatten()))
        .cloned()
        .collect();
    for name in names {
        let kind = spec
            .protocol
            .get(&name)
            .and_then(|file| file.kind.clone())
            .unwrap_or_else(|| name.clone());
        let is_call = protocol::parse_kind(&kind).is_some_and(|(kind, _)| {
            [protocol::CONTRACT_NET, protocol::REVERSE_CALL].contains(&kind)
        });
        if !is_call {
            continue;
        }
        let settings = &mut spec.protocol.entry(name).or_default().settings;
        if reach == 0 {
            settings.remove("reach");
        } else {
            settings.insert("reach".into(), toml::Value::Integer(i64::from(reach)));
        }
    }
}

/// The name the simulation speaks as when it places arriving VMs.
pub const OPERATOR: &str = "operator";

/// The zone of a host that names none.
pub const DEFAULT_ZONE: &str = "sim";

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
        .find(|p| p.kind() == protocol::PLACEMENT)
        .cloned()
        .map(Some)
        .ok_or_else(|| {
            ConfigProblem::at(
                format!("vm[{first}].arrive"),
                "no host plays a placement protocol: add \"placement\" to `protocols`",
            )
        })
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

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

    /// A mixed cluster: 40 hosts of two models, 60 VMs drawn from `seed`.
    fn mixed(seed: u64, draw: &str) -> Result<Scenario, ScenarioError> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/mixed.toml");
        let text = format!(
            "name = \"m\"\nseed = {seed}\n\
             [[host]]\nname = \"s\"\ncount = 30\ncpus = 8\nmemory_mib = 16384\n\
             policy = \"policies/seed001-power-saving.toml\"\n\
             [[host]]\nname = \"l\"\ncount = 10\ncpus = 16\nmemory_mib = 65536\n\
             policy = \"policies/seed001-power-saving.toml\"\n\
             [[vm]]\nname = \"a\"\ncount = 45\nhost = \"s\"\n{draw}\n\
             [[vm]]\nname = \"b\"\ncount = 15\nhost = \"l\"\n\
             [vm.draw]\nvcpus = {{ 4 = 1, 8 = 1 }}\nmemory_mib_per_vcpu = [2048]\n"
        );
        Scenario::parse(&path, &text)
    }

    const DRAW: &str = "[vm.draw]\nvcpus = { 1 = 6, 2 = 3, 4 = 1 }\n\
                        memory_mib_per_vcpu = [1024, 2048]\ncpu_load = [0.1, 0.7]";

    fn sizes(scenario: &Scenario) -> Vec<(String, String, u32, u64, u64)> {
        scenario
            .spec
            .vm
            .iter()
            .map(|vm| {
                let host = vm.host.clone().unwrap_or_default();
                let load = (vm.cpu_load * 1000.0) as u64;
                (vm.name.clone(), host, vm.vcpus, vm.memory_mib, load)
            })
            .collect()
    }

    #[test]
    fn a_seed_draws_the_same_mixed_cluster_and_another_seed_another() {
        let first = sizes(&mixed(7, DRAW).unwrap());
        assert_eq!(first.len(), 60);
        assert_eq!(first, sizes(&mixed(7, DRAW).unwrap()));
        assert_ne!(first, sizes(&mixed(8, DRAW).unwrap()));
        let distinct: BTreeSet<(u32, u64)> = first.iter().map(|v| (v.2, v.3)).collect();
        assert!(distinct.len() >= 4, "not mixed: {distinct:?}");
        // Round robin over each group, the large VMs on the large hosts.
        assert_eq!(first[0].1, "s1");
        assert_eq!(first[30].1, "s1");
        assert!(first[45..].iter().all(|v| v.1.starts_with('l') && v.2 >= 4));
        assert!(first[..45].iter().all(|v| (100..700).contains(&v.4)));
    }

    #[test]
    fn a_mixed_group_that_cannot_be_drawn_is_refused_with_its_key() {
        let refused = |draw: &str| match mixed(1, draw) {
            Ok(_) => panic!("accepted:\n{draw}"),
            Err(e) => e.to_string(),
        };
        let e =
            refused("memory_mib = 512\n[vm.draw]\nvcpus = { 1 = 1 }\nmemory_mib_per_vcpu = [512]");
        assert!(
            e.contains("vm[0].memory_mib") && e.contains("draws it"),
            "{e}"
        );
        let e = refused("[vm.draw]\nvcpus = { 16 = 1 }\nmemory_mib_per_vcpu = [512]");
        assert!(e.contains("vm[0].draw:") && e.contains("16 vCPUs"), "{e}");
        let e = refused("[vm.draw]\nvcpus = { 1 = -2 }\nmemory_mib_per_vcpu = [512]");
        assert!(e.contains("vm[0].draw.vcpus"), "{e}");
        let e = refused("[vm.draw]\nvcpus = {}\nmemory_mib_per_vcpu = [512]");
        assert!(e.contains("vm[0].draw.vcpus"), "{e}");
        let e = refused(
            "[vm.draw]\nvcpus = { 1 = 1 }\nmemory_mib_per_vcpu = [512]\ncpu_load = [0.9, 0.1]",
        );
        assert!(e.contains("vm[0].draw.cpu_load"), "{e}");
    }

    #[test]
    fn a_missing_policy_file_names_the_host() {
        let e = refusal(HOSTS);
        assert!(e.contains("host[0].policy") && e.contains("p.toml"), "{e}");
    }
}
