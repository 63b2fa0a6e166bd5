//! Store operations: merge semantics, range reads, projection, listing, deletion, metadata,
//! synthetic data, freshness and locations.

use tradai_core::{CandleRow, Candles, Instrument, LeverageTier, TimeRange, Timeframe};
use tradai_store::{freshness, synth, CandleStore, Columns, ErrorKind, StoreError, SynthSpec};

use crate::{binance, key, snapshot, temp_store};

const H1: i64 = 3_600_000;
/// 2024-01-31 22:00 UTC: hourly candles from here cross into February.
const JAN31_22H: i64 = 1_706_738_400_000;

fn hourly(start: i64, n: i64, value: f64) -> Candles {
    let mut c = Candles::default();
    for i in 0..n {
        let v = value + i as f64;
        c.push(CandleRow { ts: start + i * H1, open: v, high: v + 1.0, low: v - 1.0, close: v + 0.5, volume: 10.0 + i as f64 });
    }
    c
}

#[test]
fn append_merges_sorted_deduplicated_last_write_wins() {
    let (_dir, store) = temp_store();
    let k = key("BTC/USDT", "1h");
    store.append(&k, &hourly(JAN31_22H, 4, 100.0)).unwrap(); // 22h, 23h, 00h, 01h
                                                             // Overlaps the last two and adds two more; given out of order with an internal duplicate.
    let mut new = hourly(JAN31_22H + 2 * H1, 4, 500.0);
    new.push(CandleRow { ts: JAN31_22H + 2 * H1, open: 9.0, high: 9.0, low: 9.0, close: 9.0, volume: 9.0 });
    let report = store.append(&k, &new).unwrap();
    assert_eq!(report.rows, 4);
    assert_eq!(report.partitions, 1, "only February is touched");
    let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    assert_eq!(c.ts, (0..6).map(|i| JAN31_22H + i * H1).collect::<Vec<_>>());
    // January untouched, the in-input duplicate's later row won, new values elsewhere.
    assert_eq!(c.close, vec![100.5, 101.5, 9.0, 501.5, 502.5, 503.5]);
    let v = store.validate(&k).unwrap();
    assert!(v.is_clean(), "{v:?}");
}

#[test]
fn append_touches_only_affected_partitions() {
    let (dir, store) = temp_store();
    let k = key("BTC/USDT", "1h");
    store.append(&k, &hourly(JAN31_22H - 40 * 24 * H1, 24 * 60, 1.0)).unwrap();
    let before = snapshot(dir.path());
    assert_eq!(before.len(), 3, "{:?}", before.keys().collect::<Vec<_>>());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let last = store.read(&k, TimeRange::all(), Columns::NONE).unwrap().ts.last().copied().unwrap();
    store.append(&k, &hourly(last + H1, 24, 7.0)).unwrap();
    let after = snapshot(dir.path());
    let changed: Vec<_> = after.iter().filter(|(p, b)| before.get(*p) != Some(*b)).map(|(p, _)| p.clone()).collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].ends_with("binance/spot/BTC_USDT/1h/2024-02.parquet"), "{changed:?}");
}

