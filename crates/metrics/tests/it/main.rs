//! Integration tests of `tradai-metrics` against Freqtrade's own results in
//! `testdata/conformance/expected/*.json`: the summary computed from the reference trades must
//! match Freqtrade's summary key by key.

mod reference;
mod reports;
mod wallet;

use std::path::PathBuf;

/// The conformance folder copied into the repository (`testdata/conformance`).
fn conformance_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/conformance")
}

/// Names of the reference runs (file stems in `expected/`).
const RUNS: [&str; 3] = ["BollingerBreakout-mot3", "EmaCross-mot3", "RsiMeanReversion-unlimited"];
