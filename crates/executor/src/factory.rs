//! The seeds' `ExecutorFactory`: checks a mode's settings at start-up (an error names the
//! setting) and starts the worker pool with the job kinds of that mode.

use std::path::Path;
use std::sync::Arc;

use tradai_jobs::JobRepository;
use tradai_tracking::Tracking;

use crate::backtest::{self, BacktestRunner};
use crate::error::ExecutorError;
use crate::handler::JobKind;
use crate::hyperopt::{self, HyperoptRunner};
use crate::mode::ExecutorMode;
use crate::observer::JobObserver;
use crate::pool::WorkerPool;
use crate::queue::JobQueue;
use crate::results::ResultStore;
use crate::retraining::{self, RetrainRunner};
use crate::settings::ExecutorSettings;

/// Job kinds of the backend pool that need more than the settings.
#[derive(Default)]
pub struct BackendJobs {
    /// Exchanges the `ensure_data` step of backtests syncs from (`None`: such jobs fail).
    pub endpoints: Option<tradai_exchange::Endpoints>,
    /// The model registry retraining jobs work on (`None`: no retraining jobs).
    pub tracking: Option<Tracking>,
}

/// Builds the executors, after checking the settings of their mode (the seeds'
/// `ExecutorFactory`).
#[derive(Debug)]
pub struct ExecutorFactory;

impl ExecutorFactory {
    fn check(settings: &ExecutorSettings) -> Result<(), ExecutorError> {
        if settings.max_attempts == 0 {
            return Err(ExecutorError::Config("server.max_attempts must be at least 1".into()));
        }
        if settings.orphan_after < settings.heartbeat_every * 2 {
            return Err(ExecutorError::Config(format!(
                "server.orphan_after_secs ({} s) must be at least twice the heartbeat interval ({} ms)",
                settings.orphan_after.as_secs(),
                settings.heartbeat_every.as_millis()
            )));
        }
        Ok(())
    }

    /// Validates `settings` for their mode and starts the backend's worker pool: backtest
    /// and hyperopt jobs, in this process (`local`) or as child processes (`subprocess`).
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the missing or wrong setting.
    pub fn create(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        observers: Vec<Arc<dyn JobObserver>>,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        Self::create_backend(settings, jobs, results, observers, BackendJobs::default())
    }

    /// The backend's worker pool with the optional job kinds `extra` enables.
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the missing or wrong setting.
    pub fn create_backend(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        observers: Vec<Arc<dyn JobObserver>>,
        extra: BackendJobs,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        let BackendJobs { endpoints, tracking } = extra;
        Self::check(&settings)?;
        let kinds = Self::kinds(&settings, settings.mode, endpoints, tracking)?;
        WorkerPool::start(settings, jobs, results, kinds, observers)
    }

    /// Starts the pool of a `tradai worker` process: backtest and hyperopt jobs in this
    /// process, each one the job of a message `queue` delivers; backtests whose `ensure_data`
    /// step syncs do so from `endpoints`.
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the missing or wrong setting.
    pub fn create_worker(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        endpoints: Option<tradai_exchange::Endpoints>,
        observers: Vec<Arc<dyn JobObserver>>,
        queue: Arc<dyn JobQueue>,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        Self::check(&settings)?;
        if settings.workers == 0 {
            return Err(ExecutorError::Config("a worker needs at least one worker thread (server.workers or --workers)".into()));
        }
        let kinds = Self::kinds(&settings, ExecutorMode::Local, endpoints, None)?;
        WorkerPool::start_fed(settings, jobs, results, kinds, observers, Some(queue))
    }

