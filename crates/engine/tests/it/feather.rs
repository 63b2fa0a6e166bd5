//! Test-only reader for Freqtrade's feather candle files and the conformance fixtures.

use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, RecordBatch, TimestampNanosecondArray};
use tradai_core::{Candles, Instrument, Pair};
use tradai_engine::PairData;

/// The repository's `testdata/` (Freqtrade candles and the conformance reference runs).
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Reads a feather (Arrow IPC) file with columns date (ns), open, high, low, close, volume.
pub fn read_feather(path: &Path) -> Candles {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None).expect("arrow ipc file");
    let mut out = Candles::default();
    for batch in reader {
        let batch: RecordBatch = batch.expect("record batch");
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}")).clone();
        let date = col("date");
        let date = date.as_any().downcast_ref::<TimestampNanosecondArray>().expect("date is ns timestamps");
        let f = |name: &str| col(name).as_any().downcast_ref::<Float64Array>().expect("f64 column").values().to_vec();
        let (o, h, l, c, v) = (f("open"), f("high"), f("low"), f("close"), f("volume"));
        for i in 0..batch.num_rows() {
            assert!(!date.is_null(i));
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
