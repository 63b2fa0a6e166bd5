//! Must show: a model trained on candles with a planted predictive signal beats chance out of
//! sample (walk-forward folds and a fresh series), and the same model on shuffled labels does
//! not; the signal survives as profit in an engine backtest of `MlSignal`.

use std::sync::Arc;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use tradai_core::{Instrument, Timeframe};
use tradai_engine::{BacktestConfig, PairData, ParamValue, ParamValues};
use tradai_ml::{train, train_on, ClassMetrics, Dataset, EngineEvaluator, OosEvaluator, TrainConfig};

use crate::{ar_candles, hourly_config, pair, START_MS};

fn config(algo: &str) -> TrainConfig {
    hourly_config("planted", "ret_1,ret_3,ret_12,vol_24,rsi_14,ema_12_26,volz_24", algo, 1, 4)
}

fn planted() -> Vec<(tradai_core::Pair, tradai_core::Candles)> {
    vec![(pair("BTC/USDT"), ar_candles(8_000, 0.3, 0.01, 11, START_MS)), (pair("ETH/USDT"), ar_candles(8_000, 0.3, 0.01, 12, START_MS))]
}

#[test]
fn a_planted_signal_beats_chance_out_of_sample_and_shuffled_labels_do_not() {
    let data = planted();
    for algo in ["logistic", "gbt"] {
        let cfg = config(algo);
        let out = train(&cfg, &data, &|_| {}).unwrap();
        let m = out.artifact.metrics;
        assert!(m.auc > 0.58, "{algo}: walk-forward AUC {} should beat chance", m.auc);
        assert!(m.accuracy > 0.54, "{algo}: accuracy {}", m.accuracy);
        assert!(m.precision_top_decile > m.base_rate + 0.05, "{algo}: {m:?}");
        assert!(out.folds.iter().all(|f| f.metrics.auc > 0.55), "{algo}: every fold beats chance: {:?}", out.folds);
        // The planted signal is in the last return: it must rank first.
        let top = out.artifact.importance.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert!(top.0 == "ret_1" || top.0 == "rsi_14", "{algo}: most important feature {top:?}");

        // A fresh series of the same process, never seen in training.
        let fresh = vec![(pair("SOL/USDT"), ar_candles(4_000, 0.3, 0.01, 99, START_MS))];
        let ds = Dataset::build(&out.artifact.features, out.artifact.label, &fresh);
        let rows: Vec<usize> = (0..ds.len()).collect();
        let p = out.artifact.model.predict_rows(&ds.columns(), &rows);
        let fresh_m = ClassMetrics::score(&ds.y, &p);
        assert!(fresh_m.auc > 0.58, "{algo}: AUC on a fresh series {}", fresh_m.auc);

        // Control: the same rows with labels shuffled carry no information.
        let mut shuffled = Dataset::build(&cfg.features, cfg.label, &data);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        shuffled.y.shuffle(&mut rng);
        let ctrl = train_on(&cfg, &shuffled, &["BTC/USDT".into(), "ETH/USDT".into()], &|_| {}).unwrap();
        let c = ctrl.artifact.metrics;
        assert!((c.auc - 0.5).abs() < 0.02, "{algo}: shuffled-label AUC {} should be chance", c.auc);
        let p = ctrl.artifact.model.predict_rows(&ds.columns(), &rows);
        let ctrl_fresh = ClassMetrics::score(&ds.y, &p);
        assert!((ctrl_fresh.auc - 0.5).abs() < 0.03, "{algo}: shuffled model on fresh data AUC {}", ctrl_fresh.auc);
    }
}

#[test]
fn the_signal_trades_profitably_in_an_engine_backtest() {
    let out = train(&config("logistic"), &planted(), &|_| {}).unwrap();
    let fresh = ar_candles(3_000, 0.3, 0.01, 77, START_MS);
    let p = pair("SOL/USDT");
    let mut bt = BacktestConfig::new(vec![p.clone()], Timeframe::H1);
    bt.fee = 0.0;
    bt.max_open_trades = Some(1);
    let eval = EngineEvaluator {
        config: bt,
        data: vec![PairData { pair: p.clone(), candles: fresh, instrument: Instrument::unknown(p) }],
        params: ParamValues::new().with("entry_threshold", ParamValue::Decimal(0.52)),
        stake_currency: "USDT".into(),
    };
    let good = eval.evaluate(1, Arc::new(out.artifact)).unwrap();
    assert!(good.trade_returns.len() > 100, "{} trades", good.trade_returns.len());
    assert!(good.profit_total > 0.0 && good.sharpe > 0.0, "profit {} sharpe {}", good.profit_total, good.sharpe);
}
