//! The cluster of CloudSim's PlanetLab experiment: which hosts, which VM
//! types, and which trace gets which type.

use market::power::PowerCurve;

/// A physical host model: its cores, their speed, its memory and its power.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostModel {
    pub name: &'static str,
    /// MIPS of one core: a single-core VM can never get more.
    pub pe_mips: f64,
    pub pes: u32,
    pub ram_mb: u32,
    /// Network bandwidth in kbit/s; half of it carries migrations.
    pub bandwidth_kbps: f64,
    pub power: PowerCurve,
}

impl HostModel {
    pub const HP_ML110_G4: HostModel = HostModel {
        name: "HP ML110 G4",
        pe_mips: 1860.0,
        pes: 2,
        ram_mb: 4096,
        bandwidth_kbps: 1_000_000.0,
        power: PowerCurve::HP_ML110_G4,
    };
    pub const HP_ML110_G5: HostModel = HostModel {
        name: "HP ML110 G5",
        pe_mips: 2660.0,
        pes: 2,
        ram_mb: 4096,
        bandwidth_kbps: 1_000_000.0,
        power: PowerCurve::HP_ML110_G5,
    };

    /// All cores together.
    pub fn total_mips(&self) -> f64 {
        self.pe_mips * f64::from(self.pes)
    }

    /// Seconds to copy `ram_mb` of memory to a host of this model: half the
    /// link carries the copy, the other half the VM's own traffic
    /// (CloudSim's rule, about 14 s for 870 MB on 1 Gbit/s).
    pub fn migration_seconds(&self, ram_mb: u32) -> f64 {
        f64::from(ram_mb) / (self.bandwidth_kbps / (2.0 * 8000.0))
    }
}

/// A VM type: one virtual core of `mips`, `ram_mb` of memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmType {
    pub mips: f64,
    pub ram_mb: u32,
}

/// The four EC2-like types of the experiment, largest first.
pub const VM_TYPES: [VmType; 4] = [
    VmType {
        mips: 2500.0,
        ram_mb: 870,
    },
    VmType {
        mips: 2000.0,
        ram_mb: 1740,
    },
    VmType {
        mips: 1000.0,
        ram_mb: 1740,
    },
    VmType {
        mips: 500.0,
        ram_mb: 613,
    },
];

/// VMs use one tenth of the host link each: at most ten start on a host.
pub const VM_BANDWIDTH_KBPS: f64 = 100_000.0;

/// The hosts of a cluster of `count` machines: G4 and G5 alternating, G4
/// first, as in the experiment (400 of each for 800).
pub fn hosts(count: usize) -> Vec<HostModel> {
    (0..count)
        .map(|i| {
            if i % 2 == 0 {
                HostModel::HP_ML110_G4
            } else {
                HostModel::HP_ML110_G5
            }
        })
        .collect()
}

/// The type of VM number `index` of `count`: the first quarter gets the
/// largest type, the next quarter the next, and so on.
pub fn vm_type(index: usize, count: usize) -> VmType {
    let per_type = count.div_ceil(VM_TYPES.len()).max(1);
    VM_TYPES[(index / per_type).min(VM_TYPES.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_types_come_in_quarters() {
        assert_eq!(vm_type(0, 1052).mips, 2500.0);
        assert_eq!(vm_type(262, 1052).mips, 2500.0);
        assert_eq!(vm_type(263, 1052).mips, 2000.0);
        assert_eq!(vm_type(1051, 1052).mips, 500.0);
    }

    #[test]
    fn migration_time_follows_memory_over_half_the_link() {
        let t = HostModel::HP_ML110_G5.migration_seconds(870);
        assert!((t - 13.92).abs() < 1e-9, "{t}");
    }
}
