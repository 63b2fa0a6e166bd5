//! [`CandleStore`]: partitioned Parquet candles on any `object_store` back end.
//!
//! # Crash safety
//!
//! Every object is written whole with one `put`. On a local directory `object_store` writes a
//! staging file `<name>#<n>` and renames it over the target, so a reader (or a process started
//! after a crash) sees either the old file or the new one, never a torn one; S3 `PUT`s are
//! atomic by contract. Staging files left by a killed writer are ignored by every reader
//! (they are not `.parquet` names) and removed by [`CandleStore::remove_temp_files`].
//!
//! An append that touches several partitions is **not** atomic as a whole: all new files are
//! encoded before the first is written, then written oldest month first, each atomically.
//! After a crash in between, every partition is either entirely old or entirely new and the
//! series reads back; the new candles are partially present. Because merging is idempotent
//! (sorted, de-duplicated, last write wins), re-running the same append converges. There is no
//! manifest to fall out of step: listings are derived from the files and their footers.
//!
//! # Concurrent writers
//!
//! Every read-merge-write of a series is serialised, so concurrent imports, syncs and live
//! appends all land: on a local directory each writer holds the series' advisory file lock
//! (the `lock` module) from its first read to its last write, across threads and processes; on
//! an object store (S3, memory) each file is written with a conditional put (`If-Match` the
//! version read, or create-if-absent for a new month), and when another writer got there
//! first the whole append is read, merged and written again, with jittered back-off, up to
//! [`MAX_WRITE_ATTEMPTS`] times. Readers are never blocked and never see half files.
//!
//! # Corruption
//!
//! A file that cannot be read (truncated, garbled: see the checksums in the `codec` module) is
//! an error naming it when its candles are needed, and nothing else: listings report it in
//! [`SeriesInfo::corrupt`] and go on, validation reports it per series, and
//! [`CandleStore::quarantine_corrupt`] moves it aside so the month can be fetched again.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use rayon::prelude::*;
use tradai_core::{Candles, ExchangeId, Instrument, Pair, TimeRange};

use crate::codec::{self, Columns, WriteTuning};
use crate::layout::{classify, pair_dir, Partition, SeriesKey, StoredObject, INSTRUMENT_FILE};
use crate::lock::SeriesLock;
use crate::validate::{validate_candles, CorruptFile, ValidationReport};
use crate::StoreError;

/// How many objects to fetch or write at once (bounded so an S3 store is not flooded).
const IO_CONCURRENCY: usize = 8;
/// Bytes read from the end of a file to get its footer in one request; ours are ~2 KiB.
const FOOTER_PREFETCH: u64 = 16 * 1024;
/// Read-merge-write rounds an append on an object store tries before giving up with
/// [`StoreError::Conflict`]. Each lost round means another writer's append landed, so with
/// back-off this only runs out under dozens of writers hammering one series.
pub const MAX_WRITE_ATTEMPTS: u32 = 50;
/// Folder under the store root where [`CandleStore::quarantine_corrupt`] moves corrupt files
/// (not a valid exchange name, so listings never take it for data).
pub const QUARANTINE_DIR: &str = ".quarantine";

/// Options for [`CandleStore::open_with`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StoreOptions {
    /// On a local directory, `fsync` each file and its folder before a write returns, so
    /// written candles survive a power loss or kernel crash, not only a process crash.
    ///
    /// Off by default: it costs about 60 % of append throughput, and candle data can be
    /// re-imported. Without it, a killed process still leaves every file old or new (the
    /// rename is atomic); after a power loss, a file written in the last seconds may come back
    /// empty, which reads then report as [`StoreError::Corrupt`] naming the file.
    pub fsync: bool,
    /// Parquet compression and encoding.
    pub tuning: WriteTuning,
}

/// Summary of one stored series, derived from its files' footers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesInfo {
    /// The series.
    pub key: SeriesKey,
    /// Open time of the first candle (epoch ms).
    pub first_ts: i64,
    /// Open time of the last candle (epoch ms).
    pub last_ts: i64,
    /// Number of candles.
    pub rows: u64,
    /// Number of partition files.
    pub partitions: usize,
    /// Total size of the partition files in bytes.
    pub bytes: u64,
    /// When a partition file was last written (epoch ms).
    pub updated_ms: i64,
    /// Partition files whose footer cannot be read. The other fields describe the readable
    /// files only; a read that needs a corrupt file fails naming it.
    pub corrupt: Vec<CorruptFile>,
}

