//! Import of the shared Freqtrade data (round trip, known gaps, markets) and of JSON / CSV,
//! and rejection of bad inputs with the store left unchanged.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Float64Array, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use tradai_core::{Candles, TimeRange};
use tradai_store::{scan_freqtrade_dir, Columns, ErrorKind, FreqtradeImport, ImportEvent, SourceFormat, StoreError};

use crate::{assert_bit_identical, binance, freqtrade_dir, key, read_feather_reference, snapshot, temp_store};

fn opts(markets: Option<PathBuf>) -> FreqtradeImport {
    FreqtradeImport { exchange: binance(), markets }
}

fn all_feathers(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(all_feathers(&p));
        } else if p.extension().is_some_and(|x| x == "feather") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_shared_freqtrade_file_round_trips_bit_identical() {
    let (_dir, store) = temp_store();
    let mut events = Vec::new();
    let mut progress = |e: ImportEvent<'_>| {
        events.push(match e {
            ImportEvent::Scanned { .. } => 's',
            ImportEvent::Checked { .. } => 'c',
            ImportEvent::Written { .. } => 'w',
        });
    };
    let report = store.import_freqtrade(&freqtrade_dir(), &opts(None), &mut progress).unwrap();
    let feathers = all_feathers(&freqtrade_dir());
    assert_eq!(feathers.len(), 14);
    assert_eq!(report.files.len(), feathers.len(), "skipped: {:?}", report.skipped);
    assert!(report.skipped.is_empty());
    // Every file is checked before the first is written.
    let n = feathers.len();
    assert_eq!(events, [vec!['s'], vec!['c'; n], vec!['w'; n]].concat());

    for f in &report.files {
        let reference = read_feather_reference(&f.path);
        assert_eq!(f.rows, reference.len(), "{}", f.path.display());
        let stored = store.read(&f.key, TimeRange::all(), Columns::ALL).unwrap();
        assert_eq!(stored.len(), reference.len(), "{}", f.key);
        assert_bit_identical(&stored, &reference, &f.key.to_string());
    }
    let fut = report.files.iter().find(|f| f.path.ends_with("futures/XRP_USDT_USDT-5m-futures.feather")).unwrap();
    assert_eq!(fut.key, key("XRP/USDT:USDT", "5m"));
    let expected_rows = [
        ("ADA/BTC", "5m", 5720),
        ("ETH/BTC", "5m", 5760),
        ("UNITTEST/BTC", "1m", 13681),
        ("UNITTEST/BTC", "30m", 1920),
        ("XRP/ETH", "5m", 706),
        ("XRP/USDT:USDT", "5m", 1999),
    ];
    let list = store.list().unwrap();
    assert_eq!(list.len(), 14);
    for (p, tf, rows) in expected_rows {
        let info = list.iter().find(|s| s.key == key(p, tf)).unwrap();
        assert_eq!(info.rows, rows, "{p} {tf}");
    }
}

#[test]
fn validate_finds_the_known_gaps_of_the_shared_data() {
    let (_dir, store) = temp_store();
    store.import_freqtrade(&freqtrade_dir(), &opts(None), &mut |_| {}).unwrap();
    let expected = [("ADA/BTC", 40), ("TRX/BTC", 6), ("DASH/BTC", 2), ("XMR/BTC", 2), ("ZEC/BTC", 2)];
    for (pair, missing) in expected {
        let r = store.validate(&key(pair, "5m")).unwrap();
        assert_eq!(r.missing, missing, "{pair}: {:?}", r.gaps);
        assert_eq!(r.gaps.iter().map(|g| g.missing).sum::<u64>(), missing);
        assert_eq!((r.duplicates, r.out_of_order, r.off_grid), (0, 0, 0), "{pair}");
    }
    for pair in ["ETH/BTC", "LTC/BTC", "NXT/BTC", "XLM/BTC", "ETC/BTC"] {
        assert_eq!(store.validate(&key(pair, "5m")).unwrap().missing, 0, "{pair}");
    }
    // The same numbers straight from the source files, before any import.
    let ada = tradai_store::read_candle_file(&freqtrade_dir().join("ADA_BTC-5m.feather"), SourceFormat::Feather).unwrap();
    assert_eq!(tradai_store::validate_candles(&ada, tradai_core::Timeframe::M5).missing, 40);
}

