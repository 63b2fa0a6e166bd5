//! The `ensure_data` step of a backtest job: before the run, the candles of its pairs over its
//! window are brought up to date in the store by the sync use case, which compares what is
//! stored with the window and fetches only the holes. A run on a recent window then does not
//! silently use stale or missing candles; a sync that fails fails the job, naming the pairs.

use std::sync::atomic::AtomicBool;

use tradai_app::RunSpec;
use tradai_exchange::{error_chain, Endpoints, SyncOptions, SyncRequest, TransportConfig};
use tradai_store::CandleStore;

use crate::handler::{job_error, JobOutcome};
use crate::sync::run_sync;

/// Brings a run's candles up to date from the exchange before the run. One per worker thread
/// (it owns a small runtime for the exchange requests).
pub struct DataEnsurer {
    rt: tokio::runtime::Runtime,
    store: CandleStore,
    endpoints: Endpoints,
    transport: TransportConfig,
}

impl std::fmt::Debug for DataEnsurer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataEnsurer").field("endpoints", &self.endpoints).finish_non_exhaustive()
    }
}

impl DataEnsurer {
    /// An ensurer writing into the store at `store_location`, fetching from `endpoints`.
    ///
    /// # Errors
    /// Why the store or the runtime cannot be opened.
    pub fn open(store_location: &str, endpoints: Endpoints, transport: TransportConfig) -> Result<Self, String> {
        let store = CandleStore::open(store_location).map_err(|e| format!("cannot open the candle store: {e}"))?;
        // Two workers: the requests wait on the network (as sync jobs do).
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ensure-data")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the ensure_data runtime: {e}"))?;
        Ok(Self { rt, store, endpoints, transport })
    }

    /// Syncs the holes of `spec`'s pairs over its window (from its start to its end, or to the
    /// last closed candle); `report` gets the share done and the sync's progress document.
    /// Returns what was done: `{"candles_fetched", "candles_written", "pairs"}`.
    ///
    /// # Errors
    /// The job's outcome: `Failed` with `invalid_request` for a run without a window start or
    /// timeframe, `data_sync_failed` naming the pairs that could not be synced; `Cancelled`
    /// when `cancel` was set.
    pub fn ensure(
        &self,
        spec: &RunSpec,
        cancel: &AtomicBool,
        report: &dyn Fn(f64, serde_json::Value),
    ) -> Result<serde_json::Value, JobOutcome> {
        let invalid = |m: String| JobOutcome::Failed(job_error("invalid_request", m, false));
        let start_ms = spec
            .timerange
            .start_ms
            .ok_or_else(|| invalid("ensure_data needs the start of the window (timerange, start_date or date_range.start)".to_owned()))?;
        let timeframe = spec.timeframe.ok_or_else(|| invalid("ensure_data needs the run's timeframe".to_owned()))?;
        let client = tradai_exchange::connect(&spec.exchange, &self.endpoints, self.transport.clone())
            .map_err(|e| invalid(format!("ensure_data: {}", error_chain(&e))))?;
        let request =
            SyncRequest { pairs: spec.pairs.clone(), timeframe, start_ms, end_ms: spec.timerange.end_ms, options: SyncOptions::default() };
        let done = run_sync(&self.rt, client, self.store.clone(), request, cancel, report).map_err(|mut e| {
            e.message = format!("ensure_data: {}", e.message);
            JobOutcome::Failed(e)
        })?;
        if cancel.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(JobOutcome::Cancelled);
        }
        let failures: Vec<String> = done.failures().map(|(p, e)| format!("{p}: {}", error_chain(e))).collect();
        if !failures.is_empty() {
            let retryable = done.failures().all(|(_, e)| e.is_retryable());
            let message = format!(
                "ensure_data: {} of {} pairs could not be synced from {} ({timeframe}): {}",
                failures.len(),
                done.pairs.len(),
                spec.exchange,
                failures.join("; ")
            );
            return Err(JobOutcome::Failed(job_error("data_sync_failed", message, retryable)));
        }
        Ok(serde_json::json!({
            "pairs": done.pairs.len(),
            "candles_fetched": done.fetched(),
            "candles_written": done.stored(),
        }))
    }
}
