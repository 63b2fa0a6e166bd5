//! Hyperopt's loss over its epochs as a self-contained SVG string: every epoch's loss as a dot
//! and the best loss so far as a step line, on the equity plot's axes and colours (the tick
//! helpers are [`crate::plot`]'s). Losses are Freqtrade's: lower is better, and a failed
//! epoch's loss is a huge sentinel, so the value axis is cut at a robust upper bound (the 95th
//! percentile of the finite losses) and dots above it sit on the top edge, marked as clipped.

use std::fmt::Write as _;

use crate::plot::{nice_ticks, svg_close_with_message, svg_open, value_grid, PlotOptions};

/// Renders `losses` (in epoch order) with `options` (`currency` is not used).
#[must_use]
pub fn render_loss_svg(losses: &[f64], options: &PlotOptions) -> String {
    let (w, h) = (f64::from(options.width.max(300)), f64::from(options.height.max(200)));
    let mut svg = svg_open(w, h, &options.title);
    let mut finite: Vec<f64> = losses.iter().copied().filter(|l| l.is_finite()).collect();
    if finite.is_empty() {
        return svg_close_with_message(svg, w, h, "no epochs");
    }
    finite.sort_by(f64::total_cmp);
    let lo = finite[0];
    let p95 = finite[((finite.len() - 1) * 95) / 100];
    let (mut vmin, mut vmax) = (lo, p95.max(lo));
    if vmax - vmin < 1e-12 * vmax.abs().max(1.0) {
        vmin -= vmax.abs().max(1.0) * 0.01;
        vmax += vmax.abs().max(1.0) * 0.01;
    }
    let pad = (vmax - vmin) * 0.06;
    let (vmin, vmax) = (vmin - pad, vmax + pad);

    let (left, right, top, bottom) = (78.0, 24.0, 48.0, 44.0);
    let (plot_w, plot_h) = (w - left - right, h - top - bottom);
    #[allow(clippy::cast_precision_loss)]
    let n = losses.len().max(2) as f64 - 1.0;
    #[allow(clippy::cast_precision_loss)]
    let x_of = |i: usize| left + i as f64 / n * plot_w;
    let y_of = |v: f64| top + (vmax - v.clamp(vmin, vmax)) / (vmax - vmin) * plot_h;

    let _ = writeln!(svg, r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafbfc" stroke="#c8ccd0"/>"##);
    value_grid(&mut svg, (vmin, vmax, 6), (left, plot_w), y_of, "");
    #[allow(clippy::cast_precision_loss)]
    let (eticks, _) = nice_ticks(0.0, n.max(1.0), 8);
    for e in eticks.iter().filter(|e| e.fract() == 0.0) {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let x = x_of(*e as usize);
        let _ =
            writeln!(svg, r##"<text x="{x:.2}" y="{}" text-anchor="middle" fill="#444">{}</text>"##, top + plot_h + 18.0, *e as u64 + 1);
    }
    let _ = writeln!(svg, r##"<text x="{}" y="{}" text-anchor="middle" fill="#444">epoch</text>"##, left + plot_w / 2.0, h - 8.0);
    let _ = writeln!(
        svg,
        r##"<text x="16" y="{}" text-anchor="middle" fill="#444" transform="rotate(-90 16 {})">loss (lower is better)</text>"##,
        top + plot_h / 2.0,
        top + plot_h / 2.0
    );

    let mut dots = String::new();
    let mut clipped = 0usize;
    let mut best = f64::INFINITY;
    let mut path = String::new();
    for (i, l) in losses.iter().enumerate() {
        if !l.is_finite() || *l > vmax {
            clipped += 1;
        }
        let y = if l.is_finite() { y_of(*l) } else { top };
        let _ = write!(dots, r#"<circle cx="{:.2}" cy="{y:.2}" r="2.6"/>"#, x_of(i));
        if l.is_finite() && *l < best {
            let was = best;
            best = *l;
            let x = x_of(i);
            if was.is_finite() {
                let _ = write!(path, " H{x:.2} V{:.2}", y_of(best));
            } else {
                let _ = write!(path, "M{x:.2} {:.2}", y_of(best));
            }
        }
    }
    let _ = write!(path, " H{:.2}", left + plot_w);
    let _ = writeln!(svg, r##"<g fill="#6b8fb5" fill-opacity="0.7">{dots}</g>"##);
    let _ = writeln!(svg, r##"<path d="{path}" fill="none" stroke="#c0392b" stroke-width="2"/>"##);
    let note = if clipped > 0 { format!(" · {clipped} above the axis") } else { String::new() };
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="end" fill="#c0392b">best {best:.5}{note}</text>"##,
        left + plot_w - 6.0,
        top + 16.0
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PlotOptions {
        PlotOptions { title: "loss <test>".into(), width: 600, height: 300, currency: String::new() }
    }

    #[test]
    fn draws_a_dot_per_epoch_and_a_best_so_far_line() {
        let losses = [3.0, 2.0, 2.5, 1.0, 1.5, 100_000.0];
        let svg = render_loss_svg(&losses, &opts());
        assert_eq!(svg.matches("<circle").count(), losses.len());
        // The best line steps down three times after its start: 3 → 2 → 1.
        let d = svg.split("<path d=\"").nth(1).unwrap().split('"').next().unwrap();
        assert_eq!(d.matches(" V").count(), 2, "{d}");
        assert!(svg.contains("best 1.00000"), "{svg}");
        assert!(svg.contains("1 above the axis"), "the failed epoch's sentinel is clipped, not squashing the axis");
        assert!(svg.contains("loss &lt;test&gt;"), "the title is escaped");
    }

    #[test]
    fn empty_and_constant_studies_still_render() {
        assert!(render_loss_svg(&[], &opts()).contains("no epochs"));
        let svg = render_loss_svg(&[1.0, 1.0, f64::NAN], &opts());
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(!svg.contains("NaN"));
    }
}
