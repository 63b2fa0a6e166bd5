//! Integration tests of tradai-store: import of the shared Freqtrade data, store operations,
//! rejected inputs, crash safety, concurrent writers, corruption, properties of the importers
//! and interop with pandas. One binary; shared helpers live here.

mod concurrent;
mod corrupt;
mod crash;
mod hooked;
mod import;
mod import_props;
mod interop;
mod ops;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Float64Array, TimestampNanosecondArray};
use tradai_core::{Candles, ExchangeId, Pair, Timeframe};
use tradai_store::{BlockingCandleStore, SeriesKey, StoreOptions};

/// The shared Freqtrade data directory (`testdata/freqtrade` in the repository).
fn freqtrade_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/freqtrade")
}

fn binance() -> ExchangeId {
    ExchangeId::new("binance").unwrap()
}

fn key(pair: &str, tf: &str) -> SeriesKey {
    SeriesKey::new(binance(), pair.parse::<Pair>().unwrap(), tf.parse::<Timeframe>().unwrap())
}

/// A store in a fresh temporary directory (fsync off: tests do not need power-loss safety).
fn temp_store() -> (tempfile::TempDir, BlockingCandleStore) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        BlockingCandleStore::open_with(dir.path().to_str().unwrap(), StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
    (dir, store)
}

/// Every file under `dir` with its bytes, to show that a failed operation changed nothing.
/// The writers' lock files (`.locks/`, empty, created on a series' first write) are not data
/// and are left out.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().is_some_and(|n| n == ".locks") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Reads a Freqtrade feather file with Arrow directly (not through the importer), as the
/// reference the store's round trip is compared with.
fn read_feather_reference(path: &Path) -> Candles {
    let f = std::fs::File::open(path).unwrap();
    let reader = arrow_ipc::reader::FileReader::try_new(f, None).unwrap();
    let mut c = Candles::default();
    for b in reader {
        let b = b.unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap().as_any().downcast_ref::<Float64Array>().unwrap().clone();
        let date = b.column_by_name("date").unwrap();
        let date = date.as_any().downcast_ref::<TimestampNanosecondArray>().unwrap();
        assert_eq!(date.null_count(), 0);
        c.ts.extend(date.values().iter().map(|ns| {
            assert_eq!(ns % 1_000_000, 0, "sub-millisecond timestamp in {}", path.display());
            ns / 1_000_000
        }));
        c.open.extend_from_slice(col("open").values());
        c.high.extend_from_slice(col("high").values());
        c.low.extend_from_slice(col("low").values());
        c.close.extend_from_slice(col("close").values());
        c.volume.extend_from_slice(col("volume").values());
    }
    c
}

/// Asserts two candle series are equal bit for bit (NaN-safe, and -0.0 distinct from 0.0).
fn assert_bit_identical(a: &Candles, b: &Candles, what: &str) {
    assert_eq!(a.ts, b.ts, "{what}: timestamps");
    for (name, x, y) in [
        ("open", &a.open, &b.open),
        ("high", &a.high, &b.high),
        ("low", &a.low, &b.low),
        ("close", &a.close, &b.close),
        ("volume", &a.volume, &b.volume),
    ] {
        assert_eq!(x.len(), y.len(), "{what}: {name} length");
        let diff = x.iter().zip(y).position(|(p, q)| p.to_bits() != q.to_bits());
        assert!(diff.is_none(), "{what}: {name} differs at row {diff:?}");
    }
}
