//! No look-ahead: features (and the model's signals) at candle t depend on candles up to t only.

use std::sync::Arc;

use tradai_engine::{ParamValues, Strategy};
use tradai_ml::features::FeatureColumns;
use tradai_ml::{parse_features, train, LabelSpec, MlSignal, DEFAULT_FEATURES};

use crate::{ar_candles, hourly_config, pair, START_MS};

fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

#[test]
fn truncating_the_future_changes_no_past_feature() {
    let features = parse_features(DEFAULT_FEATURES).unwrap();
    let full = ar_candles(1_000, 0.2, 0.01, 5, START_MS);
    let all = FeatureColumns::compute(&features, &full);
    for cut in [1usize, 40, 77, 500, 999] {
        let part = FeatureColumns::compute(&features, &full.slice(0..cut));
        for (j, f) in features.iter().enumerate() {
            for t in 0..cut {
                assert!(
                    same(all.columns[j][t], part.columns[j][t]),
                    "feature {f} at candle {t} changed when candles after {cut} were removed"
                );
            }
        }
    }
    // And every feature is defined once its warm-up is over.
    let w = tradai_ml::features::warmup(&features);
    assert!((w..full.len()).all(|t| all.complete(t)));
    assert!(!all.complete(w.saturating_sub(1)));
}

#[test]
fn labels_look_ahead_and_are_dropped_where_the_future_is_unknown() {
    let c = ar_candles(100, 0.0, 0.01, 1, START_MS);
    let l = LabelSpec { horizon: 4 }.directions(&c);
    assert!(l[96..].iter().all(Option::is_none));
    for t in 0..96 {
        assert_eq!(l[t], Some(if c.close[t + 4] > c.close[t] { 1.0 } else { 0.0 }));
    }
}

#[test]
fn model_signals_do_not_see_the_future() {
    let c = ar_candles(3_000, 0.3, 0.01, 9, START_MS);
    let cfg = hourly_config("lookahead", "ret_1,ret_3,rsi_14,vol_24", "gbt", 1, 2);
    let model = Arc::new(train(&cfg, &[(pair("BTC/USDT"), c.clone())], &|_| {}).unwrap().artifact);
    let s = MlSignal::new(model).unwrap();
    let params = ParamValues::defaults(&s.parameters());
    let full = s.populate(&c, &params);
    let part = s.populate(&c.slice(0..2_000), &params);
    assert_eq!(&full.enter_long[..2_000], &part.enter_long[..]);
    assert_eq!(&full.exit_long[..2_000], &part.exit_long[..]);
    assert!(full.enter_long.iter().any(|&b| b), "the model never enters");
}
