//! Hyperopt throughput: `EmaCross` with its two EMA-length parameters (`fast`, `slow`) over
//! the 10-pair 5m sample data (`sample-data/binance`), as issue 7's benchmark target asks.
//!
//! `cargo bench -p tradai-hyperopt` prints evaluations per second for the random and TPE
//! samplers with all cores (`TRADAI_BENCH_JOBS` overrides the job count) and the number of
//! candles each evaluation backtests. An evaluation is a full backtest on prepared data
//! (signals from cached EMAs, simulation, summary) plus the loss.

use std::path::Path;
use std::time::Instant;

use tradai_core::{Instrument, Pair, Timeframe};
use tradai_engine::{BacktestConfig, PairData, StakeAmount, StrategyRegistry};
use tradai_hyperopt::{Hyperopt, HyperoptConfig, LossFunction, RunPlan, SamplerKind, SpaceName};
use tradai_store::{read_candle_file, read_markets, scan_freqtrade_dir};

fn sample_data() -> Vec<PairData> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/binance");
    let markets = read_markets(&dir.join("markets.json")).expect("markets.json");
    let (files, _) = scan_freqtrade_dir(&dir).expect("sample data");
    files
        .into_iter()
        .filter(|f| f.timeframe == Timeframe::M5 && f.pair.settle().is_none())
        .map(|f| {
            let candles = read_candle_file(&f.path, f.format).expect("candles");
            let instrument = markets.iter().find(|m| m.pair == f.pair).cloned().unwrap_or_else(|| Instrument::unknown(f.pair.clone()));
            PairData { pair: f.pair, candles, instrument }
        })
        .collect()
}

fn main() {
    let data = sample_data();
    let pairs: Vec<Pair> = data.iter().map(|d| d.pair.clone()).collect();
    let candles: usize = data.iter().map(|d| d.candles.len()).sum();
    let registry = StrategyRegistry::builtin();
    let strategy = registry.get("EmaCross").expect("EmaCross");
    let mut bt = BacktestConfig::new(pairs.clone(), Timeframe::M5);
    bt.stake_amount = StakeAmount::Fixed(0.05);
    bt.starting_balance = 1.0;
    let jobs = std::env::var("TRADAI_BENCH_JOBS").ok().and_then(|j| j.parse().ok()).unwrap_or(0);
    println!("EmaCross fast/slow over {} pairs, {candles} candles (5m sample data)", pairs.len());
    for (sampler, epochs) in [(SamplerKind::Random, 2000), (SamplerKind::Tpe, 1000)] {
        let config =
            HyperoptConfig { epochs, spaces: vec![SpaceName::Buy], loss: LossFunction::Sharpe, sampler, seed: 1, jobs, tpe_startup: None };
        let h = Hyperopt::new(strategy, bt.clone(), config).expect("config");
        let t = Instant::now();
        let out = h.run(&data, &RunPlan::default(), &|_| {}).expect("run");
        let secs = t.elapsed().as_secs_f64();
        let best = out.study.best();
        println!(
            "{sampler:?}: {epochs} evaluations on {} threads in {secs:.2}s = {:.0} evaluations/s (search alone {:.0}/s; {:.1}M candles/s); best loss {:.3} at {:?}",
            h.jobs(),
            epochs as f64 / secs,
            out.evaluations_per_second,
            out.evaluations_per_second * candles as f64 / 1e6,
            best.loss,
            best.params
        );
    }
}
