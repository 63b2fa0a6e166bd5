//! Crash safety: stray staging files, a write that stops between partitions, a corrupt
//! partition, and a writer process killed with SIGKILL mid-append.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Datelike};
use tradai_core::{CandleRow, Candles, TimeRange};
use tradai_store::{BlockingCandleStore, CandleStore, Columns, ErrorKind, StoreError, StoreOptions, WriteTuning};

use crate::hooked::{OnPut, PutHooked};
use crate::{key, temp_store};

const M1: i64 = 60_000;
/// 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200_000;
/// Rows of the crash tests' series: 1m candles over January to March 2024.
const ROWS: i64 = (31 + 29 + 31) * 1440;

/// Version `v` of the test series: every close encodes the version, so a reader can tell
/// which write each partition came from.
fn version(v: u32) -> Candles {
    let mut c = Candles::with_capacity(ROWS as usize);
    for i in 0..ROWS {
        let x = f64::from(v) * 1e6 + i as f64;
        c.push(CandleRow { ts: START + i * M1, open: x, high: x, low: x, close: x, volume: 1.0 });
    }
    c
}

/// The version each month of a read-back series carries, oldest month first; panics if a
/// month mixes versions (a torn partition).
fn month_versions(c: &Candles) -> Vec<u32> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for (ts, close) in c.ts.iter().zip(&c.close) {
        let month = DateTime::from_timestamp_millis(*ts).unwrap().month();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let v = (close / 1e6).floor() as u32;
        match out.last() {
            Some(&(m, pv)) if m == month => assert_eq!(pv, v, "month {month} mixes versions {pv} and {v}"),
            _ => out.push((month, v)),
        }
    }
    out.into_iter().map(|(_, v)| v).collect()
}

#[test]
fn stray_staging_files_are_invisible_and_removable() {
    let (dir, store) = temp_store();
    let k = key("ETH/USDT", "1m");
    let v0 = version(0);
    store.append(&k, &v0).unwrap();
    let series_dir = dir.path().join("binance/spot/ETH_USDT/1m");
    // What a writer killed between creating its staging file and renaming it leaves behind.
    std::fs::write(series_dir.join("2024-01.parquet#1"), b"half a parq").unwrap();
    std::fs::write(series_dir.join("2024-04.parquet#3"), b"").unwrap();
    assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).unwrap(), v0);
    assert_eq!(store.list().unwrap()[0].partitions, 3);
    // Writing past a stale staging name works (the writer picks the next free suffix).
    let v1 = version(1);
    store.append(&k, &v1.slice(0..10)).unwrap();
    let back = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    assert_eq!(back.close[..10], v1.close[..10]);
    assert_eq!(back.close[10..], v0.close[10..]);
    assert_eq!(store.remove_temp_files().unwrap(), 2);
    assert!(!series_dir.join("2024-01.parquet#1").exists());
    assert!(series_dir.join("2024-01.parquet").exists());
}

/// A put hook that fails after a number of successful puts, as if the process had died right
/// after writing those files.
#[derive(Debug)]
struct FailAfter {
    puts_left: AtomicUsize,
}

#[async_trait::async_trait]
impl OnPut for FailAfter {
    async fn before(&self) -> object_store::Result<()> {
        if self.puts_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_err() {
            return Err(object_store::Error::Generic { store: "failing", source: "simulated crash".into() });
        }
        Ok(())
    }
}

#[test]
fn a_write_stopped_between_partitions_leaves_each_partition_old_or_new() {
    let (dir, store) = temp_store();
    let k = key("ETH/USDT", "1m");
    store.append(&k, &version(0)).unwrap();

    let failing = PutHooked {
        inner: Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap()),
        hook: FailAfter { puts_left: AtomicUsize::new(1) },
    };
    let crashing = BlockingCandleStore::new(
        CandleStore::from_object_store(Arc::new(failing), "", WriteTuning::default()).with_local_dir(dir.path().to_owned()),
    )
    .unwrap();
    let err = crashing.append(&k, &version(1)).unwrap_err();
    assert!(matches!(err, StoreError::ObjectStore { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("2024-02.parquet"), "{err}");

    // January was replaced, February and March are intact, and the series reads whole.
    let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    assert_eq!(c.len(), ROWS as usize);
    assert_eq!(month_versions(&c), vec![1, 0, 0]);
    assert_eq!(store.list().unwrap()[0].rows, ROWS as u64);
    // Re-running the append converges.
    store.append(&k, &version(1)).unwrap();
    assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).unwrap(), version(1));
}

