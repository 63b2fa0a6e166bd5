//! Integration tests of tradai-python: the reference strategy files against the built-in
//! strategies, and every way loading or running a file can fail.
//!
//! They need Python with pandas and pyarrow: `TRADAI_TEST_PYTHON` (scripts/test.sh exports it
//! from scripts/python-venv.sh), else the venv that script makes.

mod errors;
mod interp;
mod reference;

// The engine tests' reader of Freqtrade's feather files (its fixture helpers are not used here).
#[path = "../../../engine/tests/it/feather.rs"]
#[allow(dead_code)]
mod feather;

use tradai_core::Candles;

pub use feather::testdata;
pub use interp::python;

/// The candles of a Freqtrade feather file in `testdata/freqtrade`.
pub fn candles(stem: &str) -> Candles {
    feather::read_feather(&testdata().join(format!("freqtrade/{stem}.feather")))
}
