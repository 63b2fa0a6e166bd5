//! The training benchmark of docs/BENCHMARKS.md: 10 pairs × 365 days of 1m candles, the same
//! series `tradai data synth --pairs 10 --timeframe 1m --days 365 --seed 1` stores (generated
//! in memory here, so the store's read time — measured in its own benchmark — is not counted).
//! Prints the time of the feature table and of `train` (4 walk-forward folds, permutation
//! importance, final fit, drift reference) per learner.
//!
//! `cargo run -p tradai-ml --example bench_train -- [pairs] [days]` (see BENCHMARKS.md for the
//! optimisation flags used).

use std::time::Instant;

use tradai_core::{Pair, Timeframe};
use tradai_ml::{parse_features, train, Algo, Dataset, LabelSpec, TrainConfig, DEFAULT_FEATURES};
use tradai_store::{synth_series, SynthSpec};

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
    let pairs: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let days: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(365);
    let names: Vec<Pair> = (0..pairs).map(|i| format!("SYN{i}/USDT").parse().unwrap()).collect();
    let mut spec = SynthSpec::new(names.clone(), Timeframe::M1, days, 1);
    spec.start_ms = 1_704_067_200_000;
    let t = Instant::now();
    let data: Vec<_> = names.iter().enumerate().map(|(i, p)| (p.clone(), synth_series(&spec, i))).collect();
    let candles: usize = data.iter().map(|(_, c)| c.len()).sum();
    println!("candles: {candles} ({pairs} pairs x {days} days, 1m), generated in {:.2}s", t.elapsed().as_secs_f64());
    let features = parse_features(DEFAULT_FEATURES).unwrap();
    let label = LabelSpec { horizon: 15 };
    let (t, c) = (Instant::now(), cpu_secs());
    let ds = Dataset::build(&features, label, &data);
    println!("features: {} rows x {} features in {:.2}s wall, {:.2}s CPU", ds.len(), ds.width(), t.elapsed().as_secs_f64(), cpu_secs() - c);
    drop(ds);
    for algo in ["logistic", "gbt"] {
        let cfg = TrainConfig {
            name: "bench".into(),
            features: features.clone(),
            label,
            algo: algo.parse::<Algo>().unwrap(),
            folds: 4,
            timeframe: Timeframe::M1,
            seed: 1,
            trained_at_ms: 0,
        };
        let (t, c) = (Instant::now(), cpu_secs());
        let out = train(&cfg, &data, &|_| {}).unwrap();
        println!(
            "train {algo}: {:.2}s wall, {:.2}s CPU (features included), walk-forward auc {:.4}, {} rows",
            t.elapsed().as_secs_f64(),
            cpu_secs() - c,
            out.artifact.metrics.auc,
            out.artifact.rows
        );
    }
}
