//! The text report and the equity SVG rendered from a real reference summary.

use tradai_metrics::{equity_from_trades, render_equity_svg, render_text_report, summarize, PlotOptions, ReportOptions};

use crate::reference::Reference;

fn options(color: bool) -> ReportOptions {
    ReportOptions { strategy: "EmaCross".to_owned(), color }
}

#[test]
fn text_report_has_headline_and_tables() {
    let r = Reference::load("EmaCross-mot3");
    let text = render_text_report(&r.summary(), &options(false));
    for needle in [
        "Backtest result: EmaCross",
        "2018-01-10 07:25:00 → 2018-01-30 04:50:00  (19 days, 5m)",
        "704  (37.05/day",
        "-0.11959205 BTC  (-11.96%)",
        "0.83041115 BTC",
        "20.03%  (141 wins / 0 draws / 563 losses)",
        "0.52",
        "12.23%  (0.12268867 BTC)",
        "-133.57 / -313.37",
        "-98.32 / -5.00",
        "Results per pair",
        "Exit reasons",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains('\x1b'), "no ANSI escapes unless asked");

    // Tables: every row of a table has the same visible width, and TOTAL is last.
    let lines: Vec<&str> = text.lines().collect();
    let pair_start = lines.iter().position(|l| *l == "Results per pair").unwrap();
    let table: Vec<&str> = lines[pair_start + 1..].iter().take_while(|l| !l.is_empty()).copied().collect();
    // border, header, rule, 10 pairs, rule, TOTAL, border
    assert_eq!(table.len(), 16, "{}", table.join("\n"));
    let width = table[0].chars().count();
    assert!(table.iter().all(|l| l.chars().count() == width));
    assert!(table[1].contains("Tot profit BTC"));
    assert!(table[3].starts_with("│ XLM/BTC "), "best pair first: {}", table[3]);
    assert!(table[14].starts_with("│ TOTAL "));
    assert!(table[14].contains("-0.11959205"));

    let reason_start = lines.iter().position(|l| *l == "Exit reasons").unwrap();
    let reasons: Vec<&str> = lines[reason_start + 1..].iter().take_while(|l| !l.is_empty()).copied().collect();
    assert!(reasons[3].starts_with("│ roi "));
    assert!(reasons.iter().any(|l| l.starts_with("│ exit_signal ") && l.contains(" 687 ")));
}

#[test]
fn coloured_report_differs_only_by_escapes() {
    let r = Reference::load("RsiMeanReversion-unlimited");
    let s = r.summary();
    let plain = render_text_report(&s, &options(false));
    let coloured = render_text_report(&s, &options(true));
    assert!(coloured.contains("\x1b[32m"), "gains are green");
    let mut stripped = String::new();
    let mut chars = coloured.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            stripped.push(c);
        }
    }
    assert_eq!(stripped, plain);
    assert!(plain.contains("unlimited (10)"), "max open trades -1 is shown as unlimited");
}

fn count_points(svg: &str, class: &str) -> usize {
    points(svg, class).len()
}

/// The value of attribute `name` in the element of `class`.
fn attr<'a>(svg: &'a str, class: &str, name: &str) -> &'a str {
    let rest = &svg[svg.find(&format!("class=\"{class}\"")).unwrap()..];
    let p = rest.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
    &rest[p..p + rest[p..].find('"').unwrap()]
}

