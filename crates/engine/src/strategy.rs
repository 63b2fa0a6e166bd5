//! The strategy interface: settings, tunable parameters and vectorised signal columns.
//!
//! A strategy turns one pair's candles into four boolean signal columns. It never sees the
//! wallet, other pairs or the simulator, so the same code serves backtests, hyperopt and live
//! signal generation. Indicator columns go through an [`IndicatorCache`] keyed by their
//! parameters, so hyperopt can keep one cache per pair and recompute only the columns whose
//! parameters changed.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tradai_core::{Candles, Pair, StrategySettings};

/// Which hyperopt space a parameter belongs to (Freqtrade's `buy` / `sell`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamSpace {
    /// Entry-side parameters.
    Buy,
    /// Exit-side parameters.
    Sell,
}

/// The type and range of a tunable parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ParamKind {
    /// Integer in `[low, high]`.
    Int {
        /// Smallest value.
        low: i64,
        /// Largest value.
        high: i64,
    },
    /// Decimal in `[low, high]` with `decimals` digits after the point.
    Decimal {
        /// Smallest value.
        low: f64,
        /// Largest value.
        high: f64,
        /// Digits after the decimal point hyperopt should search on.
        decimals: u32,
    },
    /// One of a fixed list of strings.
    Categorical {
        /// The allowed values.
        options: Vec<String>,
    },
    /// A switch.
    Bool,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// Integer parameter value.
    Int(i64),
    /// Decimal parameter value.
    Decimal(f64),
    /// Categorical parameter value.
    Categorical(String),
    /// Boolean parameter value.
    Bool(bool),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Decimal(v) => write!(f, "{v}"),
            Self::Categorical(v) => f.write_str(v),
            Self::Bool(v) => write!(f, "{v}"),
        }
    }
}

/// One tunable parameter of a strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Name, unique within the strategy.
    pub name: String,
    /// Type and range.
    #[serde(flatten)]
    pub kind: ParamKind,
    /// Value used when none is given; the reference value for the built-in strategies.
    pub default: ParamValue,
    /// Hyperopt space.
    pub space: ParamSpace,
}

impl ParamSpec {
    /// An integer parameter.
    #[must_use]
    pub fn int(name: &str, low: i64, high: i64, default: i64, space: ParamSpace) -> Self {
        Self { name: name.to_owned(), kind: ParamKind::Int { low, high }, default: ParamValue::Int(default), space }
    }

    /// A decimal parameter.
    #[must_use]
    pub fn decimal(name: &str, low: f64, high: f64, decimals: u32, default: f64, space: ParamSpace) -> Self {
        Self { name: name.to_owned(), kind: ParamKind::Decimal { low, high, decimals }, default: ParamValue::Decimal(default), space }
    }

    /// Whether `v` has this parameter's type and lies in its range.
    #[must_use]
    pub fn accepts(&self, v: &ParamValue) -> bool {
        match (&self.kind, v) {
            (ParamKind::Int { low, high }, ParamValue::Int(x)) => (low..=high).contains(&x),
            (ParamKind::Decimal { low, high, .. }, ParamValue::Decimal(x)) => *low <= *x && *x <= *high,
            (ParamKind::Decimal { low, high, .. }, ParamValue::Int(x)) => *low <= *x as f64 && *x as f64 <= *high,
            (ParamKind::Categorical { options }, ParamValue::Categorical(x)) => options.contains(x),
            (ParamKind::Bool, ParamValue::Bool(_)) => true,
            _ => false,
        }
    }
}

/// A parameter value that does not fit the strategy's parameter list.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// No parameter of that name.
    #[error("unknown parameter '{name}' (known: {known})")]
    Unknown {
        /// The name given.
        name: String,
        /// Comma-separated names the strategy has.
        known: String,
    },
    /// Wrong type or out of range.
    #[error("invalid value {value} for parameter '{name}': expected {expected}")]
    Invalid {
        /// The parameter.
        name: String,
        /// The value given.
        value: String,
        /// The type and range allowed.
        expected: String,
    },
}

/// Parameter values by name. Missing names fall back to the strategy's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ParamValues(BTreeMap<String, ParamValue>);

impl ParamValues {
    /// No values: every parameter takes its default.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults of `specs`.
    #[must_use]
    pub fn defaults(specs: &[ParamSpec]) -> Self {
        Self(specs.iter().map(|s| (s.name.clone(), s.default.clone())).collect())
    }

    /// Sets one value (builder style).
    #[must_use]
    pub fn with(mut self, name: &str, value: ParamValue) -> Self {
        self.set(name, value);
        self
    }

