//! The checks serde cannot make: names, references, sizes, placement
//! groups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bidder::problem::ConfigProblem;
use market::bus::subject::Token;
use market::vm::{GroupRule, PlacementGroup};

use super::ScenarioError;
use super::spec::{HostSpec, ScenarioSpec};

/// Each VM's placement group, checked.
pub(super) fn groups(spec: &ScenarioSpec) -> Result<Vec<Option<PlacementGroup>>, ConfigProblem> {
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

/// The checks serde cannot make: names, references, sizes.
pub(super) fn check(file: &Path, spec: &ScenarioSpec) -> Result<(), ScenarioError> {
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