#[test]
fn range_reads_are_half_open_across_partitions_and_project_columns() {
    let (_dir, store) = temp_store();
    let k = key("ETH/USDT", "1h");
    let all = hourly(JAN31_22H, 10, 1.0);
    store.append(&k, &all).unwrap();
    let r = TimeRange { start_ms: Some(JAN31_22H + H1), end_ms: Some(JAN31_22H + 4 * H1) };
    let c = store.read(&k, r, Columns::ALL).unwrap();
    assert_eq!(c, all.slice(1..4));
    let c = store.read(&k, r, Columns::CLOSE | Columns::VOLUME).unwrap();
    assert_eq!(c.ts, all.ts[1..4]);
    assert_eq!(c.close, all.close[1..4]);
    assert_eq!(c.volume, all.volume[1..4]);
    assert!(c.open.is_empty() && c.high.is_empty() && c.low.is_empty());
    let c = store.read(&k, TimeRange { start_ms: Some(JAN31_22H + 8 * H1), end_ms: None }, Columns::NONE).unwrap();
    assert_eq!(c.ts, all.ts[8..]);
    // An empty window of an existing series is empty, not an error.
    let c = store.read(&k, TimeRange { start_ms: Some(0), end_ms: Some(1) }, Columns::ALL).unwrap();
    assert!(c.is_empty());
    let e = store.read(&key("NOPE/USDT", "1h"), TimeRange::all(), Columns::ALL).unwrap_err();
    assert!(matches!(e, StoreError::SeriesNotFound { .. }), "{e:?}");
    assert_eq!(e.kind(), ErrorKind::BadInput);
    assert_eq!(e.to_string(), "no candles stored for binance spot NOPE/USDT 1h");
}

#[test]
fn daily_series_are_partitioned_by_year() {
    let (dir, store) = temp_store();
    let k = key("BTC/USDT", "1d");
    let mut c = Candles::default();
    for i in 0..800 {
        c.push(CandleRow { ts: 1_672_531_200_000 + i * 86_400_000, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 1.0 });
    }
    store.append(&k, &c).unwrap();
    let files: Vec<String> = snapshot(dir.path()).keys().map(|p| p.display().to_string()).collect();
    assert_eq!(
        files,
        ["binance/spot/BTC_USDT/1d/2023.parquet", "binance/spot/BTC_USDT/1d/2024.parquet", "binance/spot/BTC_USDT/1d/2025.parquet"]
    );
    assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).unwrap(), c);
}

#[test]
fn list_reports_first_last_rows_and_update_time() {
    let (_dir, store) = temp_store();
    assert!(store.list().unwrap().is_empty());
    store.append(&key("ETH/USDT", "1h"), &hourly(JAN31_22H, 10, 1.0)).unwrap();
    store.append(&key("XRP/USDT:USDT", "1h"), &hourly(JAN31_22H + H1, 3, 1.0)).unwrap();
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let eth = &list[0];
    assert_eq!(eth.key, key("ETH/USDT", "1h"));
    assert_eq!((eth.first_ts, eth.last_ts, eth.rows, eth.partitions), (JAN31_22H, JAN31_22H + 9 * H1, 10, 2));
    assert!(eth.bytes > 0);
    let now = chrono::Utc::now().timestamp_millis();
    assert!(eth.updated_ms > now - 600_000 && eth.updated_ms <= now + 1_000, "{}", eth.updated_ms);
    assert_eq!(list[1].key.market_type(), tradai_core::MarketType::Futures);
    assert_eq!(store.series_info(&key("ETH/USDT", "1h")).unwrap().as_ref(), Some(eth));
    assert_eq!(store.series_info(&key("ETH/USDT", "4h")).unwrap(), None);

    let f = freshness(&list, JAN31_22H + 12 * H1, 2 * H1);
    assert_eq!(f[0].age_ms, 2 * H1);
    assert!(!f[0].stale);
    assert!(f[1].stale);
}

