//! Running a strategy over prepared data, and the result a run hands on (tradai-metrics
//! summarises it; the engine knows nothing of where results go).

use rayon::prelude::*;
use tradai_core::{Pair, StrategySettings, Trade, UnclosedTrade};

use crate::config::BacktestConfig;
use crate::data::{MarketView, PairData, PreparedInput, PreparedMarket};
use crate::error::BacktestError;
use crate::sim::simulate;
use crate::strategy::{IndicatorCache, ParamValues, Signals, Strategy, StrategyFailure};

/// Everything a finished backtest produced.
#[derive(Debug, Clone, PartialEq)]
pub struct BacktestResult {
    /// Strategy name.
    pub strategy: String,
    /// The settings the run used: the strategy's, with the run's timeframe and leverage.
    pub settings: StrategySettings,
    /// Closed trades in closing order; force exits last.
    pub trades: Vec<Trade>,
    /// Trades whose force exit could not fill at the end (not in `trades`).
    pub unclosed_trades: Vec<UnclosedTrade>,
    /// Entry signals dropped because every slot was taken.
    pub rejected_signals: u64,
    /// Starting balance.
    pub starting_balance: f64,
    /// Wallet total at the end: spot excludes the stakes of unclosed trades.
    pub final_balance: f64,
    /// Mean relative price change over the pairs, from the backtest start.
    pub market_change: f64,
    /// First backtested candle (after start-up), epoch ms.
    pub backtest_start_ms: i64,
    /// Last candle, epoch ms.
    pub backtest_end_ms: i64,
    /// Wallet balance at every candle (Freqtrade's wallet capture: free balance plus, in spot,
    /// `amount · open` of each open trade whose pair has that candle).
    pub balance_series: Vec<(i64, f64)>,
    /// Pairs without any candle after the start-up rows (they took no part).
    pub skipped_pairs: Vec<Pair>,
}

/// Runs one strategy with one set of parameter values.
pub struct BacktestRunner<'s> {
    strategy: &'s dyn Strategy,
    params: ParamValues,
}

impl std::fmt::Debug for BacktestRunner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BacktestRunner").field("strategy", &self.strategy.name()).field("params", &self.params).finish()
    }
}

impl<'s> BacktestRunner<'s> {
    /// A runner for `strategy` with its default parameters.
    #[must_use]
    pub fn new(strategy: &'s dyn Strategy) -> Self {
        Self { strategy, params: ParamValues::defaults(&strategy.parameters()) }
    }

    /// Uses `params` (missing names keep their defaults).
    #[must_use]
    pub fn with_params(mut self, params: &ParamValues) -> Self {
        for (k, v) in params.iter() {
            self.params.set(k, v.clone());
        }
        self
    }

    /// The strategy.
    #[must_use]
    pub fn strategy(&self) -> &dyn Strategy {
        self.strategy
    }

    fn check(&self, config: &BacktestConfig) -> Result<StrategySettings, BacktestError> {
        config.validate()?;
        self.params.validate(&self.strategy.parameters())?;
        let mut settings = self.strategy.settings();
        if settings.can_short && config.trading_mode == tradai_core::MarketType::Spot {
            return Err(BacktestError::ShortInSpot { strategy: self.strategy.name().to_owned() });
        }
        // As in Freqtrade, the run's timeframe overrides the strategy's; the leverage is the
        // configured one in futures and 1 in spot.
        settings.timeframe = config.timeframe;
        settings.leverage = match config.trading_mode {
            tradai_core::MarketType::Spot => 1.0,
            tradai_core::MarketType::Futures => config.leverage.unwrap_or(settings.leverage).max(1.0),
        };
        Ok(settings)
    }

