//! Back ends for the tests: a fresh embedded store per test, the shared MLflow server (found or
//! started once per test binary), and helpers for unique names.

use tempfile::TempDir;
use tradai_tracking::{open_embedded, Tracking};

/// A tracker and registry under test, with whatever keeps them alive.
pub struct Backend {
    pub t: Tracking,
    /// `embedded` or `mlflow`.
    pub kind: &'static str,
    _dir: Option<TempDir>,
}

pub async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    Backend { t: open_embedded(dir.path()).unwrap(), kind: "embedded", _dir: Some(dir) }
}

#[cfg(feature = "mlflow")]
pub async fn mlflow() -> Backend {
    use tradai_tracking::{MlflowClient, MlflowConfig};
    let client = MlflowClient::new(MlflowConfig::new(mlflow_uri())).unwrap();
    Backend {
        t: Tracking { tracker: std::sync::Arc::new(client.clone()), registry: std::sync::Arc::new(client) },
        kind: "mlflow",
        _dir: None,
    }
}

#[cfg(feature = "mlflow")]
pub use mlflow_server::*;

#[cfg(feature = "mlflow")]
mod mlflow_server {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    pub fn workspace_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
    }

    pub fn mlflow_venv() -> PathBuf {
        std::env::var_os("MLFLOW_VENV")
            .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/mlflow")), PathBuf::from)
    }

    /// The MLflow server every MLflow test shares (all names are unique per test, so tests and
    /// repeated runs never collide on one server).
    pub fn mlflow_uri() -> String {
        static URI: OnceLock<String> = OnceLock::new();
        URI.get_or_init(|| {
            if let Some(uri) = std::env::var("TRADAI_TEST_MLFLOW_URI").ok().filter(|u| !u.trim().is_empty()) {
                return uri.trim().trim_end_matches('/').to_owned();
            }
            let script = workspace_root().join("scripts/mlflow-server.sh");
            assert!(
                mlflow_venv().join("bin/mlflow").exists(),
                "the MLflow tests need an MLflow server: set TRADAI_TEST_MLFLOW_URI=http://host:port, or install MLflow with \
             `{} --install-only` (into {}; MLFLOW_VENV to change) and the tests start the server themselves",
                script.display(),
                mlflow_venv().display()
            );
            let out = Command::new(&script).output().unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
            assert!(out.status.success(), "{} failed ({}):\n{}", script.display(), out.status, String::from_utf8_lossy(&out.stderr));
            let stdout = String::from_utf8(out.stdout).unwrap();
            stdout.lines().last().unwrap_or_default().trim().to_owned()
        })
        .clone()
    }
}

/// A name no other test (or earlier run against the same server) uses.
pub fn uniq(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}
