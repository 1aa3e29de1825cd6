//! Load averages and memory of a host, read from Linux's `/proc`.
//!
//! The policy loop classifies a host (underloaded, satisfied, overloaded)
//! from these figures; libvirt does not report load averages, so a host on
//! libvirt reads them where the kernel publishes them. The simulated
//! hypervisor computes the same struct from its own state.

use std::path::{Path, PathBuf};

/// Figures of one host at one moment.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HostStats {
    /// Run-queue length averaged over 1, 5 and 15 minutes.
    pub load_average: [f64; 3],
    /// Physical memory, KiB.
    pub memory_total_kib: u64,
    /// Memory available for new work without swapping (`MemAvailable`), KiB.
    pub memory_available_kib: u64,
}

/// Why `/proc` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HostStatsError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file does not look like the kernel's.
    #[error("{path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was expected.
        detail: String,
    },
}

impl HostStats {
    /// Reads `loadavg` and `meminfo` under `proc_root` (normally `/proc`).
    pub fn read(proc_root: &Path) -> Result<HostStats, HostStatsError> {
        let loadavg_path = proc_root.join("loadavg");
        let meminfo_path = proc_root.join("meminfo");
        let load_average =
            parse_loadavg(&read(&loadavg_path)?).ok_or_else(|| HostStatsError::Parse {
                path: loadavg_path,
                detail: "expected three decimal numbers".into(),
            })?;
        let meminfo = read(&meminfo_path)?;
        let field = |name: &str| {
            meminfo_kib(&meminfo, name).ok_or_else(|| HostStatsError::Parse {
                path: meminfo_path.clone(),
                detail: format!("no {name} line in kB"),
            })
        };
        Ok(HostStats {
            load_average,
            memory_total_kib: field("MemTotal")?,
            memory_available_kib: field("MemAvailable")?,
        })
    }
}

fn read(path: &Path) -> Result<String, HostStatsError> {
    std::fs::read_to_string(path).map_err(|source| HostStatsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// `0.52 0.58 0.59 1/467 12345` -> `[0.52, 0.58, 0.59]`.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// The value of a `Name:   1234 kB` line of `/proc/meminfo`.
fn meminfo_kib(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        let mut parts = rest.split_whitespace();
        let value = parts.next()?.parse().ok()?;
        (parts.next() == Some("kB")).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_formats_are_parsed() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 1/467 12345\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(parse_loadavg("0.52 0.58"), None);
        let meminfo =
            "MemTotal:        8041424 kB\nMemFree:  100 kB\nMemAvailable:    5000000 kB\n";
        assert_eq!(meminfo_kib(meminfo, "MemTotal"), Some(8_041_424));
        assert_eq!(meminfo_kib(meminfo, "MemAvailable"), Some(5_000_000));
        assert_eq!(meminfo_kib(meminfo, "Mem"), None);
    }

    #[test]
    fn this_machine_proc_is_read() {
        let stats = HostStats::read(Path::new("/proc")).unwrap();
        assert!(stats.memory_total_kib > 0);
        assert!(stats.memory_available_kib <= stats.memory_total_kib);
        assert!(stats.load_average.iter().all(|l| *l >= 0.0));
    }

    #[test]
    fn a_missing_or_foreign_proc_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = HostStats::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("loadavg"), "{err}");
        std::fs::write(dir.path().join("loadavg"), "1 2 3 1/2 3").unwrap();
        std::fs::write(dir.path().join("meminfo"), "MemTotal: 10 kB\n").unwrap();
        let err = HostStats::read(dir.path()).unwrap_err();
        assert!(err.to_string().contains("MemAvailable"), "{err}");
    }
}