    /// Prepares `data` and runs the backtest.
    ///
    /// Candles that need no cut, merge or gap filling are read in place, not copied.
    ///
    /// # Errors
    /// [`BacktestError`] for an invalid configuration or parameters, a pair without data,
    /// candles off the timeframe grid, or a time range that leaves nothing to test.
    pub fn run(&self, config: &BacktestConfig, data: &[PairData]) -> Result<BacktestResult, BacktestError> {
        let settings = self.check(config)?;
        let input = PreparedInput::new(&config.pairs, config.timeframe, &config.timerange, data, settings.startup_candle_count)?;
        self.run_view(config, settings, &input.view(), None)
    }

    /// Runs on data prepared once (see [`PreparedMarket::new`], with this strategy's
    /// start-up count). With `caches` (one per pair of `market`, in its order), indicator
    /// columns are taken from and added to them, so repeated runs with other parameters
    /// recompute only what changed.
    ///
    /// # Errors
    /// As [`BacktestRunner::run`], and [`BacktestError::SignalLength`] when the strategy
    /// returns signal columns of the wrong length.
    pub fn run_prepared(
        &self,
        config: &BacktestConfig,
        market: &PreparedMarket,
        caches: Option<&mut [IndicatorCache]>,
    ) -> Result<BacktestResult, BacktestError> {
        let settings = self.check(config)?;
        self.run_view(config, settings, &market.view(), caches)
    }

    /// What a [`crate::TradingSession`] on `market` needs: the run's settings (the strategy's,
    /// with the run's timeframe and leverage) and every pair's signal columns.
    ///
    /// # Errors
    /// As [`BacktestRunner::run_prepared`].
    pub fn session_inputs(
        &self,
        config: &BacktestConfig,
        market: &PreparedMarket,
    ) -> Result<(StrategySettings, Vec<Signals>), BacktestError> {
        let settings = self.check(config)?;
        Ok((settings, self.signals(&market.view(), None)?))
    }

    /// Signals, simulation and result on prepared pairs, whoever owns their candles.
    fn run_view(
        &self,
        config: &BacktestConfig,
        settings: StrategySettings,
        market: &MarketView<'_>,
        caches: Option<&mut [IndicatorCache]>,
    ) -> Result<BacktestResult, BacktestError> {
        let signals = self.signals(market, caches)?;
        for (p, s) in market.pairs.iter().zip(&signals) {
            if !s.has_len(p.candles.len()) {
                return Err(BacktestError::SignalLength {
                    strategy: self.strategy.name().to_owned(),
                    pair: p.pair.clone(),
                    expected: p.candles.len(),
                    got: s.len(),
                });
            }
        }
        let out = simulate(config, &settings, market, &signals);
        Ok(BacktestResult {
            strategy: self.strategy.name().to_owned(),
            settings,
            trades: out.trades,
            unclosed_trades: out.unclosed,
            rejected_signals: out.rejected,
            starting_balance: config.starting_balance,
            final_balance: out.final_balance,
            market_change: market.market_change(),
            backtest_start_ms: market.min_date_ms,
            backtest_end_ms: market.max_date_ms,
            balance_series: out.balance_series,
            skipped_pairs: market.skipped_pairs(),
        })
    }

    /// Signal columns of every pair, computed in parallel.
    fn signals(&self, market: &MarketView<'_>, caches: Option<&mut [IndicatorCache]>) -> Result<Vec<Signals>, BacktestError> {
        let strategy = self.strategy;
        let params = &self.params;
        let failed = |pair: &Pair, e: StrategyFailure| BacktestError::StrategyFailed {
            strategy: strategy.name().to_owned(),
            pair: pair.clone(),
            message: e.message,
        };
        match caches {
            Some(caches) if caches.len() == market.pairs.len() => market
                .pairs
                .par_iter()
                .zip(caches.par_iter_mut())
                .map(|(p, cache)| strategy.try_populate_pair(p.pair, p.candles, params, Some(cache)).map_err(|e| failed(p.pair, e)))
                .collect(),
            _ => market
                .pairs
                .par_iter()
                .map(|p| strategy.try_populate_pair(p.pair, p.candles, params, None).map_err(|e| failed(p.pair, e)))
                .collect(),
        }
    }
}
