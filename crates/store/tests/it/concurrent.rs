//! Concurrent writers of one series: threads and processes on a local store (the series lock),
//! tasks on an object store (conditional puts, retried). Every candle written must be present
//! exactly once, whatever the interleaving.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use object_store::memory::InMemory;
use object_store::{ObjectStore, PutMode, PutResult};
use tradai_core::{CandleRow, Candles, TimeRange};
use tradai_store::{BlockingCandleStore, CandleStore, Columns, SeriesKey, StoreOptions, WriteTuning};

use crate::hooked::{OnPut, PutHooked};
use crate::key;

const H1: i64 = 3_600_000;
/// 2024-01-01 00:00 UTC.
const START: i64 = 1_704_067_200_000;
/// Each writer writes `SPAN` hourly candles starting `STEP` hours after the previous writer's,
/// so neighbours overlap by half and the whole run crosses three month files.
const STEP: i64 = 250;
const SPAN: i64 = 500;
/// Candles per append: each writer appends ten times, so writers interleave many times.
const BATCH: i64 = 50;
/// A writer with this index writes far after the others: a disjoint range, other months.
const DISJOINT: i64 = 40;

/// Writer `w`'s candles: hours `[w * STEP, w * STEP + SPAN)`, each close encoding the writer and
/// the hour so a reader can check where every row came from.
fn writer_rows(w: i64) -> Candles {
    let mut c = Candles::default();
    for j in 0..SPAN {
        let hour = w * STEP + j;
        #[allow(clippy::cast_precision_loss)]
        let x = (w * 1_000_000 + hour) as f64;
        c.push(CandleRow { ts: START + hour * H1, open: x, high: x, low: x, close: x, volume: 1.0 });
    }
    c
}

/// Appends writer `w`'s candles in batches, as an import or a live feed would.
fn write_all(store: &BlockingCandleStore, k: &SeriesKey, w: i64) {
    let rows = writer_rows(w);
    #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
    for b in 0..(SPAN / BATCH) as usize {
        let batch = BATCH as usize;
        store.append(k, &rows.slice(b * batch..(b + 1) * batch)).unwrap();
    }
}

/// Asserts that the series holds exactly the union of the writers' hours, once each, and that
/// every row's values come from a writer that wrote that hour.
fn assert_every_row_once(c: &Candles, writers: &[i64]) {
    let expected: BTreeSet<i64> = writers.iter().flat_map(|&w| (0..SPAN).map(move |j| START + (w * STEP + j) * H1)).collect();
    assert_eq!(c.len(), expected.len(), "rows lost or duplicated: {} stored, {} written", c.len(), expected.len());
    assert_eq!(c.ts, expected.into_iter().collect::<Vec<_>>());
    for (ts, close) in c.ts.iter().zip(&c.close) {
        #[allow(clippy::cast_possible_truncation)]
        let (w, hour) = ((*close as i64) / 1_000_000, (*close as i64) % 1_000_000);
        assert_eq!(START + hour * H1, *ts, "row at {ts} carries hour {hour}");
        assert!(writers.contains(&w) && (w * STEP..w * STEP + SPAN).contains(&hour), "row at {ts} from writer {w}, who did not write it");
    }
}

const CHILD_ENV: &str = "TRADAI_STORE_CONCURRENT_CHILD";

/// The writer the process test runs in child processes (`<dir>;<writer>`). A no-op in a normal
/// test run.
#[test]
fn concurrent_writer_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (dir, w) = spec.split_once(';').unwrap();
    let store = BlockingCandleStore::open_with(dir, StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
    write_all(&store, &key("ETH/USDT", "1h"), w.parse().unwrap());
}

