//! Properties of the importers (proptest, run in CI; `fuzz/` holds the cargo-fuzz targets for
//! longer runs): any candles written as CSV or Freqtrade JSON come back bit for bit, and no
//! input — random bytes or a damaged real file — panics; every refusal names the file.

use std::io::Write;
use std::path::Path;

use proptest::prelude::*;
use tradai_core::{CandleRow, Candles};
use tradai_store::{read_candle_file, SourceFormat};

use crate::{assert_bit_identical, freqtrade_dir};

/// Finite doubles of every magnitude and sign (the importers keep them bit for bit).
fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        -1e6..1e6f64,
        any::<f64>().prop_filter("finite", |x| x.is_finite()),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::MAX),
    ]
}

fn candles() -> impl Strategy<Value = Candles> {
    // Epoch milliseconds from 1970 to 2100.
    prop::collection::vec((0i64..4_102_444_800_000, value(), value(), value(), value(), value()), 0..60).prop_map(|rows| {
        let mut c = Candles::default();
        for (ts, open, high, low, close, volume) in rows {
            c.push(CandleRow { ts, open, high, low, close, volume });
        }
        c
    })
}

/// Writes `bytes` to a fresh file named `name` and imports it as `format`. Returns the file's
/// directory (kept alive) and the result.
fn import(name: &str, bytes: &[u8], format: SourceFormat) -> (tempfile::TempDir, Result<Candles, tradai_store::StoreError>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let r = read_candle_file(&path, format);
    (dir, r)
}

/// A refusal must say which file it is about.
fn assert_names_file(r: &Result<Candles, tradai_store::StoreError>, name: &str) {
    if let Err(e) = r {
        let chain = {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        };
        assert!(chain.contains(name), "error does not name '{name}': {chain}");
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b).unwrap();
    gz.finish().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn csv_round_trips_any_candles(c in candles(), iso in any::<bool>()) {
        let mut text = String::from("date,open,high,low,close,volume\n");
        for i in 0..c.len() {
            let ts = if iso {
                chrono::DateTime::from_timestamp_millis(c.ts[i]).unwrap().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            } else {
                c.ts[i].to_string()
            };
            text.push_str(&format!("{ts},{},{},{},{},{}\n", c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]));
        }
        let (_d, r) = import("in.csv", text.as_bytes(), SourceFormat::Csv);
        assert_bit_identical(&r.unwrap(), &c, "csv");
    }

    #[test]
    fn freqtrade_json_round_trips_any_candles(c in candles(), gz in any::<bool>()) {
        let rows: Vec<serde_json::Value> = (0..c.len())
            .map(|i| serde_json::json!([c.ts[i], c.open[i], c.high[i], c.low[i], c.close[i], c.volume[i]]))
            .collect();
        let json = serde_json::to_vec(&rows).unwrap();
        let (_d, r) = if gz {
            import("ETH_BTC-5m.json.gz", &gzip(&json), SourceFormat::JsonGz)
        } else {
            import("ETH_BTC-5m.json", &json, SourceFormat::Json)
        };
        assert_bit_identical(&r.unwrap(), &c, "json");
    }

    #[test]
    fn random_bytes_never_panic_and_refusals_name_the_file(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for (name, format) in [
            ("x.csv", SourceFormat::Csv),
            ("x.json", SourceFormat::Json),
            ("x.json.gz", SourceFormat::JsonGz),
            ("x.feather", SourceFormat::Feather),
            ("x.parquet", SourceFormat::Parquet),
        ] {
            let (_d, r) = import(name, &bytes, format);
            assert_names_file(&r, name);
        }
        // Text-like input reaches deeper into the CSV and JSON parsers.
        const ALPHABET: &[u8] = b" ,\n0123456789.-:TZe[]date,open,high,low,close,volume";
        let text: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
        let (_d, r) = import("t.csv", format!("date,open,high,low,close,volume\n{text}").as_bytes(), SourceFormat::Csv);
        assert_names_file(&r, "t.csv");
        let (_d, r) = import("t.json", format!("[[{text}").as_bytes(), SourceFormat::Json);
        assert_names_file(&r, "t.json");
    }

    #[test]
    fn damaged_freqtrade_files_never_panic(cut in 0.0..1.0f64, flips in prop::collection::vec((0.0..1.0f64, 1u8..=255), 0..8)) {
        let good = std::fs::read(freqtrade_dir().join("ETH_BTC-5m.feather")).unwrap();
        let mut bytes = good.clone();
        for (at, mask) in flips {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let i = ((bytes.len() - 1) as f64 * at) as usize;
            bytes[i] ^= mask;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        bytes.truncate((bytes.len() as f64 * (0.5 + cut / 2.0)) as usize + 1);
        let (_d, r) = import("ETH_BTC-5m.feather", &bytes, SourceFormat::Feather);
        assert_names_file(&r, "ETH_BTC-5m.feather");
    }
}

#[test]
fn the_round_trip_properties_see_real_files() {
    // Guard: the damaged-file property starts from a file that reads.
    let c = read_candle_file(&freqtrade_dir().join("ETH_BTC-5m.feather"), SourceFormat::Feather).unwrap();
    assert!(c.len() > 1000);
    assert!(Path::new(&freqtrade_dir()).is_dir());
}
