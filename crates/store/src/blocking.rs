//! [`BlockingCandleStore`]: the async store behind synchronous methods, for the CLI and the
//! engine, which have no runtime of their own.

use std::path::Path;

use tradai_core::{Candles, ExchangeId, Instrument, Pair, TimeRange};

use crate::import::{FreqtradeImport, ImportReport, Progress};
use crate::{AppendReport, CandleStore, Columns, QuarantinedFile, SeriesInfo, SeriesKey, StoreError, StoreOptions, ValidationReport};

/// A [`CandleStore`] with its own Tokio runtime and blocking methods.
///
/// Do not call these methods from inside an async task (Tokio forbids blocking on a runtime
/// from within another); async code should use [`CandleStore`] directly.
#[derive(Debug)]
pub struct BlockingCandleStore {
    store: CandleStore,
    rt: tokio::runtime::Runtime,
}

impl BlockingCandleStore {
    /// Opens a store; see [`CandleStore::open`].
    ///
    /// # Errors
    /// As [`CandleStore::open_with`], plus [`StoreError::Io`] if the runtime cannot start.
    pub fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_with(location, StoreOptions::default())
    }

    /// Opens a store with options; see [`CandleStore::open_with`].
    ///
    /// # Errors
    /// As [`CandleStore::open_with`], plus [`StoreError::Io`] if the runtime cannot start.
    pub fn open_with(location: &str, options: StoreOptions) -> Result<Self, StoreError> {
        Self::new(CandleStore::open_with(location, options)?)
    }

    /// Wraps an async store.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the runtime cannot start.
    pub fn new(store: CandleStore) -> Result<Self, StoreError> {
        // A current-thread runtime suffices: I/O is local or a handful of requests, and the
        // CPU work fans out on the blocking pool and rayon, not on runtime workers.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| StoreError::io(store.location(), e))?;
        Ok(Self { store, rt })
    }

    /// The async store inside.
    #[must_use]
    pub fn inner(&self) -> &CandleStore {
        &self.store
    }

    /// See [`CandleStore::location`].
    #[must_use]
    pub fn location(&self) -> &str {
        self.store.location()
    }

    /// See [`CandleStore::append`].
    ///
    /// # Errors
    /// As [`CandleStore::append`].
    pub fn append(&self, key: &SeriesKey, candles: &Candles) -> Result<AppendReport, StoreError> {
        self.rt.block_on(self.store.append(key, candles))
    }

    /// See [`CandleStore::read`].
    ///
    /// # Errors
    /// As [`CandleStore::read`].
    pub fn read(&self, key: &SeriesKey, range: TimeRange, columns: Columns) -> Result<Candles, StoreError> {
        self.rt.block_on(self.store.read(key, range, columns))
    }

    /// See [`CandleStore::list`].
    ///
    /// # Errors
    /// As [`CandleStore::list`].
    pub fn list(&self) -> Result<Vec<SeriesInfo>, StoreError> {
        self.rt.block_on(self.store.list())
    }

    /// See [`CandleStore::series_info`].
    ///
    /// # Errors
    /// As [`CandleStore::series_info`].
    pub fn series_info(&self, key: &SeriesKey) -> Result<Option<SeriesInfo>, StoreError> {
        self.rt.block_on(self.store.series_info(key))
    }

    /// See [`CandleStore::delete`].
    ///
    /// # Errors
    /// As [`CandleStore::delete`].
    pub fn delete(&self, key: &SeriesKey) -> Result<usize, StoreError> {
        self.rt.block_on(self.store.delete(key))
    }

    /// See [`CandleStore::delete_pair`].
    ///
    /// # Errors
    /// As [`CandleStore::delete_pair`].
    pub fn delete_pair(&self, exchange: &ExchangeId, pair: &Pair) -> Result<usize, StoreError> {
        self.rt.block_on(self.store.delete_pair(exchange, pair))
    }

    /// See [`CandleStore::remove_temp_files`].
    ///
    /// # Errors
    /// As [`CandleStore::remove_temp_files`].
    pub fn remove_temp_files(&self) -> Result<usize, StoreError> {
        self.store.remove_temp_files()
    }

    /// See [`CandleStore::put_instrument`].
    ///
    /// # Errors
    /// As [`CandleStore::put_instrument`].
    pub fn put_instrument(&self, exchange: &ExchangeId, instrument: &Instrument) -> Result<(), StoreError> {
        self.rt.block_on(self.store.put_instrument(exchange, instrument))
    }

    /// See [`CandleStore::instrument`].
    ///
    /// # Errors
    /// As [`CandleStore::instrument`].
    pub fn instrument(&self, exchange: &ExchangeId, pair: &Pair) -> Result<Option<Instrument>, StoreError> {
        self.rt.block_on(self.store.instrument(exchange, pair))
    }

    /// See [`CandleStore::instruments`].
    ///
    /// # Errors
    /// As [`CandleStore::instruments`].
    pub fn instruments(&self, exchange: Option<&ExchangeId>) -> Result<Vec<(ExchangeId, Instrument)>, StoreError> {
        self.rt.block_on(self.store.instruments(exchange))
    }

    /// See [`CandleStore::validate`].
    ///
    /// # Errors
    /// As [`CandleStore::validate`].
    pub fn validate(&self, key: &SeriesKey) -> Result<ValidationReport, StoreError> {
        self.rt.block_on(self.store.validate(key))
    }

    /// See [`CandleStore::quarantine_corrupt`].
    ///
    /// # Errors
    /// As [`CandleStore::quarantine_corrupt`].
    pub fn quarantine_corrupt(&self, key: &SeriesKey) -> Result<Vec<QuarantinedFile>, StoreError> {
        self.rt.block_on(self.store.quarantine_corrupt(key))
    }

    /// See [`CandleStore::import_freqtrade`].
    ///
    /// # Errors
    /// As [`CandleStore::import_freqtrade`].
    pub fn import_freqtrade(&self, dir: &Path, opts: &FreqtradeImport, progress: Progress<'_>) -> Result<ImportReport, StoreError> {
        self.rt.block_on(self.store.import_freqtrade(dir, opts, progress))
    }

    /// See [`CandleStore::import_file`].
    ///
    /// # Errors
    /// As [`CandleStore::import_file`].
    pub fn import_file(&self, path: &Path, key: &SeriesKey, progress: Progress<'_>) -> Result<ImportReport, StoreError> {
        self.rt.block_on(self.store.import_file(path, key, progress))
    }
}
