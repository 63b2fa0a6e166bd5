//! The Python the strategy-file tests run with (shared with the CLI's tests).

use std::path::Path;

/// The interpreter the tests run strategy files with: `TRADAI_TEST_PYTHON`, else the venv of
/// scripts/python-venv.sh (`TRADAI_PY_VENV`, default `.venv/py`).
pub fn python() -> String {
    if let Some(p) = std::env::var("TRADAI_TEST_PYTHON").ok().filter(|p| !p.trim().is_empty()) {
        return p;
    }
    let venv = std::env::var("TRADAI_PY_VENV").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/py").to_owned());
    let p = Path::new(&venv).join("bin/python");
    assert!(
        p.exists(),
        "the strategy-file tests need Python with pandas and pyarrow: set TRADAI_TEST_PYTHON, or run scripts/python-venv.sh"
    );
    p.to_string_lossy().into_owned()
}
