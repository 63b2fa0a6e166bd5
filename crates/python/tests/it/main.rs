//! Integration tests of tradai-python: the reference strategy files against the built-in
//! strategies, and every way loading or running a file can fail.
//!
//! They need Python with pandas and pyarrow: `TRADAI_TEST_PYTHON` (scripts/test.sh exports it
//! from scripts/python-venv.sh), else the venv that script makes.

mod errors;
mod reference;

use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, TimestampNanosecondArray};
use tradai_core::Candles;

/// The interpreter the tests run strategy files with.
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

/// The repository's `testdata/`.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// The candles of a Freqtrade feather file in `testdata/freqtrade`.
pub fn candles(stem: &str) -> Candles {
    let bytes = std::fs::read(testdata().join(format!("freqtrade/{stem}.feather"))).unwrap();
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).unwrap();
    let mut out = Candles::default();
    for batch in reader {
        let batch = batch.unwrap();
        let col = |n: &str| batch.column_by_name(n).unwrap().clone();
        let date = col("date");
        let date = date.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
        let f = |n: &str| col(n).as_any().downcast_ref::<Float64Array>().unwrap().values().to_vec();
        let (o, h, l, c, v) = (f("open"), f("high"), f("low"), f("close"), f("volume"));
        for i in 0..batch.num_rows() {
            out.push(tradai_core::CandleRow {
                ts: date.value(i) / 1_000_000,
                open: o[i],
                high: h[i],
                low: l[i],
                close: c[i],
                volume: v[i],
            });
        }
    }
    out
}
