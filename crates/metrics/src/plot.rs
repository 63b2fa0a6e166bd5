//! Equity and drawdown plot as a self-contained SVG string (no plotting crate).
//!
//! Top panel: the balance over time with the starting balance as a dashed reference. Bottom
//! panel: the underwater curve, the percentage below the running peak, filled. Both share the
//! time axis. Very long series are thinned to a few points per pixel column (first, min, max,
//! last of each column) so a year of 1-minute candles still gives a small file that looks the
//! same.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use tradai_core::Trade;

/// Size, title and labels of the plot.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Title line at the top.
    pub title: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Stake currency for the value axis caption.
    pub currency: String,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self { title: "Equity".to_owned(), width: 1000, height: 600, currency: String::new() }
    }
}

/// A balance curve from closed trades only: the starting balance at `start_ms`, then the
/// running balance after each trade in close-date order (for runs without a balance series).
#[must_use]
pub fn equity_from_trades(trades: &[Trade], starting_balance: f64, start_ms: i64) -> Vec<(i64, f64)> {
    let mut sorted: Vec<&Trade> = trades.iter().collect();
    sorted.sort_by_key(|t| t.close_timestamp);
    let mut out = Vec::with_capacity(trades.len() + 1);
    let first = sorted.first().map_or(start_ms, |t| t.close_timestamp.min(start_ms));
    out.push((first, starting_balance));
    let mut bal = starting_balance;
    for t in sorted {
        bal += t.profit_abs;
        out.push((t.close_timestamp, bal));
    }
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The opening of a plot: the `<svg>` element, a white background and the title line (the
/// equity and the loss plots share it, so they look alike).
pub(crate) fn svg_open(w: f64, h: f64, title: &str) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r##"<rect x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>"##);
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="26" text-anchor="middle" font-size="17" font-weight="bold" fill="#222">{}</text>"##,
        w / 2.0,
        xml_escape(title)
    );
    svg
}

/// Ends a plot that has nothing to draw with `message` in its middle.
pub(crate) fn svg_close_with_message(mut svg: String, w: f64, h: f64, message: &str) -> String {
    let _ = writeln!(svg, r##"<text x="{}" y="{}" text-anchor="middle" fill="#888">{message}</text>"##, w / 2.0, h / 2.0);
    svg.push_str("</svg>\n");
    svg
}

/// Horizontal grid lines with value labels on the left for round values between `lo` and `hi`
/// (about `target` of them), placed by `y_of`; `suffix` follows each label (`%`).
pub(crate) fn value_grid(
    svg: &mut String,
    (lo, hi, target): (f64, f64, usize),
    (left, plot_w): (f64, f64),
    y_of: impl Fn(f64) -> f64,
    suffix: &str,
) {
    let (ticks, step) = nice_ticks(lo, hi, target);
    let dec = decimals_for(step);
    for v in &ticks {
        let y = y_of(*v);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{y:.2}" x2="{}" y2="{y:.2}" stroke="#e3e6e9"/><text x="{}" y="{:.2}" text-anchor="end" fill="#444">{v:.dec$}{suffix}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0
        );
    }
}

/// Round tick steps for a value range: 1, 2, 2.5 or 5 times a power of ten.
pub(crate) fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    let span = (hi - lo).abs().max(f64::EPSILON * hi.abs().max(1.0));
    let raw = span / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() * step;
    let ticks = (0..).map(|i| first + f64::from(i) * step).take_while(|v| *v <= hi + step * 1e-9).take(50).collect();
    (ticks, step)
}

fn decimals_for(step: f64) -> usize {
    let d = -step.log10().floor();
    // 2.5-steps need one more digit than their magnitude.
    let extra = usize::from((step / 10f64.powf(step.log10().floor()) - 2.5).abs() < 1e-9);
    (d.max(0.0) as usize + extra).min(10)
}

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// Time ticks on round UTC boundaries, about `target` of them.
fn time_ticks(t0: i64, t1: i64, target: i64) -> (Vec<i64>, i64) {
    let steps = [
        MINUTE,
        5 * MINUTE,
        15 * MINUTE,
        30 * MINUTE,
        HOUR,
        2 * HOUR,
        3 * HOUR,
        6 * HOUR,
        12 * HOUR,
        DAY,
        2 * DAY,
        7 * DAY,
        14 * DAY,
        30 * DAY,
        91 * DAY,
        182 * DAY,
        365 * DAY,
    ];
    let span = (t1 - t0).max(1);
    let step = steps.iter().copied().find(|s| span / s <= target).unwrap_or(365 * DAY);
    let first = t0.div_euclid(step) * step + if t0.rem_euclid(step) == 0 { 0 } else { step };
    let ticks = (0..).map(|i| first + i * step).take_while(|t| *t <= t1).take(60).collect();
    (ticks, step)
}

