//! Simulated time: what keeps a paused clock honest.
//!
//! A run the program drives (`market simulate`, `market replay`) plays its
//! hosts on one current-thread tokio runtime whose clock is paused: tokio
//! then moves the clock to the next timer only when no task can run. Every
//! LCC deadline, window and period is a tokio timer, so a window closes
//! once every host that would answer has answered, however long the
//! machine took to compute the answers: a run's outcome no longer depends
//! on the machine's load, and nothing waits on the wall clock.
//!
//! The one thing tokio cannot see is work done on a thread of its own
//! while a task awaits it: SQLite runs every ledger statement on its
//! connection's worker thread, and to the runtime that wait looks idle. A
//! clock allowed to move then would close a window while a host is still
//! writing its bid's reservation. [`OutsideWork`] holds the clock still
//! for as long as such work is under way: the ledger begins one for every
//! call when its options ask for it.
//!
//! Daemons keep real time: their [`OutsideWork`] is
//! [`OutsideWork::untracked`], which holds nothing.

use std::sync::{Arc, Mutex, PoisonError};

/// Work outside the runtime that a paused clock must wait for.
///
/// Cheap to clone; clones share one count, so give every ledger of a run
/// the same one.
#[derive(Debug, Clone, Default)]
pub struct OutsideWork {
    held: Option<Arc<Mutex<Held>>>,
}

/// How many pieces of work are under way, and the release of the blocking
/// task that keeps the clock still meanwhile.
#[derive(Debug, Default)]
struct Held {
    underway: usize,
    release: Option<std::sync::mpsc::Sender<()>>,
}

impl OutsideWork {
    /// For a runtime on real time: holds nothing.
    pub fn untracked() -> Self {
        OutsideWork { held: None }
    }

    /// For a runtime whose clock is paused (`tokio::time::pause`, or a
    /// runtime built with `start_paused`).
    pub fn tracked() -> Self {
        OutsideWork {
            held: Some(Arc::default()),
        }
    }

    /// Marks work as under way until the returned guard is dropped.
    ///
    /// tokio does not move a paused clock while a blocking task is
    /// running (that is how `spawn_blocking` work is waited for), so the
    /// first piece of work starts one that waits for the last to end.
    pub fn begin(&self) -> Underway {
        let Some(held) = &self.held else {
            return Underway { held: None };
        };
        let mut state = held.lock().unwrap_or_else(PoisonError::into_inner);
        state.underway += 1;
        if state.underway == 1
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (release, released) = std::sync::mpsc::channel::<()>();
            // Ends when `release` is dropped: `recv` then fails.
            runtime.spawn_blocking(move || {
                let _ = released.recv();
            });
            state.release = Some(release);
        }
        Underway {
            held: Some(Arc::clone(held)),
        }
    }
}

/// A piece of [`OutsideWork`] under way; dropping it ends it.
#[must_use = "the work counts as under way only while this is kept"]
#[derive(Debug)]
pub struct Underway {
    held: Option<Arc<Mutex<Held>>>,
}

impl Drop for Underway {
    fn drop(&mut self) {
        let Some(held) = &self.held else {
            return;
        };
        let mut state = held.lock().unwrap_or_else(PoisonError::into_inner);
        state.underway -= 1;
        if state.underway == 0 {
            state.release = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Work on a thread of its own, awaited the way sqlx awaits SQLite.
    async fn on_a_thread(real: Duration) {
        let (done, finished) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(real);
            let _ = done.send(());
        });
        let _ = finished.await;
    }

    /// How far a paused clock moved while `work` ran beside a 1 s timer.
    async fn clock_moved_during(outside: &OutsideWork) -> Duration {
        let start = tokio::time::Instant::now();
        let timer = tokio::spawn(tokio::time::sleep(Duration::from_secs(1)));
        {
            let _underway = outside.begin();
            on_a_thread(Duration::from_millis(50)).await;
        }
        let moved = start.elapsed();
        let _ = timer.await;
        moved
    }

    #[tokio::test(start_paused = true)]
    async fn a_paused_clock_does_not_jump_over_tracked_work() {
        assert_eq!(
            clock_moved_during(&OutsideWork::tracked()).await,
            Duration::ZERO
        );
    }

    /// The test above could not fail if tokio never jumped: untracked, it
    /// does.
    #[tokio::test(start_paused = true)]
    async fn untracked_work_lets_the_clock_jump() {
        assert!(clock_moved_during(&OutsideWork::untracked()).await >= Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn nested_work_holds_until_the_last_ends() {
        let outside = OutsideWork::tracked();
        let start = tokio::time::Instant::now();
        let first = outside.begin();
        let second = outside.begin();
        drop(first);
        let timer = tokio::spawn(tokio::time::sleep(Duration::from_secs(1)));
        on_a_thread(Duration::from_millis(20)).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        drop(second);
        let _ = timer.await;
        assert!(start.elapsed() >= Duration::from_secs(1));
    }
}
