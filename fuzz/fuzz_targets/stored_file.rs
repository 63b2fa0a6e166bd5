//! Fuzz target: the store's reader on an arbitrary "month file" must give an error naming
//! the file (corrupt) or candles, never panic — the guarantee behind `tradai data repair`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradai_core::{ExchangeId, TimeRange};
use tradai_store::{BlockingCandleStore, Columns, SeriesKey};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("binance/spot/ETH_BTC/5m");
    std::fs::create_dir_all(&series).unwrap();
    std::fs::write(series.join("2018-01.parquet"), data).unwrap();
    let store = BlockingCandleStore::open(dir.path().to_str().unwrap()).unwrap();
    let key = SeriesKey::new(ExchangeId::new("binance").unwrap(), "ETH/BTC".parse().unwrap(), "5m".parse().unwrap());
    if let Err(e) = store.read(&key, TimeRange::all(), Columns::ALL) {
        assert!(e.to_string().contains("2018-01.parquet"), "{e}");
    }
    // Listing and validation report a bad file and go on; they fail only on I/O errors.
    let list = store.list().unwrap();
    assert_eq!(list.len(), 1);
    let _ = store.validate(&key).unwrap();
});
