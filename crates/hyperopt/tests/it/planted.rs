//! A test-only strategy on synthetic candles with one known best parameter set.
//!
//! Prices follow a 50-candle cycle: they rise from phase 10 to phase 29 and fall otherwise.
//! The strategy enters when the phase equals `entry` and exits `hold` candles later, so the
//! most profitable set buys at the bottom (`entry = 9`: signals act on the next candle's open)
//! and sells near the top; profit falls off smoothly around it. The exact optimum, `(9, 19)`,
//! is checked against every point of the space, not derived by hand.

use tradai_core::{CandleRow, Candles, Instrument, Pair, StrategySettings, Timeframe};
use tradai_engine::{BacktestConfig, IndicatorCache, PairData, ParamSpace, ParamSpec, ParamValues, Signals, StakeAmount, Strategy};
use tradai_hyperopt::{Hyperopt, HyperoptConfig, HyperoptError, LossFunction, RunPlan, SamplerKind, SpaceName, Validation};

const CYCLE: usize = 50;
const BEST: (i64, i64) = (9, 19);

struct Planted;

impl Strategy for Planted {
    fn name(&self) -> &str {
        "Planted"
    }

    fn settings(&self) -> StrategySettings {
        let mut s = StrategySettings::new(Timeframe::M5);
        // Only the exit signal closes trades, so the parameters alone decide the profit.
        s.minimal_roi = vec![(0, 10.0)];
        s.stoploss = -0.99;
        s
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![ParamSpec::int("entry", 0, 49, 0, ParamSpace::Buy), ParamSpec::int("hold", 1, 49, 1, ParamSpace::Sell)]
    }

    fn populate_with_cache(&self, candles: &Candles, params: &ParamValues, _cache: &mut IndicatorCache) -> Signals {
        let entry = usize::try_from(params.int_or("entry", 0)).unwrap();
        let exit = (entry + usize::try_from(params.int_or("hold", 1)).unwrap()) % CYCLE;
        let mut s = Signals::long_only(candles.len());
        for t in 0..candles.len() {
            s.enter_long[t] = t % CYCLE == entry;
            s.exit_long[t] = t % CYCLE == exit;
        }
        s
    }
}

fn pair() -> Pair {
    "SYN/USDT".parse().unwrap()
}

fn data(cycles: usize) -> Vec<PairData> {
    let mut c = Candles::with_capacity(cycles * CYCLE);
    let mut price: f64 = 100.0;
    for t in 0..cycles * CYCLE {
        let open = price;
        let phase = t % CYCLE;
        price *= if (10..30).contains(&phase) { 1.002 } else { 0.9987 };
        let (hi, lo) = (open.max(price), open.min(price));
        c.push(CandleRow {
            ts: 1_700_000_000_000 / 300_000 * 300_000 + 300_000 * t as i64,
            open,
            high: hi,
            low: lo,
            close: price,
            volume: 1.0,
        });
    }
    vec![PairData { pair: pair(), candles: c, instrument: Instrument::unknown(pair()) }]
}

fn backtest() -> BacktestConfig {
    let mut bt = BacktestConfig::new(vec![pair()], Timeframe::M5);
    bt.stake_amount = StakeAmount::Fixed(100.0);
    bt.max_open_trades = Some(1);
    bt
}

fn config(sampler: SamplerKind, epochs: usize, seed: u64, jobs: usize) -> HyperoptConfig {
    HyperoptConfig {
        epochs,
        spaces: vec![SpaceName::Buy, SpaceName::Sell],
        loss: LossFunction::Profit,
        sampler,
        seed,
        jobs,
        tpe_startup: None,
    }
}

fn best_of(sampler: SamplerKind, epochs: usize, seed: u64, d: &[PairData]) -> ((i64, i64), f64) {
    let h = Hyperopt::new(&Planted, backtest(), config(sampler, epochs, seed, 1)).unwrap();
    let out = h.run(d, &RunPlan::default(), &|_| {}).unwrap();
    let b = out.study.best();
    let get = |n: &str| match b.params[n] {
        tradai_engine::ParamValue::Int(v) => v,
        ref other => panic!("{other:?}"),
    };
    ((get("entry"), get("hold")), b.loss)
}