#[test]
fn delete_removes_a_series_and_keeps_the_rest() {
    let (dir, store) = temp_store();
    let eth = key("ETH/USDT", "1h");
    let eth4 = key("ETH/USDT", "4h");
    let btc = key("BTC/USDT", "1h");
    for k in [&eth, &eth4, &btc] {
        store.append(k, &hourly(JAN31_22H, 10, 1.0)).unwrap();
    }
    store.put_instrument(&binance(), &Instrument::unknown("ETH/USDT".parse().unwrap())).unwrap();
    assert_eq!(store.delete(&eth).unwrap(), 2);
    assert!(matches!(store.read(&eth, TimeRange::all(), Columns::ALL), Err(StoreError::SeriesNotFound { .. })));
    assert_eq!(store.list().unwrap().len(), 2);
    assert!(store.instrument(&binance(), &"ETH/USDT".parse().unwrap()).unwrap().is_some());
    assert_eq!(store.delete_pair(&binance(), &"ETH/USDT".parse().unwrap()).unwrap(), 3);
    assert!(store.instrument(&binance(), &"ETH/USDT".parse().unwrap()).unwrap().is_none());
    assert_eq!(store.list().unwrap().iter().map(|s| s.key.clone()).collect::<Vec<_>>(), vec![btc.clone()]);
    assert_eq!(store.read(&btc, TimeRange::all(), Columns::ALL).unwrap().len(), 10);
    assert!(!dir.path().join("binance/spot/ETH_USDT").exists(), "empty folders are cleaned up");
    assert_eq!(store.delete(&eth).unwrap(), 0);
}

#[test]
fn instrument_metadata_round_trips() {
    let (_dir, store) = temp_store();
    let i = Instrument {
        pair: "XRP/USDT:USDT".parse().unwrap(),
        price_tick: Some(0.0001),
        amount_step: Some(0.1),
        min_amount: Some(0.1),
        min_notional: Some(5.0),
        contract_size: Some(1.0),
        max_amount: Some(1_000_000.0),
        max_notional: None,
        leverage_tiers: vec![
            LeverageTier { min_notional: 0.0, max_notional: Some(40_000.0), max_leverage: 100.0 },
            LeverageTier { min_notional: 40_000.0, max_notional: None, max_leverage: 75.0 },
        ],
    };
    store.put_instrument(&binance(), &i).unwrap();
    assert_eq!(store.instrument(&binance(), &i.pair).unwrap(), Some(i.clone()));
    assert_eq!(store.instruments(None).unwrap(), vec![(binance(), i)]);
}

#[test]
fn synthetic_year_round_trips_within_the_size_budget() {
    let (_dir, store) = temp_store();
    let spec = SynthSpec::new(vec!["SYN/USDT".parse().unwrap()], Timeframe::M1, 60, 3);
    let data = synth(&spec);
    let k = key("SYN/USDT", "1m");
    store.append(&k, &data[0].1).unwrap();
    let back = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    crate::assert_bit_identical(&back, &data[0].1, "synth");
    let info = store.series_info(&k).unwrap().unwrap();
    let per_candle = info.bytes as f64 / info.rows as f64;
    assert!(per_candle <= 25.0, "{per_candle:.2} bytes per candle");
}

#[test]
fn in_memory_store_uses_the_same_code_path() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let store = CandleStore::in_memory();
    let k = key("ETH/USDT", "1h");
    rt.block_on(async {
        store.append(&k, &hourly(JAN31_22H, 5, 1.0)).await.unwrap();
        assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).await.unwrap(), hourly(JAN31_22H, 5, 1.0));
        assert_eq!(store.list().await.unwrap()[0].rows, 5);
    });
}

#[test]
fn locations() {
    let e = CandleStore::open("s3://bucket/prefix").err();
    if cfg!(feature = "s3") {
        assert!(e.is_none());
    } else {
        let e = e.unwrap();
        assert!(e.to_string().contains("s3://bucket/prefix") && e.to_string().contains("`s3` feature"), "{e}");
    }
    assert!(CandleStore::open("gs://bucket").is_err());
    assert!(CandleStore::open("").is_err());
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/nested/store", dir.path().display());
    let s = CandleStore::open(&url).unwrap();
    assert!(dir.path().join("nested/store").is_dir());
    assert!(s.location().ends_with("nested/store"));
}

#[test]
fn mismatched_columns_are_rejected() {
    let (dir, store) = temp_store();
    let mut c = hourly(JAN31_22H, 3, 1.0);
    c.volume.pop();
    let e = store.append(&key("ETH/USDT", "1h"), &c).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadInput);
    assert!(snapshot(dir.path()).is_empty());
}
