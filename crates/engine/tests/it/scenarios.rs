//! Hand-built candles and scripted signals, one SEMANTICS rule per test.

use tradai_core::{CandleRow, Candles, ExitReason, MarketType, Pair, StrategySettings, Timeframe};
use tradai_engine::{
    BacktestConfig, BacktestResult, BacktestRunner, IndicatorCache, PairData, ParamValues, Signals, StakeAmount, Strategy,
};

use crate::feather::pair_data;

const T0: i64 = 1_515_542_400_000; // 2018-01-10 00:00 UTC
const STEP: i64 = 300_000;

/// Signals fixed per pair in advance, with configurable settings.
struct Scripted {
    settings: StrategySettings,
    /// (pair index → signal columns); candles are matched by length.
    signals: Vec<Signals>,
}

impl Strategy for Scripted {
    fn name(&self) -> &str {
        "Scripted"
    }

    fn settings(&self) -> StrategySettings {
        self.settings.clone()
    }

    fn populate_with_cache(&self, candles: &Candles, _: &ParamValues, _: &mut IndicatorCache) -> Signals {
        // Pairs are told apart by their first close (set by the scenario).
        let k = candles.close.first().map_or(0, |c| (c / 1000.0).floor() as usize);
        self.signals[k].clone()
    }
}

fn settings() -> StrategySettings {
    let mut s = StrategySettings::new(Timeframe::M5);
    s.startup_candle_count = 0;
    s.minimal_roi = vec![(0, 10.0)];
    s.stoploss = -0.5;
    s.use_exit_signal = true;
    s
}

/// Candles from (open, high, low, close) tuples, one per 5 minutes from `T0`.
fn candles(rows: &[(f64, f64, f64, f64)]) -> Candles {
    let mut c = Candles::default();
    for (i, &(o, h, l, cl)) in rows.iter().enumerate() {
        c.push(CandleRow { ts: T0 + STEP * i as i64, open: o, high: h, low: l, close: cl, volume: 1.0 });
    }
    c
}

fn flat(n: usize, p: f64) -> Vec<(f64, f64, f64, f64)> {
    vec![(p, p, p, p); n]
}

fn signals(n: usize, enter: &[usize], exit: &[usize]) -> Signals {
    let mut s = Signals::none(n);
    for &i in enter {
        s.enter_long[i] = true;
    }
    for &i in exit {
        s.exit_long[i] = true;
    }
    s
}

fn config(pairs: usize) -> BacktestConfig {
    let pairs: Vec<Pair> = (0..pairs).map(|k| format!("P{k}/BTC").parse().unwrap()).collect();
    let mut c = BacktestConfig::new(pairs, Timeframe::M5);
    c.stake_amount = StakeAmount::Fixed(0.1);
    c.starting_balance = 1.0;
    c.fee = 0.0;
    c
}

fn run(cfg: &BacktestConfig, st: StrategySettings, data: Vec<(Candles, Signals)>) -> BacktestResult {
    let mut sigs = Vec::new();
    let mut pds: Vec<PairData> = Vec::new();
    for (k, (c, s)) in data.into_iter().enumerate() {
        let mut c = c;
        // Mark the first close so Scripted can find this pair's signals; candle 0 is never
        // traded (the loop starts one candle after the window start).
        c.close[0] = k as f64 * 1000.0 + 0.5;
        pds.push(pair_data(&cfg.pairs[k].to_string(), c, Some(0.001)));
        sigs.push(s);
    }
    let strat = Scripted { settings: st, signals: sigs };
    BacktestRunner::new(&strat).run(cfg, &pds).expect("scenario runs")
}

#[test]
fn entry_fills_at_next_open_and_exit_signal_at_next_open() {
    let mut rows = flat(10, 1.0);
    rows[3] = (1.2, 1.3, 1.1, 1.25);
    rows[6] = (1.4, 1.5, 1.35, 1.45);
    let r = run(&config(1), settings(), vec![(candles(&rows), signals(10, &[2], &[5]))]);
    assert_eq!(r.trades.len(), 1);
    let t = &r.trades[0];
    assert_eq!((t.open_timestamp, t.open_rate), (T0 + 3 * STEP, 1.2));
    assert_eq!((t.close_timestamp, t.close_rate, t.exit_reason), (T0 + 6 * STEP, 1.4, ExitReason::ExitSignal));
    assert_eq!(t.amount, 0.083); // 0.1 / 1.2 truncated to the 0.001 lot step
    assert!((t.stake_amount - 0.0996).abs() < 1e-12);
}

