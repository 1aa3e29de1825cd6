//! PlanetLab workload traces: one folder per day, one file per VM, one
//! line per 5 minutes holding the VM's CPU use in whole percent.
//!
//! VMs are numbered in the order the operating system lists the folder,
//! as CloudSim's `File.listFiles()` does: the VM type of each trace
//! depends on that order (CloudSim gives the first quarter the largest
//! type), so matching CloudSim's figures needs the same order. Unpacked
//! with `tar`, the listing follows the archive's order on ext4 and overlay
//! file systems.

use std::fs;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Seconds between two trace values.
pub const SAMPLE_SECONDS: f64 = 300.0;

/// Why a trace folder was refused. Each names the file, and the line when
/// one is at fault, so the operator can fix the data.
#[derive(Debug, Error)]
pub enum TraceError {
    #[error("cannot read trace folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trace folder {0} holds no VM file")]
    NoVms(PathBuf),
    #[error("trace folder {0} holds no day folder")]
    NoDays(PathBuf),
    #[error("cannot read {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is empty: a trace needs at least one value")]
    Empty { path: PathBuf },
    #[error("{path}:{line}: `{text}` is not a CPU percentage (a whole number 0..=100)")]
    NotANumber {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("{path}:{line}: holds {found} values, fewer than the {wanted} the replay needs")]
    TooShort {
        path: PathBuf,
        line: usize,
        found: usize,
        wanted: usize,
    },
}

/// One VM's CPU demand over the day, as fractions of its MIPS.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The file's name: the VM's name in reports.
    pub name: String,
    /// Utilisation (0..=1) at each sample, plus a copy of the last one so
    /// interpolation past the final sample stays flat (as CloudSim does).
    samples: Vec<f64>,
}

impl Trace {
    /// A trace from utilisation fractions (tests and fixtures).
    pub fn new(name: impl Into<String>, mut samples: Vec<f64>) -> Trace {
        if let Some(last) = samples.last().copied() {
            samples.push(last);
        }
        Trace {
            name: name.into(),
            samples,
        }
    }

    /// Utilisation at `seconds` after the start of the day, linear between
    /// samples.
    pub fn utilisation_at(&self, seconds: f64) -> f64 {
        let position = seconds / SAMPLE_SECONDS;
        let last = self.samples.len().saturating_sub(1);
        // Non-negative and bounded by `last`: the casts cannot wrap.
        let below = (position.floor().max(0.0) as usize).min(last);
        let above = (position.ceil().max(0.0) as usize).min(last);
        let (a, b) = (self.samples[below], self.samples[above]);
        if below == above {
            return a;
        }
        a + (b - a) / SAMPLE_SECONDS * (seconds - below as f64 * SAMPLE_SECONDS)
    }

    /// The sample at index `step` (clamped to the last one).
    pub fn sample(&self, step: usize) -> f64 {
        self.samples[step.min(self.samples.len() - 1)]
    }
}

/// The days of a trace folder: its subfolders' names, in order.
pub fn days(root: &Path) -> Result<Vec<String>, TraceError> {
    let folder_error = |source| TraceError::Folder {
        path: root.to_path_buf(),
        source,
    };
    let mut days = Vec::new();
    for entry in fs::read_dir(root).map_err(folder_error)? {
        let entry = entry.map_err(folder_error)?;
        if entry.path().is_dir() {
            days.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    if days.is_empty() {
        return Err(TraceError::NoDays(root.to_path_buf()));
    }
    days.sort();
    Ok(days)
}

/// Reads every VM file of one day's folder, refusing the folder when a file
/// is missing, empty, non-numeric or shorter than `steps` values.
pub fn read_day(folder: &Path, steps: usize) -> Result<Vec<Trace>, TraceError> {
    let entries = fs::read_dir(folder).map_err(|source| TraceError::Folder {
        path: folder.to_path_buf(),
        source,
    })?;
    let mut traces = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| TraceError::Folder {
            path: folder.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_file() {
            traces.push(read_file(&path, steps)?);
        }
    }
    if traces.is_empty() {
        return Err(TraceError::NoVms(folder.to_path_buf()));
    }
    Ok(traces)
}

/// One VM file: whole percentages, one a line.
pub fn read_file(path: &Path, steps: usize) -> Result<Trace, TraceError> {
    let text = fs::read_to_string(path).map_err(|source| TraceError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut samples = Vec::with_capacity(steps + 1);
    for (index, line) in text.lines().enumerate() {
        let value = line.trim();
        match value.parse::<u8>() {
            Ok(percent) if percent <= 100 => samples.push(f64::from(percent) / 100.0),
            _ => {
                return Err(TraceError::NotANumber {
                    path: path.to_path_buf(),
                    line: index + 1,
                    text: value.to_string(),
                });
            }
        }
    }
    if samples.is_empty() {
        return Err(TraceError::Empty {
            path: path.to_path_buf(),
        });
    }
    if samples.len() < steps {
        return Err(TraceError::TooShort {
            path: path.to_path_buf(),
            line: samples.len(),
            found: samples.len(),
            wanted: steps,
        });
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Trace::new(name, samples))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utilisation_is_interpolated_between_samples() {
        let t = Trace::new("vm", vec![0.1, 0.3]);
        assert_eq!(t.utilisation_at(0.0), 0.1);
        assert!((t.utilisation_at(150.0) - 0.2).abs() < 1e-12);
        assert_eq!(t.utilisation_at(300.0), 0.3);
        // Past the end: flat.
        assert_eq!(t.utilisation_at(450.0), 0.3);
    }
}