#[test]
fn the_planted_optimum_is_the_unique_best_point() {
    let d = data(40);
    let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Grid, 50 * 49, 0, 0)).unwrap();
    let out = h.run(&d, &RunPlan::default(), &|_| {}).unwrap();
    assert_eq!(out.study.epochs.len(), 50 * 49, "the grid covers every point");
    let top = out.study.top(2);
    let p = |e: &tradai_hyperopt::Epoch| (e.params["entry"].to_string(), e.params["hold"].to_string());
    assert_eq!(p(top[0]), (BEST.0.to_string(), BEST.1.to_string()));
    assert!(top[0].loss < top[1].loss, "the optimum is unique");
}

#[test]
fn tpe_reaches_the_planted_optimum_more_often_than_random_search() {
    let d = data(40);
    let (epochs, seeds) = (60, 8u64);
    let mut hits = [0, 0];
    let mut mean_loss = [0.0, 0.0];
    for seed in 0..seeds {
        for (k, sampler) in [SamplerKind::Tpe, SamplerKind::Random].into_iter().enumerate() {
            let (p, loss) = best_of(sampler, epochs, seed, &d);
            hits[k] += usize::from(p == BEST);
            mean_loss[k] += loss / seeds as f64;
        }
    }
    eprintln!("hits tpe/random {hits:?}, mean best loss {mean_loss:?}");
    assert!(hits[0] > hits[1], "TPE hit the optimum {} times, random {} times (of {seeds})", hits[0], hits[1]);
    assert!(mean_loss[0] < mean_loss[1], "mean best loss TPE {} vs random {}", mean_loss[0], mean_loss[1]);
}

#[test]
fn same_seed_same_results_also_in_parallel() {
    let d = data(20);
    for jobs in [1, 3] {
        let run = |seed| {
            let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 30, seed, jobs)).unwrap();
            h.run(&d, &RunPlan::default(), &|_| {}).unwrap().study
        };
        let (a, b) = (run(7), run(7));
        assert_eq!(a, b, "jobs={jobs}");
        assert_ne!(a.epochs.iter().map(|e| &e.params).collect::<Vec<_>>(), run(8).epochs.iter().map(|e| &e.params).collect::<Vec<_>>());
    }
}

#[test]
fn bad_spaces_and_unknown_losses_are_named() {
    let e = SpaceName::parse_list("buy,roi,sells").unwrap_err().to_string();
    assert_eq!(e, "unknown hyperopt space 'sells' (valid: buy, sell, roi, stoploss, trailing, all, default)");
    let e = "sharp".parse::<LossFunction>().unwrap_err().to_string();
    assert!(e.contains("'sharp'") && e.contains("sharpe, sortino, calmar, profit, max_drawdown, multi"), "{e}");
    let registry = tradai_engine::StrategyRegistry::builtin();
    let bb = registry.get("BollingerBreakout").unwrap();
    let mut cfg = config(SamplerKind::Random, 5, 0, 1);
    cfg.spaces = vec![SpaceName::Sell];
    let e = Hyperopt::new(bb, backtest(), cfg).unwrap_err();
    assert!(matches!(e, HyperoptError::EmptySpace { .. }), "{e}");
    assert!(e.to_string().contains("'BollingerBreakout'") && e.to_string().contains("'sell'"), "{e}");
    let e = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 0, 0, 1)).unwrap_err().to_string();
    assert_eq!(e, "invalid epochs 0: expected at least 1");
}

#[test]
fn out_of_sample_and_walk_forward_report_both_sides() {
    let d = data(30);
    let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Random, 20, 1, 2)).unwrap();
    let plan = RunPlan { validation: Validation::Split(0.7), walk_forward: Some(2) };
    let out = h.run(&d, &plan, &|_| {}).unwrap();
    let oos = out.out_of_sample.as_ref().unwrap();
    assert!(oos.in_sample.trades > 0 && oos.out_of_sample.trades > 0, "{oos:?}");
    assert!(oos.in_sample.trades > oos.out_of_sample.trades, "70 % of the data has more trades than 30 %: {oos:?}");
    assert_eq!(out.walk_forward.len(), 2);
    let e = h.run(&d, &RunPlan { validation: Validation::Split(1.5), walk_forward: None }, &|_| {}).unwrap_err().to_string();
    assert!(e.contains("1.5"), "{e}");
}

#[test]
fn tpe_does_not_spend_epochs_on_points_it_has_already_evaluated() {
    let d = data(20);
    for jobs in [1, 3] {
        let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 150, 5, jobs)).unwrap();
        let study = h.run(&d, &RunPlan::default(), &|_| {}).unwrap().study;
        let distinct: std::collections::HashSet<String> = study.epochs.iter().map(|e| format!("{:?}", e.params)).collect();
        assert_eq!(distinct.len(), study.epochs.len(), "jobs={jobs}: every epoch evaluates a new point");
        let again = h.run(&d, &RunPlan::default(), &|_| {}).unwrap().study;
        assert_eq!(study, again, "jobs={jobs}: the redraws are deterministic");
    }
}

