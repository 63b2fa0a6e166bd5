//! Incremental candle sync from an [`ExchangeClient`] into the [`CandleStore`]: what the seeds'
//! data-collection service does with CCXT, for the CLI and the service alike.
//!
//! Per pair: look the market up (its instrument metadata is stored beside the candles), ask the
//! exchange for its clock, read which candles of the requested window are already stored, and
//! fetch only the holes — the head before the first stored candle, gaps between stored candles,
//! and the tail after the last — page by page. The still-open candle is never stored: the
//! window ends where the exchange's clock says the last closed candle ends.
//!
//! # Consistency
//!
//! Fetched candles are appended oldest first, in whole UTC months where possible (one store
//! partition each, so no partition is rewritten twice in one sync). Each store write is atomic,
//! so a sync that dies at any point leaves a store whose series read back sorted and
//! duplicate-free, holding a prefix of what the sync would have written. Candles fetched before
//! a failure or a cancel are stored before the error is returned. Running the sync again fetches
//! exactly the holes that remain; running it on a complete store fetches nothing and writes
//! nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Datelike, NaiveDate};
use futures::StreamExt;
use serde::{Serialize, Serializer};
use tokio::sync::Notify;
use tradai_core::{Candles, ExchangeId, Instrument, Pair, TimeRange, Timeframe};
use tradai_resilience::error_chain;
use tradai_store::{CandleStore, Columns, SeriesKey, StoreError};

use crate::{CandleRequest, ExchangeClient, PriceKind, SyncError, VenueSymbol};

/// Tuning of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncOptions {
    /// Pairs fetched at once. They share the client's rate limiter, so more concurrency never
    /// exceeds the exchange's limits; it only hides request latency.
    pub concurrency: usize,
    /// Candles buffered per pair before they are written (rounded down to whole months).
    pub flush_rows: usize,
    /// Store each pair's instrument metadata (tick, lot step, minimums).
    pub store_instruments: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { concurrency: 4, flush_rows: 200_000, store_instruments: true }
    }
}

/// What to sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// Pairs in CCXT notation; spot and futures may be mixed.
    pub pairs: Vec<Pair>,
    /// Candle interval.
    pub timeframe: Timeframe,
    /// First candle open time wanted, epoch ms.
    pub start_ms: i64,
    /// Exclusive end, epoch ms; up to the last closed candle when `None`.
    pub end_ms: Option<i64>,
    /// Tuning.
    pub options: SyncOptions,
}

/// Progress of a sync, reported per pair through the callback.
#[derive(Debug, Clone, Copy)]
pub enum SyncEvent<'a> {
    /// The pair's holes are known.
    Planned {
        /// The pair.
        pair: &'a Pair,
        /// Candle slots in the holes (an upper bound on what will be fetched).
        missing: u64,
        /// Number of holes (head, gaps, tail).
        ranges: usize,
    },
    /// A page arrived.
    Fetched {
        /// The pair.
        pair: &'a Pair,
        /// Candle slots of the holes covered so far (reaches `missing`).
        done: u64,
        /// Candles received so far.
        fetched: u64,
    },
    /// Candles were written to the store.
    Stored {
        /// The pair.
        pair: &'a Pair,
        /// Candles written by this append.
        rows: usize,
    },
    /// The pair is done, successfully or not.
    Finished {
        /// The pair.
        pair: &'a Pair,
        /// Whether it succeeded.
        ok: bool,
    },
}

