//! Features and labels from candles. A model declares its features by name (`ret_5`,
//! `rsi_14`, ...); each is a column computed with `tradai-indicators` from candles up to and
//! including `t` only, so a model sees in a backtest exactly what it would have seen live. The
//! label looks `horizon` candles ahead and is absent where that future is not known.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tradai_core::Candles;
use tradai_indicators as ind;

use crate::MlError;

/// One feature column, named as it is written on the command line and in a model's tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeatureSpec {
    /// `ret_<h>`: log return over the last `h` candles, `ln(close[t] / close[t-h])`.
    Return(usize),
    /// `vol_<w>`: sample standard deviation of the one-candle log returns over `w` candles.
    Volatility(usize),
    /// `rsi_<p>`: Wilder RSI over `p` candles, scaled to `[0, 1]`.
    Rsi(usize),
    /// `ema_<fast>_<slow>`: `EMA(close, fast) / EMA(close, slow) - 1`.
    EmaRatio(usize, usize),
    /// `volz_<w>`: z-score of the volume against its mean and deviation over `w` candles.
    VolumeZ(usize),
    /// `range_<w>`: mean of `(high - low) / close` over `w` candles.
    Range(usize),
}

/// The feature set a model uses when it declares none.
pub const DEFAULT_FEATURES: &str = "ret_1,ret_3,ret_12,vol_24,rsi_14,ema_12_26,volz_24,range_12";

impl FeatureSpec {
    /// Candles before the first value that is defined (the warm-up the column needs).
    #[must_use]
    pub fn warmup(self) -> usize {
        match self {
            Self::Return(h) => h,
            Self::Volatility(w) => w,
            // RSI and EMAs are defined early but settle over a few periods; take 3 of them so
            // a model never trains on their start-up transient.
            Self::Rsi(p) => 3 * p,
            Self::EmaRatio(f, s) => 3 * f.max(s),
            Self::VolumeZ(w) | Self::Range(w) => w.saturating_sub(1),
        }
    }

    /// The column over `candles`: NaN where it is not defined yet.
    #[must_use]
    pub fn compute(self, c: &Candles) -> Vec<f64> {
        let n = c.len();
        let mut out = match self {
            Self::Return(h) => {
                let mut v = vec![f64::NAN; n];
                for t in h..n {
                    v[t] = (c.close[t] / c.close[t - h]).ln();
                }
                v
            }
            Self::Volatility(w) => ind::rolling_std(&one_candle_returns(c), w, 1),
            Self::Rsi(p) => ind::rsi(&c.close, p).into_iter().map(|r| r / 100.0).collect(),
            Self::EmaRatio(f, s) => {
                let (ef, es) = (ind::ema(&c.close, f), ind::ema(&c.close, s));
                ef.iter().zip(&es).map(|(a, b)| a / b - 1.0).collect()
            }
            Self::VolumeZ(w) => {
                let mean = ind::sma(&c.volume, w);
                let sd = ind::rolling_std(&c.volume, w, 1);
                (0..n).map(|t| if sd[t] > 0.0 { (c.volume[t] - mean[t]) / sd[t] } else { 0.0 * mean[t] }).collect()
            }
            Self::Range(w) => {
                let r: Vec<f64> = (0..n).map(|t| (c.high[t] - c.low[t]) / c.close[t]).collect();
                ind::sma(&r, w)
            }
        };
        for v in out.iter_mut().take(self.warmup().min(n)) {
            *v = f64::NAN;
        }
        for v in &mut out {
            if !v.is_finite() {
                *v = f64::NAN;
            }
        }
        out
    }
}

fn one_candle_returns(c: &Candles) -> Vec<f64> {
    let mut r = vec![f64::NAN; c.len()];
    for t in 1..c.len() {
        r[t] = (c.close[t] / c.close[t - 1]).ln();
    }
    r
}

impl fmt::Display for FeatureSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Return(h) => write!(f, "ret_{h}"),
            Self::Volatility(w) => write!(f, "vol_{w}"),
            Self::Rsi(p) => write!(f, "rsi_{p}"),
            Self::EmaRatio(a, b) => write!(f, "ema_{a}_{b}"),
            Self::VolumeZ(w) => write!(f, "volz_{w}"),
            Self::Range(w) => write!(f, "range_{w}"),
        }
    }
}