#[test]
fn a_cancelled_run_stops_between_evaluations() {
    let d = data(20);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 10_000, 1, 2)).unwrap().with_cancel(&cancel);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let e = h
        .run(&d, &RunPlan::default(), &|p| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if p.done >= 20 {
                cancel.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .unwrap_err();
    assert!(matches!(e, HyperoptError::Cancelled), "{e}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 10, "stopped right after the batch that reached 20 epochs");
}

/// Runs TPE (`jobs` at once) to `epochs`, cancelling once a checkpoint holds `stop_at` or
/// more trials; returns the last checkpoint saved.
fn interrupted(
    d: &[PairData],
    epochs: usize,
    jobs: usize,
    stop_at: usize,
    from: Option<tradai_hyperopt::Checkpoint>,
) -> tradai_hyperopt::Checkpoint {
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let last = std::sync::Mutex::new(None);
    let save = |c: &tradai_hyperopt::Checkpoint| {
        if c.trials.len() >= stop_at {
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        *last.lock().unwrap() = Some(c.clone());
    };
    let resume = tradai_hyperopt::Resume { from, save: &save, every: std::time::Duration::ZERO };
    let h =
        Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, epochs, 5, jobs)).unwrap().with_cancel(&cancel).with_resume(resume);
    let e = h.run(d, &RunPlan::default(), &|_| {}).unwrap_err();
    assert!(matches!(e, HyperoptError::Cancelled), "{e}");
    last.into_inner().unwrap().expect("a checkpoint was saved")
}

#[test]
fn a_resumed_search_continues_from_its_checkpoint_and_ends_like_an_uninterrupted_one() {
    let d = data(20);
    for jobs in [1, 3] {
        let whole = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 90, 5, jobs))
            .unwrap()
            .run(&d, &RunPlan::default(), &|_| {})
            .unwrap();
        // Stopped twice (as a shutdown would), each time resumed from the checkpoint, encoded
        // as the job record stores it (JSON).
        let first = interrupted(&d, 90, jobs, 30, None);
        assert!(first.trials.len() >= 30 && first.trials.len() % jobs == 0, "{} trials", first.trials.len());
        let json = serde_json::to_string(&first).unwrap();
        let second = interrupted(&d, 90, jobs, 60, Some(serde_json::from_str(&json).unwrap()));
        assert!(second.trials.len() >= 60, "{} trials", second.trials.len());
        assert_eq!(second.trials[..first.trials.len()], first.trials[..], "resuming keeps the trials it resumed from");

        let seen = std::sync::Mutex::new(Vec::new());
        let save = |_: &tradai_hyperopt::Checkpoint| {};
        let resume = tradai_hyperopt::Resume { from: Some(second.clone()), save: &save, every: std::time::Duration::ZERO };
        let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 90, 5, jobs)).unwrap().with_resume(resume);
        let resumed = h.run(&d, &RunPlan::default(), &|p| seen.lock().unwrap().push(p.done)).unwrap();
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen[0], second.trials.len(), "the first progress report is the checkpoint, not epoch 0");
        assert_eq!(resumed.study, whole.study, "jobs = {jobs}: the resumed study equals the uninterrupted one");
    }
}

#[test]
fn a_checkpoint_of_another_run_is_ignored() {
    let d = data(20);
    let c = interrupted(&d, 40, 1, 10, None);
    let save = |_: &tradai_hyperopt::Checkpoint| {};
    // Another seed: the search starts over.
    let h = Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 40, 6, 1)).unwrap().with_resume(tradai_hyperopt::Resume {
        from: Some(c),
        save: &save,
        every: std::time::Duration::ZERO,
    });
    let seen = std::sync::Mutex::new(Vec::new());
    let out = h.run(&d, &RunPlan::default(), &|p| seen.lock().unwrap().push(p.done)).unwrap();
    assert_eq!(seen.into_inner().unwrap()[0], 1, "started from epoch 0");
    let fresh =
        Hyperopt::new(&Planted, backtest(), config(SamplerKind::Tpe, 40, 6, 1)).unwrap().run(&d, &RunPlan::default(), &|_| {}).unwrap();
    assert_eq!(out.study, fresh.study);
}
