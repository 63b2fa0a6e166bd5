//! Search spaces: the strategy's declared parameters (`buy`, `sell`) plus Freqtrade's ROI,
//! stop-loss and trailing spaces, and the decoding of a sampled point into parameter values
//! and strategy settings.
//!
//! A point is a `Vec<f64>` with one coordinate per [`Dimension`]: the value itself for
//! integers and decimals (already rounded to the grid), the option index for categorical and
//! boolean dimensions. Samplers only see this numeric form.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::Serialize;
use tradai_core::{StrategySettings, Timeframe};
use tradai_engine::{ParamKind, ParamSpace, ParamValue, ParamValues, Strategy};

use crate::error::HyperoptError;

/// One of Freqtrade's hyperopt spaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SpaceName {
    /// The strategy's entry parameters.
    Buy,
    /// The strategy's exit parameters.
    Sell,
    /// The ROI table (three steps, Freqtrade's shape).
    Roi,
    /// The stop-loss ratio.
    Stoploss,
    /// The trailing stop.
    Trailing,
}

const VALID_SPACES: &str = "buy, sell, roi, stoploss, trailing, all, default";

impl SpaceName {
    /// Every space.
    pub const ALL: [Self; 5] = [Self::Buy, Self::Sell, Self::Roi, Self::Stoploss, Self::Trailing];

    /// The name used on the command line.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
            Self::Roi => "roi",
            Self::Stoploss => "stoploss",
            Self::Trailing => "trailing",
        }
    }

    /// Parses a comma list such as `buy,sell,roi`; `all` is every space and `default` is
    /// Freqtrade's default (`buy,sell,roi,stoploss`). Duplicates are dropped.
    ///
    /// # Errors
    /// [`HyperoptError::UnknownSpace`] naming the first unknown entry,
    /// [`HyperoptError::NoSpaces`] for an empty list.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, HyperoptError> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let add: Vec<Self> = match part {
                "all" => Self::ALL.to_vec(),
                "default" => vec![Self::Buy, Self::Sell, Self::Roi, Self::Stoploss],
                p => vec![p.parse()?],
            };
            for s in add {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        if out.is_empty() {
            return Err(HyperoptError::NoSpaces);
        }
        out.sort();
        Ok(out)
    }
}

impl fmt::Display for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SpaceName {
    type Err = HyperoptError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| HyperoptError::UnknownSpace { name: s.to_owned(), valid: VALID_SPACES })
    }
}

/// A parameter kind (the engine's [`ParamKind`]: what a dimension's values are; a decimal
/// parameter is a real coordinate on its digit grid) as a coordinate axis of the search: bounds, snapping, uniform draws, grids
/// and the parameter value of a coordinate (option indices for categorical kinds).
pub trait Coordinates {
    /// Number of options of a categorical or boolean kind; `None` for numeric ones.
    fn choices(&self) -> Option<usize>;
    /// The numeric bounds of the coordinate (option indices for categorical kinds).
    fn bounds(&self) -> (f64, f64);
    /// Snaps a coordinate onto the kind: clamped, integers and options rounded, decimals
    /// rounded to their digits (so equal values compare equal and memoisation works).
    fn snap(&self, x: f64) -> f64;
    /// A uniform draw.
    fn sample_uniform<R: Rng + ?Sized>(&self, rng: &mut R) -> f64;
    /// At most `levels` evenly spaced values (all options for categorical kinds, every integer
    /// when there are fewer than `levels`).
    fn grid(&self, levels: usize) -> Vec<f64>;
    /// The parameter value of a coordinate.
    fn value(&self, x: f64) -> ParamValue;
}

impl Coordinates for ParamKind {
    fn choices(&self) -> Option<usize> {
        match self {
            Self::Categorical { options } => Some(options.len()),
            Self::Bool => Some(2),
            _ => None,
        }
    }

    fn bounds(&self) -> (f64, f64) {
        match self {
            Self::Int { low, high } => (*low as f64, *high as f64),
            Self::Decimal { low, high, .. } => (*low, *high),
            Self::Categorical { options } => (0.0, options.len().saturating_sub(1) as f64),
            Self::Bool => (0.0, 1.0),
        }
    }

