//! Locks that survive a panic: Biblio's one policy for poisoned `std::sync` locks.
//!
//! A lock is poisoned when a thread panicked while holding it. Every lock in Biblio guards
//! state that is changed in one step (a map entry inserted or removed, a value replaced whole),
//! so what a panicking holder leaves behind is still valid; refusing it (`.expect`) would turn
//! one panicking request into a panic in every later request that touches the lock, a whole
//! replica down for one bug. So every lock is taken through these helpers, which recover the
//! guard and go on. A lock that ever guards a multi-step invariant must not use them.

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Locks `mutex`, recovering the guard if a panicking holder poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Read-locks `lock`, recovering the guard if a panicking holder poisoned it.
pub fn read<T: ?Sized>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Write-locks `lock`, recovering the guard if a panicking holder poisoned it.
pub fn write<T: ?Sized>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_lock_poisoned_by_a_panicking_holder_still_serves_its_value() {
        let shared = Arc::new(Mutex::new(vec![1]));
        let holder = Arc::clone(&shared);
        let panicked = std::thread::spawn(move || {
            let mut guard = lock(&holder);
            guard.push(2);
            panic!("a bug while holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(shared.is_poisoned());
        assert_eq!(*lock(&shared), vec![1, 2]);

        let rw = Arc::new(RwLock::new(5));
        let holder = Arc::clone(&rw);
        let _ = std::thread::spawn(move || {
            let _guard = write(&holder);
            panic!("a bug while holding the write lock");
        })
        .join();
        assert!(rw.is_poisoned());
        *write(&rw) += 1;
        assert_eq!(*read(&rw), 6);
    }
}
