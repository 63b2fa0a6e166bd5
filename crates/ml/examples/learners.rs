//! Benchmark of the two built-in learners on one planted-signal dataset, written for the
//! comparison with scikit-learn in docs/BENCHMARKS.md: prints fit time and out-of-sample
//! scores, and writes the same rows as CSV for `scripts/ml-compare-sklearn.py`.
//!
//! `cargo run --release -p tradai-ml --example learners -- 200000 /tmp/ml-learners.csv`

mod data;

use std::io::Write;
use std::time::Instant;

use tradai_core::{Candles, Pair};
use tradai_ml::{parse_features, ClassMetrics, Dataset, LabelSpec, Model, DEFAULT_FEATURES};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_pair: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let csv = args.get(2).cloned().unwrap_or_else(|| "/tmp/ml-learners.csv".into());
    let pairs: Vec<(Pair, Candles)> =
        (0..4).map(|i| (format!("P{i}/USDT").parse().unwrap(), data::candles(per_pair, 100 + i as u64))).collect();
    let features = parse_features(DEFAULT_FEATURES).unwrap();
    let (t0, c0) = (Instant::now(), data::cpu_secs());
    let ds = Dataset::build(&features, LabelSpec { horizon: 1 }, &pairs);
    println!("features: {} rows x {} in {:.2}s wall, {:.2}s CPU", ds.len(), ds.width(), t0.elapsed().as_secs_f64(), data::cpu_secs() - c0);
    // Train on the first 80 % of time, test on the rest (one candle of purge).
    let cut = ds.len() * 8 / 10;
    let test_start = ds.ts[cut];
    let train: Vec<usize> = (0..cut).filter(|&i| ds.ts[i] < test_start - 3_600_000).collect();
    let test: Vec<usize> = (cut..ds.len()).collect();
    let x = ds.columns();
    let y_test: Vec<f64> = test.iter().map(|&i| ds.y[i]).collect();
    for algo in ["logistic", "gbt"] {
        let (t, c) = (Instant::now(), data::cpu_secs());
        let m = Model::fit(&algo.parse().unwrap(), &x, &ds.y, &train).unwrap();
        let (fit, fit_cpu) = (t.elapsed().as_secs_f64(), data::cpu_secs() - c);
        let t = Instant::now();
        let p = m.predict_rows(&x, &test);
        let pred = t.elapsed().as_secs_f64();
        let s = ClassMetrics::score(&y_test, &p);
        println!(
            "tradai-ml {algo:>8}: fit {fit:.2}s wall {fit_cpu:.2}s CPU, predict {pred:.2}s  auc {:.4} accuracy {:.4} log_loss {:.4} top-decile {:.4}",
            s.auc, s.accuracy, s.log_loss, s.precision_top_decile
        );
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&csv).unwrap());
    let names: Vec<String> = features.iter().map(ToString::to_string).collect();
    writeln!(f, "{},y,test", names.join(",")).unwrap();
    for (set, rows) in [(0, &train), (1, &test)] {
        for &i in rows {
            let row: Vec<String> = x.iter().map(|c| format!("{}", c[i])).collect();
            writeln!(f, "{},{},{set}", row.join(","), ds.y[i]).unwrap();
        }
    }
    println!("rows written to {csv}");
}
