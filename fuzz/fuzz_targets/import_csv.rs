//! Fuzz target: the Csv importer on arbitrary bytes must return candles or an error naming
//! the file, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradai_store::{read_candle_file, SourceFormat};

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, data).unwrap();
    if let Err(e) = read_candle_file(&path, SourceFormat::Csv) {
        assert!(!e.to_string().is_empty());
    }
});
