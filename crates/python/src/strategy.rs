//! [`PythonStrategy`]: a strategy file's class behind tradai-engine's `Strategy` trait.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{json, Value};
use tradai_core::{Candles, Pair, StrategySettings};
use tradai_engine::{IndicatorCache, ParamSpec, ParamValue, ParamValues, Signals, Strategy, StrategyFailure};

use crate::describe::Description;
use crate::error::PythonError;
use crate::frame::{decode_frame, encode_candles, PythonFrame};
use crate::worker::{Launch, Pool, Worker};

/// The environment variable naming the interpreter (default `python3`).
pub const PYTHON_ENV: &str = "TRADAI_PYTHON";

/// An `IStrategy` class from a `.py` file, run by Python workers.
pub struct PythonStrategy {
    description: Description,
    settings: StrategySettings,
    parameters: Vec<ParamSpec>,
    pool: Pool,
    /// Signals by pair, parameter values and candle span: hyperopt epochs that search only
    /// ROI, stop-loss or trailing ask for the same signals again and need no Python call.
    memo: Mutex<HashMap<String, Signals>>,
}

/// Memoised signal sets kept at most (a full memo is cleared, not evicted piecemeal).
const MEMO_ENTRIES: usize = 256;

impl std::fmt::Debug for PythonStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonStrategy").field("class", &self.description.name).field("file", &self.description.file).finish()
    }
}

fn param_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::Int(i) => json!(i),
        ParamValue::Decimal(d) => json!(d),
        ParamValue::Categorical(s) => json!(s),
        ParamValue::Bool(b) => json!(b),
    }
}

impl PythonStrategy {
    /// Loads class `class` from `path` (a `.py` file, or a folder searched like Freqtrade's
    /// `--strategy-path`) with the interpreter `TRADAI_PYTHON` names, or `python3`.
    ///
    /// # Errors
    /// [`PythonError`]: no interpreter, no pandas or pyarrow, no such class, an import error
    /// (with the traceback's last line), invalid settings, or features a vectorised run
    /// cannot honour ([`PythonError::Unsupported`], naming them).
    pub fn load(path: &Path, class: &str) -> Result<Self, PythonError> {
        let interpreter = std::env::var(PYTHON_ENV).ok().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "python3".to_owned());
        Self::load_with(&interpreter, path, class)
    }

    /// [`PythonStrategy::load`] with an explicit interpreter.
    ///
    /// # Errors
    /// As [`PythonStrategy::load`].
    pub fn load_with(interpreter: &str, path: &Path, class: &str) -> Result<Self, PythonError> {
        if !path.exists() {
            return Err(PythonError::ClassNotFound {
                path: path.to_owned(),
                class: class.to_owned(),
                message: "no such file or folder".to_owned(),
            });
        }
        let launch = Launch::new(interpreter.to_owned(), path, class)?;
        let (worker, description): (Worker, Description) = Worker::start(&launch)?;
        let unsupported = description.unsupported();
        if !unsupported.is_empty() {
            return Err(PythonError::Unsupported { class: description.name.clone(), features: unsupported });
        }
        let settings = description.settings()?;
        let parameters = description.parameters()?;
        for skipped in &description.skipped_parameters {
            tracing::warn!(strategy = %description.name, parameter = %skipped, "parameter outside the buy/sell spaces keeps its default");
        }
        Ok(Self { settings, parameters, pool: Pool::new(launch, worker), description, memo: Mutex::default() })
    }

    /// The values of the class's tunable parameters in `params`, as the runner sets them.
    fn param_values(&self, params: &ParamValues) -> Value {
        let mut values = serde_json::Map::new();
        for spec in &self.parameters {
            if let Some(v) = params.get(&spec.name) {
                values.insert(spec.name.clone(), param_json(v));
            }
        }
        Value::Object(values)
    }

    /// What the runner read from the class.
    #[must_use]
    pub fn description(&self) -> &Description {
        &self.description
    }

    /// Runs the populate functions on one pair's candles. With `all_columns`, every numeric
    /// column the strategy added comes back too (for look-ahead analysis).
    ///
    /// # Errors
    /// [`PythonError::Populate`] when the strategy's code raised (the traceback's last line
    /// in the message), [`PythonError::Worker`] when the worker died.
    pub fn frame(&self, pair: &str, candles: &Candles, params: &ParamValues, all_columns: bool) -> Result<PythonFrame, PythonError> {
        let header = json!({
            "pair": pair,
            "params": self.param_values(params),
            "all_columns": all_columns,
            "timeframe": self.settings.timeframe.to_string(),
        });
        let (reply, payload) = self.pool.call(&header, &encode_candles(candles)?)?;
        if reply["ok"].as_bool() != Some(true) {
            let text = |k: &str| reply[k].as_str().unwrap_or("").to_owned();
            return Err(PythonError::Populate {
                class: self.description.name.clone(),
                pair: pair.to_owned(),
                message: text("error"),
                traceback: text("traceback"),
            });
        }
        let frame = decode_frame(&payload, self.settings.can_short)?;
        if !frame.signals.has_len(candles.len()) {
            return Err(PythonError::Populate {
                class: self.description.name.clone(),
                pair: pair.to_owned(),
                message: format!("{} signal rows for {} candles", frame.signals.len(), candles.len()),
                traceback: String::new(),
            });
        }
        Ok(frame)
    }
}

impl Strategy for PythonStrategy {
    fn name(&self) -> &str {
        &self.description.name
    }

    fn settings(&self) -> StrategySettings {
        self.settings.clone()
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        self.parameters.clone()
    }

    /// # Panics
    /// When the strategy's Python code fails: this trait method cannot return the error. The
    /// engine's runner calls [`Strategy::try_populate_pair`], which returns it.
    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, _cache: &mut IndicatorCache) -> Signals {
        match self.frame("", candles, params, false) {
            Ok(f) => f.signals,
            Err(e) => panic!("python strategy failed: {e}"),
        }
    }

    fn try_populate_pair(
        &self,
        pair: &Pair,
        candles: &Candles,
        params: &ParamValues,
        _cache: Option<&mut IndicatorCache>,
    ) -> Result<Signals, StrategyFailure> {
        let key = format!(
            "{pair}|{}|{}|{}|{}",
            self.param_values(params),
            candles.len(),
            candles.ts.first().copied().unwrap_or_default(),
            candles.ts.last().copied().unwrap_or_default()
        );
        let memo = |m: &Mutex<HashMap<String, Signals>>| m.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        if let Some(s) = memo(&self.memo) {
            return Ok(s);
        }
        let out = self.frame(&pair.to_string(), candles, params, false).map(|f| f.signals).map_err(|e| StrategyFailure {
            retryable: e.is_retryable(),
            // The engine adds strategy and pair; Python's own line is what the user needs.
            message: match e {
                PythonError::Populate { message, .. } => message,
                other => other.to_string(),
            },
        })?;
        let mut m = self.memo.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= MEMO_ENTRIES {
            m.clear();
        }
        m.insert(key, out.clone());
        Ok(out)
    }
}
