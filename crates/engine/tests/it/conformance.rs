//! The three Freqtrade reference runs, trade for trade.

use serde_json::Value;
use tradai_core::{MarketType, Timeframe, Trade};
use tradai_engine::{BacktestConfig, BacktestResult, BacktestRunner, StakeAmount, StrategyRegistry};

use crate::feather::{expected, reference_data};

/// The tolerance the conformance contract sets for rates, amounts, stakes and profits.
const REL: f64 = 1e-9;

fn rel_eq(a: f64, b: f64, rel: f64) -> bool {
    a == b || (a - b).abs() <= rel * a.abs().max(b.abs())
}

/// Runs `strategy` the way the reference run `name` was made.
pub fn run_reference(name: &str) -> (BacktestConfig, BacktestResult, Value) {
    let exp = expected(name);
    let meta = &exp["meta"];
    let data = reference_data(&exp);
    let mot = meta["max_open_trades"].as_i64().expect("max_open_trades");
    let config = BacktestConfig {
        pairs: data.iter().map(|d| d.pair.clone()).collect(),
        timeframe: Timeframe::M5,
        timerange: tradai_core::TimeRange::all(),
        stake_amount: StakeAmount::Fixed(meta["stake_amount"].as_f64().expect("stake")),
        starting_balance: meta["dry_run_wallet"].as_f64().expect("wallet"),
        max_open_trades: usize::try_from(mot).ok(),
        fee: meta["fee"].as_f64().expect("fee"),
        trading_mode: MarketType::Spot,
        leverage: None,
        tradable_balance_ratio: meta["tradable_balance_ratio"].as_f64().expect("ratio"),
    };
    let registry = StrategyRegistry::builtin();
    let strategy = registry.get(meta["strategy"].as_str().expect("strategy")).expect("registered");
    let result = BacktestRunner::new(strategy).run(&config, &data).expect("backtest runs");
    (config, result, exp)
}

/// Differences between one produced and one expected trade.
fn trade_diffs(got: &Trade, want: &Value, rel: f64) -> Vec<String> {
    let mut d = Vec::new();
    let num = |k: &str| want[k].as_f64().unwrap_or(f64::NAN);
    if got.pair.to_string() != want["pair"].as_str().unwrap_or("") {
        d.push(format!("pair {} vs {}", got.pair, want["pair"]));
    }
    for (k, g) in [("open_timestamp", got.open_timestamp), ("close_timestamp", got.close_timestamp)] {
        if Some(g) != want[k].as_i64() {
            d.push(format!("{k} {} vs {}", tradai_core::iso_ts_ms(g), want[k]));
        }
    }
    if got.exit_reason.as_str() != want["exit_reason"].as_str().unwrap_or("") {
        d.push(format!("exit_reason {} vs {}", got.exit_reason, want["exit_reason"]));
    }
    if got.is_short != want["is_short"].as_bool().unwrap_or(false) {
        d.push("is_short".to_owned());
    }
    let fields = [
        ("open_rate", got.open_rate),
        ("close_rate", got.close_rate),
        ("amount", got.amount),
        ("stake_amount", got.stake_amount),
        ("profit_abs", got.profit_abs),
        ("profit_ratio", got.profit_ratio),
        ("initial_stop_loss_abs", got.initial_stop_loss_abs),
        ("initial_stop_loss_ratio", got.initial_stop_loss_ratio),
        ("stop_loss_abs", got.stop_loss_abs),
        ("stop_loss_ratio", got.stop_loss_ratio),
        ("min_rate", got.min_rate),
        ("max_rate", got.max_rate),
    ];
    for (k, g) in fields {
        if !rel_eq(g, num(k), rel) {
            d.push(format!("{k} {g:e} vs {:e}", num(k)));
        }
    }
    let placed = tradai_core::iso_ts_ms(got.exit_order_placed);
    if placed != want["exit_order_placed"].as_str().unwrap_or("") {
        d.push(format!("exit_order_placed {placed} vs {}", want["exit_order_placed"]));
    }
    d
}