/// A corrupt file that [`CandleStore::quarantine_corrupt`] moved aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuarantinedFile {
    /// The series it belonged to.
    pub key: SeriesKey,
    /// Where it was (path inside the store).
    pub from: String,
    /// Where it is now (path inside the store, under [`QUARANTINE_DIR`]).
    pub to: String,
    /// Why it was moved.
    pub reason: String,
    /// First millisecond of the time partition it held (for a re-download).
    pub start_ms: i64,
    /// First millisecond after that partition.
    pub end_ms: i64,
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendReport {
    /// Candles given, after sorting and de-duplication.
    pub rows: usize,
    /// Partition files written.
    pub partitions: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Candle storage on a local directory, S3 or memory. Cheap to clone (shared back end).
///
/// All methods are async (the back end is `object_store`) and need a Tokio runtime; CPU work
/// (Parquet encoding and decoding) runs on the blocking pool, one partition per task.
/// [`crate::BlockingCandleStore`] wraps this for synchronous callers.
#[derive(Debug, Clone)]
pub struct CandleStore {
    store: Arc<dyn ObjectStore>,
    root: Path,
    location: String,
    local_dir: Option<PathBuf>,
    tuning: WriteTuning,
}

/// The S3 client and key prefix of an `s3://bucket/prefix` location, configured from the
/// environment as every AWS client here is (`AWS_REGION`, credentials, `AWS_ENDPOINT_URL` and
/// `AWS_ENDPOINT_URL_S3`): the candle store's, and any other writer of objects (job results).
///
/// # Errors
/// [`StoreError::Location`] for a location that is not `s3://bucket[/prefix]`, or when the
/// client cannot be configured (or S3 is not compiled in: the `s3` feature).
pub fn s3_object_store(location: &str) -> Result<(Arc<dyn ObjectStore>, Path), StoreError> {
    let bad =
        |reason: &str, source: Option<crate::BoxError>| StoreError::Location { location: location.into(), reason: reason.into(), source };
    let Some(rest) = location.strip_prefix("s3://").or_else(|| location.strip_prefix("s3a://")) else {
        return Err(bad("not an s3://bucket/prefix location", None));
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("missing bucket name", None));
    }
    #[cfg(feature = "s3")]
    {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        // `from_env` reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_S3 (as the AWS SDK does), so
        // one variable points every client at an emulator; a plain-http endpoint is an
        // emulator or a private gateway the user chose, so it is allowed rather than refused.
        let mut b = AmazonS3Builder::from_env().with_url(format!("s3://{bucket}"));
        let endpoint = b.get_config_value(&AmazonS3ConfigKey::S3Endpoint).or_else(|| b.get_config_value(&AmazonS3ConfigKey::Endpoint));
        if endpoint.is_some_and(|e| e.starts_with("http://")) {
            b = b.with_allow_http(true);
        }
        let s3 = b.build().map_err(|e| bad("cannot configure the s3 client", Some(Box::new(e))))?;
        Ok((Arc::new(s3), Path::from(prefix.trim_matches('/'))))
    }
    #[cfg(not(feature = "s3"))]
    {
        let _ = prefix;
        Err(bad("s3 support is not compiled in (build tradai-store with the `s3` feature)", None))
    }
}

impl CandleStore {
    /// Opens a store with default options; see [`CandleStore::open_with`].
    ///
    /// # Errors
    /// As [`CandleStore::open_with`].
    pub fn open(location: &str) -> Result<Self, StoreError> {
        Self::open_with(location, StoreOptions::default())
    }

    /// Opens a store at `location`: a local directory (created if missing; `file://` URLs are
    /// accepted) or, with the `s3` feature, `s3://bucket/prefix` (credentials, region and
    /// endpoint from the usual `AWS_*` environment variables).
    ///
    /// # Errors
    /// [`StoreError::Location`] when the location is empty, has an unsupported scheme, or the
    /// directory cannot be created.
    pub fn open_with(location: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let loc_err = |reason: &str, source: Option<crate::BoxError>| StoreError::Location {
            location: location.to_owned(),
            reason: reason.to_owned(),
            source,
        };
        if location.trim().is_empty() {
            return Err(loc_err("empty location", None));
        }
        if let Some(rest) = location.strip_prefix("s3://").or_else(|| location.strip_prefix("s3a://")) {
            return Self::open_s3(location, rest, options);
        }
        let dir = location.strip_prefix("file://").unwrap_or(location);
        if dir.contains("://") {
            return Err(loc_err("unsupported scheme (expected a directory or s3://bucket/prefix)", None));
        }
        std::fs::create_dir_all(dir).map_err(|e| loc_err("cannot create the directory", Some(Box::new(e))))?;
        let abs = std::fs::canonicalize(dir).map_err(|e| loc_err("cannot resolve the directory", Some(Box::new(e))))?;
        let fs = object_store::local::LocalFileSystem::new_with_prefix(&abs)
            .map_err(|e| loc_err("cannot open the directory", Some(Box::new(e))))?
            .with_fsync(options.fsync)
            .with_automatic_cleanup(true);
        Ok(Self {
            store: Arc::new(fs),
            root: Path::default(),
            location: abs.display().to_string(),
            local_dir: Some(abs),
            tuning: options.tuning,
        })
    }