    fn snap(&self, x: f64) -> f64 {
        let (lo, hi) = self.bounds();
        let x = if x.is_finite() { x.clamp(lo, hi) } else { lo };
        match self {
            Self::Decimal { decimals, .. } => {
                let m = 10f64.powi(i32::try_from(*decimals).unwrap_or(8));
                ((x * m).round() / m).clamp(lo, hi)
            }
            _ => x.round(),
        }
    }

    fn sample_uniform<R: Rng + ?Sized>(&self, rng: &mut R) -> f64 {
        match self {
            Self::Int { low, high } => rng.random_range(*low..=*high) as f64,
            Self::Decimal { low, high, .. } => self.snap(if high > low { rng.random_range(*low..=*high) } else { *low }),
            Self::Categorical { options } => rng.random_range(0..options.len().max(1)) as f64,
            Self::Bool => f64::from(u8::from(rng.random_bool(0.5))),
        }
    }

    fn grid(&self, levels: usize) -> Vec<f64> {
        if let Some(k) = self.choices() {
            return (0..k).map(|i| i as f64).collect();
        }
        let (lo, hi) = self.bounds();
        let levels = levels.max(1);
        let mut out: Vec<f64> = if levels == 1 {
            vec![self.snap((lo + hi) / 2.0)]
        } else {
            (0..levels).map(|i| self.snap(lo + (hi - lo) * i as f64 / (levels - 1) as f64)).collect()
        };
        out.dedup();
        out
    }

    fn value(&self, x: f64) -> ParamValue {
        let x = self.snap(x);
        match self {
            Self::Int { .. } => ParamValue::Int(x as i64),
            Self::Decimal { .. } => ParamValue::Decimal(x),
            Self::Categorical { options } => ParamValue::Categorical(options[x as usize].clone()),
            Self::Bool => ParamValue::Bool(x >= 0.5),
        }
    }
}

/// One searched quantity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    /// Parameter name (the strategy's, or `roi_t1`, `stoploss`, `trailing_stop_positive`, …).
    pub name: String,
    /// The space it belongs to.
    pub space: SpaceName,
    /// Its values.
    #[serde(flatten)]
    pub domain: ParamKind,
}

/// A decoded point: what one evaluation runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Values of the strategy's own parameters (the `buy` / `sell` dimensions).
    pub params: ParamValues,
    /// The strategy's settings with the ROI, stop-loss and trailing dimensions applied.
    pub settings: StrategySettings,
    /// Every dimension's value by name, for reports.
    pub values: BTreeMap<String, ParamValue>,
}

/// The dimensions of a run and how to turn a point into a [`Candidate`].
#[derive(Debug, Clone)]
pub struct SearchSpace {
    /// Dimensions in a fixed order: strategy parameters, then ROI, stop-loss, trailing.
    pub dimensions: Vec<Dimension>,
    base: StrategySettings,
}

