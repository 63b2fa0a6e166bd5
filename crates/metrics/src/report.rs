//! Plain-text backtest report for a terminal: a headline block, then per-pair and
//! per-exit-reason tables with aligned columns and box-drawing borders.
//!
//! Colour is opt-in (`ReportOptions::color`) because the report also goes to files and CI
//! logs. Widths are measured on the uncoloured text, so columns stay aligned either way.

use std::fmt::Write as _;

use crate::{StakeAmount, Summary};

/// How to render the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportOptions {
    /// Strategy name for the title (the summary itself does not carry it).
    pub strategy: String,
    /// Colour gains green and losses red with ANSI escapes.
    pub color: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Good,
    Bad,
    Dim,
}

impl Tone {
    fn of(x: f64) -> Self {
        if x > 0.0 {
            Self::Good
        } else if x < 0.0 {
            Self::Bad
        } else {
            Self::Plain
        }
    }
}

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, text: &str, tone: Tone) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match tone {
            Tone::Plain => return text.to_owned(),
            Tone::Good => "32",
            Tone::Bad => "31",
            Tone::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// Decimals Freqtrade prints for a stake currency (`decimals_per_coin`).
fn coin_decimals(currency: &str) -> usize {
    match currency {
        "BTC" => 8,
        "ETH" => 5,
        _ => 3,
    }
}

fn pct(ratio: f64) -> String {
    format!("{:.2}%", ratio * 100.0)
}

fn signed_pct(ratio: f64) -> String {
    format!("{:+.2}%", ratio * 100.0)
}

/// `5400` → `1h 30m`; `200000` → `2d 7h 33m`.
fn duration(seconds: f64) -> String {
    let total_min = (seconds / 60.0).round() as i64;
    let (d, h, m) = (total_min / 1440, total_min % 1440 / 60, total_min % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h {m:02}m"),
        _ => format!("{d}d {h}h {m:02}m"),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Cell {
    text: String,
    tone: Tone,
}

fn cell(text: impl Into<String>, tone: Tone) -> Cell {
    Cell { text: text.into(), tone }
}

/// A box-drawn table whose last row (the total) sits below a rule.
struct Table {
    title: String,
    headers: Vec<(String, Align)>,
    rows: Vec<Vec<Cell>>,
    total: Option<Vec<Cell>>,
}

impl Table {
    fn render(&self, p: &Painter, out: &mut String) {
        let ncol = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|(h, _)| h.chars().count()).collect();
        for row in self.rows.iter().chain(self.total.iter()) {
            for (i, c) in row.iter().enumerate().take(ncol) {
                widths[i] = widths[i].max(c.text.chars().count());
            }
        }
        let rule = |l: &str, m: &str, r: &str| {
            let inner: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
            format!("{l}{}{r}\n", inner.join(m))
        };
        let line = |cells: Vec<(String, String, Align)>| {
            // (plain, painted, align): pad on the plain width, print the painted text.
            let parts: Vec<String> = cells
                .into_iter()
                .zip(&widths)
                .map(|((plain, painted, align), w)| {
                    let pad = " ".repeat(w - plain.chars().count());
                    match align {
                        Align::Left => format!(" {painted}{pad} "),
                        Align::Right => format!(" {pad}{painted} "),
                    }
                })
                .collect();
            format!("│{}│\n", parts.join("│"))
        };
        let _ = writeln!(out, "{}", p.bold(&self.title));
        out.push_str(&rule("┌", "┬", "┐"));
        out.push_str(&line(self.headers.iter().map(|(h, a)| (h.clone(), p.bold(h), *a)).collect()));
        out.push_str(&rule("├", "┼", "┤"));
        let aligned = |row: &Vec<Cell>| -> Vec<(String, String, Align)> {
            row.iter().zip(&self.headers).map(|(c, (_, a))| (c.text.clone(), p.paint(&c.text, c.tone), *a)).collect()
        };
        for row in &self.rows {
            out.push_str(&line(aligned(row)));
        }
        if let Some(total) = &self.total {
            if !self.rows.is_empty() {
                out.push_str(&rule("├", "┼", "┤"));
            }
            out.push_str(&line(aligned(total)));
        }
        out.push_str(&rule("└", "┴", "┘"));
    }
}

/// Renders the summary as a terminal report: headline metrics, then a per-pair table and an
/// exit-reason table (best first, `TOTAL` last, as in the summary).
#[must_use]
pub fn render_text_report(summary: &Summary, options: &ReportOptions) -> String {
    let s = summary;
    let p = Painter { color: options.color };
    let cur = s.stake_currency.as_str();
    let dec = coin_decimals(cur);
    let money = |x: f64| format!("{x:.dec$} {cur}");
    let signed_money = |x: f64| format!("{x:+.dec$} {cur}");
    let mut out = String::new();

    let title = if options.strategy.is_empty() { "Backtest result".to_owned() } else { format!("Backtest result: {}", options.strategy) };
    let _ = writeln!(out, "{}", p.bold(&title));
    let _ = writeln!(out, "{}", "═".repeat(title.chars().count().max(60)));

    let mut kv: Vec<(&str, String)> = Vec::new();
    kv.push(("Period", format!("{} → {}  ({} days, {})", s.backtest_start, s.backtest_end, s.backtest_days, s.timeframe)));
    let stake = match s.stake_amount {
        StakeAmount::Fixed(x) => money(x),
        StakeAmount::Unlimited => "unlimited".to_owned(),
    };
    let slots = if s.max_open_trades_setting < 0 { format!("unlimited ({})", s.max_open_trades) } else { s.max_open_trades.to_string() };
    kv.push(("Trading", format!("{}  stake {stake}  max open trades {slots}", s.trading_mode)));
    kv.push((
        "Trades",
        format!(
            "{}  ({:.2}/day, {} long / {} short, avg hold {})",
            s.total_trades,
            s.trades_per_day,
            s.trade_count_long,
            s.trade_count_short,
            duration(s.holding_avg_s)
        ),
    ));
    kv.push((
        "Total profit",
        format!(
            "{}  {}",
            p.paint(&signed_money(s.profit_total_abs), Tone::of(s.profit_total_abs)),
            p.paint(&format!("({})", signed_pct(s.profit_total)), Tone::of(s.profit_total))
        ),
    ));
    kv.push(("Final balance", format!("{}  (start {}, CAGR {})", money(s.final_balance), money(s.starting_balance), signed_pct(s.cagr))));
    // As in Freqtrade, the final balance leaves out the stake of trades still open at the end
    // (their exit order could not fill), while the total profit counts closed trades only: say
    // so, or start + profit != final balance looks like an error.
    let in_open_trades = s.starting_balance + s.profit_total_abs - s.final_balance;
    if in_open_trades.abs() > 1e-9 * s.starting_balance.abs().max(1.0) {
        kv.push(("", format!("{} staked in trades still open at the end is not in the final balance", money(in_open_trades))));
    }
    kv.push(("Win rate", format!("{}  ({} wins / {} draws / {} losses)", pct(s.winrate), s.wins, s.draws, s.losses)));
    kv.push((
        "Profit factor",
        format!("{:.2}  (expectancy {}, ratio {:.2})", s.profit_factor, signed_money(s.expectancy), s.expectancy_ratio),
    ));
    kv.push((
        "Max drawdown",
        format!(
            "{}  ({})  {} → {}",
            p.paint(&pct(s.max_drawdown_account), if s.max_drawdown_abs > 0.0 { Tone::Bad } else { Tone::Plain }),
            money(s.max_drawdown_abs),
            s.drawdown_start,
            s.drawdown_end
        ),
    ));
    let w = &s.wallet_stats;
    if w.start_balance != 0.0 {
        kv.push((
            "Wallet drawdown",
            format!("{}  ({})  low {} on {}", pct(w.max_drawdown_account), money(w.max_drawdown_abs), money(w.low_balance), w.low_date),
        ));
    }
    kv.push(("Sharpe / Sortino", format!("{:.2} / {:.2}", s.sharpe, s.sortino)));
    kv.push(("Calmar / SQN", format!("{:.2} / {:.2}", s.calmar, s.sqn)));
    if w.start_balance != 0.0 {
        kv.push(("Wallet ratios", format!("Sharpe {:.2}  Sortino {:.2}  Calmar {:.2}", w.sharpe, w.sortino, w.calmar)));
    }
    kv.push((
        "Best / worst day",
        format!(
            "{} / {}  ({} winning, {} flat, {} losing days)",
            p.paint(&signed_money(s.backtest_best_day_abs), Tone::of(s.backtest_best_day_abs)),
            p.paint(&signed_money(s.backtest_worst_day_abs), Tone::of(s.backtest_worst_day_abs)),
            s.winning_days,
            s.draw_days,
            s.losing_days
        ),
    ));
    kv.push(("Streaks", format!("{} wins, {} losses in a row", s.max_consecutive_wins, s.max_consecutive_losses)));
    kv.push(("Market change", format!("{}  (rejected entry signals: {})", signed_pct(s.market_change), s.rejected_signals)));
    let label_w = kv.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    for (k, v) in &kv {
        let _ = writeln!(out, "{}  {v}", p.paint(&format!("{k:<label_w$}"), Tone::Dim));
    }
    out.push('\n');

    let pair_table = Table {
        title: "Results per pair".to_owned(),
        headers: vec![
            ("Pair".to_owned(), Align::Left),
            ("Trades".to_owned(), Align::Right),
            ("Avg profit %".to_owned(), Align::Right),
            (format!("Tot profit {cur}"), Align::Right),
            ("Tot profit %".to_owned(), Align::Right),
            ("Wins".to_owned(), Align::Right),
            ("Win %".to_owned(), Align::Right),
        ],
        rows: Vec::new(),
        total: None,
    };
    let pair_cells = |r: &crate::PairResult| {
        let share = if s.starting_balance != 0.0 { r.profit_total_abs / s.starting_balance } else { 0.0 };
        let winp = if r.trades > 0 { r.wins as f64 / r.trades as f64 } else { 0.0 };
        vec![
            cell(r.key.clone(), Tone::Plain),
            cell(r.trades.to_string(), Tone::Plain),
            cell(format!("{:.2}", r.profit_mean * 100.0), Tone::of(r.profit_mean)),
            cell(format!("{:.dec$}", r.profit_total_abs), Tone::of(r.profit_total_abs)),
            cell(format!("{:.2}", share * 100.0), Tone::of(share)),
            cell(r.wins.to_string(), Tone::Plain),
            cell(format!("{:.1}", winp * 100.0), Tone::Plain),
        ]
    };
    let (pair_rows, pair_total) = split_total(&s.results_per_pair, |r| r.key.as_str());
    Table { rows: pair_rows.iter().map(|r| pair_cells(r)).collect(), total: pair_total.map(pair_cells), ..pair_table }.render(&p, &mut out);
    out.push('\n');

    let reason_cells = |r: &crate::ExitReasonResult| {
        let winp = if r.trades > 0 { r.wins as f64 / r.trades as f64 } else { 0.0 };
        vec![
            cell(r.key.clone(), Tone::Plain),
            cell(r.trades.to_string(), Tone::Plain),
            cell(format!("{:.dec$}", r.profit_total_abs), Tone::of(r.profit_total_abs)),
            cell(r.wins.to_string(), Tone::Plain),
            cell(r.draws.to_string(), Tone::Plain),
            cell(r.losses.to_string(), Tone::Plain),
            cell(format!("{:.1}", winp * 100.0), Tone::Plain),
        ]
    };
    let (reason_rows, reason_total) = split_total(&s.exit_reason_summary, |r| r.key.as_str());
    Table {
        title: "Exit reasons".to_owned(),
        headers: vec![
            ("Exit reason".to_owned(), Align::Left),
            ("Trades".to_owned(), Align::Right),
            (format!("Tot profit {cur}"), Align::Right),
            ("Wins".to_owned(), Align::Right),
            ("Draws".to_owned(), Align::Right),
            ("Losses".to_owned(), Align::Right),
            ("Win %".to_owned(), Align::Right),
        ],
        rows: reason_rows.iter().map(|r| reason_cells(r)).collect(),
        total: reason_total.map(reason_cells),
    }
    .render(&p, &mut out);
    out
}

/// Splits off the trailing `TOTAL` row so the table can put it below a rule.
fn split_total<T>(rows: &[T], key: impl Fn(&T) -> &str) -> (Vec<&T>, Option<&T>) {
    match rows.split_last() {
        Some((last, rest)) if key(last) == "TOTAL" => (rest.iter().collect(), Some(last)),
        _ => (rows.iter().collect(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0.0), "0m");
        assert_eq!(duration(5400.0), "1h 30m");
        assert_eq!(duration(86_400.0 * 2.0 + 3600.0 * 7.0 + 60.0 * 33.0), "2d 7h 33m");
    }

    #[test]
    fn painter_only_colours_when_asked() {
        assert_eq!(Painter { color: false }.paint("x", Tone::Bad), "x");
        assert_eq!(Painter { color: true }.paint("x", Tone::Bad), "\x1b[31mx\x1b[0m");
        assert_eq!(Painter { color: true }.paint("x", Tone::Plain), "x");
    }

    #[test]
    fn table_columns_align() {
        let t = Table {
            title: "T".to_owned(),
            headers: vec![("A".to_owned(), Align::Left), ("Num".to_owned(), Align::Right)],
            rows: vec![vec![cell("long name", Tone::Plain), cell("1", Tone::Good)]],
            total: Some(vec![cell("TOTAL", Tone::Plain), cell("12345", Tone::Bad)]),
        };
        let mut out = String::new();
        t.render(&Painter { color: false }, &mut out);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "T");
        assert_eq!(lines[1], "┌───────────┬───────┐");
        assert_eq!(lines[2], "│ A         │   Num │");
        assert_eq!(lines[4], "│ long name │     1 │");
        assert_eq!(lines[6], "│ TOTAL     │ 12345 │");
        assert_eq!(lines[7], "└───────────┴───────┘");
        // Coloured output keeps the same visible layout.
        let mut coloured = String::new();
        t.render(&Painter { color: true }, &mut coloured);
        let stripped = coloured.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[1m", "").replace("\x1b[0m", "");
        assert_eq!(stripped, out);
    }
}