/// The points of the polyline or polygon of `class`, in pixels.
fn points(svg: &str, class: &str) -> Vec<(f64, f64)> {
    attr(svg, class, "points")
        .split_whitespace()
        .map(|p| {
            let (x, y) = p.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// Asserts that no segment of the line of `line_class` crosses the box of the text of
/// `label_class`: 11px DejaVu Sans, about 6.2 px a character (measured on the quickstart's plot
/// rendered to PNG), 9 px above the baseline and 2 below.
fn assert_label_clear_of(svg: &str, label_class: &str, line_class: &str) {
    let (x, y): (f64, f64) = (attr(svg, label_class, "x").parse().unwrap(), attr(svg, label_class, "y").parse().unwrap());
    let rest = &svg[svg.find(&format!("class=\"{label_class}\"")).unwrap()..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</text>").unwrap()];
    let width = text.chars().count() as f64 * 6.2;
    let (x0, x1) = if attr(svg, label_class, "text-anchor") == "end" { (x - width, x) } else { (x, x + width) };
    let line = points(svg, line_class);
    for seg in line.windows(2) {
        let ((ax, ay), (bx, by)) = (seg[0], seg[1]);
        for k in 0..=50 {
            let f = f64::from(k) / 50.0;
            let (px, py) = (ax + (bx - ax) * f, ay + (by - ay) * f);
            assert!(
                !((x0..=x1).contains(&px) && (y - 9.0..=y + 2.0).contains(&py)),
                "the {line_class} line crosses the {label_class} '{text}' at ({px:.1}, {py:.1}); label box x {x0:.1}..{x1:.1}, y {:.1}..{:.1}",
                y - 9.0,
                y + 2.0
            );
        }
    }
}

#[test]
fn the_end_and_max_drawdown_labels_stay_clear_of_the_lines() {
    // Shaped like the quickstart's run: 20 days of 5m balances sliding from 1.0 to 0.88 with
    // wiggles, ending at its lowest, so the trough is the last point (the labels sat on the
    // falling equity line and on the drawdown line there).
    let n = 20 * 288;
    let sliding: Vec<(i64, f64)> = (0..n)
        .map(|i| {
            let f = f64::from(i) / f64::from(n - 1);
            (1_515_542_400_000 + i64::from(i) * 300_000, 1.0 - 0.12 * f + 0.004 * (f64::from(i) / 40.0).sin() * (1.0 - f))
        })
        .collect();
    // Rising to its end, with the trough early on: the labels go the other way.
    let rising: Vec<(i64, f64)> = sliding
        .iter()
        .enumerate()
        .map(|(i, &(t, v))| (t, if i < n as usize / 10 { v } else { 2.0 - v + 0.02 * (i as f64 / 90.0).cos() }))
        .collect();
    for (name, series) in [("sliding", &sliding), ("rising", &rising)] {
        let svg = render_equity_svg(series, &PlotOptions { currency: "BTC".to_owned(), ..PlotOptions::default() });
        assert_well_formed(&svg);
        assert_label_clear_of(&svg, "end-label", "equity");
        assert_label_clear_of(&svg, "max-drawdown-label", "drawdown");
        // Inside their panels: the end label above the drawdown panel, the max label below
        // the equity panel's floor.
        let dd_top = attr(&svg, "drawdown", "points").split_whitespace().next().unwrap().split_once(',').unwrap().1.parse::<f64>().unwrap();
        let end_y: f64 = attr(&svg, "end-label", "y").parse().unwrap();
        let max_y: f64 = attr(&svg, "max-drawdown-label", "y").parse().unwrap();
        assert!(
            end_y + 2.0 < dd_top && max_y - 9.0 > dd_top,
            "{name}: end label at {end_y}, max label at {max_y}, drawdown panel from {dd_top}"
        );
    }
}

/// Minimal well-formedness check: tags balance and every attribute value is quoted.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(lt) = rest.find('<') {
        let gt = rest[lt..].find('>').unwrap() + lt;
        let tag = &rest[lt + 1..gt];
        assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes in <{tag}>");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            stack.push(tag.split_whitespace().next().unwrap().to_owned());
        }
        rest = &rest[gt + 1..];
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
}

#[test]
fn equity_svg_from_trades_is_well_formed() {
    let r = Reference::load("BollingerBreakout-mot3");
    let s = summarize(&r.input(&[]));
    let curve = equity_from_trades(&r.trades, s.starting_balance, s.backtest_start_ts);
    assert_eq!(curve.len(), r.trades.len() + 1);
    let opts = PlotOptions { title: "BollingerBreakout <mot3> & co".to_owned(), currency: "BTC".to_owned(), ..PlotOptions::default() };
    let svg = render_equity_svg(&curve, &opts);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert_well_formed(&svg);
    assert!(svg.contains("BollingerBreakout &lt;mot3&gt; &amp; co"));
    assert_eq!(count_points(&svg, "equity"), curve.len());
    // The underwater polygon closes on the zero line at both ends.
    assert_eq!(count_points(&svg, "drawdown"), curve.len() + 2);
    assert!(svg.contains("Balance (BTC)"));
    assert!(svg.contains(">Jan 11<") || svg.contains(">Jan 14<"), "date ticks");
}

#[test]
fn empty_series_still_renders() {
    let svg = render_equity_svg(&[], &PlotOptions::default());
    assert_well_formed(&svg);
    assert!(svg.contains("no balance data"));
}
