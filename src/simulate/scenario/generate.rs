//! Expanding a scenario's counted entries into the hosts and VMs they
//! stand for, and drawing the sizes and loads of mixed groups.

use std::collections::BTreeMap;

use bidder::problem::ConfigProblem;

use super::draw::Mix;
use super::spec::{HostSpec, ScenarioSpec, VmSpec};
use crate::rng::Rng;

/// Expands every entry with a `count` into the hosts or VMs it stands
/// for, in place, and draws every `[vm.draw]` VM's size and load from the
/// scenario's seed; later checks see (and name in their errors) the
/// expanded lists.
pub(super) fn generate(spec: &mut ScenarioSpec) -> Result<(), ConfigProblem> {
    let counted = |count: Option<u32>, key: String| match count {
        Some(0) => Err(ConfigProblem::value(key, 0, "must be at least 1")),
        other => Ok(other),
    };
    // Each name as written with the hosts it stands for: a counted
    // group's, or a host's own (a group's name wins over a host's).
    let mut groups: BTreeMap<String, Vec<HostSpec>> = BTreeMap::new();
    let mut hosts = Vec::new();
    for (i, host) in spec.host.iter().enumerate() {
        let Some(n) = counted(host.count, format!("host[{i}].count"))? else {
            groups
                .entry(host.name.clone())
                .or_insert_with(|| vec![host.clone()]);
            hosts.push(host.clone());
            continue;
        };
        let group: Vec<HostSpec> = (1..=n)
            .map(|k| HostSpec {
                name: format!("{}{k}", host.name),
                count: None,
                ..host.clone()
            })
            .collect();
        hosts.extend(group.iter().cloned());
        groups.insert(host.name.clone(), group);
    }
    // Every mixed group draws from a generator of its own, forked in file
    // order: a group added after it does not change its draws.
    let mut seeds = Rng::new(spec.seed);
    let mut vms = Vec::new();
    for (i, vm) in spec.vm.iter().enumerate() {
        let n = counted(vm.count, format!("vm[{i}].count"))?;
        let mut mix = match &vm.draw {
            Some(draw) => {
                let mix = Mix::new(draw, &format!("vm[{i}].draw"))?;
                check_draw(&mix, vm, i, &groups, &hosts)?;
                Some((mix, seeds.fork()))
            }
            None => None,
        };
        let Some(n) = n else {
            vms.push(drawn(vm.clone(), mix.as_mut()));
            continue;
        };
        for k in 1..=n {
            // VM k on the group's host k, round robin (a host's own name
            // stands for itself).
            let host = vm.host.as_ref().map(|h| match groups.get(h) {
                Some(group) => group[(k as usize - 1) % group.len()].name.clone(),
                None => h.clone(),
            });
            let one = VmSpec {
                name: format!("{}{k}", vm.name),
                host,
                count: None,
                ..vm.clone()
            };
            vms.push(drawn(one, mix.as_mut()));
        }
    }
    spec.host = hosts;
    spec.vm = vms;
    Ok(())
}

/// `vm` with its size and load drawn, if its group draws them.
fn drawn(mut vm: VmSpec, mix: Option<&mut (Mix, Rng)>) -> VmSpec {
    if let Some((mix, rng)) = mix {
        let one = mix.draw(rng);
        vm.vcpus = one.vcpus;
        vm.memory_mib = one.memory_mib;
        vm.cpu_load = one.cpu_load;
        vm.draw = None;
    }
    vm
}

/// Refuses a mixed group that also writes what it draws, or whose
/// largest VM fits no host it may start on (its `host`, or the hosts of
/// the group `host` names; every host, for VMs that arrive).
fn check_draw(
    mix: &Mix,
    vm: &VmSpec,
    i: usize,
    groups: &BTreeMap<String, Vec<HostSpec>>,
    hosts: &[HostSpec],
) -> Result<(), ConfigProblem> {
    let written = [
        ("vcpus", vm.vcpus != 1),
        ("memory_mib", vm.memory_mib != 0),
        ("cpu_load", vm.cpu_load != 0.0),
    ];
    if let Some((key, _)) = written.iter().find(|(_, set)| *set) {
        return Err(ConfigProblem::at(
            format!("vm[{i}].{key}"),
            format!("vm[{i}].draw draws it: remove one or the other"),
        ));
    }
    let candidates: &[HostSpec] = match &vm.host {
        Some(name) => groups.get(name).map_or(&[], Vec::as_slice),
        None => hosts,
    };
    let (vcpus, memory_mib) = mix.largest();
    let holds = |h: &HostSpec| vcpus <= h.cpus && memory_mib <= h.memory_mib;
    if candidates.is_empty() || candidates.iter().any(holds) {
        // No such host is the host check's to say.
        return Ok(());
    }
    Err(ConfigProblem::at(
        format!("vm[{i}].draw"),
        format!(
            "its largest VM, {vcpus} vCPUs and {memory_mib} MiB, fits no host it may start on: \
             draw smaller VMs or add larger hosts"
        ),
    ))
}