fn time_label(ts: i64, step: i64) -> String {
    let Some(d) = DateTime::<Utc>::from_timestamp_millis(ts) else { return ts.to_string() };
    let fmt = if step >= 30 * DAY {
        "%b %Y"
    } else if step >= DAY {
        "%b %d"
    } else {
        "%b %d %H:%M"
    };
    d.format(fmt).to_string()
}

/// Keeps first, min, max and last point of every pixel column when the series is much denser
/// than the plot, so spikes survive thinning.
fn thin(series: &[(i64, f64)], columns: usize, t0: i64, t1: i64) -> Vec<(i64, f64)> {
    if series.len() <= columns * 4 {
        return series.to_vec();
    }
    let span = (t1 - t0).max(1) as f64;
    let mut out = Vec::with_capacity(columns * 4);
    let mut bucket: Vec<(i64, f64)> = Vec::new();
    let mut current = usize::MAX;
    let flush = |bucket: &mut Vec<(i64, f64)>, out: &mut Vec<(i64, f64)>| {
        if bucket.is_empty() {
            return;
        }
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in bucket.iter().enumerate() {
            if p.1 < bucket[lo].1 {
                lo = i;
            }
            if p.1 > bucket[hi].1 {
                hi = i;
            }
        }
        let mut keep = vec![0, lo, hi, bucket.len() - 1];
        keep.sort_unstable();
        keep.dedup();
        out.extend(keep.into_iter().map(|i| bucket[i]));
        bucket.clear();
    };
    for &p in series {
        let col = (((p.0 - t0) as f64 / span) * columns as f64) as usize;
        if col != current {
            flush(&mut bucket, &mut out);
            current = col;
        }
        bucket.push(p);
    }
    flush(&mut bucket, &mut out);
    out
}

