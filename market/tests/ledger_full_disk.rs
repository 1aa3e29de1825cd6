//! A ledger on a file system that really fills up (a 512 KiB tmpfs): the
//! step that finds no room fails with `LedgerError::Full`, nothing of it is
//! in the ledger, the trades before it are intact, and once space is freed
//! the same trade goes through. `ledger_bad_input.rs` shows the same with
//! SQLite's page quota on any machine; this one needs root to mount the
//! tmpfs, as CI has, and fails saying so without it: a test that passed
//! without running would prove nothing.

#![allow(clippy::unwrap_used)] // test fixtures: a failure here is a failed test

mod ledger_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ledger_support::{fill, ledger_path, open};
use market::ledger::LedgerError;

/// A small tmpfs mounted over a temp dir while this lives.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts it; fails the test, with `mount`'s reason, when it cannot.
    fn mount() -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "bourse-full-disk"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cannot mount a 512 KiB tmpfs, which this test needs (run it as root, as CI does): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        SmallDisk { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: a ledger left open by a failed assertion must not leak the mount.
        let _ = Command::new("umount")
            .arg("--lazy")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
async fn a_full_file_system_fails_the_step_and_writes_nothing_of_it() {
    let disk = SmallDisk::mount();
    let a = open(disk.path(), "host-a").await;
    let filled = fill(&a, 5_000).await.expect("512 KiB never filled up");
    let (err, step, settled) = (&filled.error, filled.step, filled.settled);
    assert!(matches!(err, LedgerError::Full { .. }), "{step:?}: {err}");
    assert!(err.to_string().contains("is full"), "{err}");
    assert!(settled > 0, "the disk left no room at all");
    // Nothing of the failed step is in the ledger; the earlier trades are.
    filled.assert_left_no_trace(&a).await;
    a.close().await;

    // Room again (the file system grows): the ledger reopens intact and the
    // same trade goes through.
    remount(disk.path(), "size=4m");
    let a = open(disk.path(), "host-a").await;
    assert_eq!(a.balance("host-a").await.unwrap().0, 3 * settled);
    let t = &filled.trade;
    if a.trade(&t.trade_id).await.unwrap().is_none() {
        a.record_agreed(t).await.unwrap();
    }
    a.settle(&t.trade_id).await.unwrap();
    assert_eq!(a.balance("host-a").await.unwrap().0, 3 * (settled + 1));
    assert!(ledger_path(disk.path(), "host-a").exists());
    // Closed before the tmpfs is unmounted.
    a.close().await;
}

fn remount(path: &Path, options: &str) {
    let status = Command::new("mount")
        .args(["-o", &format!("remount,{options}")])
        .arg(PathBuf::from(path))
        .status()
        .unwrap();
    assert!(status.success(), "remount {options}: {status}");
}
