//! The [`CandleSource`] over the candle store: the drift monitor's recent candles.

use async_trait::async_trait;
use tradai_core::{Candles, ExchangeId, Pair, TimeRange, Timeframe};
use tradai_ml::ModelArtifact;
use tradai_store::{CandleStore, Columns, SeriesKey};

use crate::ports::CandleSource;
use crate::HandlerError;

/// Recent candles from a candle store, on one exchange.
pub struct StoreCandles {
    store: CandleStore,
    exchange: ExchangeId,
}

impl StoreCandles {
    /// Opens the store at `location` (a directory or `s3://` URL).
    ///
    /// # Errors
    /// A dependency error naming the location, or a setting error for a bad exchange.
    pub fn open(location: &str, exchange: &str) -> Result<Self, HandlerError> {
        let store = CandleStore::open(location).map_err(|e| HandlerError::dependency(format!("candle store '{location}'"), false, e))?;
        let exchange = ExchangeId::new(exchange).map_err(|e| HandlerError::Setting {
            name: "exchange".into(),
            value: exchange.into(),
            message: e.to_string(),
        })?;
        Ok(Self { store, exchange })
    }
}

#[async_trait]
impl CandleSource for StoreCandles {
    async fn recent(&self, model: &ModelArtifact, window_ms: i64, now_ms: i64) -> Result<Vec<(Pair, Candles)>, HandlerError> {
        let (pairs, timeframe, warmup) = (&model.pairs, &model.timeframe, model.warmup());
        let tf: Timeframe = timeframe.parse().map_err(|e| HandlerError::dependency(format!("model timeframe '{timeframe}'"), false, e))?;
        let warm_ms = i64::try_from(warmup).unwrap_or(0).saturating_mul(tf.millis());
        let range = TimeRange { start_ms: Some(now_ms - window_ms - warm_ms), end_ms: Some(now_ms) };
        let mut out = Vec::with_capacity(pairs.len());
        for raw in pairs {
            let pair: Pair = raw.parse().map_err(|e| HandlerError::dependency(format!("model pair '{raw}'"), false, e))?;
            let key = SeriesKey::new(self.exchange.clone(), pair.clone(), tf);
            let candles = self.store.read(&key, range, Columns::ALL).await.map_err(|e| {
                let retry = e.is_retryable();
                HandlerError::dependency(format!("candles of {raw} {timeframe}"), retry, e)
            })?;
            if candles.is_empty() {
                return Err(HandlerError::NotFound { what: "recent candles", id: format!("{raw} {timeframe} on {}", self.exchange) });
            }
            out.push((pair, candles));
        }
        Ok(out)
    }
}
