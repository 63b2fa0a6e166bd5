//! Integration tests of tradai-deploy: the rendered stacks of every environment are
//! deterministic, hold what the seeds deploy, and pass cfn-lint (`lint`, with the linters of
//! `scripts/deploy-lint-venv.sh` named by `TRADAI_TEST_DEPLOY_LINT`).

mod lint;
mod render;

use std::path::PathBuf;

/// The bin directory of the pinned linters, or `None` (after saying why) to skip.
pub fn linters(test: &str) -> Option<PathBuf> {
    match std::env::var("TRADAI_TEST_DEPLOY_LINT").ok().filter(|p| !p.trim().is_empty()) {
        Some(dir) => Some(PathBuf::from(dir.trim())),
        None => {
            eprintln!(
                "skipping {test}: TRADAI_TEST_DEPLOY_LINT is not set (export TRADAI_TEST_DEPLOY_LINT=$(scripts/deploy-lint-venv.sh))"
            );
            None
        }
    }
}

/// The workspace root (the Dockerfile and compose.yaml live there).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}
