//! Time as a role instance sees it: `now/1` and every deadline read the same
//! [`Clock`], so a model can compute `until` deadlines from `now(T)`.

use std::future::Future;
use std::pin::Pin;
use std::time::{SystemTime, UNIX_EPOCH};

/// A wait for a moment on a [`Clock`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Milliseconds, and a way to wait for one.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds.
    fn now_ms(&self) -> i64;

    /// Resolves when [`Clock::now_ms`] reaches `at_ms` (at once if it has).
    fn sleep_until(&self, at_ms: i64) -> Sleep;
}

/// Wall-clock milliseconds since the Unix epoch, advanced by tokio's timer.
///
/// Reading time through `tokio::time::Instant` means a test that pauses
/// tokio's clock (`tokio::time::pause()`, or `#[tokio::test(start_paused =
/// true)]`) runs deadlines deterministically and instantly.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    origin: tokio::time::Instant,
    origin_ms: i64,
}

impl TokioClock {
    /// Reads milliseconds since the Unix epoch: the clock peers on different
    /// hosts can agree on for `until` deadlines.
    pub fn system() -> Self {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Self::starting_at(since_epoch)
    }

    /// A clock that reads `origin_ms` now (tests use 0).
    pub fn starting_at(origin_ms: i64) -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
            origin_ms,
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        let elapsed = self.origin.elapsed().as_millis();
        self.origin_ms
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    fn sleep_until(&self, at_ms: i64) -> Sleep {
        let offset = u64::try_from(at_ms.saturating_sub(self.origin_ms)).unwrap_or(0);
        let deadline = self.origin + std::time::Duration::from_millis(offset);
        Box::pin(tokio::time::sleep_until(deadline))
    }
}
