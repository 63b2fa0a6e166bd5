//! `EmaCrossFutures` on XRP/USDT:USDT: no reference file exists, so the run is checked
//! against the futures rules of SEMANTICS §11 one invariant at a time.

use tradai_core::{ExitReason, MarketType, Pair, Timeframe, Trade};
use tradai_engine::{BacktestConfig, BacktestError, BacktestResult, BacktestRunner, StakeAmount, StrategyRegistry};

use crate::feather::{pair_data, read_feather, testdata};

const FEE: f64 = 0.0005;
const STEP: f64 = 0.1;
const TICK: f64 = 1e-4;

fn futures_config() -> BacktestConfig {
    let pair: Pair = "XRP/USDT:USDT".parse().unwrap();
    let mut c = BacktestConfig::new(vec![pair], Timeframe::M5);
    c.stake_amount = StakeAmount::Fixed(100.0);
    c.starting_balance = 1000.0;
    c.max_open_trades = Some(3);
    c.fee = FEE;
    c.trading_mode = MarketType::Futures;
    c.leverage = Some(2.0);
    c
}

fn run_futures() -> (BacktestResult, tradai_core::Candles) {
    let candles = read_feather(&testdata().join("freqtrade/futures/XRP_USDT_USDT-5m-futures.feather"));
    let data = vec![pair_data("XRP/USDT:USDT", candles.clone(), Some(STEP))];
    let registry = StrategyRegistry::builtin();
    let result = BacktestRunner::new(registry.get("EmaCrossFutures").unwrap()).run(&futures_config(), &data).unwrap();
    (result, candles)
}

fn candle_at(c: &tradai_core::Candles, ts: i64) -> usize {
    c.ts.binary_search(&ts).expect("trade time is a candle")
}

#[test]
fn trades_both_sides_with_leverage_two() {
    let (r, _) = run_futures();
    let shorts = r.trades.iter().filter(|t| t.is_short).count();
    let longs = r.trades.len() - shorts;
    assert!(shorts > 20 && longs > 20, "{longs} longs, {shorts} shorts");
    for t in &r.trades {
        assert_eq!(t.leverage, 2.0);
        assert_eq!((t.fee_open, t.fee_close), (FEE, FEE));
        // Stake is margin: amount · open / leverage, amount on the 0.1 lot grid.
        let lots = t.amount / STEP;
        assert!((lots - lots.round()).abs() < 1e-6, "amount {} off the lot step", t.amount);
        assert!((t.stake_amount - t.amount * t.open_rate / 2.0).abs() < 1e-6, "{t:?}");
        assert!(t.stake_amount <= 100.0 + 1e-9 && t.stake_amount > 99.0, "stake {}", t.stake_amount);
    }
}

#[test]
fn positions_reverse_on_the_same_candle() {
    let (r, _) = run_futures();
    let mut reversals = 0;
    for w in r.trades.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        // One position at a time on the pair: the next opens no earlier than this one closes.
        assert!(b.open_timestamp >= a.close_timestamp, "overlap: {a:?} / {b:?}");
        if b.open_timestamp == a.close_timestamp {
            // Only an opposite signal re-enters on the exit candle.
            assert_ne!(a.is_short, b.is_short, "same-side re-entry on the exit candle: {a:?} / {b:?}");
            reversals += 1;
        }
    }
    assert!(reversals > 20, "only {reversals} same-candle reversals");
}

#[test]
fn stops_sit_at_two_and_a_half_percent_of_price() {
    let (r, c) = run_futures();
    let mut stop_exits = 0;
    for t in &r.trades {
        assert_eq!(t.initial_stop_loss_ratio, -0.05);
        let s = t.initial_stop_loss_abs;
        if t.is_short {
            // Rounded down to the tick from open · 1.025.
            let raw = t.open_rate * 1.025;
            assert!(s <= raw + 1e-12 && s > raw - TICK - 1e-12, "short stop {s} for open {}", t.open_rate);
        } else {
            let raw = t.open_rate * 0.975;
            assert!(s >= raw - 1e-12 && s < raw + TICK + 1e-12, "long stop {s} for open {}", t.open_rate);
        }
        if t.exit_reason == ExitReason::StopLoss {
            stop_exits += 1;
            let i = candle_at(&c, t.close_timestamp);
            let gapped = if t.is_short { s < c.low[i] } else { s > c.high[i] };
            if !gapped {
                assert_eq!(t.close_rate, t.stop_loss_abs);
            }
            // A 2.5 % adverse move at 2x costs about 5 % of the margin plus fees.
            assert!(t.profit_ratio < -0.04 && t.profit_ratio > -0.07, "stop-loss ratio {}", t.profit_ratio);
        }
    }
    assert!(stop_exits > 0, "no stop-loss exit to check");
}

#[test]
fn shorts_profit_when_price_falls() {
    let (r, _) = run_futures();
    for t in &r.trades {
        let fees = t.amount * (t.open_rate + t.close_rate) * FEE;
        let gross = if t.is_short { (t.open_rate - t.close_rate) * t.amount } else { (t.close_rate - t.open_rate) * t.amount };
        // profit = gross move − fees on both sides (funding is zero here).
        assert!((t.profit_abs - (gross - fees)).abs() < 1e-6, "{t:?}");
        if t.is_short && t.close_rate < t.open_rate * (1.0 - 3.0 * FEE) {
            assert!(t.profit_abs > 0.0, "short lost money on a falling price: {t:?}");
        }
        if t.is_short && t.close_rate > t.open_rate {
            assert!(t.profit_abs < 0.0, "short made money on a rising price: {t:?}");
        }
        // Ratios are on the margin: twice the price-move ratio.
        let notional = t.amount * t.open_rate * if t.is_short { 1.0 - FEE } else { 1.0 + FEE };
        assert!((t.profit_ratio - t.profit_abs / notional * 2.0).abs() < 1e-6, "{t:?}");
    }
}

#[test]
fn roi_and_wallet_follow_leverage() {
    let (r, c) = run_futures();
    for t in r.trades.iter().filter(|t| t.exit_reason == ExitReason::Roi) {
        // ROI 10 % of margin = 5 % of price, unless a candle opened beyond the target.
        let i = candle_at(&c, t.close_timestamp);
        let at_open = t.close_rate == c.open[i];
        assert!(t.profit_ratio > 0.099 || at_open, "{t:?}");
    }
    let closed: f64 = r.trades.iter().map(|t| t.profit_abs).sum();
    // Futures wallets count open margins, so unclosed trades do not lower the total.
    assert!((r.final_balance - (1000.0 + closed)).abs() < 1e-9, "{} vs {}", r.final_balance, 1000.0 + closed);
    assert!(r.balance_series.iter().all(|(_, b)| *b > 800.0 && *b < 1300.0));
}

#[test]
fn closed_trades_are_in_closing_order() {
    let (r, _) = run_futures();
    let closes: Vec<i64> = r.trades.iter().map(|t: &Trade| t.close_timestamp).collect();
    assert!(closes.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn short_strategy_is_refused_in_spot() {
    let candles = read_feather(&testdata().join("freqtrade/futures/XRP_USDT_USDT-5m-futures.feather"));
    let data = vec![pair_data("XRP/USDT:USDT", candles, Some(STEP))];
    let mut cfg = futures_config();
    cfg.trading_mode = MarketType::Spot;
    let registry = StrategyRegistry::builtin();
    let err = BacktestRunner::new(registry.get("EmaCrossFutures").unwrap()).run(&cfg, &data).unwrap_err();
    assert_eq!(err, BacktestError::ShortInSpot { strategy: "EmaCrossFutures".into() });
}
