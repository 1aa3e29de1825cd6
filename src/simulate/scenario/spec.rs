//! What a scenario file says, as serde reads it: the cluster, the
//! protocols, the rounds and the outcome to expect (the format is in
//! [`super`]'s documentation).

use std::collections::BTreeMap;
use std::path::PathBuf;

use bidder::protocol::config::{ProtocolFile, default_names};
use serde::Deserialize;

use super::DEFAULT_ZONE;

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
    /// The seed of every drawn size and load (`[vm.draw]`): the same seed
    /// draws the same cluster on every machine.
    #[serde(default)]
    pub seed: u64,
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
    /// Memory, MiB (required unless `draw` draws it).
    #[serde(default)]
    pub memory_mib: u64,
    /// Busy fraction of each vCPU, 0.0 to 1.0 (1.0: a `while true` loop).
    #[serde(default)]
    pub cpu_load: f64,
    /// Sizes and loads drawn, VM by VM, from distributions instead of
    /// written: a mixed group.
    #[serde(default)]
    pub draw: Option<VmDraw>,
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

/// The distributions a mixed group of VMs is drawn from (`[vm.draw]`),
/// each VM's size and load drawn on its own from the scenario's `seed`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmDraw {
    /// Weights per vCPU count: `{ 1 = 6, 2 = 3, 4 = 1 }` draws one vCPU
    /// six times in ten, two three times, four once.
    pub vcpus: BTreeMap<String, u32>,
    /// Memory per vCPU, MiB: one of these, each as likely (`[1024, 2048,
    /// 4096]`: compute, general and memory-heavy VMs).
    pub memory_mib_per_vcpu: Vec<u64>,
    /// The range `[low, high]` each VM's CPU load is drawn from,
    /// uniformly (default: idle).
    #[serde(default)]
    pub cpu_load: Option<[f64; 2]>,
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

impl HostSpec {
    /// The zone it trades in.
    pub fn zone(&self) -> &str {
        self.zone.as_deref().unwrap_or(DEFAULT_ZONE)
    }
}