#[test]
fn stop_exits_at_the_stop_or_at_the_open_when_gapped_through() {
    let mut st = settings();
    st.stoploss = -0.1;
    let mut rows = flat(10, 1.0);
    rows[4] = (1.0, 1.0, 0.85, 0.9); // touches the 0.9 stop
    let r = run(&config(1), st.clone(), vec![(candles(&rows), signals(10, &[2], &[]))]);
    let t = &r.trades[0];
    assert_eq!((t.exit_reason, t.close_rate, t.close_timestamp), (ExitReason::StopLoss, 0.9, T0 + 4 * STEP));

    let mut rows = flat(10, 1.0);
    rows[4] = (0.8, 0.85, 0.7, 0.8); // whole candle below the stop
    let r = run(&config(1), st, vec![(candles(&rows), signals(10, &[2], &[]))]);
    assert_eq!((r.trades[0].exit_reason, r.trades[0].close_rate), (ExitReason::StopLoss, 0.8));
}

#[test]
fn roi_exits_at_the_target_and_new_roi_steps_at_the_open() {
    let mut st = settings();
    st.minimal_roi = vec![(0, 0.1), (10, 0.05)];
    let mut rows = flat(10, 1.0);
    rows[3] = (1.0, 1.2, 1.0, 1.1); // high above the 10 % target on the entry candle
    let r = run(&config(1), st.clone(), vec![(candles(&rows), signals(10, &[2], &[]))]);
    let t = &r.trades[0];
    assert_eq!((t.exit_reason, t.close_timestamp), (ExitReason::Roi, T0 + 3 * STEP));
    assert!((t.close_rate - 1.1).abs() < 1e-12, "{}", t.close_rate);

    // Ten minutes in, the 5 % step starts and the candle opens above it: exit at the open.
    let mut rows = flat(10, 1.0);
    rows[5] = (1.07, 1.08, 1.06, 1.07);
    let r = run(&config(1), st, vec![(candles(&rows), signals(10, &[2], &[]))]);
    let t = &r.trades[0];
    assert_eq!((t.exit_reason, t.close_timestamp, t.close_rate), (ExitReason::Roi, T0 + 5 * STEP, 1.07));
}

#[test]
fn exit_order_rests_when_the_rounded_price_is_outside_the_candle() {
    let mut rows = flat(12, 0.04194);
    // The exit signal acts on candle 5, whose low is a noisy float just above 0.04194: the
    // tick-rounded open (0.04194) is below the low and the order rests until candle 8.
    rows[5] = (0.041940000000000005, 0.04195, 0.041940000000000005, 0.04195);
    rows[6] = (0.04195, 0.04196, 0.04195, 0.04196);
    rows[7] = (0.04196, 0.04197, 0.04195, 0.04196);
    rows[8] = (0.04195, 0.04195, 0.04193, 0.04194);
    let s = signals(12, &[2], &[4]);
    let r = run(&config(1), settings(), vec![(candles(&rows), s)]);
    let t = &r.trades[0];
    // Candle 5: order at 0.04194 rests. Candles 6, 7: no new exit, 0.04194 below their lows.
    // Candle 8 contains it.
    assert_eq!((t.close_timestamp, t.close_rate), (T0 + 8 * STEP, 0.04194));
    assert_eq!(t.exit_order_placed, T0 + 5 * STEP);
    assert_eq!(t.exit_reason, ExitReason::ExitSignal);
}

#[test]
fn slots_reject_signals_and_no_entry_on_the_last_candle() {
    let n = 8;
    let mut cfg = config(3);
    cfg.max_open_trades = Some(2);
    let data = (0..3).map(|_| (candles(&flat(n, 1.0)), signals(n, &[2, 6], &[]))).collect();
    let r = run(&cfg, settings(), data);
    // Candle 3: pairs 0 and 1 enter, pair 2 is rejected. The signal on candle 6 acts on the
    // last candle (7), where no entries are made, so it is neither taken nor rejected.
    assert_eq!(r.rejected_signals, 1);
    assert_eq!(r.trades.len(), 2);
    assert!(r.trades.iter().all(|t| t.exit_reason == ExitReason::ForceExit && t.close_timestamp == T0 + 7 * STEP));
    let pairs: Vec<String> = r.trades.iter().map(|t| t.pair.to_string()).collect();
    assert_eq!(pairs, ["P0/BTC", "P1/BTC"]);

    cfg.max_open_trades = None;
    let data = (0..3).map(|_| (candles(&flat(n, 1.0)), signals(n, &[2], &[]))).collect();
    let r = run(&cfg, settings(), data);
    assert_eq!((r.rejected_signals, r.trades.len()), (0, 3));
}

