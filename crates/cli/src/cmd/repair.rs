//! `tradai data repair`: finds stored candle files that cannot be read (checksum mismatch,
//! truncated, not Parquet), moves them to the store's quarantine folder and, with `--resync`,
//! downloads the months they held again. The work is the store's `quarantine_corrupt` and the
//! exchange crate's `sync_pairs`; this file selects series and reports what was done.

use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tradai_core::{format_ts_ms, ExchangeId, Pair};
use tradai_exchange::{error_chain, CancelToken, SyncOptions, SyncRequest, TransportConfig};
use tradai_server::serve::exchange_endpoints;
use tradai_settings::Settings;
use tradai_store::{CandleStore, QuarantinedFile, SeriesKey, QUARANTINE_DIR};

use crate::cmd::data::open_store;
use crate::flags::{parse_pairs, parse_timeframe};
use crate::output::{print_json, progress, Table};

/// `tradai data repair` flags.
#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Only series of this exchange; every exchange when omitted.
    #[arg(long)]
    pub exchange: Option<String>,
    /// Only these pairs (comma-separated); all when omitted.
    #[arg(long, value_delimiter = ',')]
    pub pairs: Vec<String>,
    /// Only this timeframe; all when omitted.
    #[arg(long)]
    pub timeframe: Option<String>,
    /// Download the quarantined months again from the series' exchange (binance or bybit).
    #[arg(long)]
    pub resync: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tradai data repair`.
pub fn run(a: RepairArgs, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    let only_exchange = a.exchange.as_deref().map(ExchangeId::new).transpose()?;
    let pairs = parse_pairs(&a.pairs)?;
    let timeframe = a.timeframe.as_deref().map(parse_timeframe).transpose()?;
    let store = open_store(settings)?;
    let keys: Vec<SeriesKey> = store
        .list()?
        .into_iter()
        .map(|s| s.key)
        .filter(|k| only_exchange.as_ref().is_none_or(|e| &k.exchange == e))
        .filter(|k| pairs.is_empty() || pairs.contains(&k.pair))
        .filter(|k| timeframe.is_none_or(|t| k.timeframe == t))
        .collect();
    for p in &pairs {
        anyhow::ensure!(
            keys.iter().any(|k| &k.pair == p),
            "pair '{p}' has no stored candles matching the filters (see `tradai data list`)"
        );
    }

    // Every file of every selected series is read in full (checksums included).
    let pb = progress(keys.len() as u64, "checking", quiet);
    let mut moved: Vec<QuarantinedFile> = Vec::new();
    for k in &keys {
        pb.set_message(format!("{} {}", k.pair, k.timeframe));
        moved.extend(store.quarantine_corrupt(k).with_context(|| format!("cannot repair {k}"))?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    // The blocking store owns a runtime; drop it before the sync starts its own.
    drop(store);

    let resynced = if a.resync && !moved.is_empty() { resync(&moved, settings)? } else { Vec::new() };
    print_report(&a, keys.len(), &moved, &resynced, settings)?;
    let failed = resynced.iter().any(|r| r.error.is_some());
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// What re-downloading one quarantined month gave.
struct Resynced {
    key: SeriesKey,
    start_ms: i64,
    stored: u64,
    error: Option<String>,
}

/// Downloads the months of the quarantined files again, one sync per file.
fn resync(moved: &[QuarantinedFile], settings: &Settings) -> anyhow::Result<Vec<Resynced>> {
    let endpoints = exchange_endpoints(settings);
    let store = CandleStore::open(&settings.data_dir).with_context(|| format!("cannot open data dir '{}'", settings.data_dir))?;
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("cannot start the async runtime")?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = Vec::new();
    for f in moved {
        let client = tradai_exchange::connect(&f.key.exchange, &endpoints, TransportConfig::default())
            .with_context(|| format!("cannot re-download {} from '{}'", f.from, f.key.exchange))?;
        let request = SyncRequest {
            pairs: vec![f.key.pair.clone()],
            timeframe: f.key.timeframe,
            start_ms: f.start_ms,
            // A month still running is synced up to the last closed candle.
            end_ms: (f.end_ms <= now).then_some(f.end_ms),
            options: SyncOptions { concurrency: 1, ..SyncOptions::default() },
        };
        let store = store.clone();
        let report =
            rt.block_on(tradai_exchange::sync_pairs(client, store, request, tradai_exchange::no_progress(), CancelToken::new()))?;
        let (stored, error) = match report.pairs.first().map(|p| &p.result) {
            Some(Ok(s)) => (s.stored, None),
            Some(Err(e)) => (0, Some(error_chain(e))),
            None => (0, Some("the sync reported no result".to_owned())),
        };
        out.push(Resynced { key: f.key.clone(), start_ms: f.start_ms, stored, error });
    }
    Ok(out)
}

fn print_report(
    a: &RepairArgs,
    checked: usize,
    moved: &[QuarantinedFile],
    resynced: &[Resynced],
    settings: &Settings,
) -> anyhow::Result<()> {
    if a.json {
        return print_json(&json!({
            "series_checked": checked,
            "quarantined": moved.iter().map(|f| json!({
                "exchange": f.key.exchange.to_string(), "pair": f.key.pair.to_string(), "timeframe": f.key.timeframe.to_string(),
                "file": f.from, "moved_to": f.to, "reason": f.reason,
                "start": format_ts_ms(f.start_ms), "end": format_ts_ms(f.end_ms),
            })).collect::<Vec<_>>(),
            "resynced": resynced.iter().map(|r| json!({
                "pair": r.key.pair.to_string(), "timeframe": r.key.timeframe.to_string(), "start": format_ts_ms(r.start_ms),
                "stored": r.stored, "error": r.error,
            })).collect::<Vec<_>>(),
        }));
    }
    if moved.is_empty() {
        println!("checked {checked} series: every file reads and matches its checksum; nothing to repair");
        return Ok(());
    }
    let mut t = Table::new(&["pair", "timeframe", "file", "problem"]);
    for f in moved {
        t.row(vec![f.key.pair.to_string(), f.key.timeframe.to_string(), f.from.clone(), short_reason(&f.reason)]);
    }
    print!("{}", t.render());
    println!(
        "checked {checked} series; moved {} corrupt file(s) to {}/{QUARANTINE_DIR}/ (kept, not deleted)",
        moved.len(),
        settings.data_dir.trim_end_matches('/')
    );
    for r in resynced {
        match &r.error {
            None => {
                println!("re-downloaded {} {} from {}: {} candles stored", r.key.pair, r.key.timeframe, format_ts_ms(r.start_ms), r.stored)
            }
            Some(e) => println!("could not re-download {} {} from {}: {e}", r.key.pair, r.key.timeframe, format_ts_ms(r.start_ms)),
        }
    }
    if !a.resync {
        let pairs: Vec<&Pair> = moved.iter().map(|f| &f.key.pair).collect();
        println!(
            "those months now read as gaps; run again with --resync (or `tradai data sync`/an import for {}) to fill them",
            pairs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// The store's message after the file name: what is wrong, without repeating the path.
fn short_reason(reason: &str) -> String {
    reason.split_once(" is corrupt: ").map_or(reason, |(_, r)| r).to_owned()
}
