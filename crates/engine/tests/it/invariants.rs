//! Properties every run must have, on other pairs, windows and slot limits than the
//! reference runs; plus errors, the registry and indicator caching.

use tradai_core::{ExitReason, MarketType, Pair, TimeRange, Timeframe};
use tradai_engine::{
    BacktestConfig, BacktestError, BacktestResult, BacktestRunner, IndicatorCache, PairData, ParamValue, ParamValues, PreparedMarket,
    StakeAmount, Strategy, StrategyRegistry,
};

use crate::feather::{expected, pair_data, reference_data, spot_candles};

const STRATEGIES: [&str; 5] = ["EmaCross", "RsiMeanReversion", "BollingerBreakout", "MacdTrend", "DonchianBreakout"];

fn spot_config(pairs: &[PairData], tf: Timeframe) -> BacktestConfig {
    let mut c = BacktestConfig::new(pairs.iter().map(|d| d.pair.clone()).collect(), tf);
    c.stake_amount = StakeAmount::Fixed(0.05);
    c.starting_balance = 1.0;
    c.max_open_trades = Some(3);
    c.fee = 0.001;
    c
}

fn run(strategy: &str, cfg: &BacktestConfig, data: &[PairData]) -> BacktestResult {
    let registry = StrategyRegistry::builtin();
    BacktestRunner::new(registry.get(strategy).unwrap()).run(cfg, data).unwrap()
}

/// What must hold for any spot run.
fn check_invariants(r: &BacktestResult, cfg: &BacktestConfig, data: &[PairData]) {
    let step = cfg.timeframe.millis();
    let closes: Vec<i64> = r.trades.iter().filter(|t| t.exit_reason != ExitReason::ForceExit).map(|t| t.close_timestamp).collect();
    assert!(closes.windows(2).all(|w| w[0] <= w[1]), "trades not in closing order");
    // Slots: count overlapping trades (open at the same candle), unclosed ones included.
    let mut events: Vec<(i64, i32)> = Vec::new();
    // A slot freed on a candle can be taken on the same candle: closes sort first.
    for t in &r.trades {
        events.push((t.open_timestamp, 1));
        events.push((t.close_timestamp, -1));
    }
    let mut open = 0;
    let mut max_open = 0;
    events.sort_unstable();
    for (_, d) in events {
        open += d;
        max_open = max_open.max(open);
    }
    if let Some(m) = cfg.max_open_trades {
        assert!(max_open <= i32::try_from(m).unwrap() + i32::try_from(r.unclosed_trades.len()).unwrap());
    }
    for t in &r.trades {
        let d = data.iter().find(|d| d.pair == t.pair).expect("pair of the run");
        assert!(t.open_timestamp > r.backtest_start_ms && t.open_timestamp < r.backtest_end_ms, "{t:?}");
        assert!(t.close_timestamp >= t.open_timestamp && t.close_timestamp <= r.backtest_end_ms);
        assert_eq!((t.open_timestamp - r.backtest_start_ms) % step, 0);
        // The signal comes from a real candle with volume: filled candles (volume 0) never
        // trigger the built-in strategies. The entry is at the next candle's open.
        let prev = d.candles.ts.binary_search(&(t.open_timestamp - step)).expect("signal candle is a real candle");
        assert!(d.candles.volume[prev] > 0.0);
        if let Ok(i) = d.candles.ts.binary_search(&t.open_timestamp) {
            assert!((t.open_rate - d.candles.open[i]).abs() <= 1e-4 * t.open_rate, "{t:?}");
        }
        if let Some(s) = d.instrument.amount_step {
            let lots = t.amount / s;
            assert!((lots - lots.round()).abs() < 1e-6, "amount {} not on step {s}", t.amount);
        }
        assert!(t.stake_amount <= 0.05 + 1e-12 && t.stake_amount > 0.0);
        assert!(t.min_rate <= t.max_rate);
        assert!(t.stop_loss_abs >= t.initial_stop_loss_abs);
        // profit follows the price move, less fees on both sides.
        let fees = t.amount * (t.open_rate + t.close_rate) * cfg.fee;
        let gross = (t.close_rate - t.open_rate) * t.amount;
        assert!((t.profit_abs - (gross - fees)).abs() < 1e-7, "{t:?}");
    }
    let profit: f64 = r.trades.iter().map(|t| t.profit_abs).sum();
    let tied: f64 = r.unclosed_trades.iter().map(|u| u.stake_amount).sum();
    assert!((r.final_balance - (cfg.starting_balance + profit - tied)).abs() < 1e-9);
    assert_eq!(r.balance_series.len() as i64, (r.backtest_end_ms - r.backtest_start_ms) / step, "one balance point per candle");
}