/// Freqtrade's ROI space limits, scaled to the timeframe as Freqtrade does: the minutes
/// linearly, the ratios logarithmically, so that 5m gives the legacy fixed ranges.
fn roi_dimensions(timeframe: Timeframe) -> Vec<Dimension> {
    let tf = timeframe.minutes() as f64;
    let t = tf / 5.0;
    let p = (1.0 + tf).ln() / 6f64.ln();
    let int = |name: &str, lo: f64, hi: f64| Dimension {
        name: name.to_owned(),
        space: SpaceName::Roi,
        domain: ParamKind::Int { low: (lo * t).round() as i64, high: (hi * t).round() as i64 },
    };
    let dec = |name: &str, lo: f64, hi: f64| Dimension {
        name: name.to_owned(),
        space: SpaceName::Roi,
        domain: ParamKind::Decimal { low: round3(lo * p), high: round3(hi * p), decimals: 3 },
    };
    vec![
        int("roi_t1", 10.0, 120.0),
        int("roi_t2", 10.0, 60.0),
        int("roi_t3", 10.0, 40.0),
        dec("roi_p1", 0.01, 0.04),
        dec("roi_p2", 0.01, 0.07),
        dec("roi_p3", 0.01, 0.20),
    ]
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl SearchSpace {
    /// The dimensions of `spaces` for `strategy` run on `timeframe`.
    ///
    /// # Errors
    /// [`HyperoptError::NoSpaces`] for an empty list, [`HyperoptError::EmptySpace`] when
    /// `buy` or `sell` is asked for and the strategy declares no parameter in it.
    pub fn new(strategy: &dyn Strategy, spaces: &[SpaceName], timeframe: Timeframe) -> Result<Self, HyperoptError> {
        if spaces.is_empty() {
            return Err(HyperoptError::NoSpaces);
        }
        let specs = strategy.parameters();
        let mut dimensions = Vec::new();
        for &space in spaces {
            match space {
                SpaceName::Buy | SpaceName::Sell => {
                    let want = if space == SpaceName::Buy { ParamSpace::Buy } else { ParamSpace::Sell };
                    let before = dimensions.len();
                    for s in specs.iter().filter(|s| s.space == want) {
                        dimensions.push(Dimension { name: s.name.clone(), space, domain: s.kind.clone() });
                    }
                    if dimensions.len() == before {
                        let known = specs
                            .iter()
                            .map(|s| format!("{} ({})", s.name, if s.space == ParamSpace::Buy { "buy" } else { "sell" }))
                            .collect::<Vec<_>>();
                        return Err(HyperoptError::EmptySpace {
                            strategy: strategy.name().to_owned(),
                            space: space.to_string(),
                            known: if known.is_empty() { "none".to_owned() } else { known.join(", ") },
                        });
                    }
                }
                SpaceName::Roi => dimensions.extend(roi_dimensions(timeframe)),
                SpaceName::Stoploss => dimensions.push(Dimension {
                    name: "stoploss".to_owned(),
                    space,
                    domain: ParamKind::Decimal { low: -0.35, high: -0.02, decimals: 3 },
                }),
                SpaceName::Trailing => {
                    // Freqtrade fixes `trailing_stop` to true in this space (searching "off" would
                    // make the other three dimensions meaningless half of the time).
                    dimensions.push(Dimension {
                        name: "trailing_stop_positive".to_owned(),
                        space,
                        domain: ParamKind::Decimal { low: 0.01, high: 0.35, decimals: 3 },
                    });
                    dimensions.push(Dimension {
                        name: "trailing_stop_positive_offset_p1".to_owned(),
                        space,
                        domain: ParamKind::Decimal { low: 0.001, high: 0.1, decimals: 3 },
                    });
                    dimensions.push(Dimension { name: "trailing_only_offset_is_reached".to_owned(), space, domain: ParamKind::Bool });
                }
            }
        }
        Ok(Self { dimensions, base: strategy.settings() })
    }

    /// Number of dimensions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.dimensions.len()
    }

    /// Whether there is no dimension.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dimensions.is_empty()
    }

    /// The candidate a point stands for.
    #[must_use]
    pub fn decode(&self, point: &[f64]) -> Candidate {
        let mut params = ParamValues::new();
        let mut values = BTreeMap::new();
        let mut settings = self.base.clone();
        let mut num = BTreeMap::new();
        for (d, &x) in self.dimensions.iter().zip(point) {
            let v = d.domain.value(x);
            match d.space {
                SpaceName::Buy | SpaceName::Sell => params.set(&d.name, v.clone()),
                _ => {
                    num.insert(d.name.as_str(), d.domain.snap(x));
                }
            }
            values.insert(d.name.clone(), v);
        }
        if let (Some(t1), Some(t2), Some(t3), Some(p1), Some(p2), Some(p3)) =
            (num.get("roi_t1"), num.get("roi_t2"), num.get("roi_t3"), num.get("roi_p1"), num.get("roi_p2"), num.get("roi_p3"))
        {
            // Freqtrade's `generate_roi_table`: four steps falling to zero.
            let (t1, t2, t3) = (*t1 as i64, *t2 as i64, *t3 as i64);
            settings.minimal_roi = vec![(0, p1 + p2 + p3), (t3, p1 + p2), (t3 + t2, *p1), (t3 + t2 + t1, 0.0)]
                .into_iter()
                .map(|(k, v)| (k, round_ratio(v)))
                .collect();
        }
        if let Some(s) = num.get("stoploss") {
            settings.stoploss = *s;
        }
        if let (Some(pos), Some(p1)) = (num.get("trailing_stop_positive"), num.get("trailing_stop_positive_offset_p1")) {
            settings.trailing_stop = true;
            settings.trailing_stop_positive = Some(*pos);
            settings.trailing_stop_positive_offset = round_ratio(pos + p1);
            settings.trailing_only_offset_is_reached = num.get("trailing_only_offset_is_reached").is_some_and(|v| *v >= 0.5);
        }
        Candidate { params, settings, values }
    }

    /// The point of the strategy's defaults where a dimension has one, the middle otherwise.
    #[must_use]
    pub fn default_point(&self, strategy: &dyn Strategy) -> Vec<f64> {
        let specs = strategy.parameters();
        self.dimensions
            .iter()
            .map(|d| {
                let def = specs.iter().find(|s| s.name == d.name).map(|s| &s.default);
                let x = match (def, &d.domain) {
                    (Some(ParamValue::Int(v)), _) => *v as f64,
                    (Some(ParamValue::Decimal(v)), _) => *v,
                    (Some(ParamValue::Bool(b)), _) => f64::from(u8::from(*b)),
                    (Some(ParamValue::Categorical(c)), ParamKind::Categorical { options }) => {
                        options.iter().position(|o| o == c).unwrap_or(0) as f64
                    }
                    _ => {
                        let (lo, hi) = d.domain.bounds();
                        (lo + hi) / 2.0
                    }
                };
                d.domain.snap(x)
            })
            .collect()
    }
}