/// The progress callback; called from several tasks at once.
pub type SyncProgress = Arc<dyn Fn(SyncEvent<'_>) + Send + Sync>;

/// A callback that ignores progress.
#[must_use]
pub fn no_progress() -> SyncProgress {
    Arc::new(|_| {})
}

/// Cancels a running sync from another task (Ctrl-C, a job cancel). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    flag: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels: running pairs store what they fetched and stop; waiting pairs do not start.
    pub fn cancel(&self) {
        self.0.flag.store(true, Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }

    /// Whether [`CancelToken::cancel`] was called.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.0.flag.load(Ordering::SeqCst)
    }

    /// Completes once cancelled.
    pub async fn cancelled(&self) {
        loop {
            // Registered before the check, so a cancel between the two is not missed.
            let notified = self.0.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What a successful pair sync did and where the series stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairSummary {
    /// The exchange's symbol.
    pub symbol: VenueSymbol,
    /// Holes found before fetching (head, gaps, tail).
    pub ranges: usize,
    /// Candle slots in those holes.
    pub missing: u64,
    /// Candles received from the exchange.
    pub fetched: u64,
    /// Candles written to the store.
    pub stored: u64,
    /// Slots the exchange has no candle for (maintenance, before listing); fetched again
    /// by the next sync, which costs a request but keeps the store exact.
    pub unavailable: u64,
    /// Kline requests made.
    pub requests: u64,
    /// Exclusive end of the window synced: the earlier of the requested end and the end of the
    /// last closed candle by the exchange's clock.
    pub synced_until_ms: i64,
    /// First stored candle after the sync.
    pub first_ts: Option<i64>,
    /// Last stored candle after the sync.
    pub last_ts: Option<i64>,
    /// Candles stored for the series after the sync.
    pub rows: u64,
    /// The instrument metadata, when fetched.
    pub instrument: Option<Instrument>,
}

/// The outcome of one pair.
#[derive(Debug)]
pub struct PairOutcome {
    /// The pair.
    pub pair: Pair,
    /// Its summary, or why it failed.
    pub result: Result<PairSummary, SyncError>,
}

impl Serialize for PairOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            pair: &'a Pair,
            ok: bool,
            #[serde(flatten)]
            summary: Option<&'a PairSummary>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            retryable: Option<bool>,
        }
        let (summary, error) = match &self.result {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        Out {
            pair: &self.pair,
            ok: summary.is_some(),
            summary,
            error: error.map(|e| error_chain(e)),
            retryable: error.map(SyncError::is_retryable),
        }
        .serialize(s)
    }
}

/// The outcome of a sync, pair by pair in request order.
#[derive(Debug, Serialize)]
pub struct SyncReport {
    /// The exchange.
    pub exchange: ExchangeId,
    /// The timeframe.
    pub timeframe: Timeframe,
    /// Requested start, epoch ms.
    pub start_ms: i64,
    /// Requested end, epoch ms.
    pub end_ms: Option<i64>,
    /// Wall time of the sync, in milliseconds.
    pub elapsed_ms: u64,
    /// Per pair.
    pub pairs: Vec<PairOutcome>,
}

impl SyncReport {
    /// Whether every pair succeeded.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.pairs.iter().all(|p| p.result.is_ok())
    }

    /// The pairs that failed, with why.
    pub fn failures(&self) -> impl Iterator<Item = (&Pair, &SyncError)> {
        self.pairs.iter().filter_map(|p| p.result.as_ref().err().map(|e| (&p.pair, e)))
    }

    /// Candles written over all pairs.
    #[must_use]
    pub fn stored(&self) -> u64 {
        self.pairs.iter().filter_map(|p| p.result.as_ref().ok()).map(|s| s.stored).sum()
    }

    /// Candles received over all pairs.
    #[must_use]
    pub fn fetched(&self) -> u64 {
        self.pairs.iter().filter_map(|p| p.result.as_ref().ok()).map(|s| s.fetched).sum()
    }
}