#[test]
fn a_corrupt_partition_is_reported_by_path_and_blocks_no_other_series() {
    let (dir, store) = temp_store();
    let k = key("ETH/USDT", "1m");
    let other = key("BTC/USDT", "1m");
    store.append(&k, &version(0)).unwrap();
    store.append(&other, &version(0).slice(0..100)).unwrap();
    let feb = dir.path().join("binance/spot/ETH_USDT/1m/2024-02.parquet");
    let bytes = std::fs::read(&feb).unwrap();
    std::fs::write(&feb, &bytes[..bytes.len() - 100]).unwrap();

    let e = store.read(&k, TimeRange::all(), Columns::ALL).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e:?}");
    assert!(e.to_string().contains("ETH_USDT/1m/2024-02.parquet"), "{e}");
    // The other months still read, and an append that would need the corrupt month refuses
    // without touching anything.
    let jan = TimeRange { start_ms: Some(START), end_ms: Some(START + 31 * 1440 * M1) };
    assert_eq!(store.read(&k, jan, Columns::ALL).unwrap().len(), 31 * 1440);
    let before = crate::snapshot(dir.path());
    assert_eq!(store.append(&k, &version(1)).unwrap_err().kind(), ErrorKind::Corrupt);
    assert_eq!(crate::snapshot(dir.path()), before);
    // The listing reports the damaged file in its series and carries on with the rest.
    let list = store.list().unwrap();
    assert_eq!(list.len(), 2);
    let eth = list.iter().find(|s| s.key == k).unwrap();
    assert_eq!(eth.corrupt.len(), 1);
    assert!(eth.corrupt[0].path.ends_with("ETH_USDT/1m/2024-02.parquet"), "{:?}", eth.corrupt);
    assert!(list.iter().find(|s| s.key == other).unwrap().corrupt.is_empty());
    assert_eq!(store.read(&other, TimeRange::all(), Columns::ALL).unwrap().len(), 100);
    // Deleting the series recovers the store.
    store.delete(&k).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
}

const CRASH_DIR_ENV: &str = "TRADAI_STORE_CRASH_TEST_DIR";

/// The writer the kill test runs in a child process: rewrites the whole series with
/// increasing versions until it is killed. A no-op in a normal test run.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CRASH_DIR_ENV) else { return };
    let store = BlockingCandleStore::open_with(&dir, StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
    let k = key("ETH/USDT", "1m");
    let versions: Vec<Candles> = (1..=4).map(version).collect();
    println!("ready");
    for v in versions.iter().cycle() {
        store.append(&k, v).unwrap();
    }
}

#[test]
fn a_writer_killed_mid_append_leaves_a_readable_store() {
    let (dir, store) = temp_store();
    let k = key("ETH/USDT", "1m");
    store.append(&k, &version(0)).unwrap();
    let exe = std::env::current_exe().unwrap();
    for delay_ms in [150u64, 420, 777] {
        let mut child = std::process::Command::new(&exe)
            .args(["crash::crash_writer_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR_ENV, dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SIGKILL on Unix: no destructor, no flush, no cleanup.
        child.kill().unwrap();
        child.wait().unwrap();

        let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
        assert_eq!(c.len(), ROWS as usize, "after kill at {delay_ms} ms");
        let v = month_versions(&c);
        // Oldest month first: the months of the interrupted write are a prefix.
        assert!(v.windows(2).all(|w| w[0] == w[1] || w[0] == w[1] % 4 + 1), "{v:?}");
        assert!(store.list().unwrap()[0].rows == ROWS as u64);
        assert!(store.validate(&k).unwrap().is_clean());
    }
    store.remove_temp_files().unwrap();
    assert_eq!(store.read(&k, TimeRange::all(), Columns::ALL).unwrap().len(), ROWS as usize);
}