/// Sums of 3-decimal ratios carry float noise (0.1 + 0.2); keep the table readable.
fn round_ratio(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

pub use tradai_engine::WithSettings;

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_engine::StrategyRegistry;

    #[test]
    fn space_lists_parse_and_reject_unknown_names() {
        assert_eq!(SpaceName::parse_list("sell, buy,buy").unwrap(), vec![SpaceName::Buy, SpaceName::Sell]);
        assert_eq!(SpaceName::parse_list("all").unwrap().len(), 5);
        let e = SpaceName::parse_list("buy,sel").unwrap_err().to_string();
        assert!(e.contains("'sel'") && e.contains("buy, sell"), "{e}");
        assert!(matches!(SpaceName::parse_list(" , "), Err(HyperoptError::NoSpaces)));
    }

    #[test]
    fn a_space_without_parameters_is_named() {
        let reg = StrategyRegistry::builtin();
        let e = SearchSpace::new(reg.get("EmaCross").unwrap(), &[SpaceName::Sell], Timeframe::M5).unwrap_err().to_string();
        assert!(e.contains("'EmaCross'") && e.contains("'sell'") && e.contains("fast (buy)"), "{e}");
    }

    #[test]
    fn roi_stoploss_trailing_decode_into_settings() {
        let reg = StrategyRegistry::builtin();
        let s = reg.get("EmaCross").unwrap();
        let sp = SearchSpace::new(s, &SpaceName::ALL.iter().copied().filter(|x| *x != SpaceName::Sell).collect::<Vec<_>>(), Timeframe::M5)
            .unwrap();
        let names: Vec<&str> = sp.dimensions.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names[..3], ["fast", "slow", "roi_t1"]);
        let mut point = sp.default_point(s);
        let idx = |n: &str| names.iter().position(|x| *x == n).unwrap();
        point[idx("roi_t1")] = 100.0;
        point[idx("roi_t2")] = 30.0;
        point[idx("roi_t3")] = 20.0;
        point[idx("roi_p1")] = 0.01;
        point[idx("roi_p2")] = 0.02;
        point[idx("roi_p3")] = 0.03;
        point[idx("stoploss")] = -0.123_4;
        point[idx("trailing_stop_positive")] = 0.02;
        point[idx("trailing_stop_positive_offset_p1")] = 0.01;
        point[idx("trailing_only_offset_is_reached")] = 1.0;
        let c = sp.decode(&point);
        assert_eq!(c.settings.minimal_roi, vec![(0, 0.06), (20, 0.03), (50, 0.01), (150, 0.0)]);
        assert_eq!(c.settings.stoploss, -0.123);
        assert!(c.settings.trailing_stop && c.settings.trailing_only_offset_is_reached);
        assert_eq!(c.settings.trailing_stop_positive_offset, 0.03);
        assert_eq!(c.params.int_or("fast", 0), 12);
        assert_eq!(c.values["stoploss"], ParamValue::Decimal(-0.123));
    }

    #[test]
    fn grids_cover_the_bounds() {
        assert_eq!(ParamKind::Int { low: 2, high: 4 }.grid(10), vec![2.0, 3.0, 4.0]);
        assert_eq!(ParamKind::Int { low: 0, high: 100 }.grid(3), vec![0.0, 50.0, 100.0]);
        assert_eq!(ParamKind::Bool.grid(7), vec![0.0, 1.0]);
    }
}