/// Syncs every pair of `request` from `client` into `store`, several pairs at once.
///
/// One pair failing does not stop the others: each pair's outcome is in the report. This is
/// the library entry of the data-collection service (`POST /api/v1/data/sync`) and of
/// `tradai data sync`.
///
/// # Errors
/// [`SyncError::InvalidRequest`] when the request has no pairs, a bad window or a timeframe
/// the exchange does not serve (nothing is fetched then).
pub async fn sync_pairs(
    client: Arc<dyn ExchangeClient>,
    store: CandleStore,
    request: SyncRequest,
    progress: SyncProgress,
    cancel: CancelToken,
) -> Result<SyncReport, SyncError> {
    let invalid = |reason: String| SyncError::InvalidRequest { reason };
    if request.pairs.is_empty() {
        return Err(invalid("no pairs given".into()));
    }
    if let Some(end) = request.end_ms {
        if end <= request.start_ms {
            return Err(invalid(format!(
                "end {} is not after start {}",
                tradai_core::format_ts_ms(end),
                tradai_core::format_ts_ms(request.start_ms)
            )));
        }
    }
    if !client.supports_timeframe(request.timeframe) {
        return Err(invalid(format!("{} has no {} candles", client.id(), request.timeframe)));
    }
    let started = Instant::now();
    let request = Arc::new(request);
    let concurrency = request.options.concurrency.max(1);
    // Each pair is its own task so page decoding spreads over the runtime's workers.
    let mut outcomes: Vec<(usize, PairOutcome)> = futures::stream::iter(request.pairs.clone().into_iter().enumerate())
        .map(|(i, pair)| {
            let fallback = pair.clone();
            let (client, store, request, progress, cancel) =
                (Arc::clone(&client), store.clone(), Arc::clone(&request), Arc::clone(&progress), cancel.clone());
            let task = tokio::spawn(async move {
                let result = if cancel.is_cancelled() {
                    Err(SyncError::Cancelled { pair: pair.clone() })
                } else {
                    sync_pair(client.as_ref(), &store, &pair, &request, &progress, &cancel).await
                };
                progress(SyncEvent::Finished { pair: &pair, ok: result.is_ok() });
                PairOutcome { pair, result }
            });
            async move {
                match task.await {
                    Ok(o) => (i, o),
                    // A panic in a pair's task is a bug; let it surface as one.
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // Only at runtime shutdown.
                    Err(_) => (i, PairOutcome { pair: fallback.clone(), result: Err(SyncError::Cancelled { pair: fallback }) }),
                }
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    outcomes.sort_by_key(|(i, _)| *i);
    Ok(SyncReport {
        exchange: client.id().clone(),
        timeframe: request.timeframe,
        start_ms: request.start_ms,
        end_ms: request.end_ms,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        pairs: outcomes.into_iter().map(|(_, o)| o).collect(),
    })
}

/// The holes of `[start, end)` given the stored open times inside it (sorted): candle slots
/// where the grid allows a candle that is not stored.
pub(crate) fn missing_ranges(stored: &[i64], start: i64, end: i64, tf_ms: i64) -> Vec<(i64, i64)> {
    if start >= end {
        return Vec::new();
    }
    let (Some(&first), Some(&last)) = (stored.first(), stored.last()) else {
        return vec![(start, end)];
    };
    let mut out = Vec::new();
    // A head hole needs room for at least one candle before the first stored one; otherwise a
    // start between grid points would cost an empty request on every sync.
    if first - tf_ms >= start {
        out.push((start, first));
    }
    for w in stored.windows(2) {
        if w[1] - w[0] > tf_ms {
            out.push((w[0] + tf_ms, w[1]));
        }
    }
    if last + tf_ms < end {
        out.push((last + tf_ms, end));
    }
    out
}

fn slots(a: i64, b: i64, tf_ms: i64) -> u64 {
    u64::try_from((b - a + tf_ms - 1).div_euclid(tf_ms)).unwrap_or(0)
}

/// Start of the UTC month holding `ts`.
fn month_start(ts: i64) -> i64 {
    DateTime::from_timestamp_millis(ts)
        .and_then(|d| NaiveDate::from_ymd_opt(d.year(), d.month(), 1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(ts, |d| d.and_utc().timestamp_millis())
}

/// `CandleStore::append` on a blocking thread.
///
/// The store's `append` and `series_info` futures cannot be proven `Send` by rustc (closures
/// returning async blocks over borrowed items, rust-lang/rust#102211), so they cannot run inside
/// a spawned task, and `sync_pairs` must be spawnable (the service runs it as a job). Driving
/// them with `Handle::block_on` on a blocking thread needs no `Send` future. If the sync is
/// dropped meanwhile, the write still completes: store writes are atomic either way.
async fn store_append(store: &CandleStore, key: &SeriesKey, candles: Candles) -> Result<tradai_store::AppendReport, StoreError> {
    let (store, key) = (store.clone(), key.clone());
    off_task(key.to_string(), move |rt| rt.block_on(store.append(&key, &candles))).await
}

/// `CandleStore::series_info` on a blocking thread; see [`store_append`].
async fn store_series_info(store: &CandleStore, key: &SeriesKey) -> Result<Option<tradai_store::SeriesInfo>, StoreError> {
    let (store, key) = (store.clone(), key.clone());
    off_task(key.to_string(), move |rt| rt.block_on(store.series_info(&key))).await
}

async fn off_task<T: Send + 'static>(
    what: String,
    f: impl FnOnce(&tokio::runtime::Handle) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let rt = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || f(&rt)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(source) => Err(StoreError::Task { path: what, source }),
    }
}

struct PairRun<'a> {
    store: &'a CandleStore,
    key: SeriesKey,
    progress: &'a SyncProgress,
    buffer: Candles,
    stored: u64,
}

impl PairRun<'_> {
    /// Writes buffered candles. Unless `all`, keeps the last (partial) month buffered so the
    /// next write does not rewrite its partition.
    async fn flush(&mut self, all: bool) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let cut = if all {
            self.buffer.len()
        } else {
            let last = self.buffer.ts[self.buffer.len() - 1];
            let boundary = month_start(last);
            match self.buffer.ts.partition_point(|&t| t < boundary) {
                // All in one month: write it anyway, the buffer is full.
                0 => self.buffer.len(),
                n => n,
            }
        };
        let (head, tail) = if cut == self.buffer.len() {
            (std::mem::take(&mut self.buffer), Candles::default())
        } else {
            (self.buffer.slice(0..cut), self.buffer.slice(cut..self.buffer.len()))
        };
        let report = store_append(self.store, &self.key, head).await?;
        self.buffer = tail;
        self.stored += report.rows as u64;
        (self.progress)(SyncEvent::Stored { pair: &self.key.pair, rows: report.rows });
        Ok(())
    }
}