/// Every difference between a run and its expected file; empty when the run conforms.
pub fn conformance_report(result: &BacktestResult, exp: &Value, rel: f64) -> Vec<String> {
    let mut report = Vec::new();
    let want = exp["trades"].as_array().expect("trades");
    if want.len() != result.trades.len() {
        report.push(format!("trade count {} vs {}", result.trades.len(), want.len()));
    }
    for (k, (g, w)) in result.trades.iter().zip(want).enumerate() {
        let d = trade_diffs(g, w, rel);
        if !d.is_empty() {
            report.push(format!(
                "trade #{k} {} open {}: {}",
                w["pair"].as_str().unwrap_or("?"),
                w["open_date"].as_str().unwrap_or("?"),
                d.join("; ")
            ));
        }
    }
    let want_unclosed = exp["unclosed_trades"].as_array().expect("unclosed_trades");
    let got_unclosed = serde_json::to_value(&result.unclosed_trades).expect("json");
    let got_unclosed = got_unclosed.as_array().expect("array");
    if got_unclosed.len() != want_unclosed.len() {
        report.push(format!("unclosed count {} vs {}", got_unclosed.len(), want_unclosed.len()));
    }
    for (g, w) in got_unclosed.iter().zip(want_unclosed) {
        for k in ["pair", "open_date"] {
            if g[k] != w[k] {
                report.push(format!("unclosed {k} {} vs {}", g[k], w[k]));
            }
        }
        for k in ["open_rate", "amount", "stake_amount"] {
            if !rel_eq(g[k].as_f64().unwrap_or(f64::NAN), w[k].as_f64().unwrap_or(0.0), rel) {
                report.push(format!("unclosed {k} {} vs {}", g[k], w[k]));
            }
        }
        let (go, wo) = (&g["open_exit_order"], &w["open_exit_order"]);
        if go["placed"] != wo["placed"]
            || go["tag"] != wo["tag"]
            || !rel_eq(go["price"].as_f64().unwrap_or(0.0), wo["price"].as_f64().unwrap_or(1.0), rel)
        {
            report.push(format!("unclosed exit order {go} vs {wo}"));
        }
    }
    let s = &exp["summary"];
    if Some(result.rejected_signals) != s["rejected_signals"].as_u64() {
        report.push(format!("rejected_signals {} vs {}", result.rejected_signals, s["rejected_signals"]));
    }
    for (k, g) in [("final_balance", result.final_balance), ("market_change", result.market_change)] {
        if !rel_eq(g, s[k].as_f64().unwrap_or(f64::NAN), rel) {
            report.push(format!("{k} {g} vs {}", s[k]));
        }
    }
    for (k, g) in [("backtest_start_ts", result.backtest_start_ms), ("backtest_end_ts", result.backtest_end_ms)] {
        if Some(g) != s[k].as_i64() {
            report.push(format!("{k} {g} vs {}", s[k]));
        }
    }
    report.extend(wallet_report(result, exp, rel));
    report
}

/// The balance series against the reference's wallet statistics: end, high and low balance
/// with their dates.
fn wallet_report(result: &BacktestResult, exp: &Value, rel: f64) -> Vec<String> {
    let ws = &exp["summary"]["wallet_stats"];
    let mut report = Vec::new();
    let series = &result.balance_series;
    let Some(&(_, end)) = series.last() else { return vec!["empty balance series".to_owned()] };
    let mut high = series[0];
    let mut low = series[0];
    for &p in series {
        if p.1 > high.1 {
            high = p;
        }
        if p.1 < low.1 {
            low = p;
        }
    }
    let checks =
        [("end_balance", end, None), ("high_balance", high.1, Some(("high_ts", high.0))), ("low_balance", low.1, Some(("low_ts", low.0)))];
    for (k, v, ts) in checks {
        if !rel_eq(v, ws[k].as_f64().unwrap_or(f64::NAN), rel) {
            report.push(format!("wallet {k} {v} vs {}", ws[k]));
        }
        if let Some((tk, t)) = ts {
            if Some(t) != ws[tk].as_i64() {
                report.push(format!("wallet {tk} {t} vs {}", ws[tk]));
            }
        }
    }
    report
}

fn assert_conforms(name: &str) {
    let (_, result, exp) = run_reference(name);
    let report = conformance_report(&result, &exp, REL);
    let matching =
        exp["trades"].as_array().map_or(0, |w| result.trades.iter().zip(w).filter(|(g, w)| trade_diffs(g, w, REL).is_empty()).count());
    eprintln!("{name}: {matching}/{} trades match", exp["trades"].as_array().map_or(0, Vec::len));
    assert!(
        report.is_empty(),
        "{name} differs from Freqtrade in {} ways:\n{}",
        report.len(),
        report.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn ema_cross_mot3_matches_freqtrade() {
    assert_conforms("EmaCross-mot3");
}

#[test]
fn bollinger_breakout_mot3_matches_freqtrade() {
    assert_conforms("BollingerBreakout-mot3");
}

#[test]
fn rsi_mean_reversion_unlimited_matches_freqtrade() {
    assert_conforms("RsiMeanReversion-unlimited");
}

/// Stronger than the contract: every compared field is bit-identical to Freqtrade's (the
/// expected files are parsed with serde_json's exact float parser for this).
#[test]
fn reference_runs_are_bit_identical() {
    for name in ["EmaCross-mot3", "BollingerBreakout-mot3", "RsiMeanReversion-unlimited"] {
        let (_, result, exp) = run_reference(name);
        let report = conformance_report(&result, &exp, 0.0);
        assert!(report.is_empty(), "{name}:\n{}", report.iter().take(20).cloned().collect::<Vec<_>>().join("\n"));
    }
}

/// The full export (engine + tradai-metrics) against the reference summaries, to the
/// contract's relative 1e-6.
#[test]
fn reference_summaries_match() {
    let mut failures = Vec::new();
    for name in ["EmaCross-mot3", "BollingerBreakout-mot3", "RsiMeanReversion-unlimited"] {
        let (config, result, exp) = run_reference(name);
        let export = serde_json::to_value(tradai_metrics::BacktestExport::new(&result, &config, "BTC", "")).expect("export json");
        for line in tradai_metrics::compare_summaries(&export["summary"], &exp["summary"], 1e-6) {
            failures.push(format!("{name}: {line}"));
        }
    }
    assert!(failures.is_empty(), "{} summary differences:\n{}", failures.len(), failures.join("\n"));
}
