//! Corruption contained and detected: a truncated file and a garbled file (random bytes in
//! the middle, footer intact) each affect only their own series; listings and validation
//! report them and go on; a garbled file is an error naming it, never other numbers; and
//! quarantine moves them aside, keeping them.

use rand::{Rng, SeedableRng};
use tradai_core::{CandleRow, Candles, TimeRange};
use tradai_store::{Columns, ErrorKind, SeriesInfo, QUARANTINE_DIR};

use crate::{key, temp_store};

const M1: i64 = 60_000;
/// 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200_000;

/// Two months of 1m candles (January and February 2024), prices a random walk so the files
/// are as large and incompressible as real ones.
fn two_months(seed: u64) -> Candles {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut c = Candles::default();
    let mut p = 100.0;
    for i in 0..(31 + 29) * 1440 {
        let o: f64 = p;
        p *= 1.0 + rng.random_range(-0.001..0.001);
        let (h, l) = (o.max(p) * 1.0005, o.min(p) * 0.9995);
        c.push(CandleRow { ts: START + i * M1, open: o, high: h, low: l, close: p, volume: rng.random_range(1.0..100.0) });
    }
    c
}

fn info<'a>(list: &'a [SeriesInfo], pair: &str) -> &'a SeriesInfo {
    list.iter().find(|s| s.key.pair.to_string() == pair).unwrap()
}

#[test]
fn truncated_and_garbled_files_are_reported_and_contained() {
    let (dir, store) = temp_store();
    let pairs = ["ADA/BTC", "DASH/BTC", "ETH/BTC", "LTC/BTC"];
    for (i, p) in pairs.iter().enumerate() {
        store.append(&key(p, "1m"), &two_months(i as u64)).unwrap();
    }
    let file = |stem: &str| dir.path().join(format!("binance/spot/{stem}/1m/2024-01.parquet"));

    // The operator's accidents from the issue: `truncate -s 5000` on one file, 4000 random
    // bytes written into the middle of another.
    let ada = file("ADA_BTC");
    std::fs::OpenOptions::new().write(true).open(&ada).unwrap().set_len(5000).unwrap();
    let dash = file("DASH_BTC");
    let mut bytes = std::fs::read(&dash).unwrap();
    let mid = bytes.len() / 2;
    rand_chacha::ChaCha8Rng::seed_from_u64(9).fill(&mut bytes[mid - 2000..mid + 2000]);
    std::fs::write(&dash, &bytes).unwrap();

    // Listing goes on: the truncated file is reported in its series, the others are whole.
    // (The garbled file's footer is intact, so a footer-only listing cannot see it.)
    let list = store.list().unwrap();
    assert_eq!(list.len(), 4);
    let ada_info = info(&list, "ADA/BTC");
    assert_eq!(ada_info.corrupt.len(), 1, "{ada_info:?}");
    assert!(ada_info.corrupt[0].path.ends_with("ADA_BTC/1m/2024-01.parquet"), "{:?}", ada_info.corrupt);
    assert_eq!(ada_info.rows, 29 * 1440, "rows of the readable February file only");
    for p in ["ETH/BTC", "LTC/BTC", "DASH/BTC"] {
        assert!(info(&list, p).corrupt.is_empty(), "{p}");
        assert_eq!(info(&list, p).rows, 60 * 1440, "{p}");
    }
    assert!(store.series_info(&key("ADA/BTC", "1m")).unwrap().unwrap().corrupt.len() == 1);

    // Reading the damaged months fails naming the file; a garbled file never reads as numbers.
    for (pair, stem) in [("ADA/BTC", "ADA_BTC"), ("DASH/BTC", "DASH_BTC")] {
        let e = store.read(&key(pair, "1m"), TimeRange::all(), Columns::ALL).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e:?}");
        assert!(e.to_string().contains(&format!("{stem}/1m/2024-01.parquet")), "{e}");
    }
    let e = store.read(&key("DASH/BTC", "1m"), TimeRange::all(), Columns::CLOSE).unwrap_err();
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
    // Their undamaged months and the other pairs read whole.
    let feb = TimeRange { start_ms: Some(START + 31 * 1440 * M1), end_ms: None };
    assert_eq!(store.read(&key("DASH/BTC", "1m"), feb, Columns::ALL).unwrap().len(), 29 * 1440);
    for (i, p) in pairs.iter().enumerate().skip(2) {
        assert_eq!(store.read(&key(p, "1m"), TimeRange::all(), Columns::ALL).unwrap(), two_months(i as u64), "{p}");
    }

    // Validation reports both, per series, and checks the rest of each series.
    for (pair, stem) in [("ADA/BTC", "ADA_BTC"), ("DASH/BTC", "DASH_BTC")] {
        let r = store.validate(&key(pair, "1m")).unwrap();
        assert!(!r.is_clean());
        assert_eq!(r.corrupt.len(), 1, "{pair}: {:?}", r.corrupt);
        assert!(r.corrupt[0].path.ends_with(&format!("{stem}/1m/2024-01.parquet")));
        assert_eq!(r.rows, 29 * 1440, "{pair}: February still checked");
        assert_eq!(r.ohlc_issues, 0);
    }
    assert!(store.validate(&key("ETH/BTC", "1m")).unwrap().is_clean());

    // Quarantine moves the two files aside (kept, not deleted); the series read without them.
    let before_eth = crate::snapshot(&dir.path().join("binance/spot/ETH_BTC"));
    let ada_bytes = std::fs::read(&ada).unwrap();
    let moved = store.quarantine_corrupt(&key("ADA/BTC", "1m")).unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].start_ms, START);
    assert_eq!(moved[0].end_ms, START + 31 * 1440 * M1);
    assert!(moved[0].to.starts_with(QUARANTINE_DIR) && moved[0].to.ends_with("binance/spot/ADA_BTC/1m/2024-01.parquet"), "{:?}", moved[0]);
    assert_eq!(std::fs::read(dir.path().join(&moved[0].to)).unwrap(), ada_bytes);
    assert!(!ada.exists());
    assert_eq!(store.quarantine_corrupt(&key("DASH/BTC", "1m")).unwrap().len(), 1);
    assert!(store.quarantine_corrupt(&key("ETH/BTC", "1m")).unwrap().is_empty());
    assert_eq!(crate::snapshot(&dir.path().join("binance/spot/ETH_BTC")), before_eth);

    let list = store.list().unwrap();
    assert_eq!(list.len(), 4, "the quarantine folder is not a series");
    assert!(list.iter().all(|s| s.corrupt.is_empty()));
    let ada_now = store.read(&key("ADA/BTC", "1m"), TimeRange::all(), Columns::ALL).unwrap();
    assert_eq!(ada_now, two_months(0).slice(31 * 1440..60 * 1440));
    let r = store.validate(&key("DASH/BTC", "1m")).unwrap();
    assert!(r.corrupt.is_empty() && r.ohlc_issues == 0);
    // And the emptied month takes new candles again.
    store.append(&key("ADA/BTC", "1m"), &two_months(0).slice(0..1440)).unwrap();
    assert_eq!(store.read(&key("ADA/BTC", "1m"), TimeRange::all(), Columns::ALL).unwrap().len(), 30 * 1440);
}

