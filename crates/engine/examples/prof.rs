//! Temporary profiling driver (not to be committed): runs one phase repeatedly on synth data.
use std::time::Instant;
use tradai_core::{Instrument, Pair, Timeframe};
use tradai_engine::{BacktestConfig, BacktestRunner, PairData, ParamValues, PreparedMarket, StakeAmount, StrategyRegistry};
use tradai_store::{synth_series, SynthSpec};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).cloned().unwrap_or("EmaCross".into());
    let phase = args.get(2).cloned().unwrap_or("prepared".into());
    let reps: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    if phase_is_cli() {
        return cli();
    }
    let pairs: Vec<Pair> = (0..10).map(|k| format!("SYN{k}/USDT").parse().unwrap()).collect();
    let spec = SynthSpec::new(pairs.clone(), Timeframe::M1, 365, 42);
    let data: Vec<PairData> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, pair)| PairData { candles: synth_series(&spec, i), instrument: Instrument::unknown(pair.clone()), pair })
        .collect();
    let mut cfg = BacktestConfig::new(data.iter().map(|d| d.pair.clone()).collect(), Timeframe::M1);
    cfg.stake_amount = StakeAmount::Fixed(100.0);
    cfg.starting_balance = 10_000.0;
    cfg.max_open_trades = Some(5);
    let registry = StrategyRegistry::builtin();
    let strategy = registry.get(&name).unwrap();
    let runner = BacktestRunner::new(strategy);
    let params = ParamValues::defaults(&strategy.parameters());
    let market = PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 30).unwrap();
    let r = runner.run_prepared(&cfg, &market, None).unwrap();
    eprintln!("trades {} rejected {}", r.trades.len(), r.rejected_signals);
    let t = Instant::now();
    for _ in 0..reps {
        match phase.as_str() {
            "prepare" => {
                std::hint::black_box(PreparedMarket::new(&cfg.pairs, cfg.timeframe, &cfg.timerange, &data, 30).unwrap());
            }
            "signals" => {
                for p in &market.pairs {
                    std::hint::black_box(strategy.populate(&p.candles, &params));
                }
            }
            "e2e" => {
                std::hint::black_box(runner.run(&cfg, &data).unwrap());
            }
            _ => {
                std::hint::black_box(runner.run_prepared(&cfg, &market, None).unwrap());
            }
        }
    }
    eprintln!("{phase}: {:.1} ms/rep", t.elapsed().as_secs_f64() * 1e3 / reps as f64);
}

fn phase_is_cli() -> bool {
    std::env::args().nth(2).as_deref() == Some("cli")
}

/// What `tradai backtest` does, phase by phase (app::backtest::run).
fn cli() {
    use tradai_core::{ExchangeId, TimeRange};
    use tradai_store::{BlockingCandleStore, Columns, SeriesKey};
    let name = std::env::args().nth(1).unwrap();
    let t0 = Instant::now();
    let store = BlockingCandleStore::open("/tmp/perf/data").unwrap();
    let ex = ExchangeId::new("synth").unwrap();
    let pairs: Vec<Pair> = (0..10).map(|k| format!("SYN{k}/USDT").parse().unwrap()).collect();
    let _listing = store.list().unwrap();
    let data: Vec<PairData> = pairs
        .iter()
        .map(|p| {
            let k = SeriesKey::new(ex.clone(), p.clone(), Timeframe::M1);
            let candles = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
            let instrument = store.instrument(&ex, p).unwrap().unwrap_or_else(|| Instrument::unknown(p.clone()));
            PairData { pair: p.clone(), candles, instrument }
        })
        .collect();
    let t1 = Instant::now();
    let mut cfg = BacktestConfig::new(pairs.clone(), Timeframe::M1);
    cfg.stake_amount = StakeAmount::Fixed(100.0);
    cfg.starting_balance = 10_000.0;
    cfg.max_open_trades = Some(5);
    let registry = StrategyRegistry::builtin();
    let strategy = registry.get(&name).unwrap();
    let result = BacktestRunner::new(strategy).run(&cfg, &data).unwrap();
    let t2 = Instant::now();
    drop(data);
    let t3 = Instant::now();
    let export = tradai_metrics::BacktestExport::new(&result, &cfg, "USDT", "");
    let t4 = Instant::now();
    let doc = serde_json::to_value(&export).unwrap();
    let t5 = Instant::now();
    drop(doc);
    let t6 = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
    eprintln!(
        "load {:.0} ms | engine run {:.0} | drop data {:.0} | export+summary {:.0} | to_value {:.0} | drop doc {:.0} | total {:.0}",
        ms(t0, t1),
        ms(t1, t2),
        ms(t2, t3),
        ms(t3, t4),
        ms(t4, t5),
        ms(t5, t6),
        ms(t0, t6)
    );
}
