//! The four reference strategy files give the built-in strategies' settings and, on real
//! candles, the same signals bit for bit.

use tradai_core::Pair;
use tradai_engine::{BacktestConfig, BacktestRunner, PairData, ParamValues, StakeAmount, Strategy, StrategyRegistry};
use tradai_python::PythonStrategy;

use crate::{candles, python, testdata};

fn load(class: &str) -> PythonStrategy {
    PythonStrategy::load_with(&python(), &testdata().join("conformance/strategies"), class).unwrap_or_else(|e| panic!("{class}: {e}"))
}

#[test]
fn reference_files_read_as_the_builtin_settings_and_signals() {
    let registry = StrategyRegistry::builtin();
    let eth = candles("ETH_BTC-5m");
    let pair: Pair = "ETH/BTC".parse().unwrap();
    for class in ["EmaCross", "RsiMeanReversion", "BollingerBreakout", "EmaCrossFutures"] {
        let file = load(class);
        let builtin = registry.get(class).unwrap();
        assert_eq!(file.settings(), builtin.settings(), "{class}: settings read from the file");
        // tradai's stand-in, or an installed Freqtrade's version: the results must not differ.
        assert!(!file.description().freqtrade.is_empty());
        let want = builtin.populate(&eth, &ParamValues::defaults(&builtin.parameters()));
        let got = file.try_populate_pair(&pair, &eth, &ParamValues::new(), None).unwrap();
        assert_eq!(got.enter_long, want.enter_long, "{class}: enter_long");
        assert_eq!(got.exit_long, want.exit_long, "{class}: exit_long");
        if file.settings().can_short {
            assert_eq!(got.enter_short, want.enter_short, "{class}: enter_short");
            assert_eq!(got.exit_short, want.exit_short, "{class}: exit_short");
        }
        assert!(got.enter_long.iter().filter(|s| **s).count() > 10, "{class}: signals on real data");
    }
}

#[test]
fn a_file_backtests_like_the_builtin_on_several_pairs() {
    let registry = StrategyRegistry::builtin();
    let data: Vec<PairData> = ["ETH_BTC", "LTC_BTC", "ADA_BTC"]
        .iter()
        .map(|s| {
            let pair: Pair = s.replace('_', "/").parse().unwrap();
            PairData { pair: pair.clone(), candles: candles(&format!("{s}-5m")), instrument: tradai_core::Instrument::unknown(pair) }
        })
        .collect();
    let mut config = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), tradai_core::Timeframe::M5);
    config.stake_amount = StakeAmount::Fixed(0.05);
    config.starting_balance = 1.0;
    let file = load("RsiMeanReversion");
    let a = BacktestRunner::new(&file).run(&config, &data).unwrap();
    let b = BacktestRunner::new(registry.get("RsiMeanReversion").unwrap()).run(&config, &data).unwrap();
    assert!(a.trades.len() > 20, "{}", a.trades.len());
    assert_eq!(a.trades, b.trades);
}

#[test]
fn a_user_strategy_with_talib_qtpylib_parameters_and_tags() {
    let s = PythonStrategy::load_with(&python(), &testdata().join("strategies/python"), "RsiTalib").unwrap();
    let names: Vec<_> = s.parameters().iter().map(|p| p.name.clone()).collect();
    // optimize=False parameters are not offered to hyperopt.
    assert_eq!(names, ["buy_rsi", "sell_rsi"]);
    assert_eq!(s.settings().minimal_roi, vec![(0, 0.04), (60, 0.01)]);
    let eth = candles("ETH_BTC-5m");
    let pair: Pair = "ETH/BTC".parse().unwrap();
    let base = s.try_populate_pair(&pair, &eth, &ParamValues::new(), None).unwrap();
    let n = base.enter_long.iter().filter(|x| **x).count();
    assert!(n > 0);
    let tags = base.enter_tag.as_ref().expect("entry tags come back");
    assert!(base.enter_long.iter().zip(tags).all(|(e, t)| !*e || t.as_deref() == Some("rsi_cross")));
    // A parameter value reaches the strategy: a stricter threshold gives other entries.
    let strict = ParamValues::new().with("buy_rsi", tradai_engine::ParamValue::Int(15));
    let fewer = s.try_populate_pair(&pair, &eth, &strict, None).unwrap();
    assert_ne!(fewer.enter_long, base.enter_long);
    // The same worker serves the next request with the defaults again.
    assert_eq!(s.try_populate_pair(&pair, &eth, &ParamValues::new(), None).unwrap(), base);
    let exit_tags = base.exit_tag.as_ref().expect("exit tags come back");
    assert!(base.exit_long.iter().zip(exit_tags).all(|(x, t)| !*x || t.as_deref() == Some("rsi_high")));
}

#[test]
fn tags_reach_the_trades_as_freqtrade_reports_them() {
    let s = PythonStrategy::load_with(&python(), &testdata().join("strategies/python"), "RsiTalib").unwrap();
    let pair: Pair = "ETH/BTC".parse().unwrap();
    let data = vec![PairData { pair: pair.clone(), candles: candles("ETH_BTC-5m"), instrument: tradai_core::Instrument::unknown(pair) }];
    let mut config = BacktestConfig::new(vec![data[0].pair.clone()], tradai_core::Timeframe::M5);
    config.stake_amount = StakeAmount::Fixed(0.05);
    config.starting_balance = 1.0;
    let out = BacktestRunner::new(&s).run(&config, &data).unwrap();
    assert!(!out.trades.is_empty());
    assert!(out.trades.iter().all(|t| t.enter_tag == "rsi_cross"), "every entry is tagged");
    // An exit by the signal reports the signal's tag as its reason (Freqtrade's exit_tag);
    // the other exits keep their own reasons.
    let by_signal: Vec<_> = out.trades.iter().filter(|t| t.exit_reason == tradai_core::ExitReason::ExitSignal).collect();
    assert!(!by_signal.is_empty(), "some trades close on the exit signal");
    for t in &by_signal {
        assert_eq!((t.exit_tag.as_str(), t.exit_reason_label()), ("rsi_high", "rsi_high"));
        let json = serde_json::to_value(t).unwrap();
        assert_eq!((json["exit_reason"].as_str(), json["exit_order_tag"].as_str()), (Some("rsi_high"), Some("rsi_high")));
        // The export reads back to the same trade.
        assert_eq!(serde_json::from_value::<tradai_core::Trade>(json).unwrap(), **t);
    }
    assert!(out.trades.iter().filter(|t| t.exit_reason != tradai_core::ExitReason::ExitSignal).all(|t| t.exit_tag.is_empty()));
}

#[test]
fn all_columns_returns_the_indicators() {
    let s = load("BollingerBreakout");
    let f = s.frame("ETH/BTC", &candles("ETH_BTC-5m"), &ParamValues::new(), true).unwrap();
    let names: Vec<_> = f.columns.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["bb_mid", "bb_upper", "bb_lower"]);
    assert!(f.columns[1].1[..19].iter().all(|v| v.is_nan()) && f.columns[1].1[19].is_finite());
}
