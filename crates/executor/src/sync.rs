//! Sync jobs (`POST /api/v1/data/sync`): the job config and the handler that runs
//! `tradai_exchange::sync_pairs` into the candle store on a small runtime of its own, turns a
//! job cancel into the sync's cancel token, and reports pairs done and candles fetched as
//! progress. A sync always runs in this process: it waits on the network, not on the CPU.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tradai_core::{ExchangeId, Pair, Timeframe};
use tradai_exchange::{error_chain, CancelToken, Endpoints, SyncEvent, SyncOptions, SyncRequest, TransportConfig};
use tradai_jobs::{Job, JobError};
use tradai_store::CandleStore;

use crate::handler::{invalid_config, job_error, JobContext, JobHandler, JobKind, JobOutcome};

/// Job type of exchange syncs in the repository.
pub const SYNC: &str = "sync";

/// A validated sync request as the job stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncJobRequest {
    /// Exchange id (`binance`, `bybit`).
    pub exchange: String,
    /// Pairs in CCXT notation; `BTC/USDT:USDT` is a USDT futures pair.
    pub pairs: Vec<String>,
    /// Timeframe.
    pub timeframe: String,
    /// First candle wanted, epoch ms.
    pub start_ms: i64,
    /// Exclusive end, epoch ms; up to the last closed candle when absent.
    #[serde(default)]
    pub end_ms: Option<i64>,
}

/// What a sync job stores as its config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncJobConfig {
    /// The validated request.
    pub request: SyncJobRequest,
}

impl JobKind {
    /// Sync jobs into the store at `store_location`, from the exchanges at `endpoints`.
    #[must_use]
    pub fn sync(store_location: String, endpoints: Endpoints, transport: TransportConfig) -> Self {
        Self::new(
            SYNC,
            Arc::new(move || {
                let store = CandleStore::open(&store_location).map_err(|e| format!("cannot open the candle store: {e}"))?;
                // Two workers: requests are I/O-bound and decoding is cheap (as `tradai data sync`).
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("sync-io")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the sync runtime: {e}"))?;
                Ok(Box::new(SyncHandler { rt, store, endpoints: endpoints.clone(), transport: transport.clone() }) as Box<dyn JobHandler>)
            }),
        )
    }
}

struct SyncHandler {
    rt: tokio::runtime::Runtime,
    store: CandleStore,
    endpoints: Endpoints,
    transport: TransportConfig,
}

/// Per-pair progress: candle slots planned and covered.
#[derive(Default)]
struct PairProgress {
    missing: u64,
    done: u64,
    fetched: u64,
    finished: bool,
}