impl FromStr for FeatureSpec {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self, MlError> {
        let bad = || {
            MlError::invalid(
                "features",
                format!("unknown feature '{s}' (expected ret_<n>, vol_<n>, rsi_<n>, ema_<fast>_<slow>, volz_<n> or range_<n>, n >= 1)"),
            )
        };
        let t = s.trim();
        let (kind, rest) = t.split_once('_').ok_or_else(bad)?;
        let nums: Vec<usize> =
            rest.split('_').map(|x| x.parse::<usize>().ok().filter(|v| *v >= 1)).collect::<Option<_>>().ok_or_else(bad)?;
        let spec = match (kind, nums.as_slice()) {
            ("ret", [h]) => Self::Return(*h),
            ("vol", [w]) if *w >= 2 => Self::Volatility(*w),
            ("rsi", [p]) => Self::Rsi(*p),
            ("ema", [a, b]) if a < b => Self::EmaRatio(*a, *b),
            ("volz", [w]) if *w >= 2 => Self::VolumeZ(*w),
            ("range", [w]) => Self::Range(*w),
            _ => return Err(bad()),
        };
        Ok(spec)
    }
}

impl Serialize for FeatureSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FeatureSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated feature list (`ret_1,rsi_14`), refusing duplicates.
///
/// # Errors
/// [`MlError::Invalid`] naming the first bad or repeated feature, or an empty list.
pub fn parse_features(list: &str) -> Result<Vec<FeatureSpec>, MlError> {
    let mut out: Vec<FeatureSpec> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let f: FeatureSpec = part.parse()?;
        if out.contains(&f) {
            return Err(MlError::invalid("features", format!("feature '{f}' is listed twice")));
        }
        out.push(f);
    }
    if out.is_empty() {
        return Err(MlError::invalid("features", format!("no feature in '{list}'")));
    }
    Ok(out)
}

/// Feature columns of one candle series, one `Vec` per feature, in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureColumns {
    /// The columns; `columns[j][t]` is feature `j` at candle `t` (NaN where undefined).
    pub columns: Vec<Vec<f64>>,
}

impl FeatureColumns {
    /// Computes every feature of `features` over `candles`.
    #[must_use]
    pub fn compute(features: &[FeatureSpec], candles: &Candles) -> Self {
        Self { columns: features.iter().map(|f| f.compute(candles)).collect() }
    }

    /// Number of candles.
    #[must_use]
    pub fn len(&self) -> usize {
        self.columns.first().map_or(0, Vec::len)
    }

    /// Whether there are no candles.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether every feature is defined at candle `t`.
    #[must_use]
    pub fn complete(&self, t: usize) -> bool {
        self.columns.iter().all(|c| c[t].is_finite())
    }

    /// Row `t` as a vector (for one-off predictions and tests).
    #[must_use]
    pub fn row(&self, t: usize) -> Vec<f64> {
        self.columns.iter().map(|c| c[t]).collect()
    }
}

/// Warm-up of a feature set: candles before every feature is defined.
#[must_use]
pub fn warmup(features: &[FeatureSpec]) -> usize {
    features.iter().map(|f| f.warmup()).max().unwrap_or(0)
}

/// What a model predicts: whether the close `horizon` candles ahead is above the close now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSpec {
    /// Candles ahead (>= 1).
    pub horizon: usize,
}

impl LabelSpec {
    /// Forward log returns `ln(close[t+h] / close[t])`; `None` for the last `h` candles, whose
    /// future is not known.
    #[must_use]
    pub fn forward_returns(self, c: &Candles) -> Vec<Option<f64>> {
        let n = c.len();
        (0..n).map(|t| (t + self.horizon < n).then(|| (c.close[t + self.horizon] / c.close[t]).ln()).filter(|r| r.is_finite())).collect()
    }

    /// Directions: 1 when the forward return is positive, 0 otherwise; `None` where unknown.
    #[must_use]
    pub fn directions(self, c: &Candles) -> Vec<Option<f64>> {
        self.forward_returns(c).into_iter().map(|r| r.map(|r| if r > 0.0 { 1.0 } else { 0.0 })).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_are_quoted() {
        let fs = parse_features(DEFAULT_FEATURES).unwrap();
        let text: Vec<String> = fs.iter().map(ToString::to_string).collect();
        assert_eq!(text.join(","), DEFAULT_FEATURES);
        let e = parse_features("ret_1,foo_3").unwrap_err().to_string();
        assert!(e.contains("'foo_3'"), "{e}");
        assert!(parse_features("ema_26_12").is_err());
        assert!(parse_features("ret_0").is_err());
        assert!(parse_features("ret_1,ret_1").unwrap_err().to_string().contains("twice"));
        let json = serde_json::to_string(&fs[..2]).unwrap();
        assert_eq!(json, r#"["ret_1","ret_3"]"#);
    }

    #[test]
    fn labels_are_unknown_at_the_end() {
        let mut c = Candles::with_capacity(5);
        for (i, p) in [1.0, 2.0, 1.5, 1.5, 3.0].into_iter().enumerate() {
            c.ts.push(i as i64);
            c.open.push(p);
            c.high.push(p);
            c.low.push(p);
            c.close.push(p);
            c.volume.push(1.0);
        }
        let d = LabelSpec { horizon: 2 }.directions(&c);
        assert_eq!(d, vec![Some(1.0), Some(0.0), Some(1.0), None, None]);
    }
}
