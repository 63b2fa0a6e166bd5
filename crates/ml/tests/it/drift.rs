//! Must show: planted drift (a shifted and a rescaled feature) is detected with PSI > 0.2 and
//! KS > 0.1; on stationary data (the same process, other seeds) the false-alarm rate over 100
//! trials is at most 5 %.

use tradai_core::{Candles, Pair, Timeframe};
use tradai_ml::features::FeatureColumns;
use tradai_ml::{train, DriftDetector, DriftRule, ModelArtifact, DEFAULT_FEATURES};
use tradai_store::{synth_series, SynthSpec};

use crate::{hourly_config, pair};

/// One year of hourly GBM candles of `pairs` pairs (the store's synthetic generator).
fn gbm(pairs: usize, days: u32, seed: u64) -> Vec<(Pair, Candles)> {
    let ps: Vec<Pair> = (0..pairs).map(|i| pair(&format!("P{i}/USDT"))).collect();
    let spec = SynthSpec::new(ps.clone(), Timeframe::H1, days, seed);
    ps.into_iter().enumerate().map(|(i, p)| (p, synth_series(&spec, i))).collect()
}

fn model() -> ModelArtifact {
    let cfg = hourly_config("drift", DEFAULT_FEATURES, "logistic", 4, 3);
    train(&cfg, &gbm(3, 365, 1), &|_| {}).unwrap().artifact
}

#[test]
fn shifted_and_rescaled_features_are_detected() {
    let m = model();
    let current = gbm(3, 120, 4242);
    // Feature columns of the current window, rows where all are defined.
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); m.features.len()];
    for (_, c) in &current {
        let fc = FeatureColumns::compute(&m.features, c);
        for t in (0..fc.len()).filter(|&t| fc.complete(t)) {
            for (j, col) in cols.iter_mut().enumerate() {
                col.push(fc.columns[j][t]);
            }
        }
    }
    let det = DriftDetector::default();
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let clean = det.detect(&m.reference, &refs, None);
    assert!(!clean.has_drift, "no drift planted yet: {:?}", clean.drifted_features);

    // Plant: rsi_14 shifted by one reference standard deviation, vol_24 scaled by 1.6.
    let j_rsi = m.features.iter().position(|f| f.to_string() == "rsi_14").unwrap();
    let j_vol = m.features.iter().position(|f| f.to_string() == "vol_24").unwrap();
    let sd = m.reference.features[j_rsi].1.std;
    cols[j_rsi].iter_mut().for_each(|v| *v += sd);
    cols[j_vol].iter_mut().for_each(|v| *v *= 1.6);
    let refs: Vec<&[f64]> = cols.iter().map(Vec::as_slice).collect();
    let r = det.detect(&m.reference, &refs, None);
    assert!(r.has_drift);
    assert_eq!(r.drifted_features, vec!["vol_24".to_owned(), "rsi_14".to_owned()]);
    for j in [j_rsi, j_vol] {
        let f = &r.features[j];
        assert!(f.psi > 0.2 && f.ks > 0.1, "{}: psi {} ks {}", f.name, f.psi, f.ks);
    }
    for (j, f) in r.features.iter().enumerate() {
        if j != j_rsi && j != j_vol {
            assert!(!f.drifted, "{} flagged without a change: psi {} ks {}", f.name, f.psi, f.ks);
        }
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["has_drift"], true);
    assert!(json["features"][j_vol]["psi"].as_f64().unwrap() > 0.2);
}

#[test]
fn a_volatility_regime_change_in_the_candles_is_detected_on_features_and_predictions() {
    let m = model();
    let ps = vec![pair("P0/USDT"), pair("P1/USDT")];
    let mut spec = SynthSpec::new(ps.clone(), Timeframe::H1, 90, 777);
    spec.annual_volatility = 2.0;
    let current: Vec<(Pair, Candles)> = ps.into_iter().enumerate().map(|(i, p)| (p, synth_series(&spec, i))).collect();
    let r = DriftDetector::default().check_model(&m, &current);
    assert!(r.has_drift);
    assert!(r.drifted_features.iter().any(|f| f == "vol_24"), "{:?}", r.drifted_features);
    assert!(r.prediction.is_some());
}

#[test]
fn stationary_data_false_alarm_rate_is_at_most_5_percent() {
    let m = model();
    let det = DriftDetector::default();
    assert_eq!(det.rule, DriftRule::Both);
    let either = DriftDetector { rule: DriftRule::Either, ..det };
    let (mut alarms, mut either_alarms) = (Vec::new(), 0);
    for seed in 1_000..1_100u64 {
        // 60 days of 3 pairs: about 4300 candles per check.
        let current = gbm(3, 60, seed);
        let r = det.check_model(&m, &current);
        if r.has_drift {
            alarms.push((seed, r.drifted_features.clone()));
        }
        either_alarms += usize::from(either.check_model(&m, &current).has_drift);
    }
    // Printed for docs/BENCHMARKS.md (`cargo test -p tradai-ml --test it -- stationary --nocapture`).
    eprintln!("false alarms in 100 stationary trials: rule both {}, rule either {either_alarms}", alarms.len());
    assert!(alarms.len() <= 5, "{} false alarms in 100 stationary trials: {alarms:?}", alarms.len());
}