    #[cfg(feature = "s3")]
    fn open_s3(location: &str, _rest: &str, options: StoreOptions) -> Result<Self, StoreError> {
        let (store, root) = s3_object_store(location)?;
        Ok(Self { store, root, location: location.to_owned(), local_dir: None, tuning: options.tuning })
    }

    #[cfg(not(feature = "s3"))]
    fn open_s3(location: &str, _rest: &str, _options: StoreOptions) -> Result<Self, StoreError> {
        Err(StoreError::Location {
            location: location.to_owned(),
            reason: "s3 support is not compiled in (build tradai-store with the `s3` feature)".into(),
            source: None,
        })
    }

    /// A store over any `object_store` back end, with its files under `prefix`. Tests use this
    /// with fault-injecting or in-memory stores; the code path is the one real stores take.
    /// Concurrent appends are serialised with conditional puts, so the back end must support
    /// `PutMode::Update` and `PutMode::Create` (memory and S3 do); for one over a local
    /// directory, add [`CandleStore::with_local_dir`].
    #[must_use]
    pub fn from_object_store(store: Arc<dyn ObjectStore>, prefix: &str, tuning: WriteTuning) -> Self {
        let location = format!("{store}/{prefix}");
        Self { store, root: Path::from(prefix.trim_matches('/')), location, local_dir: None, tuning }
    }

    /// Declares that the back end keeps its files in the local directory `dir` (a wrapped
    /// `LocalFileSystem`, as fault-injecting tests use): writers then lock each series with a
    /// lock file there, as [`CandleStore::open`] does, instead of conditional puts, which the
    /// local back end does not implement; staging-file cleanup and quarantine work on `dir`.
    #[must_use]
    pub fn with_local_dir(mut self, dir: PathBuf) -> Self {
        self.local_dir = Some(dir);
        self
    }

    /// A store kept in memory (for tests and examples).
    #[must_use]
    pub fn in_memory() -> Self {
        Self::from_object_store(Arc::new(object_store::memory::InMemory::new()), "", WriteTuning::default())
    }

    /// The resolved location (absolute directory or URL).
    #[must_use]
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Partition files of a series, oldest first.
    async fn partitions(&self, key: &SeriesKey) -> Result<Vec<(Partition, ObjectMeta)>, StoreError> {
        let dir = key.dir(&self.root);
        let metas: Vec<ObjectMeta> = self.store.list(Some(&dir)).try_collect().await.map_err(|e| StoreError::store(&dir, e))?;
        let mut parts: Vec<(Partition, ObjectMeta)> = metas
            .into_iter()
            .filter(|m| m.location.parts().count() == dir.parts().count() + 1)
            .filter_map(|m| Some((Partition::parse(m.location.filename()?, key.timeframe)?, m)))
            .collect();
        parts.sort_by_key(|(p, _)| *p);
        Ok(parts)
    }

    async fn get_bytes(&self, path: &Path) -> Result<Bytes, StoreError> {
        let r = self.store.get(path).await.map_err(|e| StoreError::store(path, e))?;
        r.bytes().await.map_err(|e| StoreError::store(path, e))
    }

