//! Declarative strategies: the TOML EmaCross gives the built-in EmaCross's signals and trades,
//! parameters reach the indicators, and bad files are refused naming the bad value.

// The candles of tradai-analysis's tests.
#[path = "../../../analysis/tests/it/walk.rs"]
mod walk;

use tradai_core::{Candles, Pair, Timeframe};
use tradai_declarative::DeclarativeStrategy;
use tradai_engine::{
    BacktestConfig, BacktestRunner, IndicatorCache, PairData, ParamValue, ParamValues, StakeAmount, Strategy, StrategyRegistry,
};

/// A random walk near 0.05 (a BTC pair's price) with a zero-volume candle every 50.
fn walk(n: usize, seed: u64) -> Candles {
    walk::walk(n, seed, &walk::Walk { start: 0.05, wicks: (1.002, 0.998), volume: |i| if i % 50 == 0 { 0.0 } else { 1.0 } })
}

fn toml_ema_cross() -> DeclarativeStrategy {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/strategies/EmaCrossToml.toml");
    DeclarativeStrategy::load(&path).unwrap()
}

#[test]
fn toml_ema_cross_equals_the_builtin() {
    let registry = StrategyRegistry::builtin();
    let builtin = registry.get("EmaCross").unwrap();
    let file = toml_ema_cross();
    assert_eq!(file.settings(), builtin.settings());
    assert_eq!(file.parameters(), builtin.parameters());
    let c = walk(5_000, 3);
    for (fast, slow) in [(12, 26), (5, 40)] {
        let p = ParamValues::new().with("fast", ParamValue::Int(fast)).with("slow", ParamValue::Int(slow));
        assert_eq!(file.populate(&c, &p), builtin.populate(&c, &p), "fast {fast} slow {slow}");
    }
    let data: Vec<PairData> = [("ETH/BTC", 3), ("LTC/BTC", 5)]
        .iter()
        .map(|(p, seed)| {
            let pair: Pair = p.parse().unwrap();
            PairData { pair: pair.clone(), candles: walk(5_000, *seed), instrument: tradai_core::Instrument::unknown(pair) }
        })
        .collect();
    let mut config = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
    config.stake_amount = StakeAmount::Fixed(0.05);
    config.starting_balance = 1.0;
    let a = BacktestRunner::new(&file).run(&config, &data).unwrap();
    let b = BacktestRunner::new(builtin).run(&config, &data).unwrap();
    assert!(a.trades.len() > 50, "{}", a.trades.len());
    assert_eq!(a.trades, b.trades);
}

#[test]
fn the_cache_reuses_columns_whose_parameters_did_not_change() {
    let file = toml_ema_cross();
    let c = walk(500, 1);
    let mut cache = IndicatorCache::new();
    file.populate_with_cache(&c, &ParamValues::new().with("fast", ParamValue::Int(12)), &mut cache);
    let before = cache.len();
    file.populate_with_cache(&c, &ParamValues::new().with("fast", ParamValue::Int(13)), &mut cache);
    assert_eq!(cache.len(), before + 1, "only the new fast EMA is computed");
}

fn refused(text: &str, needle: &str) {
    let e = tradai_declarative::StrategyFile::parse(text).and_then(DeclarativeStrategy::from_file).unwrap_err().to_string();
    assert!(e.contains(needle), "expected '{needle}' in: {e}");
}

#[test]
fn bad_files_name_the_bad_value() {
    let base = "name = 'X'\nstoploss = -0.1\n[indicators]\nr = { kind = 'rsi', period = 14 }\n[signals]\n";
    refused(&format!("{base}enter_long = ['r < 30']\nsurprise = 1\n"), "surprise");
    refused(&format!("{base}enter_long = ['rsi < 30']\n"), "'rsi'");
    refused(&format!("{base}enter_long = ['r <> 30']\n"), "'<>'");
    refused(&format!("{base}enter_long = ['r < $low']\n"), "$low");
    refused(&base.replace("'rsi'", "'wma'").replace("[signals]\n", "[signals]\nenter_long = ['r < 30']\n"), "'wma'");
    refused(&base.replace("-0.1", "0.1").replace("[signals]\n", "[signals]\nenter_long = ['r < 30']\n"), "stoploss '0.1'");
    refused(&format!("{base}exit_long = ['r > 70']\n"), "enter_long or enter_short");
    refused(&format!("{base}enter_short = ['r > 70']\n"), "can_short");
    refused(
        "name = 'X'\nstoploss = -0.1\n[parameters]\np = { int = [2, 5], default = 9 }\n[indicators]\nr = { kind = 'rsi', period = '$p' }\n[signals]\nenter_long = ['r < 30']\n",
        "parameter 'p' default",
    );
    refused(
        "name = 'X'\nstoploss = -0.1\n[indicators]\nb = { kind = 'bollinger', period = 20, std = 2 }\n[signals]\nenter_long = ['close > b']\n",
        "output",
    );
    refused(
        "name = 'X'\nstoploss = -0.1\n[indicators]\na = { kind = 'ema', source = 'b', period = 3 }\nb = { kind = 'ema', source = 'a', period = 3 }\n[signals]\nenter_long = ['close > a']\n",
        "cycle",
    );
}

#[test]
fn decimal_parameters_and_multi_output_indicators() {
    let text = "name = 'Bb'\nstoploss = -0.04\nminimal_roi = { '0' = 0.03, '40' = 0.015 }\n[parameters]\nwidth = { decimal = [1.0, 3.0], decimals = 1, default = 2.0 }\n[indicators]\nupper = { kind = 'bollinger', period = 20, std = '$width', output = 'upper' }\n[signals]\nenter_long = ['close crosses_above upper', 'volume > 0']\n";
    let s = DeclarativeStrategy::from_file(tradai_declarative::StrategyFile::parse(text).unwrap()).unwrap();
    assert_eq!(s.settings().minimal_roi, vec![(0, 0.03), (40, 0.015)]);
    let c = walk(3_000, 9);
    let wide = s.populate(&c, &ParamValues::new().with("width", ParamValue::Decimal(3.0)));
    let narrow = s.populate(&c, &ParamValues::new().with("width", ParamValue::Decimal(1.0)));
    let count = |v: &Vec<bool>| v.iter().filter(|x| **x).count();
    assert!(count(&narrow.enter_long) > count(&wide.enter_long));
    // The default reproduces the built-in BollingerBreakout's entries.
    let registry = StrategyRegistry::builtin();
    let bb = registry.get("BollingerBreakout").unwrap();
    assert_eq!(s.populate(&c, &ParamValues::new()).enter_long, bb.populate(&c, &ParamValues::defaults(&bb.parameters())).enter_long);
}
