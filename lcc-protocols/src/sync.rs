//! Locks that outlive a panic, for the whole workspace.
//!
//! Every critical section in bourse writes whole values (a set gains or
//! loses one id, a field is replaced), so a task that panicked while
//! holding a lock cannot have left its data half-changed. A poisoned lock
//! is therefore taken as it is: one failed task must not take every other
//! role of a bidder down with it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// [`Mutex::lock`] that takes a poisoned lock as it is (see the module
/// documentation).
pub trait Locked<T> {
    /// The guard, whether or not a holder panicked.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
