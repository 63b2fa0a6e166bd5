//! Throughput of a full backtest (indicators + simulation) on synthetic candles.
//!
//! `cargo bench -p tradai-engine` prints candles per second for the reference strategies:
//! end to end (preparation included), on prepared data (the way hyperopt runs), and split
//! into indicators+signals and the simulation alone. Two workloads: a 5m random walk on an
//! 8-decimal grid (like the BTC reference pairs), and the benchmark targets' one — what
//! `tradai data synth` stores (10 pairs, a year of 1m candles, generated in-process).
//! `cargo bench -p tradai-engine -- synth` (or `-- walk`, `-- synth/EmaCross`) runs some only;
//! every workload and strategy runs in a fresh process (see `main`).

use std::time::Instant;

use tradai_core::{CandleRow, Candles, Instrument, Pair, Timeframe};
use tradai_engine::{
    BacktestConfig, BacktestRunner, IndicatorCache, PairData, ParamValues, PreparedMarket, StakeAmount, StrategyRegistry, TradingSession,
};
use tradai_store::{synth_series, SynthSpec};

/// A reproducible random walk on an 8-decimal price grid (like the BTC pairs).
fn synthetic(pair: &str, n: usize, seed: u64) -> PairData {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut next = move || {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64) / ((1u64 << 53) as f64)
    };
    let round = |p: f64| (p * 1e8).round() / 1e8;
    let mut c = Candles::with_capacity(n);
    let mut price = 0.05;
    for i in 0..n {
        let open = round(price);
        let close = round(price * (1.0 + (next() - 0.5) * 0.01));
        let high = round(open.max(close) * (1.0 + next() * 0.003));
        let low = round(open.min(close) * (1.0 - next() * 0.003));
        c.push(CandleRow { ts: 1_500_000_000_000 + 300_000 * i as i64, open, high, low, close, volume: 1.0 + next() });
        price = close;
    }
    let pair: Pair = pair.parse().expect("pair");
    let mut instrument = Instrument::unknown(pair.clone());
    instrument.amount_step = Some(0.001);
    PairData { pair, candles: c, instrument }
}

/// What `tradai data synth` stores with its defaults (seed 42, 365 days of 1m, SYN0..SYN9).
fn synth_data() -> Vec<PairData> {
    let pairs: Vec<Pair> = (0..10).map(|k| format!("SYN{k}/USDT").parse().expect("pair")).collect();
    let spec = SynthSpec::new(pairs.clone(), Timeframe::M1, 365, 42);
    pairs
        .into_iter()
        .enumerate()
        .map(|(i, pair)| PairData { candles: synth_series(&spec, i), instrument: Instrument::unknown(pair.clone()), pair })
        .collect()
}

/// Best wall time of a few runs (the machine is shared; the minimum is the least noisy).
fn best<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}

fn bench(title: &str, cfg: &BacktestConfig, data: &[PairData], strategies: &[&str], runs: usize) {
    let registry = StrategyRegistry::builtin();
    let candles: usize = data.iter().map(|d| d.candles.len()).sum();
    let m = candles as f64 / 1e6;
    println!("{title}: {} pairs, {candles} candles; M candles/s (RAYON_NUM_THREADS=1 for one core)", data.len());
    for &name in strategies {
        let strategy = registry.get(name).expect("built-in");
        let runner = BacktestRunner::new(strategy);
        let params = ParamValues::defaults(&strategy.parameters());
        let startup = strategy.settings().startup_candle_count;
        let end_to_end = best(runs, || {
            std::hint::black_box(runner.run(cfg, data).expect("runs"));
        });
        let preparation = best(runs, || {
            std::hint::black_box(PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, data, startup).expect("prepares"));
        });
        let market = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, data, startup).expect("prepares");
        let prepared = best(runs, || {
            std::hint::black_box(runner.run_prepared(cfg, &market, None).expect("runs"));
        });
        let signals = best(runs, || {
            for p in &market.pairs {
                std::hint::black_box(strategy.populate(&p.candles, &params));
            }
        });
        let mut caches = vec![IndicatorCache::new(); market.pairs.len()];
        let cached = best(runs, || {
            std::hint::black_box(runner.run_prepared(cfg, &market, Some(&mut caches)).expect("runs"));
        });
        let cached_signals = best(runs, || {
            for (p, c) in market.pairs.iter().zip(caches.iter_mut()) {
                std::hint::black_box(strategy.populate_with_cache(&p.candles, &params, c));
            }
        });
        let sim = cached - cached_signals;
        // The trading node's loop: the same simulator stepped candle by candle (signals
        // computed once, as a replay does).
        let (settings, sigs) = runner.session_inputs(cfg, &market).expect("signals");
        let stepped = best(runs, || {
            let mut session = TradingSession::new(name, cfg, &settings, &market, &sigs).expect("session");
            while session.step_quiet().is_some() {}
            std::hint::black_box(session.finish());
        });
        println!(
            "{name:>18}: end to end {:6.1} | preparation {:6.1} | prepared data (indicators+simulation) {:6.1} | indicators+signals {:6.1} | simulation {:6.1} | stepped session {:6.1}",
            m / end_to_end,
            m / preparation,
            m / prepared,
            m / signals,
            m / sim,
            m / stepped,
        );
    }
}

/// The measured cases: workload and strategy.
const CASES: [(&str, &str); 5] = [
    ("walk", "EmaCross"),
    ("walk", "RsiMeanReversion"),
    ("walk", "BollingerBreakout"),
    ("synth", "EmaCross"),
    ("synth", "RsiMeanReversion"),
];

/// Runs one case in this process.
fn run_case(workload: &str, strategy: &str) {
    if workload == "walk" {
        let (pairs, n) = (10, 500_000);
        let data: Vec<PairData> = (0..pairs).map(|k| synthetic(&format!("P{k}/BTC"), n, k as u64)).collect();
        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M5);
        cfg.stake_amount = StakeAmount::Fixed(0.05);
        cfg.starting_balance = 1.0;
        cfg.max_open_trades = Some(3);
        bench("walk (5m, 8 decimals)", &cfg, &data, &[strategy], 5);
    } else {
        let data = synth_data();
        let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M1);
        cfg.stake_amount = StakeAmount::Fixed(100.0);
        cfg.starting_balance = 10_000.0;
        cfg.max_open_trades = Some(5);
        bench("synth (tradai data synth: 1m, one year)", &cfg, &data, &[strategy], 7);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(case) = args.iter().position(|a| a == "--case").and_then(|i| args.get(i + 1)) {
        let (workload, strategy) = case.split_once('/').expect("--case workload/strategy");
        run_case(workload, strategy);
        return;
    }
    // Each case runs in a process of its own: the allocator's state after one case (how much
    // it keeps mapped, its mmap threshold) otherwise changes the next case's page faults by
    // more than the differences being measured.
    let filter: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let exe = std::env::current_exe().expect("bench executable");
    for (workload, strategy) in CASES {
        let name = format!("{workload}/{strategy}");
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let status = std::process::Command::new(&exe).args(["--case", &name]).status().expect("runs a case");
        assert!(status.success(), "{name} failed");
    }
}