fn parse(req: &SyncJobRequest) -> Result<(ExchangeId, Vec<Pair>, Timeframe), String> {
    let exchange = ExchangeId::new(&req.exchange).map_err(|e| e.to_string())?;
    let pairs = req.pairs.iter().map(|p| p.parse::<Pair>().map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?;
    let timeframe = req.timeframe.parse::<Timeframe>().map_err(|e| e.to_string())?;
    Ok((exchange, pairs, timeframe))
}

/// Runs the sync use case on `rt`: `cancel` becomes the sync's cancel token (pairs store what
/// they fetched and stop), and `report` gets the share done and `{"pairs_total", "pairs_done",
/// "candles_fetched"}` every 100 ms and at the end. Shared by sync jobs and the `ensure_data`
/// step of backtests.
///
/// # Errors
/// A [`JobError`]: `invalid_request` for a request the sync refuses, `internal` when its task
/// panicked or was lost.
pub(crate) fn run_sync(
    rt: &tokio::runtime::Runtime,
    client: Arc<dyn tradai_exchange::ExchangeClient>,
    store: CandleStore,
    request: SyncRequest,
    cancel: &AtomicBool,
    report: &dyn Fn(f64, serde_json::Value),
) -> Result<tradai_exchange::SyncReport, JobError> {
    let total = request.pairs.len();
    let state: Arc<Mutex<HashMap<String, PairProgress>>> = Arc::new(Mutex::new(HashMap::new()));
    let st = Arc::clone(&state);
    let progress: tradai_exchange::SyncProgress = Arc::new(move |ev| {
        let mut g = st.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match ev {
            SyncEvent::Planned { pair, missing, .. } => g.entry(pair.to_string()).or_default().missing = missing,
            SyncEvent::Fetched { pair, done, fetched } => {
                let p = g.entry(pair.to_string()).or_default();
                (p.done, p.fetched) = (done, fetched);
            }
            SyncEvent::Stored { .. } => {}
            SyncEvent::Finished { pair, .. } => g.entry(pair.to_string()).or_default().finished = true,
        }
    });
    let report_progress = || {
        let g = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        #[allow(clippy::cast_precision_loss)]
        let share = |p: &PairProgress| {
            if p.finished {
                1.0
            } else if p.missing == 0 {
                0.0
            } else {
                p.done as f64 / p.missing as f64
            }
        };
        let sum: f64 = g.values().map(share).sum();
        let detail = serde_json::json!({
            "pairs_total": total,
            "pairs_done": g.values().filter(|p| p.finished).count(),
            "candles_fetched": g.values().map(|p| p.fetched).sum::<u64>(),
        });
        #[allow(clippy::cast_precision_loss)]
        report((sum / total.max(1) as f64).min(1.0), detail);
    };
    let token = CancelToken::new();
    let result = rt.block_on(async {
        let sync = tokio::spawn(tradai_exchange::sync_pairs(client, store, request, progress, token.clone()));
        tokio::pin!(sync);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                r = &mut sync => break r,
                _ = tick.tick() => {
                    if cancel.load(Ordering::Relaxed) {
                        // Pairs store what they fetched and stop; the store stays consistent.
                        token.cancel();
                    }
                    report_progress();
                }
            }
        }
    });
    report_progress();
    match result {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(job_error("invalid_request", error_chain(&e), false)),
        Err(e) => Err(job_error("internal", format!("the sync task failed: {e}"), false)),
    }
}

impl JobHandler for SyncHandler {
    fn run(&mut self, job: &Job, ctx: &JobContext<'_>) -> JobOutcome {
        let cfg: SyncJobConfig = match serde_json::from_value(job.config.clone()) {
            Ok(c) => c,
            Err(e) => return invalid_config(&e),
        };
        let (exchange, pairs, timeframe) = match parse(&cfg.request) {
            Ok(x) => x,
            Err(m) => return JobOutcome::Failed(job_error("invalid_request", m, false)),
        };
        let client = match tradai_exchange::connect(&exchange, &self.endpoints, self.transport.clone()) {
            Ok(c) => c,
            Err(e) => return JobOutcome::Failed(job_error("invalid_request", error_chain(&e), false)),
        };
        let request =
            SyncRequest { pairs, timeframe, start_ms: cfg.request.start_ms, end_ms: cfg.request.end_ms, options: SyncOptions::default() };
        let report = match run_sync(&self.rt, client, self.store.clone(), request, ctx.cancel, &|p, detail| ctx.progress(p, Some(detail))) {
            Ok(r) => r,
            Err(e) => return JobOutcome::Failed(e),
        };
        if ctx.cancel.load(Ordering::Relaxed) {
            return JobOutcome::Cancelled;
        }
        let mut result = serde_json::to_value(&report).unwrap_or_default();
        if let Some(o) = result.as_object_mut() {
            o.insert("candles_written".into(), serde_json::json!(report.stored()));
            o.insert("candles_fetched".into(), serde_json::json!(report.fetched()));
        }
        let failures: Vec<String> = report.failures().map(|(_, e)| error_chain(e)).collect();
        if failures.is_empty() {
            return JobOutcome::Completed(result);
        }
        let retryable = report.failures().all(|(_, e)| e.is_retryable());
        let message = format!("{} of {} pairs failed: {}", failures.len(), report.pairs.len(), failures.join("; "));
        JobOutcome::FailedWithResult(job_error("sync_failed", message, retryable), result)
    }
}