#[test]
fn every_strategy_keeps_the_invariants_on_the_reference_pairs() {
    let data = reference_data(&expected("EmaCross-mot3"));
    for mot in [Some(1), Some(3), None] {
        let mut cfg = spot_config(&data, Timeframe::M5);
        cfg.max_open_trades = mot;
        for s in STRATEGIES {
            let r = run(s, &cfg, &data);
            assert!(!r.trades.is_empty(), "{s} made no trade");
            check_invariants(&r, &cfg, &data);
            if mot.is_none() {
                assert_eq!(r.rejected_signals, 0, "{s}: unlimited slots reject nothing");
            }
        }
    }
}

#[test]
fn fewer_slots_reject_more() {
    let data = reference_data(&expected("EmaCross-mot3"));
    let mut last = u64::MAX;
    for mot in [1, 2, 3, 5, 10] {
        let mut cfg = spot_config(&data, Timeframe::M5);
        cfg.max_open_trades = Some(mot);
        let r = run("EmaCross", &cfg, &data);
        assert!(r.rejected_signals <= last, "mot {mot}: {} > {last}", r.rejected_signals);
        last = r.rejected_signals;
    }
    assert_eq!(last, 0, "ten slots for ten pairs reject nothing");
}

#[test]
fn other_pairs_and_timeframes() {
    // XRP/ETH has gaps; UNITTEST/BTC comes in 1m and 30m.
    for (pair, tf, timeframe) in
        [("XRP/ETH", "5m", Timeframe::M5), ("UNITTEST/BTC", "1m", Timeframe::M1), ("UNITTEST/BTC", "30m", Timeframe::M30)]
    {
        let data = vec![pair_data(pair, spot_candles(pair, tf), Some(1.0))];
        let mut cfg = spot_config(&data, timeframe);
        cfg.stake_amount = StakeAmount::Fixed(0.05);
        for s in ["EmaCross", "RsiMeanReversion", "BollingerBreakout"] {
            let r = run(s, &cfg, &data);
            check_invariants(&r, &cfg, &data);
        }
    }
}

#[test]
fn timerange_cuts_the_window_with_startup_and_inclusive_end() {
    let data = reference_data(&expected("EmaCross-mot3"));
    let mut cfg = spot_config(&data, Timeframe::M5);
    cfg.timerange = "20180115-20180125".parse::<TimeRange>().unwrap();
    let r = run("EmaCross", &cfg, &data);
    assert_eq!(r.backtest_start_ms, cfg.timerange.start_ms.unwrap());
    // Freqtrade keeps the candle opening exactly at the end.
    assert_eq!(r.backtest_end_ms, cfg.timerange.end_ms.unwrap());
    check_invariants(&r, &cfg, &data);
    assert!(r.trades.iter().all(|t| t.open_timestamp > r.backtest_start_ms));

    // The same window run on data pre-cut to it (with the 30 start-up candles) gives the same
    // trades: indicators only see data from the start-up on.
    let from = cfg.timerange.start_ms.unwrap() - 30 * 300_000;
    let end = cfg.timerange.end_ms.unwrap();
    let cut: Vec<PairData> = data
        .iter()
        .map(|d| {
            let r = d.candles.index_range(Some(from), Some(end + 1));
            PairData { pair: d.pair.clone(), candles: d.candles.slice(r), instrument: d.instrument.clone() }
        })
        .collect();
    let mut cfg2 = cfg.clone();
    cfg2.timerange = TimeRange::all();
    let r2 = run("EmaCross", &cfg2, &cut);
    assert_eq!(r.trades, r2.trades);
}