    /// Sets one value.
    pub fn set(&mut self, name: &str, value: ParamValue) {
        self.0.insert(name.to_owned(), value);
    }

    /// The value of `name`, if set.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// Integer value of `name`, or `default` when unset or of another type.
    #[must_use]
    pub fn int_or(&self, name: &str, default: i64) -> i64 {
        match self.0.get(name) {
            Some(ParamValue::Int(v)) => *v,
            _ => default,
        }
    }

    /// Decimal value of `name` (integers accepted), or `default`.
    #[must_use]
    pub fn decimal_or(&self, name: &str, default: f64) -> f64 {
        match self.0.get(name) {
            Some(ParamValue::Decimal(v)) => *v,
            Some(ParamValue::Int(v)) => *v as f64,
            _ => default,
        }
    }

    /// Boolean value of `name`, or `default`.
    #[must_use]
    pub fn bool_or(&self, name: &str, default: bool) -> bool {
        match self.0.get(name) {
            Some(ParamValue::Bool(v)) => *v,
            _ => default,
        }
    }

    /// Iterates over the values set, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Checks every value against `specs`.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] for a name `specs` lacks, [`ParamError::Invalid`] for a value of
    /// the wrong type or out of range.
    pub fn validate(&self, specs: &[ParamSpec]) -> Result<(), ParamError> {
        for (name, value) in &self.0 {
            let Some(spec) = specs.iter().find(|s| &s.name == name) else {
                return Err(ParamError::Unknown {
                    name: name.clone(),
                    known: specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
                });
            };
            if !spec.accepts(value) {
                let expected = match &spec.kind {
                    ParamKind::Int { low, high } => format!("an integer in [{low}, {high}]"),
                    ParamKind::Decimal { low, high, .. } => format!("a number in [{low}, {high}]"),
                    ParamKind::Categorical { options } => format!("one of {}", options.join(", ")),
                    ParamKind::Bool => "true or false".to_owned(),
                };
                return Err(ParamError::Invalid { name: name.clone(), value: value.to_string(), expected });
            }
        }
        Ok(())
    }
}

/// Entry and exit signal columns for one pair, one value per candle.
///
/// A signal on candle `t` acts on candle `t + 1` (the simulator shifts them); strategies
/// write them on the candle whose close produced them. The short columns may be left empty,
/// which means "never" (long-only strategies need not allocate them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// Open a long position.
    pub enter_long: Vec<bool>,
    /// Close a long position.
    pub exit_long: Vec<bool>,
    /// Open a short position (futures, `can_short` strategies); empty for never.
    pub enter_short: Vec<bool>,
    /// Close a short position; empty for never.
    pub exit_short: Vec<bool>,
    /// Optional entry tag per candle, copied onto trades opened from it.
    pub enter_tag: Option<Vec<Option<String>>>,
    /// Optional exit tag per candle: a trade closed by that candle's exit signal reports it as
    /// its exit reason (Freqtrade's `exit_tag`).
    pub exit_tag: Option<Vec<Option<String>>>,
}

impl Signals {
    /// `n` candles without any signal.
    #[must_use]
    pub fn none(n: usize) -> Self {
        Self {
            enter_long: vec![false; n],
            exit_long: vec![false; n],
            enter_short: vec![false; n],
            exit_short: vec![false; n],
            enter_tag: None,
            exit_tag: None,
        }
    }

    /// `n` candles without any signal and without short columns.
    #[must_use]
    pub fn long_only(n: usize) -> Self {
        Self {
            enter_long: vec![false; n],
            exit_long: vec![false; n],
            enter_short: Vec::new(),
            exit_short: Vec::new(),
            enter_tag: None,
            exit_tag: None,
        }
    }

    /// Number of candles covered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.enter_long.len()
    }

    /// Whether no candle is covered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.enter_long.is_empty()
    }

    /// Whether all columns have `n` values (short columns may also be empty).
    #[must_use]
    pub fn has_len(&self, n: usize) -> bool {
        let short_ok = |c: &Vec<bool>| c.is_empty() || c.len() == n;
        self.enter_long.len() == n
            && self.exit_long.len() == n
            && short_ok(&self.enter_short)
            && short_ok(&self.exit_short)
            && self.enter_tag.as_ref().is_none_or(|t| t.len() == n)
            && self.exit_tag.as_ref().is_none_or(|t| t.len() == n)
    }
}