    /// The backtest and hyperopt job kinds of an embedded mode, and retraining jobs on the
    /// registry of `tracking` if given.
    fn kinds(
        settings: &ExecutorSettings,
        mode: ExecutorMode,
        endpoints: Option<tradai_exchange::Endpoints>,
        tracking: Option<Tracking>,
    ) -> Result<Vec<JobKind>, ExecutorError> {
        let store_location = settings.store_location.clone();
        let backtest_kind = move |make: backtest::RunnerFactory| match &endpoints {
            Some(e) => JobKind::backtest_ensuring(make, store_location.clone(), e.clone()),
            None => JobKind::backtest(make),
        };
        let location = settings.store_location.clone();
        let (d1, d2) = (settings.strategy_dir.clone(), settings.strategy_dir.clone());
        Ok(match mode {
            ExecutorMode::Local => {
                tradai_store::CandleStore::open(&location)
                    .map_err(|e| ExecutorError::Config(format!("executor 'local' cannot open the candle store (data_dir): {e}")))?;
                let (l1, l2, l3) = (location.clone(), location.clone(), location);
                let retraining = tracking.map(|t| {
                    JobKind::retraining(Arc::new(move || {
                        Ok(Box::new(retraining::InProcessRetrain::open(&l3, t.clone())?) as Box<dyn RetrainRunner>)
                    }))
                });
                let mut kinds = vec![
                    backtest_kind(Arc::new(move || {
                        let store = tradai_store::BlockingCandleStore::open(&l1).map_err(|e| e.to_string())?;
                        Ok(Box::new(backtest::InProcessRunner { store, strategy_dir: d1.clone() }) as Box<dyn BacktestRunner>)
                    })),
                    JobKind::hyperopt(Arc::new(move || {
                        let store = tradai_store::BlockingCandleStore::open(&l2).map_err(|e| e.to_string())?;
                        Ok(Box::new(hyperopt::InProcessHyperopt { store }) as Box<dyn HyperoptRunner>)
                    })),
                ];
                kinds.extend(retraining);
                kinds
            }
            ExecutorMode::Subprocess => {
                let bin = match &settings.backtest_bin {
                    Some(b) => b.clone(),
                    None => std::env::current_exe().map_err(|e| {
                        ExecutorError::Config(format!("executor 'subprocess' needs server.backtest_bin (cannot find this binary: {e})"))
                    })?,
                };
                check_executable(&bin)?;
                let (b1, l1, b2, l2) = (bin.clone(), location.clone(), bin.clone(), location.clone());
                let retraining = tracking.map(|t| {
                    let tracking_uri = t.tracker.uri();
                    JobKind::retraining(Arc::new(move || {
                        Ok(Box::new(retraining::SubprocessRetrain {
                            bin: bin.clone(),
                            store_location: location.clone(),
                            tracking_uri: tracking_uri.clone(),
                        }) as Box<dyn RetrainRunner>)
                    }))
                });
                let mut kinds = vec![
                    backtest_kind(Arc::new(move || {
                        Ok(Box::new(backtest::SubprocessRunner { bin: b1.clone(), store_location: l1.clone(), strategy_dir: d2.clone() })
                            as Box<dyn BacktestRunner>)
                    })),
                    JobKind::hyperopt(Arc::new(move || {
                        Ok(Box::new(hyperopt::SubprocessHyperopt { bin: b2.clone(), store_location: l2.clone() })
                            as Box<dyn HyperoptRunner>)
                    })),
                ];
                kinds.extend(retraining);
                kinds
            }
            remote => {
                return Err(ExecutorError::Config(format!(
                    "executor mode '{}' runs jobs elsewhere: the entry point must build its submitter (and `tradai worker` runs them)",
                    remote.as_str()
                )))
            }
        })
    }

    /// Starts data-collection's worker pool: exchange syncs into the store, always in this
    /// process whatever the mode (a sync waits on the network, not on the CPU).
    ///
    /// # Errors
    /// [`ExecutorError::Config`] naming the wrong setting.
    pub fn create_sync(
        settings: ExecutorSettings,
        jobs: Arc<dyn JobRepository>,
        results: ResultStore,
        endpoints: tradai_exchange::Endpoints,
        observers: Vec<Arc<dyn JobObserver>>,
    ) -> Result<Arc<WorkerPool>, ExecutorError> {
        Self::check(&settings)?;
        tradai_store::CandleStore::open(&settings.store_location)
            .map_err(|e| ExecutorError::Config(format!("sync jobs cannot open the candle store (data_dir): {e}")))?;
        let kind = JobKind::sync(settings.store_location.clone(), endpoints, tradai_exchange::TransportConfig::default());
        WorkerPool::start(settings, jobs, results, vec![kind], observers)
    }
}

fn check_executable(bin: &Path) -> Result<(), ExecutorError> {
    let meta = std::fs::metadata(bin).map_err(|e| {
        ExecutorError::Config(format!(
            "executor 'subprocess' needs server.backtest_bin to be the tradai binary; '{}' cannot be used: {e} (set TRADAI_SERVER__BACKTEST_BIN)",
            bin.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
            return Err(ExecutorError::Config(format!(
                "executor 'subprocess' needs server.backtest_bin to be an executable file; '{}' is not",
                bin.display()
            )));
        }
    }
    #[cfg(not(unix))]
    if !meta.is_file() {
        return Err(ExecutorError::Config(format!("server.backtest_bin '{}' is not a file", bin.display())));
    }
    Ok(())
}