#[test]
fn runs_are_deterministic_and_caches_change_nothing() {
    let data = reference_data(&expected("EmaCross-mot3"));
    let cfg = spot_config(&data, Timeframe::M5);
    let registry = StrategyRegistry::builtin();
    let strategy = registry.get("EmaCross").unwrap();
    let a = BacktestRunner::new(strategy).run(&cfg, &data).unwrap();
    let b = BacktestRunner::new(strategy).run(&cfg, &data).unwrap();
    assert_eq!(a, b);

    let market = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 30).unwrap();
    let mut caches = vec![IndicatorCache::new(); market.pairs.len()];
    let c = BacktestRunner::new(strategy).run_prepared(&cfg, &market, Some(&mut caches)).unwrap();
    assert_eq!(a.trades, c.trades);
    assert_eq!(caches[0].len(), 2, "fast and slow EMA cached");
    // Another slow span reuses the fast EMA and adds one column.
    let params = ParamValues::new().with("slow", ParamValue::Int(30));
    let d = BacktestRunner::new(strategy).with_params(&params).run_prepared(&cfg, &market, Some(&mut caches)).unwrap();
    assert_eq!(caches[0].len(), 3);
    assert_ne!(a.trades, d.trades);
    // Explicit defaults are the defaults.
    let explicit = ParamValues::new().with("fast", ParamValue::Int(12)).with("slow", ParamValue::Int(26));
    let e = BacktestRunner::new(strategy).with_params(&explicit).run(&cfg, &data).unwrap();
    assert_eq!(a.trades, e.trades);
}

#[test]
fn unlimited_stake_splits_the_wallet_over_the_slots() {
    let data = reference_data(&expected("EmaCross-mot3"));
    let mut cfg = spot_config(&data, Timeframe::M5);
    cfg.stake_amount = StakeAmount::Unlimited;
    cfg.max_open_trades = Some(4);
    let r = run("EmaCross", &cfg, &data);
    let first = &r.trades.iter().min_by_key(|t| t.open_timestamp).unwrap();
    // (available + tied) / slots with 99 % of 1.0 tradable: at most 0.2475 per trade.
    assert!(first.stake_amount <= 0.2475 + 1e-12 && first.stake_amount > 0.24, "{}", first.stake_amount);
    assert!(r.trades.iter().all(|t| t.stake_amount <= 0.2475 * 1.2));
}

fn err(cfg: &BacktestConfig, data: &[PairData]) -> String {
    let registry = StrategyRegistry::builtin();
    let e = BacktestRunner::new(registry.get("EmaCross").unwrap()).run(cfg, data).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.ends_with('.'), "{msg}");
    assert_eq!(msg.chars().next().map(char::is_lowercase), Some(true), "{msg}");
    msg
}

