//! Retraining from the candle store: [`StoreCandles`], the store as the ML workflow's
//! [`CandleSource`], and [`run`], which runs a [`RetrainSpec`] on it. The CLI
//! (`tradai ml retrain`) and the job workers (`POST /api/v1/retraining`) both come here, so a
//! retraining reads its candles the same way wherever it runs.

use std::sync::atomic::AtomicBool;

use tradai_core::{Instrument, TimeRange, Timeframe};
use tradai_engine::PairData;
use tradai_ml::{run_retraining, CandleSource, MlError, Notifier, RetrainReport, RetrainSpec, StepRecord};
use tradai_store::{CandleStore, Columns, SeriesKey};
use tradai_tracking::Tracking;

/// The candle store as a [`CandleSource`].
#[derive(Debug, Clone, Copy)]
pub struct StoreCandles<'a> {
    /// The store.
    pub store: &'a CandleStore,
}

fn store_error(what: String, e: tradai_store::StoreError) -> MlError {
    MlError::Candles { what, retryable: e.is_retryable(), source: Some(Box::new(e)) }
}

#[async_trait::async_trait]
impl CandleSource for StoreCandles<'_> {
    async fn read(&self, spec: &RetrainSpec, timeframe: Timeframe, range: TimeRange, warmup: usize) -> Result<Vec<PairData>, MlError> {
        let exchange = &spec.exchange;
        // From the start-up candles before the range to one candle past its (inclusive) end,
        // as a backtest reads them.
        let tf_ms = timeframe.millis();
        let startup_ms = i64::try_from(warmup).unwrap_or(0).saturating_mul(tf_ms);
        let read = TimeRange { start_ms: range.start_ms.map(|s| s - startup_ms), end_ms: range.end_ms.map(|e| e + tf_ms) };
        let mut out = Vec::with_capacity(spec.pairs.len());
        for pair in &spec.pairs {
            let what = format!("{pair} {timeframe} on {exchange} in {range}");
            let key = SeriesKey::new(exchange.clone(), pair.clone(), timeframe);
            let candles = self.store.read(&key, read, Columns::ALL).await.map_err(|e| store_error(what.clone(), e))?;
            if candles.is_empty() {
                return Err(MlError::Candles { what, source: None, retryable: false });
            }
            let instrument = self
                .store
                .instrument(exchange, pair)
                .await
                .map_err(|e| store_error(what, e))?
                .unwrap_or_else(|| Instrument::unknown(pair.clone()));
            out.push(PairData { pair: pair.clone(), candles, instrument });
        }
        Ok(out)
    }
}

/// Runs the retraining workflow of `spec` on the candles of `store` (see
/// [`tradai_ml::run_retraining`]).
///
/// # Errors
/// [`MlError`] from any step, [`MlError::Cancelled`] when `cancel` was set.
pub async fn run(
    spec: &RetrainSpec,
    store: &CandleStore,
    tracking: &Tracking,
    notifier: &dyn Notifier,
    now_ms: i64,
    on_change: &(dyn Fn(&[StepRecord]) + Sync),
    cancel: &AtomicBool,
) -> Result<RetrainReport, MlError> {
    let (tracker, registry) = (tracking.tracker.as_ref(), tracking.registry.as_ref());
    run_retraining(spec, &StoreCandles { store }, tracker, registry, notifier, now_ms, on_change, cancel).await
}
