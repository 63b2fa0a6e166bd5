//! What a run hands back besides the epochs: the best parameters as a strategy config, the
//! importance of each dimension, and an SVG heat map of the two most important ones.

use std::fmt::Write as _;

use serde::Serialize;
use tradai_engine::{ParamKind, ParamValues, Strategy};

use crate::space::{Coordinates, Dimension, SearchSpace};
use crate::study::Study;

/// The strategy config a point stands for, in the shape the backtest and the strategy
/// service read: `{"strategy", "params", "minimal_roi", "stoploss", "trailing_*"}`. `params`
/// holds every strategy parameter (defaults where not searched), `minimal_roi` Freqtrade's
/// `{"minutes": ratio}` map, written in minute order (`"2"` before `"10"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyConfig {
    /// Strategy name.
    pub strategy: String,
    /// Every strategy parameter.
    pub params: ParamValues,
    /// ROI table as (minutes, ratio), ascending minutes.
    #[serde(with = "tradai_core::minutes_map")]
    pub minimal_roi: Vec<(i64, f64)>,
    /// Stop-loss ratio.
    pub stoploss: f64,
    /// Trailing stop on or off.
    pub trailing_stop: bool,
    /// Trailing distance once the offset is reached.
    pub trailing_stop_positive: Option<f64>,
    /// Profit at which the positive trailing distance applies.
    pub trailing_stop_positive_offset: f64,
    /// Trail only once the offset is reached.
    pub trailing_only_offset_is_reached: bool,
}

/// The [`StrategyConfig`] of `point`.
#[must_use]
pub fn best_config(strategy: &dyn Strategy, space: &SearchSpace, point: &[f64]) -> StrategyConfig {
    let c = space.decode(point);
    let mut params = ParamValues::defaults(&strategy.parameters());
    for (k, v) in c.params.iter() {
        params.set(k, v.clone());
    }
    let mut minimal_roi = c.settings.minimal_roi.clone();
    minimal_roi.sort_by_key(|(m, _)| *m);
    StrategyConfig {
        strategy: strategy.name().to_owned(),
        params,
        minimal_roi,
        stoploss: c.settings.stoploss,
        trailing_stop: c.settings.trailing_stop,
        trailing_stop_positive: c.settings.trailing_stop_positive,
        trailing_stop_positive_offset: c.settings.trailing_stop_positive_offset,
        trailing_only_offset_is_reached: c.settings.trailing_only_offset_is_reached,
    }
}

/// How much of the variation of the loss one dimension explains.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Importance {
    /// Dimension name.
    pub name: String,
    /// Share of the variance of the loss ranks explained by the dimension's bins, 0 to 1.
    pub importance: f64,
}

/// Bins of a coordinate: one per option or integer when few, else equal-width.
fn bins(domain: &ParamKind) -> usize {
    let (lo, hi) = domain.bounds();
    match domain {
        ParamKind::Categorical { .. } | ParamKind::Bool => (hi - lo) as usize + 1,
        ParamKind::Int { .. } if hi - lo < 12.0 => (hi - lo) as usize + 1,
        _ => 12,
    }
}

fn bin_of(domain: &ParamKind, x: f64) -> usize {
    let (lo, hi) = domain.bounds();
    let n = bins(domain);
    if hi <= lo {
        return 0;
    }
    let f = (x - lo) / (hi - lo);
    ((f * n as f64) as usize).min(n - 1)
}