#[test]
fn exits_free_slots_before_entries_on_the_same_candle() {
    let n = 10;
    let mut cfg = config(2);
    cfg.max_open_trades = Some(1);
    // Pair 1 (later in the whitelist) holds the slot and exits on candle 5; pair 0 signals
    // entry for candle 5 as well and gets the freed slot on that candle.
    let data = vec![(candles(&flat(n, 1.0)), signals(n, &[4], &[])), (candles(&flat(n, 2.0)), signals(n, &[1], &[4]))];
    let r = run(&cfg, settings(), data);
    assert_eq!(r.rejected_signals, 0);
    let t0 = r.trades.iter().find(|t| t.pair.to_string() == "P0/BTC").unwrap();
    assert_eq!(t0.open_timestamp, T0 + 5 * STEP);
}

#[test]
fn unfillable_force_exit_leaves_the_trade_unclosed() {
    let mut cfg = config(1);
    cfg.stake_amount = StakeAmount::Fixed(0.5);
    let mut rows = flat(8, 0.04194);
    rows[7] = (0.04194, 0.04195, 0.04194, 0.04195);
    let r = run(&cfg, settings(), vec![(candles(&rows), signals(8, &[2], &[]))]);
    assert_eq!(r.trades.len(), 1);
    assert_eq!((r.trades[0].exit_reason, r.trades[0].close_rate), (ExitReason::ForceExit, 0.04194));

    // The last open is a noisy float just above 0.04194 and also the low: the force exit at
    // the rounded open (0.04194) lies below the candle and cannot fill.
    rows[7] = (0.041940000000000005, 0.04195, 0.041940000000000005, 0.04195);
    let r = run(&cfg, settings(), vec![(candles(&rows), signals(8, &[2], &[]))]);
    assert!(r.trades.is_empty());
    assert_eq!(r.unclosed_trades.len(), 1);
    let u = &r.unclosed_trades[0];
    assert_eq!(u.open_exit_order.price, 0.04194);
    assert_eq!(u.open_exit_order.tag, ExitReason::ForceExit);
    assert_eq!(u.amount, 11.921);
    // Spot: the stake of the unclosed trade stays out of the final balance.
    assert!((r.final_balance - (1.0 - u.stake_amount)).abs() < 1e-12);
}

#[test]
fn missing_candles_are_filled_with_the_previous_close() {
    let full = candles(&flat(10, 1.0));
    let mut c = full.slice(0..3);
    c.close[2] = 1.5;
    c.extend_from(&full.slice(6..10));
    let cfg = config(1);
    let data = vec![pair_data("P0/BTC", c, Some(0.001))];
    let m = tradai_engine::PreparedMarket::new(&cfg.pairs, Timeframe::M5, &cfg.timerange, &data, 0).unwrap();
    let f = &m.pairs[0].candles;
    assert_eq!(f.len(), 10);
    for i in 3..6 {
        assert_eq!(f.row(i), CandleRow { ts: T0 + STEP * i as i64, open: 1.5, high: 1.5, low: 1.5, close: 1.5, volume: 0.0 });
    }
    assert_eq!((m.min_date_ms, m.max_date_ms), (T0, T0 + 9 * STEP));
    let r = run(&cfg, settings(), vec![(candles(&flat(10, 1.0)), signals(10, &[1], &[]))]);
    // One balance point per candle from min_date + tf to max_date.
    assert_eq!(r.balance_series.len(), 9);
}

#[test]
fn futures_reversal_happens_on_the_exit_candle() {
    let n = 10;
    let mut st = settings();
    st.can_short = true;
    st.leverage = 2.0;
    let mut s = signals(n, &[2], &[5]);
    s.enter_short[5] = true;
    s.exit_short[8] = true;
    let mut cfg = config(1);
    cfg.trading_mode = MarketType::Futures;
    let mut rows = flat(n, 1.0);
    rows[6] = (1.1, 1.1, 1.1, 1.1);
    rows[9] = (0.9, 0.9, 0.9, 0.9);
    let r = run(&cfg, st, vec![(candles(&rows), s)]);
    assert_eq!(r.trades.len(), 2);
    let (long, short) = (&r.trades[0], &r.trades[1]);
    assert!(!long.is_short && short.is_short);
    assert_eq!(long.close_timestamp, short.open_timestamp);
    assert_eq!(short.open_rate, 1.1);
    assert_eq!(short.close_rate, 0.9);
    assert!(short.profit_abs > 0.0);
    assert_eq!(short.leverage, 2.0);
}