#[test]
fn markets_file_becomes_instrument_metadata() {
    let (_dir, store) = temp_store();
    // The conformance results carry the markets under meta.markets; the importer accepts them.
    let markets = freqtrade_dir().join("../conformance/expected/EmaCross-mot3.json");
    let report = store.import_freqtrade(&freqtrade_dir(), &opts(Some(markets)), &mut |_| {}).unwrap();
    assert_eq!(report.instruments.len(), 10);
    let ada = store.instrument(&binance(), &"ADA/BTC".parse().unwrap()).unwrap().unwrap();
    assert_eq!(ada.amount_step, Some(1.0));
    assert_eq!(ada.min_amount, Some(1.0));
    assert_eq!(ada.min_notional, Some(1e-8));
    assert_eq!(ada.price_tick, None);
    let dash = store.instrument(&binance(), &"DASH/BTC".parse().unwrap()).unwrap().unwrap();
    assert_eq!(dash.amount_step, Some(0.001));
    assert_eq!(store.instruments(Some(&binance())).unwrap().len(), 10);
    assert!(store.instrument(&binance(), &"XRP/ETH".parse().unwrap()).unwrap().is_none());

    // A bare markets map with a price precision works too.
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("markets.json");
    std::fs::write(&m, r#"{"XRP/USDT:USDT": {"amount_step": 0.1, "precision": {"price": 0.0001}, "limits": {"amount": {"min": 0.1}, "cost": {"min": 5}}, "contractSize": 1}}"#).unwrap();
    let got = tradai_store::read_markets(&m).unwrap();
    assert_eq!(got[0].price_tick, Some(0.0001));
    assert_eq!(got[0].min_notional, Some(5.0));
    assert_eq!(got[0].contract_size, Some(1.0));
    assert_eq!((got[0].max_amount, got[0].max_notional), (None, None));
    assert!(got[0].leverage_tiers.is_empty());

    // Maximums and leverage tiers (CCXT keys), as Freqtrade uses them for futures.
    std::fs::write(
        &m,
        r#"{"XRP/USDT:USDT": {"limits": {"amount": {"min": 0.1, "max": 1000000}, "cost": {"min": 5, "max": 2e7}},
            "leverage_tiers": [{"minNotional": 0, "maxNotional": 40000, "maxLeverage": 100, "maintenanceMarginRate": 0.005},
                               {"minNotional": 40000, "maxNotional": null, "maxLeverage": 75}]}}"#,
    )
    .unwrap();
    let got = tradai_store::read_markets(&m).unwrap();
    assert_eq!((got[0].max_amount, got[0].max_notional), (Some(1e6), Some(2e7)));
    assert_eq!(
        got[0].leverage_tiers,
        vec![
            tradai_core::LeverageTier { min_notional: 0.0, max_notional: Some(40_000.0), max_leverage: 100.0 },
            tradai_core::LeverageTier { min_notional: 40_000.0, max_notional: None, max_leverage: 75.0 },
        ]
    );
    std::fs::write(&m, r#"{"XRP/USDT:USDT": {"leverage_tiers": [{"maxNotional": 1}]}}"#).unwrap();
    let e = tradai_store::read_markets(&m).unwrap_err().to_string();
    assert!(e.contains("XRP/USDT:USDT") && e.contains("leverage tier"), "{e}");
}