/// Ranks of the losses (ties averaged), so the penalty of runs without trades does not swamp
/// the variance the importance is measured on.
fn ranks(losses: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..losses.len()).collect();
    idx.sort_by(|&a, &b| losses[a].total_cmp(&losses[b]));
    let mut r = vec![0.0; losses.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && losses[idx[j + 1]] == losses[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Importance of every dimension, most important first: the variance of the loss ranks
/// explained by grouping the epochs into the dimension's bins (the correlation ratio η²).
#[must_use]
pub fn importance(study: &Study, dims: &[Dimension]) -> Vec<Importance> {
    let r = ranks(&study.epochs.iter().map(|e| e.loss).collect::<Vec<_>>());
    let n = r.len() as f64;
    let mean = r.iter().sum::<f64>() / n.max(1.0);
    let total: f64 = r.iter().map(|x| (x - mean).powi(2)).sum();
    let mut out: Vec<Importance> = dims
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let k = bins(&d.domain);
            let mut sum = vec![0.0; k];
            let mut cnt = vec![0.0; k];
            for (e, x) in study.epochs.iter().zip(&r) {
                let b = bin_of(&d.domain, e.point[j]);
                sum[b] += x;
                cnt[b] += 1.0;
            }
            let between: f64 = sum.iter().zip(&cnt).filter(|(_, c)| **c > 0.0).map(|(s, c)| c * (s / c - mean).powi(2)).sum();
            Importance { name: d.name.clone(), importance: if total > 0.0 { between / total } else { 0.0 } }
        })
        .collect();
    out.sort_by(|a, b| b.importance.total_cmp(&a.importance));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Green for low (good) losses to red for high ones.
fn colour(t: f64) -> String {
    let t = t.clamp(0.0, 1.0);
    let (r, g) = if t < 0.5 { (510.0 * t, 170.0) } else { (255.0, 170.0 * (2.0 - 2.0 * t)) };
    format!("rgb({},{},60)", r.round() as u8, g.round() as u8)
}

fn bin_label(domain: &ParamKind, b: usize) -> String {
    match domain {
        ParamKind::Categorical { options } => options.get(b).cloned().unwrap_or_default(),
        ParamKind::Bool => (b == 1).to_string(),
        _ => {
            let (lo, hi) = domain.bounds();
            let n = bins(domain);
            if matches!(domain, ParamKind::Int { .. }) && hi - lo < 12.0 {
                return format!("{}", lo as i64 + b as i64);
            }
            let v = lo + (hi - lo) * (b as f64 + 0.5) / n as f64;
            if matches!(domain, ParamKind::Int { .. }) {
                format!("{}", v.round())
            } else {
                format!("{v:.3}")
            }
        }
    }
}

/// An SVG heat map of the best loss per cell over the two most important dimensions; `None`
/// when fewer than two dimensions were searched or no epoch ran.
#[must_use]
pub fn render_heatmap_svg(study: &Study, dims: &[Dimension], title: &str) -> Option<String> {
    if dims.len() < 2 || study.epochs.is_empty() {
        return None;
    }
    let imp = importance(study, dims);
    let jx = dims.iter().position(|d| d.name == imp[0].name)?;
    let jy = dims.iter().position(|d| d.name == imp[1].name)?;
    let (dx, dy) = (&dims[jx], &dims[jy]);
    let (nx, ny) = (bins(&dx.domain), bins(&dy.domain));
    let mut cell = vec![f64::INFINITY; nx * ny];
    for e in &study.epochs {
        let k = bin_of(&dy.domain, e.point[jy]) * nx + bin_of(&dx.domain, e.point[jx]);
        cell[k] = cell[k].min(e.loss);
    }
    let seen: Vec<f64> = cell.iter().copied().filter(|v| v.is_finite()).collect();
    let lo = seen.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = seen.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (left, top, cw, ch) = (90.0, 50.0, (480.0 / nx as f64).min(60.0), (360.0 / ny as f64).min(50.0));
    let (w, h) = (left + cw * nx as f64 + 140.0, top + ch * ny as f64 + 70.0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{left}" y="22" font-size="14">{}</text>"#, esc(title));
    let _ = writeln!(
        s,
        r##"<text x="{left}" y="38" fill="#555">best loss per cell (lower is better); importance {}={:.2}, {}={:.2}</text>"##,
        esc(&dx.name),
        imp[0].importance,
        esc(&dy.name),
        imp[1].importance
    );
    for by in 0..ny {
        for bx in 0..nx {
            let v = cell[by * nx + bx];
            // Low values of the y dimension at the bottom, as on a chart.
            let (x, y) = (left + cw * bx as f64, top + ch * (ny - 1 - by) as f64);
            let fill = if v.is_finite() { colour(if hi > lo { (v - lo) / (hi - lo) } else { 0.0 }) } else { "#eee".to_owned() };
            let _ = write!(s, r#"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="white">"#);
            if v.is_finite() {
                let _ = write!(
                    s,
                    "<title>{}={}, {}={}: {v:.4}</title>",
                    esc(&dx.name),
                    esc(&bin_label(&dx.domain, bx)),
                    esc(&dy.name),
                    esc(&bin_label(&dy.domain, by))
                );
            }
            s.push_str("</rect>\n");
        }
    }
    let base = top + ch * ny as f64;
    for bx in 0..nx {
        let x = left + cw * (bx as f64 + 0.5);
        let _ = writeln!(s, r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, base + 14.0, esc(&bin_label(&dx.domain, bx)));
    }
    for by in 0..ny {
        let y = top + ch * ((ny - 1 - by) as f64 + 0.5) + 4.0;
        let _ = writeln!(s, r#"<text x="{:.1}" y="{y:.1}" text-anchor="end">{}</text>"#, left - 6.0, esc(&bin_label(&dy.domain, by)));
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="13">{}</text>"#,
        left + cw * nx as f64 / 2.0,
        base + 36.0,
        esc(&dx.name)
    );
    let _ = writeln!(
        s,
        r#"<text x="20" y="{:.1}" font-size="13" transform="rotate(-90 20 {:.1})" text-anchor="middle">{}</text>"#,
        top + ch * ny as f64 / 2.0,
        top + ch * ny as f64 / 2.0,
        esc(&dy.name)
    );
    let lx = left + cw * nx as f64 + 30.0;
    for i in 0..10 {
        let t = f64::from(i) / 9.0;
        let _ = writeln!(s, r#"<rect x="{lx:.1}" y="{:.1}" width="16" height="18" fill="{}"/>"#, top + 18.0 * f64::from(i), colour(t));
    }
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{lo:.4}</text>"#, lx + 22.0, top + 13.0);
    let _ = writeln!(s, r#"<text x="{:.1}" y="{:.1}">{hi:.4}</text>"#, lx + 22.0, top + 175.0);
    s.push_str("</svg>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::EpochMetrics;
    use crate::space::SpaceName;
    use crate::study::Epoch;

    #[test]
    fn the_dimension_that_drives_the_loss_is_most_important_and_mapped() {
        let dims = vec![
            Dimension { name: "a".into(), space: SpaceName::Buy, domain: ParamKind::Int { low: 0, high: 99 } },
            Dimension { name: "noise".into(), space: SpaceName::Buy, domain: ParamKind::Int { low: 0, high: 99 } },
            Dimension { name: "c".into(), space: SpaceName::Sell, domain: ParamKind::Bool },
        ];
        let epochs = (0..200)
            .map(|i| {
                let point = vec![(i * 37 % 100) as f64, (i * 53 % 97) as f64, (i % 2) as f64];
                let loss = (point[0] - 50.0).abs() + 3.0 * point[2];
                Epoch { index: i, params: Default::default(), loss, metrics: EpochMetrics::default(), is_best: false, point }
            })
            .collect();
        let study = Study { epochs, best: 0 };
        let imp = importance(&study, &dims);
        assert_eq!(imp[0].name, "a");
        assert!(imp[0].importance > 0.8 && imp[2].importance < 0.2, "{imp:?}");
        let svg = render_heatmap_svg(&study, &dims, "t <x>").unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("t &lt;x&gt;") && svg.contains(">a</text>"), "{svg}");
        assert!(render_heatmap_svg(&study, &dims[..1], "t").is_none());
    }

    #[test]
    fn roi_keys_are_written_in_minute_order() {
        let cfg = StrategyConfig {
            strategy: "S".into(),
            params: ParamValues::new(),
            minimal_roi: vec![(0, 0.1), (150, 0.0), (20, 0.05), (2, 0.07)],
            stoploss: -0.1,
            trailing_stop: false,
            trailing_stop_positive: None,
            trailing_stop_positive_offset: 0.0,
            trailing_only_offset_is_reached: false,
        };
        let text = serde_json::to_string(&cfg).unwrap();
        assert!(text.contains(r#""minimal_roi":{"0":0.1,"2":0.07,"20":0.05,"150":0.0}"#), "{text}");
    }
}