#[test]
fn quarantine_on_an_object_store_copies_then_deletes() {
    use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
    let mem: std::sync::Arc<dyn ObjectStore> = std::sync::Arc::new(object_store::memory::InMemory::new());
    let store =
        tradai_store::BlockingCandleStore::new(tradai_store::CandleStore::from_object_store(mem.clone(), "data", Default::default()))
            .unwrap();
    let k = key("ETH/BTC", "1m");
    store.append(&k, &two_months(1)).unwrap();
    let jan = object_store::path::Path::from("data/binance/spot/ETH_BTC/1m/2024-01.parquet");
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(mem.put(&jan, PutPayload::from(b"PAR1 not parquet at all PAR1".to_vec()))).unwrap();

    assert_eq!(store.list().unwrap()[0].corrupt.len(), 1);
    let moved = store.quarantine_corrupt(&k).unwrap();
    assert_eq!(moved.len(), 1);
    assert!(moved[0].to.starts_with(&format!("data/{QUARANTINE_DIR}/")), "{:?}", moved[0]);
    let kept = rt.block_on(async { mem.get(&object_store::path::Path::from(moved[0].to.as_str())).await.unwrap().bytes().await.unwrap() });
    assert_eq!(&kept[..], b"PAR1 not parquet at all PAR1");
    assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).unwrap(), two_months(1).slice(31 * 1440..60 * 1440));
    assert!(store.list().unwrap()[0].corrupt.is_empty());
}