fn write_json_rows(path: &Path, c: &Candles, gz: bool) {
    let rows: Vec<[serde_json::Value; 6]> = (0..c.len())
        .map(|i| {
            let r = c.row(i);
            [r.ts.into(), r.open.into(), r.high.into(), r.low.into(), r.close.into(), r.volume.into()]
        })
        .collect();
    let text = serde_json::to_vec(&rows).unwrap();
    if gz {
        let mut enc = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::default());
        enc.write_all(&text).unwrap();
        enc.finish().unwrap();
    } else {
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn json_and_json_gz_import_like_feather() {
    let src = tempfile::tempdir().unwrap();
    let eth = read_feather_reference(&freqtrade_dir().join("ETH_BTC-5m.feather"));
    let ltc = read_feather_reference(&freqtrade_dir().join("LTC_BTC-5m.feather"));
    write_json_rows(&src.path().join("ETH_BTC-5m.json"), &eth, false);
    std::fs::create_dir(src.path().join("futures")).unwrap();
    write_json_rows(&src.path().join("futures/LTC_BTC_BTC-5m-futures.json.gz"), &ltc, true);
    std::fs::write(src.path().join("ETH_BTC-trades.json"), "[]").unwrap();

    let (_dir, store) = temp_store();
    let report = store.import_freqtrade(src.path(), &opts(None), &mut |_| {}).unwrap();
    assert_eq!(report.files.len(), 2);
    assert_eq!(report.skipped.len(), 1);
    assert_bit_identical(&store.read(&key("ETH/BTC", "5m"), TimeRange::all(), Columns::ALL).unwrap(), &eth, "json");
    assert_bit_identical(&store.read(&key("LTC/BTC:BTC", "5m"), TimeRange::all(), Columns::ALL).unwrap(), &ltc, "json.gz");
}

#[test]
fn csv_import_with_ms_and_iso_timestamps() {
    let src = tempfile::tempdir().unwrap();
    let ms = src.path().join("ms.csv");
    std::fs::write(&ms, "timestamp,open,high,low,close,volume\n1515553500000,1.5,2,1,1.75,10\n1515553200000,1,2,0.5,1.5,3\n").unwrap();
    let iso = src.path().join("iso.csv");
    std::fs::write(
        &iso,
        "Date,Open,High,Low,Close,Volume\n2018-01-10 03:10:00+00:00,1.75,2,1.5,1.8,4\n2018-01-10T03:15:00Z,1.8,1.9,1.7,1.7,5\n",
    )
    .unwrap();
    let (_dir, store) = temp_store();
    let k = key("ABC/USDT", "5m");
    let r = store.import_file(&ms, &k, &mut |_| {}).unwrap();
    assert_eq!(r.rows(), 2);
    store.import_file(&iso, &k, &mut |_| {}).unwrap();
    let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    assert_eq!(c.ts, vec![1_515_553_200_000, 1_515_553_500_000, 1_515_553_800_000, 1_515_554_100_000]);
    assert_eq!(c.close, vec![1.5, 1.75, 1.8, 1.7]);
    assert!(store.validate(&k).unwrap().is_clean());
}

/// A feather file with Freqtrade's columns except `volume`.
fn feather_without_volume(path: &Path) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("date", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("open", DataType::Float64, false),
        Field::new("high", DataType::Float64, false),
        Field::new("low", DataType::Float64, false),
        Field::new("close", DataType::Float64, false),
    ]));
    let f = || Arc::new(Float64Array::from(vec![1.0, 1.0])) as _;
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(TimestampNanosecondArray::from(vec![0, 300_000_000_000]).with_timezone("UTC")), f(), f(), f(), f()],
    )
    .unwrap();
    let mut w = arrow_ipc::writer::FileWriter::try_new(std::fs::File::create(path).unwrap(), &schema).unwrap();
    w.write(&batch).unwrap();
    w.finish().unwrap();
}