#[test]
fn errors_name_the_bad_value() {
    let data = vec![pair_data("ETH/BTC", spot_candles("ETH/BTC", "5m"), Some(0.001))];
    let base = spot_config(&data, Timeframe::M5);

    let mut cfg = base.clone();
    cfg.pairs.push("LTC/BTC".parse::<Pair>().unwrap());
    assert!(err(&cfg, &data).contains("'LTC/BTC'"));

    let empty = vec![pair_data("ETH/BTC", tradai_core::Candles::default(), None)];
    assert!(err(&base, &empty).contains("'ETH/BTC'"));

    let mut cfg = base.clone();
    cfg.timerange = "20190101-20190201".parse().unwrap();
    let m = err(&cfg, &data);
    assert!(m.contains("20190101-20190201") && m.contains("2018-01-"), "{m}");

    let mut cfg = base.clone();
    cfg.stake_amount = StakeAmount::Fixed(2.0);
    assert!(err(&cfg, &data).contains("stake amount 2 "));

    let mut cfg = base.clone();
    cfg.fee = -0.001;
    assert!(err(&cfg, &data).contains("-0.001"));

    let one_minute = vec![pair_data("ETH/BTC", spot_candles("UNITTEST/BTC", "1m"), None)];
    let m = err(&base, &one_minute);
    assert!(m.contains("'ETH/BTC'") && m.contains("5m"), "{m}");

    let mut cfg = base.clone();
    cfg.stake_amount = StakeAmount::Unlimited;
    cfg.max_open_trades = None;
    assert!(err(&cfg, &data).contains("unlimited"));

    let registry = StrategyRegistry::builtin();
    let params = ParamValues::new().with("fast", ParamValue::Int(500));
    let e = BacktestRunner::new(registry.get("EmaCross").unwrap()).with_params(&params).run(&base, &data).unwrap_err();
    assert!(matches!(e, BacktestError::Params(_)) && e.to_string().contains("'fast'"), "{e}");

    let mut cfg = base;
    cfg.trading_mode = MarketType::Futures;
    cfg.leverage = Some(0.5);
    assert!(err(&cfg, &data).contains("0.5"));
}

#[test]
fn registry_names_and_parameters() {
    let r = StrategyRegistry::builtin();
    assert_eq!(r.names(), ["EmaCross", "RsiMeanReversion", "BollingerBreakout", "EmaCrossFutures", "MacdTrend", "DonchianBreakout"]);
    let e = r.get("EmaCros").err().unwrap().to_string();
    assert!(e.contains("'EmaCros'") && e.contains("EmaCross, RsiMeanReversion"), "{e}");
    let ema = r.get("EmaCross").unwrap();
    let defaults = ParamValues::defaults(&ema.parameters());
    assert_eq!((defaults.int_or("fast", 0), defaults.int_or("slow", 0)), (12, 26));
    let settings = ema.settings();
    assert_eq!((settings.minimal_roi.clone(), settings.stoploss, settings.startup_candle_count), (vec![(0, 0.10)], -0.05, 30));
    for info in r.list() {
        let s = r.get(&info.name).unwrap();
        assert!(ParamValues::defaults(&info.parameters).validate(&s.parameters()).is_ok());
    }
    let mut r2 = StrategyRegistry::builtin();
    assert!(r2.register(Box::new(tradai_engine::strategies::EmaCross)).is_err());
}

#[test]
fn strategies_produce_one_signal_per_candle() {
    let c = spot_candles("ETH/BTC", "5m");
    let r = StrategyRegistry::builtin();
    for name in r.names() {
        let s: &dyn Strategy = r.get(name).unwrap();
        let sig = s.populate(&c, &ParamValues::defaults(&s.parameters()));
        assert!(sig.has_len(c.len()), "{name}");
        assert!(sig.enter_long.iter().any(|x| *x), "{name} never enters");
        if !s.settings().can_short {
            assert!(!sig.enter_short.iter().any(|x| *x), "{name} shorts in spot");
        }
    }
}

#[test]
fn one_pass_signals_equal_the_column_path() {
    // `populate` may take a fused one-pass path (EmaCross: both EMAs and the crossings in one
    // loop, the division test hoisted out of it); it must give the columns' signals exactly.
    let c = spot_candles("ETH/BTC", "5m");
    let r = StrategyRegistry::builtin();
    for name in r.names() {
        let s: &dyn Strategy = r.get(name).unwrap();
        let mut params = vec![ParamValues::defaults(&s.parameters())];
        if name.starts_with("EmaCross") {
            for (fast, slow) in [(2, 26), (5, 200), (25, 27)] {
                let mut p = ParamValues::defaults(&s.parameters());
                p.set("fast", ParamValue::Int(fast));
                p.set("slow", ParamValue::Int(slow));
                params.push(p);
            }
        }
        for p in &params {
            let fused = s.populate(&c, p);
            let columns = s.populate_with_cache(&c, p, &mut IndicatorCache::new());
            assert!(fused == columns, "{name} {p:?}");
        }
    }
}