async fn sync_pair(
    client: &dyn ExchangeClient,
    store: &CandleStore,
    pair: &Pair,
    request: &SyncRequest,
    progress: &SyncProgress,
    cancel: &CancelToken,
) -> Result<PairSummary, SyncError> {
    let exchange = client.id().to_string();
    let tf = request.timeframe;
    let tf_ms = tf.millis();
    let prepare = |source| SyncError::Prepare { exchange: exchange.clone(), pair: pair.clone(), source };
    let store_err = |source| SyncError::Store { pair: pair.clone(), timeframe: tf, source };
    let cancelled = || SyncError::Cancelled { pair: pair.clone() };

    let symbol = client.venue_symbol(pair).map_err(prepare)?;
    let market = tokio::select! {
        m = client.market(pair) => m.map_err(prepare)?,
        () = cancel.cancelled() => return Err(cancelled()),
    };
    if request.options.store_instruments {
        let stored = store.instrument(client.id(), pair).await.map_err(store_err)?;
        // Rewriting identical metadata would only churn the file; skip it.
        if stored.as_ref() != Some(&market.instrument) {
            store.put_instrument(client.id(), &market.instrument).await.map_err(store_err)?;
        }
    }
    let now = tokio::select! {
        t = client.server_time(pair.market_type()) => t.map_err(prepare)?,
        () = cancel.cancelled() => return Err(cancelled()),
    };
    // A candle is closed once its end (open + timeframe) is not after the exchange's clock.
    // Intervals up to a day sit on the epoch grid, so the bound is the start of the open
    // candle; weekly candles open on Mondays (the epoch was a Thursday), so for them only the
    // exact bound is right.
    let closed_end = if tf_ms <= Timeframe::D1.millis() { now.div_euclid(tf_ms) * tf_ms } else { now - tf_ms + 1 };
    let end = request.end_ms.map_or(closed_end, |e| e.min(closed_end));
    let start = request.start_ms;

    let key = SeriesKey::new(client.id().clone(), pair.clone(), tf);
    let stored_ts = if start < end {
        match store.read(&key, TimeRange { start_ms: Some(start), end_ms: Some(end) }, Columns::NONE).await {
            Ok(c) => c.ts,
            Err(StoreError::SeriesNotFound { .. }) => Vec::new(),
            Err(e) => return Err(store_err(e)),
        }
    } else {
        Vec::new()
    };
    let ranges = missing_ranges(&stored_ts, start, end, tf_ms);
    drop(stored_ts);
    let missing: u64 = ranges.iter().map(|&(a, b)| slots(a, b, tf_ms)).sum();
    progress(SyncEvent::Planned { pair, missing, ranges: ranges.len() });
    tracing::debug!(%pair, ranges = ranges.len(), missing, "sync plan");

    let mut run = PairRun { store, key: key.clone(), progress, buffer: Candles::default(), stored: 0 };
    let (mut fetched, mut requests, mut done) = (0u64, 0u64, 0u64);
    for &(a, b) in &ranges {
        let mut cursor = a;
        while cursor < b {
            let req = CandleRequest { pair: pair.clone(), timeframe: tf, start_ms: cursor, end_ms: b, kind: PriceKind::Trade };
            let page = tokio::select! {
                p = client.candles(&req) => Some(p),
                () = cancel.cancelled() => None,
            };
            let page = match page {
                Some(Ok(p)) => p,
                outcome => {
                    // Keep what was fetched: it is valid, and the next sync resumes after it.
                    if let Err(e) = run.flush(true).await {
                        tracing::warn!(%pair, error = %error_chain(&e), "cannot store candles fetched before a failure");
                    }
                    return Err(match outcome {
                        Some(Err(source)) => {
                            SyncError::Fetch { exchange, pair: pair.clone(), timeframe: tf, start_ms: cursor, end_ms: b, source }
                        }
                        _ => cancelled(),
                    });
                }
            };
            requests += 1;
            fetched += page.candles.len() as u64;
            run.buffer.extend_from(&page.candles);
            done += slots(cursor, page.covered_until, tf_ms);
            cursor = page.covered_until;
            progress(SyncEvent::Fetched { pair, done, fetched });
            if run.buffer.len() >= request.options.flush_rows.max(1) {
                run.flush(false).await.map_err(store_err)?;
            }
        }
    }
    run.flush(true).await.map_err(store_err)?;
    let info = store_series_info(store, &key).await.map_err(store_err)?;
    Ok(PairSummary {
        symbol,
        ranges: ranges.len(),
        missing,
        fetched,
        stored: run.stored,
        unavailable: missing.saturating_sub(fetched),
        requests,
        synced_until_ms: end.max(start),
        first_ts: info.as_ref().map(|i| i.first_ts),
        last_ts: info.as_ref().map(|i| i.last_ts),
        rows: info.as_ref().map_or(0, |i| i.rows),
        instrument: Some(market.instrument),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holes_head_gaps_tail() {
        let h = 10;
        assert_eq!(missing_ranges(&[], 0, 100, h), vec![(0, 100)]);
        assert_eq!(missing_ranges(&[], 100, 100, h), vec![]);
        // Complete: nothing to fetch.
        let full: Vec<i64> = (0..10).map(|i| i * h).collect();
        assert_eq!(missing_ranges(&full, 0, 100, h), vec![]);
        // Head, a two-candle gap, and the tail.
        assert_eq!(missing_ranges(&[20, 30, 60, 70], 0, 100, h), vec![(0, 20), (40, 60), (80, 100)]);
        // A start between grid points before the first candle is not a hole.
        assert_eq!(missing_ranges(&[20, 30], 15, 40, h), vec![]);
        assert_eq!(slots(0, 20, h), 2);
        assert_eq!(slots(0, 21, h), 3);
    }

    #[test]
    fn months() {
        // 2024-02-15 12:00 UTC -> 2024-02-01.
        assert_eq!(month_start(1_707_998_400_000), 1_706_745_600_000);
        assert_eq!(month_start(1_706_745_600_000), 1_706_745_600_000);
    }

    #[tokio::test]
    async fn cancel_token_wakes_waiters() {
        let t = CancelToken::new();
        let t2 = t.clone();
        let h = tokio::spawn(async move { t2.cancelled().await });
        tokio::task::yield_now().await;
        t.cancel();
        h.await.unwrap();
        assert!(t.is_cancelled());
    }
}
