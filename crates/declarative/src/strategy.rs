//! [`DeclarativeStrategy`]: a checked strategy file behind the engine's `Strategy` trait.
//! Indicator columns go through the engine's `IndicatorCache` keyed by kind, source and
//! resolved parameters, so hyperopt recomputes only the columns whose parameters changed.

use std::path::Path;
use std::sync::Arc;

use tradai_core::{Candles, StrategySettings};
use tradai_engine::{IndicatorCache, ParamSpec, ParamValues, Signals, Strategy};
use tradai_indicators as ind;

use crate::condition::{and_into, Condition, Operand, Values};
use crate::error::DeclarativeError;
use crate::file::{IndicatorSpec, NumberOrParam, StrategyFile};

/// A strategy defined by a TOML file.
#[derive(Debug, Clone)]
pub struct DeclarativeStrategy {
    file: StrategyFile,
    settings: StrategySettings,
    parameters: Vec<ParamSpec>,
    conditions: [Vec<Condition>; 4],
}

impl DeclarativeStrategy {
    /// Reads and checks a strategy file.
    ///
    /// # Errors
    /// [`DeclarativeError`] naming the key or condition that is wrong.
    pub fn load(path: &Path) -> Result<Self, DeclarativeError> {
        Self::from_file(StrategyFile::read(path)?)
    }

    /// Checks a parsed file.
    ///
    /// # Errors
    /// As [`DeclarativeStrategy::load`].
    pub fn from_file(file: StrategyFile) -> Result<Self, DeclarativeError> {
        let checked = file.check()?;
        Ok(Self { file, settings: checked.settings, parameters: checked.parameters, conditions: checked.conditions })
    }

    /// The file as parsed.
    #[must_use]
    pub fn file(&self) -> &StrategyFile {
        &self.file
    }

    fn number(&self, v: &NumberOrParam, params: &ParamValues) -> f64 {
        match v {
            NumberOrParam::Number(x) => *x,
            NumberOrParam::Param(p) => {
                let name = p.trim_start_matches('$');
                let default = self.parameters.iter().find(|s| s.name == name).map(|s| &s.default);
                let fallback = match default {
                    Some(tradai_engine::ParamValue::Int(i)) => *i as f64,
                    Some(tradai_engine::ParamValue::Decimal(d)) => *d,
                    _ => f64::NAN,
                };
                params.decimal_or(name, fallback)
            }
        }
    }

    fn window(&self, v: Option<&NumberOrParam>, params: &ParamValues) -> usize {
        let x = v.map_or(1.0, |v| self.number(v, params));
        if x.is_finite() && x >= 1.0 {
            x as usize
        } else {
            1
        }
    }

    /// The column `name` (a candle column or an indicator), computed through `cache`.
    fn column(&self, name: &str, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Arc<[f64]> {
        let candle = match name {
            "open" => Some(&candles.open),
            "high" => Some(&candles.high),
            "low" => Some(&candles.low),
            "close" => Some(&candles.close),
            "volume" => Some(&candles.volume),
            _ => None,
        };
        if let Some(c) = candle {
            return cache.get_or_insert_with(name, || c.clone());
        }
        let spec: &IndicatorSpec = &self.file.indicators[name];
        let source = spec.source.as_deref().unwrap_or("close");
        let src = self.column(source, candles, params, cache);
        let w = self.window(spec.period.as_ref(), params);
        let key = |extra: String| format!("{}:{source}:{extra}", spec.kind);
        match spec.kind.as_str() {
            "ema" => cache.get_or_insert_with(&key(w.to_string()), || ind::ema(&src, w)),
            "sma" => cache.get_or_insert_with(&key(w.to_string()), || ind::sma(&src, w)),
            "rsi" => cache.get_or_insert_with(&key(w.to_string()), || ind::rsi(&src, w)),
            "rolling_max" => cache.get_or_insert_with(&key(w.to_string()), || ind::rolling_max(&src, w)),
            "rolling_min" => cache.get_or_insert_with(&key(w.to_string()), || ind::rolling_min(&src, w)),
            "shift" => cache.get_or_insert_with(&key(w.to_string()), || ind::shift(&src, w as isize)),
            "atr" => cache.get_or_insert_with(&format!("atr:{w}"), || ind::atr(&candles.high, &candles.low, &candles.close, w)),
            "bollinger" => {
                let nstd = spec.std.as_ref().map_or(2.0, |v| self.number(v, params));
                let out = spec.output.as_deref().unwrap_or("upper");
                // The explicit shifted sums of the reference BollingerBreakout file (fixed
                // evaluation order, population std).
                cache.get_or_insert_with(&key(format!("{w}:{nstd}:{out}")), || {
                    let b = ind::bollinger_shifted(&src, w, nstd);
                    match out {
                        "mid" => b.mid,
                        "lower" => b.lower,
                        _ => b.upper,
                    }
                })
            }
            "macd" => {
                let f = self.window(spec.fast.as_ref(), params);
                let s = self.window(spec.slow.as_ref(), params);
                let g = self.window(spec.signal.as_ref(), params);
                let out = spec.output.as_deref().unwrap_or("macd");
                cache.get_or_insert_with(&key(format!("{f}:{s}:{g}:{out}")), || {
                    let m = ind::macd(&src, f, s, g);
                    match out {
                        "signal" => m.signal,
                        "hist" => m.hist,
                        _ => m.macd,
                    }
                })
            }
            other => unreachable!("indicator kind '{other}' passed the load check"),
        }
    }

    fn evaluate(&self, list: &[Condition], candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Vec<bool> {
        let n = candles.len();
        if list.is_empty() {
            return vec![false; n];
        }
        let mut out = vec![true; n];
        for c in list {
            let resolve = |o: &Operand, cache: &mut IndicatorCache| -> Result<Arc<[f64]>, f64> {
                match o {
                    Operand::Column(name) => Ok(self.column(name, candles, params, cache)),
                    Operand::Number(x) => Err(*x),
                    Operand::Param(p) => Err(self.number(&NumberOrParam::Param(p.clone()), params)),
                }
            };
            let (l, r) = (resolve(&c.left, cache), resolve(&c.right, cache));
            and_into(&mut out, c.op, as_values(&l), as_values(&r));
        }
        out
    }

    /// Every indicator column of the file, by name (for look-ahead and recursive analysis).
    #[must_use]
    pub fn indicator_columns(&self, candles: &Candles, params: &ParamValues) -> Vec<(String, Vec<f64>)> {
        let mut cache = IndicatorCache::new();
        self.file.indicators.keys().map(|k| (k.clone(), self.column(k, candles, params, &mut cache).to_vec())).collect()
    }
}

/// A resolved operand as the evaluator reads it.
fn as_values(v: &Result<Arc<[f64]>, f64>) -> Values<'_> {
    match v {
        Ok(col) => Values::Column(col),
        Err(x) => Values::Scalar(*x),
    }
}

impl Strategy for DeclarativeStrategy {
    fn name(&self) -> &str {
        &self.file.name
    }

    fn settings(&self) -> StrategySettings {
        self.settings.clone()
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        self.parameters.clone()
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, cache: &mut IndicatorCache) -> Signals {
        let [el, xl, es, xs] = &self.conditions;
        let short = self.settings.can_short;
        Signals {
            enter_long: self.evaluate(el, candles, params, cache),
            exit_long: self.evaluate(xl, candles, params, cache),
            enter_short: if short { self.evaluate(es, candles, params, cache) } else { Vec::new() },
            exit_short: if short { self.evaluate(xs, candles, params, cache) } else { Vec::new() },
            enter_tag: None,
            exit_tag: None,
        }
    }
}