#[test]
fn concurrent_threads_and_processes_lose_no_candle() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_owned();
    let k = key("ETH/USDT", "1h");
    // Writers 0..3 are processes, 3..6 and the disjoint one are threads, each with its own
    // store handle (its own lock file descriptor, as separate processes have).
    let exe = std::env::current_exe().unwrap();
    let children: Vec<std::process::Child> = (0..3)
        .map(|w| {
            std::process::Command::new(&exe)
                .args(["concurrent::concurrent_writer_child", "--exact", "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, format!("{d};{w}"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let threads: Vec<_> = [3, 4, 5, DISJOINT]
        .into_iter()
        .map(|w| {
            let (d, k) = (d.clone(), k.clone());
            std::thread::spawn(move || {
                let store = BlockingCandleStore::open_with(&d, StoreOptions { fsync: false, ..StoreOptions::default() }).unwrap();
                write_all(&store, &k, w);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a writer process failed");
    }
    let store = BlockingCandleStore::open(&d).unwrap();
    let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
    assert_every_row_once(&c, &[0, 1, 2, 3, 4, 5, DISJOINT]);
    assert!(store.list().unwrap()[0].corrupt.is_empty());
    // The lock files live outside the series folders: nothing but month files there.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("binance/spot/ETH_USDT/1h"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n.ends_with(".parquet")), "{names:?}");
}

#[test]
fn concurrent_appends_to_an_object_store_lose_no_candle() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = CandleStore::from_object_store(Arc::clone(&mem), "root", WriteTuning::default());
    let k = key("ETH/USDT", "1h");
    let writers: Vec<i64> = vec![0, 1, 2, 3, 4, 5, DISJOINT];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    // One OS thread per writer driving the shared runtime (`append`'s future is not provably
    // `Send`, see tradai-exchange's `store_append`), so the writers' rounds really overlap.
    let threads: Vec<_> = writers
        .iter()
        .map(|&w| {
            let (store, k, handle) = (store.clone(), k.clone(), rt.handle().clone());
            std::thread::spawn(move || {
                let rows = writer_rows(w);
                #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
                for b in 0..(SPAN / BATCH) as usize {
                    let batch = BATCH as usize;
                    handle.block_on(store.append(&k, &rows.slice(b * batch..(b + 1) * batch))).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let c = rt.block_on(store.read(&k, TimeRange::all(), Columns::ALL)).unwrap();
    assert_every_row_once(&c, &writers);
}

/// A put hook that lets another writer's append land between this writer's read and its first
/// conditional write: the interleaving that loses data without conditional puts.
#[derive(Debug)]
struct Interfere {
    /// The store written to, for the other writer.
    direct: Arc<dyn ObjectStore>,
    key: SeriesKey,
    /// The other writer's candles, written once, just before the first conditional put.
    sneak_in: Mutex<Option<Candles>>,
    /// Conditional puts refused because the object had changed.
    refused: AtomicUsize,
}

#[async_trait::async_trait]
impl OnPut for Interfere {
    async fn before(&self) -> object_store::Result<()> {
        let other = self.sneak_in.lock().unwrap().take();
        if let Some(c) = other {
            // The other writer's whole append, on a blocking thread (its future is not `Send`).
            let (direct, k) = (Arc::clone(&self.direct), self.key.clone());
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                handle.block_on(async move { CandleStore::from_object_store(direct, "", WriteTuning::default()).append(&k, &c).await })
            })
            .await
            .unwrap()
            .unwrap();
        }
        Ok(())
    }

    fn after(&self, mode: &PutMode, answer: &object_store::Result<PutResult>) {
        let conditional = !matches!(mode, PutMode::Overwrite);
        if conditional && matches!(answer, Err(object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. })) {
            self.refused.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn a_write_between_read_and_put_is_detected_and_merged_again() {
    let k = key("ETH/USDT", "1h");
    for existing in [false, true] {
        // With `existing`, the month file exists before (If-Match on its version); without,
        // both writers create it (create-if-absent).
        let inner = Arc::new(InMemory::new());
        let base = writer_rows(0).slice(0..10);
        let ours = writer_rows(0).slice(10..20);
        let theirs = writer_rows(1).slice(0..10);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        if existing {
            let direct: Arc<dyn ObjectStore> = Arc::clone(&inner) as Arc<dyn ObjectStore>;
            rt.block_on(CandleStore::from_object_store(direct, "", WriteTuning::default()).append(&k, &base)).unwrap();
        }
        let direct = Arc::clone(&inner) as Arc<dyn ObjectStore>;
        let hook = Interfere { direct, key: k.clone(), sneak_in: Mutex::new(Some(theirs.clone())), refused: AtomicUsize::new(0) };
        let wrapped = Arc::new(PutHooked { inner, hook });
        let store = CandleStore::from_object_store(Arc::clone(&wrapped) as Arc<dyn ObjectStore>, "", WriteTuning::default());
        rt.block_on(store.append(&k, &ours)).unwrap();
        assert_eq!(wrapped.hook.refused.load(Ordering::SeqCst), 1, "existing={existing}: the stale write was not refused");
        let c = rt.block_on(store.read(&k, TimeRange::all(), Columns::ALL)).unwrap();
        let mut want: Vec<i64> = ours.ts.iter().chain(&theirs.ts).copied().collect();
        if existing {
            want.extend(&base.ts);
        }
        want.sort_unstable();
        want.dedup();
        assert_eq!(c.ts, want, "existing={existing}: a writer's candles were lost");
    }
}