/// Indicator columns of one pair's candles, keyed by a name that encodes their parameters
/// (for example `ema:close:12`).
///
/// A cache belongs to one candle series: hyperopt keeps one per pair and reuses it across
/// evaluations, so an EMA whose span did not change is not recomputed.
#[derive(Debug, Clone, Default)]
pub struct IndicatorCache {
    columns: HashMap<String, Arc<[f64]>>,
}

impl IndicatorCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The column named `key`, computing it with `compute` the first time.
    pub fn get_or_insert_with(&mut self, key: &str, compute: impl FnOnce() -> Vec<f64>) -> Arc<[f64]> {
        if let Some(c) = self.columns.get(key) {
            return Arc::clone(c);
        }
        let col: Arc<[f64]> = compute().into();
        self.columns.insert(key.to_owned(), Arc::clone(&col));
        col
    }

    /// Number of cached columns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// Every cached column with its key, sorted by key (for analyses that look at a
    /// strategy's indicators, not only its signals).
    #[must_use]
    pub fn columns(&self) -> Vec<(&str, &[f64])> {
        let mut out: Vec<(&str, &[f64])> = self.columns.iter().map(|(k, v)| (k.as_str(), &v[..])).collect();
        out.sort_by(|a, b| a.0.cmp(b.0));
        out
    }

    /// Drops every column (for example when the candles change).
    pub fn clear(&mut self) {
        self.columns.clear();
    }
}

/// A strategy that could not compute its signals: one that runs code outside this process (a
/// Python strategy file) can fail where a compiled one cannot.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct StrategyFailure {
    /// What went wrong, as the strategy's runtime reported it (for Python: the traceback's
    /// last line).
    pub message: String,
    /// Whether running again may succeed (a crashed interpreter, not an error in the code).
    pub retryable: bool,
}

impl StrategyFailure {
    /// Whether running again may succeed.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// A trading strategy: settings, tunable parameters and a vectorised signal function.
pub trait Strategy: Send + Sync {
    /// Unique name, as used on the command line (`EmaCross`).
    fn name(&self) -> &str;

    /// Exit and risk settings (ROI table, stop-loss, trailing, …).
    fn settings(&self) -> StrategySettings;

    /// Tunable parameters with their defaults. Empty by default.
    fn parameters(&self) -> Vec<ParamSpec> {
        Vec::new()
    }

    /// Computes the signal columns of one pair, taking indicator columns from `cache`.
    ///
    /// Parameters missing from `params` take their defaults. The result has one value per
    /// candle.
    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals;

    /// Computes the signal columns of one pair without keeping indicators.
    fn populate(&self, candles: &Candles, params: &ParamValues) -> Signals {
        self.populate_with_cache(candles, params, &mut IndicatorCache::new())
    }

    /// The signals of `pair`, for strategies that can fail (code run outside this process)
    /// or that need the pair's name; the runner calls this one. The default computes
    /// [`Strategy::populate_with_cache`] (or [`Strategy::populate`] without a cache) and
    /// cannot fail.
    ///
    /// # Errors
    /// [`StrategyFailure`] when the signals could not be computed.
    fn try_populate_pair(
        &self,
        pair: &Pair,
        candles: &Candles,
        params: &ParamValues,
        cache: Option<&mut IndicatorCache>,
    ) -> Result<Signals, StrategyFailure> {
        let _ = pair;
        Ok(match cache {
            Some(cache) => self.populate_with_cache(candles, params, cache),
            None => self.populate(candles, params),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_validate_and_default() {
        let specs = vec![ParamSpec::int("fast", 2, 50, 12, ParamSpace::Buy)];
        let p = ParamValues::defaults(&specs);
        assert_eq!(p.int_or("fast", 0), 12);
        assert!(p.validate(&specs).is_ok());
        let bad = ParamValues::new().with("fast", ParamValue::Int(99));
        let e = bad.validate(&specs).unwrap_err().to_string();
        assert!(e.contains("'fast'") && e.contains("[2, 50]"), "{e}");
        let e = ParamValues::new().with("slow", ParamValue::Int(1)).validate(&specs).unwrap_err().to_string();
        assert_eq!(e, "unknown parameter 'slow' (known: fast)");
    }

    #[test]
    fn cache_computes_once() {
        let mut c = IndicatorCache::new();
        let mut calls = 0;
        let a = c.get_or_insert_with("k", || {
            calls += 1;
            vec![1.0]
        });
        let b = c.get_or_insert_with("k", || vec![2.0]);
        assert_eq!(calls, 1);
        assert_eq!(&*a, &*b);
    }
}
