//! Freqtrade's feather candle files (read by the store's importer) and the conformance fixtures.

use std::path::{Path, PathBuf};

use tradai_core::{Candles, Instrument, Pair};
use tradai_engine::PairData;

/// The repository's `testdata/` (Freqtrade candles and the conformance reference runs).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Reads a feather (Arrow IPC) file with columns date (ns), open, high, low, close, volume, as
/// the store's importer reads it.
pub fn read_feather(path: &Path) -> Candles {
    tradai_store::read_candle_file(path, tradai_store::SourceFormat::Feather)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Candles of a spot pair from `testdata/freqtrade`.
pub fn spot_candles(pair: &str, tf: &str) -> Candles {
    let stem = pair.replace('/', "_");
    read_feather(&testdata().join(format!("freqtrade/{stem}-{tf}.feather")))
}

/// Pair data with only a lot step known.
pub fn pair_data(pair: &str, candles: Candles, amount_step: Option<f64>) -> PairData {
    let pair: Pair = pair.parse().expect("pair");
    let mut instrument = Instrument::unknown(pair.clone());
    instrument.amount_step = amount_step;
    PairData { pair, candles, instrument }
}

/// An expected-results file of the conformance suite.
pub fn expected(name: &str) -> serde_json::Value {
    let path = testdata().join(format!("conformance/expected/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("expected json")
}

/// The ten reference pairs with the markets of an expected file.
pub fn reference_data(exp: &serde_json::Value) -> Vec<PairData> {
    let meta = &exp["meta"];
    meta["pairs"]
        .as_array()
        .expect("meta.pairs")
        .iter()
        .map(|p| {
            let name = p.as_str().expect("pair name");
            let market = &meta["markets"][name];
            let mut d = pair_data(name, spot_candles(name, "5m"), market["amount_step"].as_f64());
            d.instrument.min_amount = market["limits"]["amount"]["min"].as_f64();
            d.instrument.min_notional = market["limits"]["cost"]["min"].as_f64();
            d
        })
        .collect()
}
