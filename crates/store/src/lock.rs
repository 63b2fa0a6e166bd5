//! [`SeriesLock`]: serialises the read-merge-write of one series on a local store, between
//! threads and between processes, with an advisory lock file per series.
//!
//! An append reads the month files it touches, merges the new candles in and writes the
//! files back. Two writers doing that at once each merge into the *old* file and the second
//! rename silently drops the first one's candles, so every writer of a series first takes an
//! exclusive `flock` on `<root>/.locks/<exchange>/<market>/<PAIR_STEM>/<timeframe>.lock`.
//!
//! Why a file lock and not a mutex: imports, syncs and the trading node's live appends run in
//! different processes. `flock` locks belong to the open file description, so two threads of
//! one process that each open the lock file also exclude each other. The kernel drops the lock
//! when its holder dies, so a killed writer never leaves the series locked.
//!
//! Readers take no lock: every file is replaced whole by a rename, so they see old or new.
//! Lock files are never deleted — removing one while it is held would let the next writer lock
//! a fresh inode and run beside the holder. They are empty and live outside the series folders,
//! so directory readers (pandas, DuckDB) never see them. Advisory locks are reliable on local
//! file systems only; a store shared over NFS by several machines is not covered.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::layout::SeriesKey;
use crate::StoreError;

/// Folder under the store root that holds the lock files (not a valid exchange name, so the
/// store's listings never mistake it for data).
pub(crate) const LOCK_DIR: &str = ".locks";

/// An exclusive lock on one series, released when dropped (closing the file releases it).
#[derive(Debug)]
pub(crate) struct SeriesLock {
    _file: File,
}

impl SeriesLock {
    /// Waits until no other writer holds the series, then holds it. The wait runs on the
    /// blocking pool so the async runtime keeps serving other tasks meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Lock`] when the lock file cannot be created or locked.
    pub(crate) async fn acquire(root: &Path, key: &SeriesKey) -> Result<Self, StoreError> {
        let path = lock_path(root, key);
        let what = path.display().to_string();
        tokio::task::spawn_blocking(move || Self::acquire_blocking(&path))
            .await
            .map_err(|source| StoreError::Task { path: what, source })?
    }

    fn acquire_blocking(path: &Path) -> Result<Self, StoreError> {
        let err = |source| StoreError::Lock { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path).map_err(err)?;
        file.lock().map_err(err)?;
        Ok(Self { _file: file })
    }
}

/// The lock file of a series.
pub(crate) fn lock_path(root: &Path, key: &SeriesKey) -> PathBuf {
    root.join(LOCK_DIR)
        .join(key.exchange.as_str())
        .join(key.market_type().as_str())
        .join(key.pair.file_stem())
        .join(format!("{}.lock", key.timeframe.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn key() -> SeriesKey {
        SeriesKey::new(tradai_core::ExchangeId::new("binance").unwrap(), "ETH/BTC".parse().unwrap(), "5m".parse().unwrap())
    }

    #[test]
    fn a_second_holder_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), &key());
        assert!(path.ends_with(".locks/binance/spot/ETH_BTC/5m.lock"), "{}", path.display());
        let first = SeriesLock::acquire_blocking(&path).unwrap();
        let released = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&released);
        let p = path.clone();
        // The second open is a separate file description, as in another process: it must
        // block until the first lock is dropped.
        let waiter = std::thread::spawn(move || {
            let _second = SeriesLock::acquire_blocking(&p).unwrap();
            seen.load(Ordering::SeqCst)
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        released.store(true, Ordering::SeqCst);
        drop(first);
        assert!(waiter.join().unwrap(), "the second lock was granted while the first was held");
    }
}
