//! Expanding a scenario's counted entries into the hosts and VMs they
//! stand for.

use std::collections::BTreeMap;

use bidder::problem::ConfigProblem;

use super::spec::{HostSpec, ScenarioSpec, VmSpec};

/// Expands every entry with a `count` into the hosts or VMs it stands
/// for, in place; later checks see (and name in their errors) the
/// expanded lists.
pub(super) fn generate(spec: &mut ScenarioSpec) -> Result<(), ConfigProblem> {
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
