//! Integration tests of tradai-tracking: one shared suite run against the embedded store and
//! against a real MLflow server, plus each back end's own cases (durability, transport errors,
//! path prefixes, MLflow's Python client reading what TradAI logged).
//!
//! The MLflow server: `TRADAI_TEST_MLFLOW_URI` when set (CI exports it from
//! `scripts/mlflow-server.sh`); otherwise the tests start it with that script, which needs the
//! MLflow venv it installs (`scripts/mlflow-server.sh --install-only`). Without either the
//! MLflow tests fail and say so: they are never skipped silently.

mod embedded;
mod harness;
#[cfg(feature = "mlflow")]
mod mlflow;
mod suite;

/// Instantiates every shared-suite case as a test of one back end.
macro_rules! shared_suite {
    ($backend:ident) => {
        mod $backend {
            use crate::harness;
            use crate::suite;

            shared_suite!(@cases $backend:
                experiments,
                runs_params_metrics_and_tags,
                search_filters_and_orders,
                search_rejects_bad_filters,
                artifacts,
                parent_and_child_runs,
                log_run_is_idempotent,
                log_run_resumes_a_half_logged_run,
                unknown_run_is_named,
                registry_models_versions_aliases_and_stages,
                promote_and_rollback,
                unknown_model_and_version_are_named,
            );
        }
    };
    (@cases $backend:ident: $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let b = harness::$backend().await;
                suite::$case(&b).await;
            }
        )*
    };
}

/// `shared::embedded::*` and `shared::mlflow::*`: the same cases on each back end.
mod shared {
    shared_suite!(embedded);
    #[cfg(feature = "mlflow")]
    shared_suite!(mlflow);
}