/// Renders the balance series (`(epoch ms, balance)`, sorted here) as an SVG document: the
/// equity curve on top, the underwater (drawdown %) plot below, date and value axes, title.
///
/// An empty series gives a valid SVG that says there is no data.
#[must_use]
pub fn render_equity_svg(balance_series: &[(i64, f64)], options: &PlotOptions) -> String {
    let (w, h) = (f64::from(options.width.max(300)), f64::from(options.height.max(240)));
    let mut series: Vec<(i64, f64)> = balance_series.iter().copied().filter(|p| p.1.is_finite()).collect();
    series.sort_by_key(|p| p.0);

    let mut svg = svg_open(w, h, &options.title);
    let Some((&(t0, _), &(t1, _))) = series.first().zip(series.last()) else {
        return svg_close_with_message(svg, w, h, "no balance data");
    };

    // Layout: left margin for value labels, equity panel ~64%, drawdown panel ~22%.
    let (left, right, top) = (78.0, 24.0, 48.0);
    let plot_w = w - left - right;
    let eq_h = (h - top - 70.0) * 0.72;
    let gap = 18.0;
    let dd_top = top + eq_h + gap;
    let dd_h = h - dd_top - 48.0;

    let start_balance = series[0].1;
    let mut peak = f64::NEG_INFINITY;
    let underwater: Vec<(i64, f64)> = series
        .iter()
        .map(|&(t, b)| {
            peak = peak.max(b);
            (t, if peak > 0.0 { (b - peak) / peak * 100.0 } else { 0.0 })
        })
        .collect();
    let (mut vmin, mut vmax) = series.iter().fold((start_balance, start_balance), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if vmax - vmin < 1e-12 * vmax.abs().max(1.0) {
        vmin -= vmax.abs().max(1.0) * 0.01;
        vmax += vmax.abs().max(1.0) * 0.01;
    }
    let pad = (vmax - vmin) * 0.06;
    let (vmin, vmax) = (vmin - pad, vmax + pad);
    let dd_min = underwater.iter().map(|p| p.1).fold(0.0f64, f64::min);
    let dd_floor = if dd_min > -1e-9 { -1.0 } else { dd_min * 1.1 };

    let span = (t1 - t0).max(1) as f64;
    let x_of = |t: i64| left + (t - t0) as f64 / span * plot_w;
    let y_eq = |v: f64| top + (vmax - v) / (vmax - vmin) * eq_h;
    let y_dd = |v: f64| dd_top + (v / dd_floor) * dd_h;

    // Panels and grid.
    for (y, ph) in [(top, eq_h), (dd_top, dd_h)] {
        let _ = writeln!(svg, r##"<rect x="{left}" y="{y}" width="{plot_w}" height="{ph}" fill="#fafbfc" stroke="#c8ccd0"/>"##);
    }
    value_grid(&mut svg, (vmin, vmax, 8), (left, plot_w), y_eq, "");
    value_grid(&mut svg, (dd_floor, 0.0, 4), (left, plot_w), y_dd, "%");
    // Labels are about 45 px wide (80 with a time), so ~85 px per tick keeps them apart.
    let tick_target = ((plot_w / 85.0) as i64).max(2);
    let (tticks, tstep) = time_ticks(t0, t1, tick_target);
    for t in &tticks {
        let x = x_of(*t);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.2}" y1="{top}" x2="{x:.2}" y2="{:.2}" stroke="#eceef0"/><line x1="{x:.2}" y1="{:.2}" x2="{x:.2}" y2="{:.2}" stroke="#888"/><text x="{x:.2}" y="{:.2}" text-anchor="middle" fill="#444">{}</text>"##,
            dd_top + dd_h,
            dd_top + dd_h,
            dd_top + dd_h + 5.0,
            dd_top + dd_h + 19.0,
            time_label(*t, tstep)
        );
    }

    // Axis captions.
    let caption = if options.currency.is_empty() { "Balance".to_owned() } else { format!("Balance ({})", options.currency) };
    let _ = writeln!(
        svg,
        r##"<text transform="translate(16 {:.2}) rotate(-90)" text-anchor="middle" fill="#333">{}</text>"##,
        top + eq_h / 2.0,
        xml_escape(&caption)
    );
    let _ = writeln!(
        svg,
        r##"<text transform="translate(16 {:.2}) rotate(-90)" text-anchor="middle" fill="#333">Drawdown</text>"##,
        dd_top + dd_h / 2.0
    );
    let first_day = DateTime::<Utc>::from_timestamp_millis(t0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let last_day = DateTime::<Utc>::from_timestamp_millis(t1).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let _ = writeln!(
        svg,
        r##"<text x="{:.2}" y="{:.2}" text-anchor="middle" fill="#666">{first_day} to {last_day} (UTC)</text>"##,
        left + plot_w / 2.0,
        h - 8.0
    );

    // Starting-balance reference.
    let ys = y_eq(start_balance);
    let _ = writeln!(svg, r##"<line x1="{left}" y1="{ys:.2}" x2="{}" y2="{ys:.2}" stroke="#999" stroke-dasharray="5 4"/>"##, left + plot_w);

    let columns = plot_w as usize;
    let eq_px: Vec<(f64, f64)> = thin(&series, columns, t0, t1).iter().map(|&(t, v)| (x_of(t), y_eq(v))).collect();
    let pts: Vec<String> = eq_px.iter().map(|(x, y)| format!("{x:.2},{y:.2}")).collect();
    let _ = writeln!(
        svg,
        r##"<polyline class="equity" fill="none" stroke="#1f6fd1" stroke-width="1.6" stroke-linejoin="round" points="{}"/>"##,
        pts.join(" ")
    );

    let dd_px: Vec<(f64, f64)> = thin(&underwater, columns, t0, t1).iter().map(|&(t, v)| (x_of(t), y_dd(v))).collect();
    let mut area: Vec<String> = Vec::with_capacity(dd_px.len() + 2);
    area.push(format!("{:.2},{:.2}", x_of(t0), y_dd(0.0)));
    area.extend(dd_px.iter().map(|(x, y)| format!("{x:.2},{y:.2}")));
    area.push(format!("{:.2},{:.2}", x_of(t1), y_dd(0.0)));
    let _ = writeln!(
        svg,
        r##"<polygon class="drawdown" fill="#d9534f" fill-opacity="0.35" stroke="#c9302c" stroke-width="1" points="{}"/>"##,
        area.join(" ")
    );

    // Mark the deepest point of the underwater curve; its label sits above the curve over the
    // label's width (the trough is near the panel floor: the scale leaves 10% below it).
    if let Some(&(tlow, dlow)) = underwater.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        if dlow < 0.0 {
            let (x, y) = (x_of(tlow), y_dd(dlow));
            let text = format!("max {dlow:.2}%");
            let width = label_width(&text);
            let (anchor, span) =
                if x > left + plot_w * 0.8 { ("end", (x - 6.0 - width, x - 6.0)) } else { ("start", (x + 6.0, x + 6.0 + width)) };
            let baseline = label_baseline(extent_over(&dd_px, span), y, (dd_top, dd_h), true);
            let _ = writeln!(
                svg,
                r##"<circle cx="{x:.2}" cy="{y:.2}" r="3" fill="#c9302c"/><text class="max-drawdown-label" x="{:.2}" y="{baseline:.2}" text-anchor="{anchor}" fill="#a02622" font-size="11">{text}</text>"##,
                if anchor == "end" { span.1 } else { span.0 },
            );
        }
    }
    // The end value, right-aligned at the curve's end, above the curve over the label's width
    // when the end sits in the lower half of the panel, below it otherwise.
    let (end_t, end_v) = series[series.len() - 1];
    let change = if start_balance != 0.0 { (end_v / start_balance - 1.0) * 100.0 } else { 0.0 };
    let text = format!("{end_v:.6} ({change:+.2}%)");
    let right_x = x_of(end_t) - 4.0;
    let span = (right_x - label_width(&text), right_x);
    let end_y = y_eq(end_v);
    let baseline = label_baseline(extent_over(&eq_px, span), end_y, (top, eq_h), end_y > top + eq_h / 2.0);
    let _ = writeln!(
        svg,
        r##"<text class="end-label" x="{right_x:.2}" y="{baseline:.2}" text-anchor="end" fill="#1f6fd1" font-size="11">{text}</text>"##,
    );
    svg.push_str("</svg>\n");
    svg
}

/// How far an 11px label reaches above its baseline (digits, `%`, parentheses) and below it.
const LABEL_ASCENT: f64 = 10.0;
const LABEL_DESCENT: f64 = 3.0;
/// Clearance between a label and the line it must not touch.
const LABEL_GAP: f64 = 3.0;

/// About how wide an 11px label is: DejaVu Sans averages about 0.6 em a character; this
/// errs on the wide side so the clearance check covers the whole text.
fn label_width(text: &str) -> f64 {
    text.chars().count() as f64 * 6.6
}

/// The vertical extent `(highest, lowest)` in pixels of the polyline `points` (sorted by x)
/// over the columns `[x0, x1]`: its points inside, and where its segments cross either edge.
fn extent_over(points: &[(f64, f64)], (x0, x1): (f64, f64)) -> Option<(f64, f64)> {
    let mut ext: Option<(f64, f64)> = None;
    let mut add = |y: f64| ext = Some(ext.map_or((y, y), |(lo, hi)| (lo.min(y), hi.max(y))));
    for pair in points.windows(2) {
        let ((ax, ay), (bx, by)) = (pair[0], pair[1]);
        if bx < x0 || ax > x1 {
            continue;
        }
        // The part of the segment inside the columns.
        let at = |x: f64| if (bx - ax).abs() < 1e-9 { ay } else { ay + (by - ay) * (x - ax) / (bx - ax) };
        add(at(ax.max(x0)));
        add(at(bx.min(x1)));
        if (bx - ax).abs() < 1e-9 {
            add(by);
        }
    }
    if points.len() == 1 && (x0..=x1).contains(&points[0].0) {
        add(points[0].1);
    }
    ext
}

/// The baseline of a label placed clear of a line whose extent under the label is `line`
/// (from [`extent_over`]; `None` when the line does not pass under it): above the line when
/// `prefer_above`, else below it, and on the other side when the panel `(top, height)` has no
/// room on the preferred one. With no room on either side it stays inside the panel on the
/// side with more room. Without a line under it, the label goes beside `anchor_y` (its point).
fn label_baseline(line: Option<(f64, f64)>, anchor_y: f64, (top, height): (f64, f64), prefer_above: bool) -> f64 {
    let (hi, lo) = line.map_or((anchor_y, anchor_y), |(h, l)| (h.min(anchor_y), l.max(anchor_y)));
    let above = hi - LABEL_GAP - LABEL_DESCENT;
    let below = lo + LABEL_GAP + LABEL_ASCENT;
    let (min_b, max_b) = (top + LABEL_ASCENT + 1.0, top + height - LABEL_DESCENT - 1.0);
    let fits_above = above >= min_b;
    let fits_below = below <= max_b;
    let y = match (prefer_above, fits_above, fits_below) {
        (true, true, _) | (false, true, false) => above,
        (false, _, true) | (true, false, true) => below,
        _ if hi - top >= top + height - lo => above,
        _ => below,
    };
    y.clamp(min_b, max_b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_goes_clear_of_the_line_under_it_and_stays_in_its_panel() {
        let (top, h) = (48.0, 300.0);
        // A line falling from 300 to 340 under the label; the label's point at its end.
        let line = [(0.0, 250.0), (100.0, 300.0), (200.0, 340.0)];
        let ext = extent_over(&line, (100.0, 200.0)).unwrap();
        assert_eq!(ext, (300.0, 340.0));
        assert_eq!(extent_over(&line, (50.0, 150.0)).unwrap(), (275.0, 320.0));
        assert!(extent_over(&line, (210.0, 300.0)).is_none());
        let y = label_baseline(Some(ext), 340.0, (top, h), true);
        assert!(y + LABEL_DESCENT < 300.0, "above the line's highest point: {y}");
        // No room above (the line runs along the panel top): below it.
        let y = label_baseline(Some((50.0, 60.0)), 60.0, (top, h), true);
        assert!(y - LABEL_ASCENT > 60.0 && y <= top + h, "{y}");
        // No room below: above, even when below was preferred.
        let y = label_baseline(Some((300.0, 346.0)), 346.0, (top, h), false);
        assert!(y + LABEL_DESCENT < 300.0, "{y}");
        // A line filling the whole panel: inside the panel all the same.
        for prefer_above in [true, false] {
            let y = label_baseline(Some((top, top + h)), top + h, (top, h), prefer_above);
            assert!((top + LABEL_ASCENT..=top + h).contains(&y), "{y}");
        }
    }

    #[test]
    fn nice_ticks_are_round() {
        let (t, s) = nice_ticks(0.87, 1.01, 6);
        assert!((s - 0.025).abs() < 1e-12, "{s}");
        assert!((t[0] - 0.875).abs() < 1e-12);
        assert_eq!(decimals_for(0.025), 3);
        assert_eq!(decimals_for(0.02), 2);
        assert_eq!(decimals_for(5.0), 0);
    }

    #[test]
    fn time_ticks_land_on_midnight() {
        let t0 = 1_515_569_100_000; // 2018-01-10 07:25
        let (ticks, step) = time_ticks(t0, t0 + 20 * DAY, 8);
        assert_eq!(step, 7 * DAY);
        assert!(ticks.iter().all(|t| t % DAY == 0));
        assert_eq!(time_label(ticks[0], step), "Jan 11");
    }

    #[test]
    fn thinning_keeps_extremes() {
        let s: Vec<(i64, f64)> = (0..10_000).map(|i| (i, if i == 5_000 { -50.0 } else { 1.0 })).collect();
        let t = thin(&s, 100, 0, 9_999);
        assert!(t.len() <= 400);
        assert!(t.iter().any(|p| p.1 == -50.0));
        assert_eq!(t.first(), s.first());
        assert_eq!(t.last(), s.last());
    }

    #[test]
    fn equity_from_trades_starts_at_the_wallet() {
        assert_eq!(equity_from_trades(&[], 1.0, 42), vec![(42, 1.0)]);
    }
}
