//! Store benchmark (`cargo bench -p tradai-store`): synth speed, append throughput, read
//! latency of one pair-year of 1m candles, bytes per candle on disk, and what
//! BYTE_STREAM_SPLIT saves on real and synthetic candles. Plain `std::time`, no harness, so it
//! compiles fast and prints numbers the docs can quote.

use std::time::{Duration, Instant};

use tradai_core::{ExchangeId, Pair, TimeRange, Timeframe};
use tradai_store::{synth, synth_series, BlockingCandleStore, Columns, FreqtradeImport, SeriesKey, StoreOptions, SynthSpec, WriteTuning};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments so filters do not break the run.
    let pairs: Vec<Pair> = (0..10).map(|i| format!("P{i}/USDT").parse().unwrap()).collect();
    let exchange = ExchangeId::new("bench").unwrap();
    let year = SynthSpec::new(pairs.clone(), Timeframe::M1, 365, 42);
    let per_pair = year.candles_per_pair();

    // 1. Synthetic data: 10 pairs x 1 year of 1m candles (5.26M).
    let mut runs = Vec::new();
    let mut data = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        data = synth(&year);
        runs.push(t.elapsed());
    }
    let total: usize = data.iter().map(|(_, c)| c.len()).sum();
    let t_synth = median(runs);
    println!("synth: {total} candles in {:.1} ms ({:.1} M candles/s)", ms(t_synth), total as f64 / t_synth.as_secs_f64() / 1e6);

    for fsync in [false, true] {
        let label = if fsync { "fsync on " } else { "fsync off" };
        let options = StoreOptions { fsync, ..StoreOptions::default() };

        // 2. Append: every pair-year into an empty store (12 monthly files each). Best of 3
        // fresh stores, since other processes on a small machine add noise.
        let mut runs = Vec::new();
        let mut kept = None;
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let store = BlockingCandleStore::open_with(dir.path().to_str().unwrap(), options).unwrap();
            let t = Instant::now();
            for (p, c) in &data {
                store.append(&SeriesKey::new(exchange.clone(), p.clone(), Timeframe::M1), c).unwrap();
            }
            runs.push(t.elapsed());
            kept = Some((dir, store));
        }
        let (_dir, store) = kept.unwrap();
        let best = *runs.iter().min().unwrap();
        println!(
            "[{label}] append 10 pair-years ({total} candles): best {:.1} ms = {:.2} M candles/s (median {:.2} M/s)",
            ms(best),
            total as f64 / best.as_secs_f64() / 1e6,
            total as f64 / median(runs).as_secs_f64() / 1e6
        );

        // 2b. Append one day onto a stored year (rewrites one month).
        let key0 = SeriesKey::new(exchange.clone(), pairs[0].clone(), Timeframe::M1);
        let mut next = SynthSpec::new(vec![pairs[0].clone()], Timeframe::M1, 1, 7);
        next.start_ms = data[0].1.ts[per_pair - 1] + 60_000;
        let day = synth_series(&next, 0);
        let t = Instant::now();
        store.append(&key0, &day).unwrap();
        println!("[{label}] append 1 day (1440 candles) to a stored year: {:.1} ms", ms(t.elapsed()));

        if fsync {
            continue;
        }
        // 3. Read one pair-year (525,600 rows), warm page cache.
        let key1 = SeriesKey::new(exchange.clone(), pairs[1].clone(), Timeframe::M1);
        let mut runs = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let c = store.read(&key1, TimeRange::all(), Columns::ALL).unwrap();
            runs.push(t.elapsed());
            assert_eq!(c.len(), per_pair);
        }
        let best = *runs.iter().min().unwrap();
        println!("read 1 pair-year of 1m ({per_pair} rows, all columns): median {:.1} ms, best {:.1} ms", ms(median(runs)), ms(best));
        let mut runs = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            let c = store.read(&key1, TimeRange::all(), Columns::CLOSE).unwrap();
            runs.push(t.elapsed());
            assert_eq!(c.close.len(), per_pair);
        }
        println!("read 1 pair-year of 1m (close only): median {:.1} ms", ms(median(runs)));
        let r = TimeRange { start_ms: Some(data[1].1.ts[100_000]), end_ms: Some(data[1].1.ts[110_080]) };
        let t = Instant::now();
        let c = store.read(&key1, r, Columns::ALL).unwrap();
        println!("read 1 week range ({} rows): {:.2} ms", c.len(), ms(t.elapsed()));

        // 4. Size on disk and listing.
        let t = Instant::now();
        let list = store.list().unwrap();
        let t_list = t.elapsed();
        let bytes: u64 = list.iter().map(|s| s.bytes).sum();
        let rows: u64 = list.iter().map(|s| s.rows).sum();
        println!("list: {} series, {} files in {:.1} ms", list.len(), list.iter().map(|s| s.partitions).sum::<usize>(), ms(t_list));
        println!("size: {bytes} bytes for {rows} candles = {:.2} bytes/candle", bytes as f64 / rows as f64);
    }

    // 5. BYTE_STREAM_SPLIT (volume and price fallback pages) against PLAIN, on the real
    // Binance candles of testdata/ and on the synthetic year.
    let real = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/freqtrade");
    for bss in [true, false] {
        let tuning = WriteTuning { byte_stream_split: bss, ..WriteTuning::default() };
        let options = StoreOptions { fsync: false, tuning };
        let dir = tempfile::tempdir().unwrap();
        let store = BlockingCandleStore::open_with(dir.path().to_str().unwrap(), options).unwrap();
        let opts = FreqtradeImport { exchange: ExchangeId::new("binance").unwrap(), markets: None };
        store.import_freqtrade(&real, &opts, &mut |_| {}).unwrap();
        let (b, r) = store.list().unwrap().iter().fold((0u64, 0u64), |(b, r), s| (b + s.bytes, r + s.rows));
        let dir2 = tempfile::tempdir().unwrap();
        let store2 = BlockingCandleStore::open_with(dir2.path().to_str().unwrap(), options).unwrap();
        for (p, c) in &data {
            store2.append(&SeriesKey::new(exchange.clone(), p.clone(), Timeframe::M1), c).unwrap();
        }
        let (b2, r2) = store2.list().unwrap().iter().fold((0u64, 0u64), |(b, r), s| (b + s.bytes, r + s.rows));
        println!(
            "byte_stream_split={bss}: real testdata {:.3} bytes/candle ({r} candles), synthetic {:.3} bytes/candle ({r2} candles)",
            b as f64 / r as f64,
            b2 as f64 / r2 as f64
        );
    }
}
