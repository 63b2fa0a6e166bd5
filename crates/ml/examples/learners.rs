//! Benchmark of the two built-in learners on one planted-signal dataset, written for the
//! comparison with scikit-learn in docs/BENCHMARKS.md: prints fit time and out-of-sample
//! scores, and writes the same rows as CSV for `scripts/ml-compare-sklearn.py`.
//!
//! `cargo run --release -p tradai-ml --example learners -- 200000 /tmp/ml-learners.csv`

use std::io::Write;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use tradai_core::{CandleRow, Candles, Pair};
use tradai_ml::{parse_features, ClassMetrics, Dataset, LabelSpec, Model, DEFAULT_FEATURES};

/// Hourly candles with AR(1) returns whose strength depends on the volume (a non-linear
/// effect a tree can find and a linear model only partly).
fn candles(n: usize, seed: u64) -> Candles {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut c = Candles::with_capacity(n);
    let (mut price, mut r, mut vz) = (100.0f64, 0.0f64, 0.0f64);
    for t in 0..n {
        let e: f64 = StandardNormal.sample(&mut rng);
        let phi = if vz > 0.5 { 0.3 } else { 0.02 };
        r = phi * r + 0.01 * e;
        let open = price;
        let close = open * r.exp();
        let wick: f64 = rng.random::<f64>() * 0.005;
        vz = StandardNormal.sample(&mut rng);
        c.push(CandleRow {
            ts: 1_704_067_200_000 + t as i64 * 3_600_000,
            open,
            high: open.max(close) * (1.0 + wick),
            low: open.min(close) * (1.0 - wick),
            close,
            volume: 1000.0 * (0.3 * vz).exp(),
        });
        price = close;
    }
    c
}

/// CPU seconds (user + system) this process has used so far, from /proc/self/stat (Linux; the
/// machine is shared, so CPU time says more than wall time). 0 elsewhere.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let per_pair: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let csv = args.get(2).cloned().unwrap_or_else(|| "/tmp/ml-learners.csv".into());
    let pairs: Vec<(Pair, Candles)> = (0..4).map(|i| (format!("P{i}/USDT").parse().unwrap(), candles(per_pair, 100 + i as u64))).collect();
    let features = parse_features(DEFAULT_FEATURES).unwrap();
    let (t0, c0) = (Instant::now(), cpu_secs());
    let ds = Dataset::build(&features, LabelSpec { horizon: 1 }, &pairs);
    println!("features: {} rows x {} in {:.2}s wall, {:.2}s CPU", ds.len(), ds.width(), t0.elapsed().as_secs_f64(), cpu_secs() - c0);
    // Train on the first 80 % of time, test on the rest (one candle of purge).
    let cut = ds.len() * 8 / 10;
    let test_start = ds.ts[cut];
    let train: Vec<usize> = (0..cut).filter(|&i| ds.ts[i] < test_start - 3_600_000).collect();
    let test: Vec<usize> = (cut..ds.len()).collect();
    let x = ds.columns();
    let y_test: Vec<f64> = test.iter().map(|&i| ds.y[i]).collect();
    for algo in ["logistic", "gbt"] {
        let (t, c) = (Instant::now(), cpu_secs());
        let m = Model::fit(&algo.parse().unwrap(), &x, &ds.y, &train).unwrap();
        let (fit, fit_cpu) = (t.elapsed().as_secs_f64(), cpu_secs() - c);
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