/// Each bad source makes the whole import fail with an error naming the file, before anything
/// is written: the store directory is byte-for-byte unchanged.
#[test]
fn bad_inputs_are_rejected_and_leave_the_store_unchanged() {
    let good = freqtrade_dir().join("ETH_BTC-5m.feather");
    let full = std::fs::read(&good).unwrap();
    type Maker = Box<dyn Fn(&Path) -> PathBuf>;
    let cases: Vec<(&str, Maker)> = vec![
        (
            "truncated feather",
            Box::new(move |d: &Path| {
                let p = d.join("LTC_BTC-5m.feather");
                std::fs::write(&p, &full[..full.len() / 2]).unwrap();
                p
            }),
        ),
        (
            "garbage feather",
            Box::new(|d: &Path| {
                let p = d.join("LTC_BTC-5m.feather");
                std::fs::write(&p, b"ARROW1 but not really").unwrap();
                p
            }),
        ),
        (
            "missing column",
            Box::new(|d: &Path| {
                let p = d.join("LTC_BTC-5m.feather");
                feather_without_volume(&p);
                p
            }),
        ),
        (
            "bad json",
            Box::new(|d: &Path| {
                let p = d.join("LTC_BTC-5m.json");
                std::fs::write(&p, "[[1515553500000, 1, 2, 0.5, 1.5, 3], [1515553800000, 1, 2").unwrap();
                p
            }),
        ),
        (
            "truncated json.gz",
            Box::new(|d: &Path| {
                let p = d.join("LTC_BTC-5m.json.gz");
                let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                enc.write_all(b"[[1515553500000, 1, 2, 0.5, 1.5, 3]]").unwrap();
                let gz = enc.finish().unwrap();
                std::fs::write(&p, &gz[..gz.len() - 6]).unwrap();
                p
            }),
        ),
        (
            "truncated parquet",
            Box::new(|d: &Path| {
                let p = d.join("LTC_BTC-5m.parquet");
                std::fs::write(&p, b"PAR1\x00\x00\x00").unwrap();
                p
            }),
        ),
    ];
    for (what, make) in cases {
        let src = tempfile::tempdir().unwrap();
        // The good file sorts first, so a writer that did not check everything first would
        // already have written it when it meets the bad one.
        std::fs::copy(&good, src.path().join("AAA_BTC-5m.feather")).unwrap();
        let bad = make(src.path());

        let (dir, store) = temp_store();
        store.append(&key("ZZZ/BTC", "5m"), &read_feather_reference(&good)).unwrap();
        let before = snapshot(dir.path());
        let err = store.import_freqtrade(src.path(), &opts(None), &mut |_| {}).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadInput, "{what}: {err:?}");
        let name = bad.file_name().unwrap().to_str().unwrap();
        assert!(err.to_string().contains(name), "{what}: '{err}' does not name {name}");
        assert_eq!(snapshot(dir.path()), before, "{what}: store changed");
    }
}

#[test]
fn unreadable_inputs_name_the_path() {
    let (dir, store) = temp_store();
    let before = snapshot(dir.path());
    let missing = Path::new("/nonexistent/tradai/data");
    let err = store.import_freqtrade(missing, &opts(None), &mut |_| {}).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/tradai/data"), "{err}");
    assert!(scan_freqtrade_dir(missing).is_err());

    let src = tempfile::tempdir().unwrap();
    let csv = src.path().join("bad.csv");
    std::fs::write(&csv, "date,open,high,low,close,volume\n2018-01-10,1,2,0.5,1.5,3\n2018-01-11,1,two,0.5,1.5,3\n").unwrap();
    let err = store.import_file(&csv, &key("ABC/USDT", "1d"), &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("bad.csv") && msg.contains("line 3") && msg.contains("'two'"), "{msg}");
    let csv2 = src.path().join("nocol.csv");
    std::fs::write(&csv2, "date,open,high,low,close\n2018-01-10,1,2,0.5,1.5\n").unwrap();
    let err = store.import_file(&csv2, &key("ABC/USDT", "1d"), &mut |_| {}).unwrap_err();
    assert!(matches!(&err, StoreError::MissingColumn { column, .. } if column == "volume"), "{err:?}");

    let markets = src.path().join("markets.json");
    std::fs::write(&markets, r#"{"ADABTC": {"amount_step": 1}}"#).unwrap();
    let err = store.import_freqtrade(&freqtrade_dir(), &opts(Some(markets)), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("ADABTC"), "{err}");
    assert_eq!(snapshot(dir.path()), before);
}