    /// Merges `candles` into the series: sorted, de-duplicated by timestamp, the new candle
    /// winning over a stored one with the same timestamp. Only partitions that receive candles
    /// are rewritten. Input rows need not be sorted; within the input, later rows win.
    ///
    /// Everything is read, merged and encoded before the first file is written, so a bad
    /// input or an unreadable stored partition leaves the store unchanged.
    ///
    /// # Errors
    /// [`StoreError::InvalidValue`] for columns of different lengths or timestamps outside the
    /// calendar; [`StoreError::Corrupt`] when an affected stored partition cannot be read;
    /// [`StoreError::ObjectStore`] on I/O failure (earlier partitions may then be written, see
    /// the module docs).
    pub async fn append(&self, key: &SeriesKey, candles: &Candles) -> Result<AppendReport, StoreError> {
        let n = candles.len();
        if [candles.open.len(), candles.high.len(), candles.low.len(), candles.close.len(), candles.volume.len()].iter().any(|&l| l != n) {
            return Err(StoreError::InvalidValue {
                context: format!("candles for {key}"),
                value: format!("{n} timestamps"),
                reason: "columns have different lengths".into(),
            });
        }
        if n == 0 {
            return Ok(AppendReport::default());
        }
        let mut new = candles.clone();
        new.sort_dedup_last_wins();
        let new = Arc::new(new);
        if let Some(root) = &self.local_dir {
            // Held until the last file is written; dropped (unlocked) on every return path.
            let _lock = SeriesLock::acquire(root, key).await?;
            return self.merge_and_write(key, &new, false).await;
        }
        let mut attempt = 1;
        loop {
            match self.merge_and_write(key, &new, true).await {
                Err(StoreError::Conflict { path, .. }) => {
                    if attempt >= MAX_WRITE_ATTEMPTS {
                        return Err(StoreError::Conflict { path, attempts: attempt });
                    }
                    tokio::time::sleep(conflict_backoff(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One read-merge-write round of [`CandleStore::append`] on sorted, de-duplicated candles.
    /// With `conditional`, each file is written only if it is still the version read (or
    /// still absent), and [`StoreError::Conflict`] reports that another writer got there first.
    async fn merge_and_write(&self, key: &SeriesKey, new: &Arc<Candles>, conditional: bool) -> Result<AppendReport, StoreError> {
        let rows = new.len();

        // Split the new candles by partition.
        let mut chunks: Vec<(Partition, std::ops::Range<usize>)> = Vec::new();
        let mut i = 0;
        while i < new.len() {
            let p = Partition::of(key.timeframe, new.ts[i])?;
            let end = p.end_ms();
            let j = i + new.ts[i..].partition_point(|&t| t < end);
            chunks.push((p, i..j));
            i = j;
        }

        let existing: HashSet<Partition> = self.partitions(key).await?.into_iter().map(|(p, _)| p).collect();
        let dir = key.dir(&self.root);
        let read = futures::stream::iter(chunks.iter().map(|(p, _)| {
            let path = dir.clone().join(p.file_name());
            let exists = existing.contains(p);
            async move {
                if !exists {
                    return Ok::<_, StoreError>((None, None));
                }
                match self.store.get(&path).await {
                    Ok(r) => {
                        let version = UpdateVersion { e_tag: r.meta.e_tag.clone(), version: r.meta.version.clone() };
                        let b = r.bytes().await.map_err(|e| StoreError::store(&path, e))?;
                        Ok((Some((path.to_string(), b)), Some(version)))
                    }
                    // Deleted since the listing (a concurrent delete or quarantine): merge into
                    // nothing, and with conditional writes require it to be still absent.
                    Err(object_store::Error::NotFound { .. }) => Ok((None, None)),
                    Err(e) => Err(StoreError::store(&path, e)),
                }
            }
        }))
        .buffered(IO_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
        let (olds, versions): (Vec<Option<(String, Bytes)>>, Vec<Option<UpdateVersion>>) = read.into_iter().unzip();

        let tuning = self.tuning;
        let ranges: Vec<std::ops::Range<usize>> = chunks.iter().map(|(_, r)| r.clone()).collect();
        let shared = Arc::clone(new);
        let series = key.clone();
        let encoded: Vec<Vec<u8>> = spawn_cpu(dir.to_string(), move || {
            olds.into_par_iter()
                .zip(ranges.into_par_iter())
                .map(|(old, r)| {
                    let fresh = shared.slice(r);
                    let merged = match old {
                        Some((path, bytes)) => merge(codec::decode_all(&path, bytes)?, &fresh),
                        None => fresh,
                    };
                    codec::encode(merged, tuning, &series)
                })
                .collect::<Result<Vec<_>, StoreError>>()
        })
        .await?;

        let bytes: u64 = encoded.iter().map(|b| b.len() as u64).sum();
        let partitions = encoded.len();
        // One at a time, oldest first: after a crash the new candles present form a prefix of
        // the append, so a series never gains a hole in the middle.
        for (((p, _), data), version) in chunks.iter().zip(encoded).zip(versions) {
            let path = dir.clone().join(p.file_name());
            let mode = match (conditional, version) {
                (false, _) => PutMode::Overwrite,
                (true, Some(v)) => PutMode::Update(v),
                (true, None) => PutMode::Create,
            };
            let opts = PutOptions { mode, ..PutOptions::default() };
            match self.store.put_opts(&path, PutPayload::from(data), opts).await {
                Ok(_) => {}
                Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }) if conditional => {
                    return Err(StoreError::Conflict { path: path.to_string(), attempts: 1 });
                }
                Err(e) => return Err(StoreError::store(&path, e)),
            }
        }
        Ok(AppendReport { rows, partitions, bytes })
    }

    /// Reads the candles of `key` whose open time lies in `range`, with only the requested
    /// value columns filled (the others come back empty; `ts` is always filled).
    ///
    /// # Errors
    /// [`StoreError::SeriesNotFound`] when the series has no files at all (an empty range of an
    /// existing series gives empty candles); [`StoreError::Corrupt`] when a file cannot be
    /// decoded; [`StoreError::ObjectStore`] on I/O failure.
    pub async fn read(&self, key: &SeriesKey, range: TimeRange, columns: Columns) -> Result<Candles, StoreError> {
        let all = self.partitions(key).await?;
        if all.is_empty() {
            return Err(StoreError::SeriesNotFound { series: key.to_string() });
        }
        let (start, end) = (range.start_ms, range.end_ms);
        let paths: Vec<Path> = all.into_iter().filter(|(p, _)| p.overlaps(start, end)).map(|(_, m)| m.location).collect();
        let files: Vec<(String, Bytes)> = futures::stream::iter(paths.into_iter().map(|path| async move {
            let b = self.get_bytes(&path).await?;
            Ok::<_, StoreError>((path.to_string(), b))
        }))
        .buffered(IO_CONCURRENCY)
        .try_collect()
        .await?;
        spawn_cpu(key.to_string(), move || {
            let parts = files
                .into_par_iter()
                .map(|(path, bytes)| codec::PartitionRead::open(path, bytes, start, end))
                .collect::<Result<Vec<_>, StoreError>>()?;
            codec::decode_partitions(&parts, columns)
        })
        .await
    }

    /// Lists every stored series with its first and last candle, row count and last write,
    /// from the files' footers (data pages are not read, so a file garbled in its data is
    /// found by [`CandleStore::validate`] or a read, not here). A file whose footer cannot be
    /// read is listed in its series' [`SeriesInfo::corrupt`]; the listing goes on.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] on I/O failure.
    pub async fn list(&self) -> Result<Vec<SeriesInfo>, StoreError> {
        let metas: Vec<ObjectMeta> = self.store.list(Some(&self.root)).try_collect().await.map_err(|e| StoreError::store(&self.root, e))?;
        let mut by_series: BTreeMap<SeriesKey, Vec<ObjectMeta>> = BTreeMap::new();
        for m in metas {
            if let Some(StoredObject::Partition(key, _)) = self.classify(&m.location) {
                by_series.entry(key).or_default().push(m);
            }
        }
        let mut out = Vec::with_capacity(by_series.len());
        for (key, files) in by_series {
            out.push(self.summarize(key, files).await?);
        }
        Ok(out)
    }

    /// The summary of one series, or `None` when it has no files.
    ///
    /// # Errors
    /// As [`CandleStore::list`].
    pub async fn series_info(&self, key: &SeriesKey) -> Result<Option<SeriesInfo>, StoreError> {
        let files: Vec<ObjectMeta> = self.partitions(key).await?.into_iter().map(|(_, m)| m).collect();
        if files.is_empty() {
            return Ok(None);
        }
        self.summarize(key.clone(), files).await.map(Some)
    }

    fn classify(&self, location: &Path) -> Option<StoredObject> {
        let rel: Vec<String> = location.prefix_match(&self.root)?.map(|p| p.as_ref().to_owned()).collect();
        let refs: Vec<&str> = rel.iter().map(String::as_str).collect();
        classify(&refs)
    }

    async fn summarize(&self, key: SeriesKey, files: Vec<ObjectMeta>) -> Result<SeriesInfo, StoreError> {
        let results: Vec<(usize, Result<codec::FooterSummary, StoreError>)> =
            futures::stream::iter(files.iter().enumerate().map(|(i, m)| async move { (i, self.footer(m).await) }))
                .buffer_unordered(IO_CONCURRENCY)
                .collect()
                .await;
        let mut footers = Vec::with_capacity(results.len());
        let mut corrupt = Vec::new();
        for (i, r) in results {
            match r {
                Ok(f) => footers.push(f),
                // A damaged file is this series' problem only: report it and go on.
                Err(e) if e.kind() == crate::ErrorKind::Corrupt => {
                    corrupt.push(CorruptFile { path: files[i].location.to_string(), reason: e.to_string() });
                }
                Err(e) => return Err(e),
            }
        }
        corrupt.sort_by(|a, b| a.path.cmp(&b.path));
        let first_ts = footers.iter().filter_map(|f| f.first_ts).min().unwrap_or(0);
        let last_ts = footers.iter().filter_map(|f| f.last_ts).max().unwrap_or(0);
        Ok(SeriesInfo {
            key,
            first_ts,
            last_ts,
            rows: footers.iter().map(|f| f.rows).sum(),
            partitions: files.len(),
            bytes: files.iter().map(|m| m.size).sum(),
            updated_ms: files.iter().map(|m| m.last_modified.timestamp_millis()).max().unwrap_or(0),
            corrupt,
        })
    }

    async fn footer(&self, meta: &ObjectMeta) -> Result<codec::FooterSummary, StoreError> {
        let path = meta.location.to_string();
        let size = meta.size;
        if size < 12 {
            return Err(StoreError::corrupt(&path, format!("{size} bytes is too short for parquet"), None));
        }
        let take = size.min(FOOTER_PREFETCH);
        let tail = self.store.get_range(&meta.location, size - take..size).await.map_err(|e| StoreError::store(&path, e))?;
        let len = codec::footer_len(&path, &tail)?;
        let need = len as u64 + 8;
        if need > size {
            return Err(StoreError::corrupt(&path, "footer length exceeds file size", None));
        }
        let meta_bytes = if need <= take {
            tail.slice(tail.len() - need as usize..tail.len() - 8)
        } else {
            self.store.get_range(&meta.location, size - need..size - 8).await.map_err(|e| StoreError::store(&path, e))?
        };
        contain_panic(&path, || codec::summarize_footer(&path, &meta_bytes))
    }

    /// Deletes a series (all its partition files). Returns the number of files removed.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] on I/O failure; files deleted before it stay deleted, and
    /// the rest of the series still reads.
    pub async fn delete(&self, key: &SeriesKey) -> Result<usize, StoreError> {
        // Under the series lock, so a concurrent append cannot write back what is deleted.
        let _lock = match &self.local_dir {
            Some(root) => Some(SeriesLock::acquire(root, key).await?),
            None => None,
        };
        let files = self.partitions(key).await?;
        // Newest first, so an interrupted delete leaves a series that still starts where it did.
        for (_, m) in files.iter().rev() {
            self.store.delete(&m.location).await.map_err(|e| StoreError::store(&m.location, e))?;
        }
        self.remove_temp_files_in(&key.dir(&self.root))?;
        Ok(files.len())
    }

    /// Deletes every timeframe of a pair and its instrument metadata. Returns the number of
    /// files removed.
    ///
    /// # Errors
    /// As [`CandleStore::delete`].
    pub async fn delete_pair(&self, exchange: &ExchangeId, pair: &Pair) -> Result<usize, StoreError> {
        let dir = pair_dir(&self.root, exchange, pair);
        let metas: Vec<ObjectMeta> = self.store.list(Some(&dir)).try_collect().await.map_err(|e| StoreError::store(&dir, e))?;
        // Every series of the pair locked (in key order, the one order any multi-lock takes),
        // so a concurrent append cannot write back a month being deleted.
        let mut locks = Vec::new();
        if let Some(root) = &self.local_dir {
            let keys: std::collections::BTreeSet<SeriesKey> = metas
                .iter()
                .filter_map(|m| match self.classify(&m.location) {
                    Some(StoredObject::Partition(k, _)) => Some(k),
                    _ => None,
                })
                .collect();
            for k in &keys {
                locks.push(SeriesLock::acquire(root, k).await?);
            }
        }
        let mut n = 0;
        for m in metas.iter().filter(|m| self.classify(&m.location).is_some()) {
            self.store.delete(&m.location).await.map_err(|e| StoreError::store(&m.location, e))?;
            n += 1;
        }
        self.remove_temp_files_in(&dir)?;
        drop(locks);
        Ok(n)
    }

    /// Removes staging files (`<name>#<n>`) that a killed writer left in a local store.
    /// Readers ignore them, so this only reclaims space. Returns how many were removed; always
    /// 0 for non-local stores, whose writes leave no staging files.
    ///
    /// Do not run it while another process is writing to the store: its in-flight staging
    /// file would be removed and its write would fail (the published files stay intact).
    ///
    /// # Errors
    /// [`StoreError::Io`] when the directory cannot be walked or a file cannot be removed.
    pub fn remove_temp_files(&self) -> Result<usize, StoreError> {
        self.remove_temp_files_in(&self.root)
    }

    fn remove_temp_files_in(&self, dir: &Path) -> Result<usize, StoreError> {
        let Some(base) = &self.local_dir else { return Ok(0) };
        let mut fs_dir = base.clone();
        fs_dir.extend(dir.parts().map(|p| p.as_ref().to_owned()));
        remove_staging_files(&fs_dir)
    }

    /// Stores the instrument metadata of a pair (JSON beside its candles), replacing any.
    ///
    /// # Errors
    /// [`StoreError::ObjectStore`] on I/O failure.
    pub async fn put_instrument(&self, exchange: &ExchangeId, instrument: &Instrument) -> Result<(), StoreError> {
        let path = pair_dir(&self.root, exchange, &instrument.pair).join(INSTRUMENT_FILE);
        let json = serde_json::to_vec_pretty(instrument).map_err(|e| StoreError::InvalidValue {
            context: format!("instrument of {}", instrument.pair),
            value: format!("{instrument:?}"),
            reason: e.to_string(),
        })?;
        self.store.put(&path, PutPayload::from(json)).await.map_err(|e| StoreError::store(&path, e))?;
        Ok(())
    }

    /// The stored instrument metadata of a pair, if any.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the file is not valid instrument JSON;
    /// [`StoreError::ObjectStore`] on I/O failure.
    pub async fn instrument(&self, exchange: &ExchangeId, pair: &Pair) -> Result<Option<Instrument>, StoreError> {
        let path = pair_dir(&self.root, exchange, pair).join(INSTRUMENT_FILE);
        match self.store.get(&path).await {
            Ok(r) => {
                let b = r.bytes().await.map_err(|e| StoreError::store(&path, e))?;
                serde_json::from_slice(&b).map(Some).map_err(|e| StoreError::corrupt(&path, "not instrument json", Some(Box::new(e))))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StoreError::store(&path, e)),
        }
    }

    /// All stored instruments of an exchange (of every exchange when `None`), with the
    /// exchange each belongs to.
    ///
    /// # Errors
    /// As [`CandleStore::instrument`].
    pub async fn instruments(&self, exchange: Option<&ExchangeId>) -> Result<Vec<(ExchangeId, Instrument)>, StoreError> {
        let prefix = exchange.map_or_else(|| self.root.clone(), |e| self.root.clone().join(e.as_str()));
        let metas: Vec<ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await.map_err(|e| StoreError::store(&prefix, e))?;
        let mut out = Vec::new();
        for m in metas {
            if let Some(StoredObject::Instrument(ex, pair)) = self.classify(&m.location) {
                if let Some(i) = self.instrument(&ex, &pair).await? {
                    out.push((ex, i));
                }
            }
        }
        out.sort_by(|a, b| (&a.0, &a.1.pair).cmp(&(&b.0, &b.1.pair)));
        Ok(out)
    }

    /// Reads a whole series and checks it (gaps, duplicates, OHLC consistency, order).
    ///
    /// # Errors
    /// As [`CandleStore::read`].
    pub async fn validate(&self, key: &SeriesKey) -> Result<ValidationReport, StoreError> {
        let (c, corrupt) = self.read_checked(key).await?;
        let mut report = validate_candles(&c, key.timeframe);
        report.corrupt = corrupt.into_iter().map(|(_, f)| f).collect();
        Ok(report)
    }

    /// Reads every file of a series, checksums and all: the candles of the readable files and
    /// the files that cannot be read (with their partition), instead of failing on the first.
    async fn read_checked(&self, key: &SeriesKey) -> Result<(Candles, Vec<(Partition, CorruptFile)>), StoreError> {
        let all = self.partitions(key).await?;
        if all.is_empty() {
            return Err(StoreError::SeriesNotFound { series: key.to_string() });
        }
        let files: Vec<(Partition, String, Bytes)> = futures::stream::iter(all.into_iter().map(|(p, m)| async move {
            let b = self.get_bytes(&m.location).await?;
            Ok::<_, StoreError>((p, m.location.to_string(), b))
        }))
        .buffered(IO_CONCURRENCY)
        .try_collect()
        .await?;
        spawn_cpu(key.to_string(), move || {
            let decoded: Vec<(Partition, String, Result<Candles, StoreError>)> = files
                .into_par_iter()
                .map(|(p, path, bytes)| (p, path.clone(), contain_panic(&path, || codec::decode_all(&path, bytes))))
                .collect();
            let mut out = Candles::default();
            let mut corrupt = Vec::new();
            for (p, path, r) in decoded {
                match r {
                    Ok(c) => out.extend_from(&c),
                    Err(e) if e.kind() == crate::ErrorKind::Corrupt => corrupt.push((p, CorruptFile { path, reason: e.to_string() })),
                    Err(e) => return Err(e),
                }
            }
            Ok((out, corrupt))
        })
        .await
    }

    /// Reads every file of a series in full (checksum, footer, every column) and moves those
    /// that cannot be read to `<root>/.quarantine/<stamp>/<their path>`, where they are kept
    /// for inspection, not deleted. The series then reads without them (a gap where they
    /// were), and the months can be downloaded again: each [`QuarantinedFile`] carries the
    /// time range it covered. Holds the series' lock (local stores) while it works.
    ///
    /// # Errors
    /// [`StoreError::SeriesNotFound`] when the series has no files;
    /// [`StoreError::ObjectStore`] / [`StoreError::Io`] when a file cannot be read or moved
    /// (files moved before stay moved; running it again finishes the job).
    pub async fn quarantine_corrupt(&self, key: &SeriesKey) -> Result<Vec<QuarantinedFile>, StoreError> {
        let _lock = match &self.local_dir {
            Some(root) => Some(SeriesLock::acquire(root, key).await?),
            None => None,
        };
        let (_, corrupt) = self.read_checked(key).await?;
        if corrupt.is_empty() {
            return Ok(Vec::new());
        }
        // One folder per second, so the files of one repair run sit together.
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let mut out = Vec::with_capacity(corrupt.len());
        for (p, file) in corrupt {
            let from = Path::from(file.path.as_str());
            let rel: Vec<String> =
                from.prefix_match(&self.root).map(|it| it.map(|part| part.as_ref().to_owned()).collect()).unwrap_or_default();
            let mut to = self.root.clone().join(QUARANTINE_DIR).join(stamp.as_str());
            for part in &rel {
                to = to.join(part.as_str());
            }
            // Never overwrite an earlier quarantined copy (a file damaged twice in a second).
            let base = to.clone();
            let mut n = 1;
            while self.exists(&to).await? {
                to = Path::from(format!("{base}.{n}"));
                n += 1;
            }
            self.move_object(&from, &to).await?;
            out.push(QuarantinedFile {
                key: key.clone(),
                from: file.path,
                to: to.to_string(),
                reason: file.reason,
                start_ms: p.start_ms(),
                end_ms: p.end_ms(),
            });
        }
        Ok(out)
    }

    async fn exists(&self, path: &Path) -> Result<bool, StoreError> {
        match self.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(StoreError::store(path, e)),
        }
    }

    /// Moves an object: a rename on a local directory, copy then delete elsewhere.
    async fn move_object(&self, from: &Path, to: &Path) -> Result<(), StoreError> {
        if let Some(base) = &self.local_dir {
            let fs_path = |p: &Path| {
                let mut f = base.clone();
                f.extend(p.parts().map(|x| x.as_ref().to_owned()));
                f
            };
            let (src, dst) = (fs_path(from), fs_path(to));
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(|e| StoreError::io(parent, e))?;
            }
            return std::fs::rename(&src, &dst).map_err(|e| StoreError::io(&src, e));
        }
        self.store.copy(from, to).await.map_err(|e| StoreError::store(to, e))?;
        self.store.delete(from).await.map_err(|e| StoreError::store(from, e))
    }
}

/// Runs a decoder on a stored file's bytes, turning a panic inside the Parquet library (which
/// damaged bytes could trigger) into [`StoreError::Corrupt`] naming the file, so one bad file
/// cannot take a listing, a validation or the process down with it.
fn contain_panic<T>(path: &str, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::corrupt(path, "the parquet decoder panicked on this file", None)))
}

/// Pause before append round `attempt + 1` on an object store: exponential from 5 ms, capped
/// at 200 ms, with full jitter so competing writers do not retry in lockstep.
fn conflict_backoff(attempt: u32) -> std::time::Duration {
    use rand::Rng as _;
    let cap_ms = (5u64 << attempt.min(6)).min(200);
    std::time::Duration::from_millis(rand::rng().random_range(1..=cap_ms))
}

/// Runs CPU-bound work on Tokio's blocking pool (it fans out over rayon inside).
async fn spawn_cpu<T: Send + 'static>(what: String, f: impl FnOnce() -> Result<T, StoreError> + Send + 'static) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|source| StoreError::Task { path: what, source })?
}

