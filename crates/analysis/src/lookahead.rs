//! Look-ahead analysis: does any value on a signal candle change when the candles after it
//! are removed?

use serde::Serialize;
use tradai_core::{iso_ts_ms, Candles, Pair};

use crate::frame::{AnalysisError, Frame, FrameSource};

/// How many signals to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookaheadOptions {
    /// Signal candles checked per pair, spread evenly over the pair's signals.
    pub max_signals_per_pair: usize,
}

impl Default for LookaheadOptions {
    fn default() -> Self {
        Self { max_signals_per_pair: 20 }
    }
}

/// One value that differed between the full and the cut computation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnChange {
    /// The pair.
    pub pair: String,
    /// The signal candle (ISO time).
    pub date: String,
    /// The column.
    pub column: String,
    /// Its value computed on all candles (NaN as null).
    pub full: Option<f64>,
    /// Its value computed on the candles up to this one.
    pub cut: Option<f64>,
}

/// The result: `biased` when any column or signal changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LookaheadReport {
    /// Whether the strategy uses data from after the candle it signals on.
    pub biased: bool,
    /// Columns (signals and indicators) whose value changed on at least one checked candle.
    pub columns: Vec<String>,
    /// Signal candles checked, over all pairs.
    pub signals_checked: usize,
    /// Checked signal candles whose signals changed.
    pub signals_changed: usize,
    /// Pairs checked.
    pub pairs: usize,
    /// The first changes found (at most 50), for the report.
    pub examples: Vec<ColumnChange>,
}

const SIGNAL_NAMES: [&str; 4] = ["enter_long", "exit_long", "enter_short", "exit_short"];

fn signal_columns(f: &Frame) -> [&[bool]; 4] {
    [&f.signals.enter_long, &f.signals.exit_long, &f.signals.enter_short, &f.signals.exit_short]
}

fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Runs the look-ahead analysis over `pairs`.
///
/// # Errors
/// [`AnalysisError`] when the strategy fails on a series.
pub fn lookahead(source: &dyn FrameSource, pairs: &[(Pair, Candles)], options: LookaheadOptions) -> Result<LookaheadReport, AnalysisError> {
    let mut changed_columns: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    let (mut checked, mut changed_signals) = (0, 0);
    let startup = source.startup_candles();
    for (pair, candles) in pairs {
        let full = source.frame(pair, candles)?;
        let n = candles.len();
        // Candles that carry any signal, after the start-up window (where indicators are
        // still warming up and Freqtrade never trades).
        let rows: Vec<usize> = (startup..n).filter(|&t| signal_columns(&full).iter().any(|c| c.get(t).copied().unwrap_or(false))).collect();
        let take = options.max_signals_per_pair.min(rows.len());
        let picked: Vec<usize> = (0..take).map(|i| rows[i * rows.len() / take.max(1)]).collect();
        for t in picked {
            checked += 1;
            let cut = source.frame(pair, &candles.slice(0..t + 1))?;
            let mut signal_changed = false;
            let date = iso_ts_ms(candles.ts[t]);
            for (name, (a, b)) in SIGNAL_NAMES.iter().zip(signal_columns(&full).into_iter().zip(signal_columns(&cut))) {
                let (fa, cb) = (a.get(t).copied().unwrap_or(false), b.get(t).copied().unwrap_or(false));
                if fa != cb {
                    signal_changed = true;
                    note(
                        &mut changed_columns,
                        &mut examples,
                        ColumnChange {
                            pair: pair.to_string(),
                            date: date.clone(),
                            column: (*name).to_owned(),
                            full: Some(f64::from(u8::from(fa))),
                            cut: Some(f64::from(u8::from(cb))),
                        },
                    );
                }
            }
            for (name, col) in &full.columns {
                let Some((_, cut_col)) = cut.columns.iter().find(|(n2, _)| n2 == name) else { continue };
                let (a, b) = (col[t], cut_col.get(t).copied().unwrap_or(f64::NAN));
                if !same(a, b) {
                    note(
                        &mut changed_columns,
                        &mut examples,
                        ColumnChange { pair: pair.to_string(), date: date.clone(), column: name.clone(), full: finite(a), cut: finite(b) },
                    );
                }
            }
            changed_signals += usize::from(signal_changed);
        }
    }
    Ok(LookaheadReport {
        biased: !changed_columns.is_empty(),
        columns: changed_columns,
        signals_checked: checked,
        signals_changed: changed_signals,
        pairs: pairs.len(),
        examples,
    })
}

fn note(columns: &mut Vec<String>, examples: &mut Vec<ColumnChange>, c: ColumnChange) {
    if !columns.contains(&c.column) {
        columns.push(c.column.clone());
    }
    if examples.len() < 50 {
        examples.push(c);
    }
}