/// Merges two sorted, de-duplicated series; `new` wins on equal timestamps.
pub(crate) fn merge(old: Candles, new: &Candles) -> Candles {
    if old.is_empty() {
        return new.clone();
    }
    if new.is_empty() {
        return old;
    }
    // Fast path: pure append after the stored candles (the common "add today" case).
    if old.ts[old.len() - 1] < new.ts[0] {
        let mut out = old;
        out.extend_from(new);
        return out;
    }
    let mut out = Candles::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let take_new = j < new.len() && (i >= old.len() || new.ts[j] <= old.ts[i]);
        if take_new {
            if i < old.len() && old.ts[i] == new.ts[j] {
                i += 1;
            }
            out.push(new.row(j));
            j += 1;
        } else {
            out.push(old.row(i));
            i += 1;
        }
    }
    out
}

/// Removes `object_store` staging files (`name#digits`) under `dir`, recursively.
fn remove_staging_files(dir: &std::path::Path) -> Result<usize, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        let ft = entry.file_type().map_err(|e| StoreError::io(&path, e))?;
        if ft.is_dir() {
            n += remove_staging_files(&path)?;
        } else if is_staging_name(&entry.file_name().to_string_lossy()) {
            std::fs::remove_file(&path).map_err(|e| StoreError::io(&path, e))?;
            n += 1;
        }
    }
    // Drop the folder if the delete emptied it (ignore failure: it is only tidiness).
    let _ = std::fs::remove_dir(dir);
    Ok(n)
}

fn is_staging_name(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(_, s)| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::CandleRow;

    fn c(rows: &[(i64, f64)]) -> Candles {
        let mut out = Candles::default();
        for &(ts, v) in rows {
            out.push(CandleRow { ts, open: v, high: v, low: v, close: v, volume: v });
        }
        out
    }

    #[test]
    fn merge_new_wins_and_stays_sorted() {
        let old = c(&[(1, 1.0), (3, 3.0), (5, 5.0)]);
        let new = c(&[(0, 10.0), (3, 30.0), (4, 40.0), (9, 90.0)]);
        let m = merge(old, &new);
        assert_eq!(m.ts, vec![0, 1, 3, 4, 5, 9]);
        assert_eq!(m.close, vec![10.0, 1.0, 30.0, 40.0, 5.0, 90.0]);
        let m = merge(c(&[(1, 1.0)]), &c(&[(2, 2.0)]));
        assert_eq!(m.ts, vec![1, 2]);
    }

    #[test]
    fn staging_names() {
        assert!(is_staging_name("2018-01.parquet#1"));
        assert!(is_staging_name("instrument.json#12"));
        assert!(!is_staging_name("2018-01.parquet"));
        assert!(!is_staging_name("a#b"));
    }
}
