//! `tradai data ...`: import, list, validate, freshness, synth and delete of stored candles.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::json;
use tradai_core::{format_ts_ms, parse_date_ms, ExchangeId, Pair, Timeframe};
use tradai_settings::Settings;
use tradai_store::{
    freshness, BlockingCandleStore, CorruptFile, FreqtradeImport, ImportEvent, ImportReport, SeriesInfo, SeriesKey, SynthSpec,
    ValidationReport,
};

use crate::flags::{parse_duration_ms, parse_pairs, parse_timeframe, MarketFlags};
use crate::output::{print_json, progress, Table};

/// `tradai data ...`
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Import candles from other tools' files.
    #[command(subcommand)]
    Import(ImportCommand),
    /// List stored series with first/last candle, row count and last update.
    #[command(after_help = "Example:\n  tradai data list --exchange binance")]
    List {
        /// Only this exchange.
        #[arg(long)]
        exchange: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Check stored series for gaps, duplicates, OHLC inconsistencies and time order.
    ///
    /// Exit code 1 when a problem other than gaps is found.
    #[command(after_help = "Example:\n  tradai data validate --exchange binance -p ETH/BTC,LTC/BTC -i 5m")]
    Validate {
        /// The series to check.
        #[command(flatten)]
        series: MarketFlags,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Report how old the newest candle of each series is. Exit code 1 when any is stale.
    #[command(after_help = "Example:\n  tradai data freshness -p ETH/BTC --now 2018-02-01T00:00:00Z --stale-after 1d")]
    Freshness {
        /// The series to check.
        #[command(flatten)]
        series: MarketFlags,
        /// Age after which a series is stale, e.g. 90m, 24h, 7d.
        #[arg(long, default_value = "24h", value_name = "DURATION")]
        stale_after: String,
        /// Reference time instead of now (for reproducible checks), e.g. 2018-02-01T00:00:00Z.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Generate synthetic candles (geometric Brownian motion) for benchmarks and demos.
    #[command(after_help = "Example:\n  tradai data synth --pairs 2 --timeframe 1h --days 30 --seed 1")]
    Synth {
        /// Number of pairs (SYN0/USDT, SYN1/USDT, ...).
        #[arg(long, default_value_t = 10)]
        pairs: usize,
        /// Timeframe.
        #[arg(long, default_value = "1m")]
        timeframe: String,
        /// Days of data.
        #[arg(long, default_value_t = 365)]
        days: u32,
        /// Random seed; the same seed gives the same candles.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// First candle time.
        #[arg(long, default_value = "2024-01-01")]
        start: String,
        /// Exchange name to store them under.
        #[arg(long, default_value = "synth")]
        exchange: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Download candles from an exchange into the store, incrementally.
    ///
    /// Resumes after the last stored candle, backfills gaps, never stores the still-open
    /// candle, and stores each pair's instrument metadata (tick, lot step, minimums). Running
    /// the same sync twice changes nothing. Exit code 2 when any pair fails (the others are
    /// still stored).
    ///
    /// Endpoints are the settings binance.spot_url, binance.futures_url and bybit.url (the
    /// real exchanges by default); TRADAI_BINANCE_SPOT_URL, TRADAI_BINANCE_FUTURES_URL and
    /// TRADAI_BYBIT_URL set them too.
    #[command(after_help = super::sync::EXAMPLES)]
    Sync(super::sync::SyncArgs),
    /// Find stored files that cannot be read (checksum mismatch, truncated) and move them aside.
    ///
    /// Reads every file of the selected series in full. A damaged file is moved to
    /// <data dir>/.quarantine/<time>/ (kept, not deleted), so its series reads again with a
    /// gap where it was; --resync downloads those months again from the exchange.
    #[command(verbatim_doc_comment, after_help = "Example:\n  tradai data repair --exchange binance")]
    Repair(super::repair::RepairArgs),
    /// Delete one stored series.
    #[command(after_help = "Example:\n  tradai data delete --exchange synth --pair SYN0/USDT --timeframe 1h")]
    Delete {
        /// The series to delete.
        #[command(flatten)]
        series: OneSeriesFlags,
    },
}

/// One stored series: `--exchange`, `--pair`, `--timeframe` (shared by `data import csv` and
/// `data delete`).
#[derive(Debug, Clone, Args)]
pub struct OneSeriesFlags {
    /// Exchange of the series [default: the `exchange` setting].
    #[arg(long)]
    pub exchange: Option<String>,
    /// Pair in CCXT notation (BTC/USDT, BTC/USDT:USDT).
    #[arg(short = 'p', long)]
    pub pair: String,
    /// Timeframe of the candles.
    #[arg(short = 'i', long)]
    pub timeframe: String,
}

impl OneSeriesFlags {
    /// The series key, the exchange defaulting to the `exchange` setting.
    fn key(&self, settings: &Settings) -> anyhow::Result<SeriesKey> {
        Ok(SeriesKey::new(
            exchange_or_setting(self.exchange.as_deref(), settings)?,
            self.pair.parse::<Pair>()?,
            parse_timeframe(&self.timeframe)?,
        ))
    }
}

/// `tradai data import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Freqtrade data directory (.feather, .json, .json.gz; `futures/` holds futures).
    ///
    /// File names follow Freqtrade: ETH_BTC-5m.feather is ETH/BTC spot 5m;
    /// futures/XRP_USDT_USDT-5m-futures.feather is XRP/USDT:USDT futures.
    #[command(after_help = "Example (the bundled sample candles):
  tradai data import freqtrade sample-data/binance --exchange binance")]
    Freqtrade {
        /// The directory (e.g. user_data/data/binance).
        dir: PathBuf,
        /// Exchange the data came from [default: the `exchange` setting].
        #[arg(long)]
        exchange: Option<String>,
        /// Market metadata (amount step, limits per pair) in the shape of Freqtrade's markets;
        /// DIR/markets.json is read when present.
        #[arg(long, value_name = "FILE")]
        markets: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Import one CSV file with a header: date (ms or ISO), open, high, low, close, volume.
    #[command(after_help = "Example:\n  tradai data import csv candles.csv --pair BTC/USDT --timeframe 1h")]
    Csv {
        /// The file.
        file: PathBuf,
        /// The series the candles belong to.
        #[command(flatten)]
        series: OneSeriesFlags,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Opens the store named by the settings, with an error that names the location.
pub fn open_store(settings: &Settings) -> anyhow::Result<BlockingCandleStore> {
    tracing::debug!(location = %settings.data_dir, "opening the candle store");
    BlockingCandleStore::open(&settings.data_dir).with_context(|| format!("cannot open data dir '{}'", settings.data_dir))
}

/// `--exchange`, or the `exchange` setting when the flag is absent.
fn exchange_or_setting(raw: Option<&str>, settings: &Settings) -> anyhow::Result<ExchangeId> {
    exchange(raw.unwrap_or(&settings.exchange))
}

fn exchange(raw: &str) -> anyhow::Result<ExchangeId> {
    Ok(ExchangeId::new(raw)?)
}

/// Runs a `data` subcommand.
pub fn run(cmd: DataCommand, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Import(ImportCommand::Freqtrade { dir, exchange: ex, markets, json }) => {
            let store = open_store(settings)?;
            // The markets file sits in the directory by convention; read it, do not report it
            // as a skipped candle file.
            let markets = markets.or_else(|| Some(dir.join("markets.json")).filter(|p| p.is_file()));
            let opts = FreqtradeImport { exchange: exchange_or_setting(ex.as_deref(), settings)?, markets };
            let mut report = with_import_progress(quiet, |cb| store.import_freqtrade(&dir, &opts, cb))
                .with_context(|| format!("import of '{}' failed; the store is unchanged", dir.display()))?;
            if let Some(m) = &opts.markets {
                report.skipped.retain(|s| !same_file(&s.path, m));
            }
            print_import(&report, json)
        }
        DataCommand::Import(ImportCommand::Csv { file, series, json }) => {
            let key = series.key(settings)?;
            let store = open_store(settings)?;
            let report = with_import_progress(quiet, |cb| store.import_file(&file, &key, cb))
                .with_context(|| format!("import of '{}' failed; the store is unchanged", file.display()))?;
            print_import(&report, json)
        }
        DataCommand::List { exchange: ex, json } => {
            let store = open_store(settings)?;
            let only = ex.as_deref().map(exchange).transpose()?;
            let list: Vec<SeriesInfo> = store.list()?.into_iter().filter(|s| only.as_ref().is_none_or(|e| &s.key.exchange == e)).collect();
            print_list(&list, json)
        }
        DataCommand::Validate { series: MarketFlags { exchange: ex, pairs, timeframe }, json } => {
            let store = open_store(settings)?;
            let ex = exchange_or_setting(ex.as_deref(), settings)?;
            let keys = select_series(&store, &ex, &parse_pairs(&pairs)?, timeframe.as_deref().map(parse_timeframe).transpose()?)?;
            let mut reports = Vec::new();
            for key in keys {
                let r = store.validate(&key).with_context(|| format!("cannot validate {key}"))?;
                reports.push((key, r));
            }
            print_validation(&reports, json)
        }
        DataCommand::Freshness { series: MarketFlags { exchange: ex, pairs, timeframe }, stale_after, now, json } => {
            let store = open_store(settings)?;
            let tf = timeframe.as_deref().map(parse_timeframe).transpose()?;
            let stale_ms = parse_duration_ms(&stale_after)?;
            let now_ms = match now {
                Some(t) => parse_date_ms(&t)?,
                None => chrono::Utc::now().timestamp_millis(),
            };
            let ex = exchange_or_setting(ex.as_deref(), settings)?;
            let pairs = parse_pairs(&pairs)?;
            print_freshness(&store, &ex, &pairs, tf, now_ms, stale_ms, json)
        }
        DataCommand::Synth { pairs, timeframe, days, seed, start, exchange: ex, json } => {
            anyhow::ensure!(pairs > 0 && pairs <= 1000, "invalid --pairs {pairs}: expected 1 to 1000");
            anyhow::ensure!(days > 0 && days <= 3650 * 2, "invalid --days {days}: expected 1 to 7300");
            let tf = parse_timeframe(&timeframe)?;
            let ex = exchange(&ex)?;
            let pair_list: Vec<Pair> = (0..pairs).map(|i| format!("SYN{i}/USDT").parse()).collect::<Result<_, _>>()?;
            let mut spec = SynthSpec::new(pair_list.clone(), tf, days, seed);
            spec.start_ms = parse_date_ms(&start)?;
            let store = open_store(settings)?;
            let pb = progress(pairs as u64, "synth", quiet);
            let mut out = Vec::new();
            for (i, pair) in pair_list.iter().enumerate() {
                pb.set_message(pair.to_string());
                let candles = tradai_store::synth_series(&spec, i);
                let key = SeriesKey::new(ex.clone(), pair.clone(), tf);
                let rep = store.append(&key, &candles).with_context(|| format!("cannot store {key}"))?;
                out.push(json!({"pair": pair.to_string(), "rows": rep.rows, "bytes": rep.bytes}));
                pb.inc(1);
            }
            pb.finish_and_clear();
            let rows: usize = out.iter().map(|o| o["rows"].as_u64().unwrap_or(0) as usize).sum();
            if json {
                print_json(&json!({"exchange": ex.to_string(), "timeframe": tf.to_string(), "series": out, "rows": rows}))?;
            } else {
                println!("generated {rows} candles for {pairs} pairs ({tf}, {days} days, seed {seed}) under exchange '{ex}'");
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCommand::Sync(a) => super::sync::run(a, settings, quiet),
        DataCommand::Repair(a) => super::repair::run(a, settings, quiet),
        DataCommand::Delete { series } => {
            let store = open_store(settings)?;
            let key = series.key(settings)?;
            let n = store.delete(&key)?;
            anyhow::ensure!(n > 0, "no stored series {key}");
            println!("deleted {key} ({n} files)");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn with_import_progress<T>(
    quiet: bool,
    f: impl FnOnce(&mut (dyn FnMut(ImportEvent<'_>) + Send)) -> Result<T, tradai_store::StoreError>,
) -> Result<T, tradai_store::StoreError> {
    let pb = progress(0, "import", quiet);
    let pb2 = pb.clone();
    let mut cb = move |ev: ImportEvent<'_>| match ev {
        ImportEvent::Scanned { files, .. } => pb2.set_length(2 * files as u64),
        ImportEvent::Checked { path, .. } => {
            pb2.set_message(format!("checking {}", path.file_name().and_then(|n| n.to_str()).unwrap_or("")));
            pb2.inc(1);
        }
        ImportEvent::Written { file, .. } => {
            pb2.set_message(format!("wrote {}", file.key.pair));
            pb2.inc(1);
        }
    };
    let r = f(&mut cb);
    pb.finish_and_clear();
    r
}

fn print_import(r: &ImportReport, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&json!({
            "files": r.files.iter().map(|f| json!({
                "path": f.path.display().to_string(), "exchange": f.key.exchange.to_string(),
                "pair": f.key.pair.to_string(), "timeframe": f.key.timeframe.to_string(), "rows": f.rows,
                "first": f.first_ts.map(format_ts_ms), "last": f.last_ts.map(format_ts_ms),
            })).collect::<Vec<_>>(),
            "skipped": r.skipped.iter().map(|s| json!({"path": s.path.display().to_string(), "reason": s.reason})).collect::<Vec<_>>(),
            "instruments": r.instruments.len(),
            "rows": r.rows(),
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["pair", "market", "timeframe", "rows>", "first", "last", "file"]);
    for f in &r.files {
        t.row(vec![
            f.key.pair.to_string(),
            f.key.market_type().to_string(),
            f.key.timeframe.to_string(),
            f.rows.to_string(),
            f.first_ts.map(format_ts_ms).unwrap_or_default(),
            f.last_ts.map(format_ts_ms).unwrap_or_default(),
            f.path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned(),
        ]);
    }
    print!("{}", t.render());
    println!("imported {} candles from {} files; {} instruments", r.rows(), r.files.len(), r.instruments.len());
    for s in &r.skipped {
        println!("skipped {}: {}", s.path.display(), s.reason);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_list(list: &[SeriesInfo], json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(&list.iter().map(series_json).collect::<Vec<_>>())?;
        return Ok(ExitCode::SUCCESS);
    }
    if list.is_empty() {
        println!("no candles stored yet (try `tradai data import freqtrade DIR` or `tradai data synth`)");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(&["exchange", "market", "pair", "timeframe", "rows>", "first", "last", "updated", "size>", "status"]);
    for s in list {
        t.row(vec![
            s.key.exchange.to_string(),
            s.key.market_type().to_string(),
            s.key.pair.to_string(),
            s.key.timeframe.to_string(),
            s.rows.to_string(),
            // A series whose every file is damaged has no readable first or last candle.
            if s.rows == 0 { "-".to_owned() } else { format_ts_ms(s.first_ts) },
            if s.rows == 0 { "-".to_owned() } else { format_ts_ms(s.last_ts) },
            format_ts_ms(s.updated_ms),
            human_bytes(s.bytes),
            if s.corrupt.is_empty() { "ok".to_owned() } else { format!("CORRUPT ({} of {} files)", s.corrupt.len(), s.partitions) },
        ]);
    }
    print!("{}", t.render());
    print_corrupt(list.iter().flat_map(|s| &s.corrupt));
    Ok(ExitCode::SUCCESS)
}

/// One line per unreadable file, and what to do about it.
fn print_corrupt<'a>(files: impl Iterator<Item = &'a CorruptFile>) {
    let mut any = false;
    for f in files {
        println!("  {}", f.reason);
        any = true;
    }
    if any {
        println!("  the other series are unaffected; `tradai data repair` moves damaged files aside (--resync downloads them again)");
    }
}

fn corrupt_json(files: &[CorruptFile]) -> serde_json::Value {
    files.iter().map(|f| json!({"path": f.path, "reason": f.reason})).collect()
}

fn series_json(s: &SeriesInfo) -> serde_json::Value {
    json!({
        "exchange": s.key.exchange.to_string(), "market_type": s.key.market_type().to_string(),
        "pair": s.key.pair.to_string(), "timeframe": s.key.timeframe.to_string(),
        "rows": s.rows, "first": format_ts_ms(s.first_ts), "last": format_ts_ms(s.last_ts),
        "first_ts": s.first_ts, "last_ts": s.last_ts, "updated": format_ts_ms(s.updated_ms),
        "partitions": s.partitions, "bytes": s.bytes, "corrupt": corrupt_json(&s.corrupt),
    })
}

fn human_bytes(b: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = b as f64;
    if f >= 1e9 {
        format!("{:.1} GB", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} MB", f / 1e6)
    } else if f >= 1e3 {
        format!("{:.1} kB", f / 1e3)
    } else {
        format!("{b} B")
    }
}

/// The stored series of `exchange` restricted to `pairs` (all when empty) and `timeframe`.
/// A requested pair with no stored series is an error naming it.
fn select_series(
    store: &BlockingCandleStore,
    exchange: &ExchangeId,
    pairs: &[Pair],
    tf: Option<Timeframe>,
) -> anyhow::Result<Vec<SeriesKey>> {
    let all: Vec<SeriesKey> =
        store.list()?.into_iter().map(|s| s.key).filter(|k| &k.exchange == exchange && tf.is_none_or(|t| k.timeframe == t)).collect();
    if pairs.is_empty() {
        return Ok(all);
    }
    let mut out = Vec::new();
    for p in pairs {
        let found: Vec<SeriesKey> = all.iter().filter(|k| &k.pair == p).cloned().collect();
        anyhow::ensure!(
            !found.is_empty(),
            "pair '{p}' has no stored candles on {exchange}{} (see `tradai data list`)",
            tf.map(|t| format!(" {t}")).unwrap_or_default()
        );
        out.extend(found);
    }
    Ok(out)
}

fn print_validation(reports: &[(SeriesKey, ValidationReport)], json: bool) -> anyhow::Result<ExitCode> {
    let bad =
        reports.iter().any(|(_, r)| r.duplicates > 0 || r.out_of_order > 0 || r.off_grid > 0 || r.ohlc_issues > 0 || !r.corrupt.is_empty());
    if json {
        print_json(&reports.iter().map(|(k, r)| json!({
            "exchange": k.exchange.to_string(), "pair": k.pair.to_string(), "timeframe": k.timeframe.to_string(),
            "rows": r.rows, "missing": r.missing,
            "gaps": r.gaps.iter().map(|g| json!({"after": format_ts_ms(g.after_ts), "next": format_ts_ms(g.next_ts), "missing": g.missing})).collect::<Vec<_>>(),
            "duplicates": r.duplicates, "out_of_order": r.out_of_order, "off_grid": r.off_grid, "ohlc_issues": r.ohlc_issues,
            "ohlc_examples": r.ohlc_examples.iter().map(|i| json!({"ts": format_ts_ms(i.ts), "problem": format!("{:?}", i.problem)})).collect::<Vec<_>>(),
            "corrupt": corrupt_json(&r.corrupt),
            "clean": r.is_clean(),
        })).collect::<Vec<_>>())?;
    } else {
        let mut t =
            Table::new(&["pair", "timeframe", "rows>", "gaps>", "missing>", "duplicates>", "out of order>", "OHLC issues>", "status"]);
        for (k, r) in reports {
            let status = if !r.corrupt.is_empty() {
                "CORRUPT"
            } else if r.is_clean() {
                "ok"
            } else if r.duplicates + r.out_of_order + r.off_grid + r.ohlc_issues > 0 {
                "PROBLEMS"
            } else {
                "gaps"
            };
            t.row(vec![
                k.pair.to_string(),
                k.timeframe.to_string(),
                r.rows.to_string(),
                r.gaps.len().to_string(),
                r.missing.to_string(),
                r.duplicates.to_string(),
                r.out_of_order.to_string(),
                r.ohlc_issues.to_string(),
                status.to_owned(),
            ]);
        }
        print!("{}", t.render());
        for (k, r) in reports {
            for g in r.gaps.iter().take(5) {
                println!("  {} {}: {} missing after {}", k.pair, k.timeframe, g.missing, format_ts_ms(g.after_ts));
            }
        }
        print_corrupt(reports.iter().flat_map(|(_, r)| &r.corrupt));
    }
    Ok(if bad { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn print_freshness(
    store: &BlockingCandleStore,
    exchange: &ExchangeId,
    pairs: &[Pair],
    tf: Option<Timeframe>,
    now_ms: i64,
    stale_ms: i64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let list: Vec<SeriesInfo> =
        store.list()?.into_iter().filter(|s| &s.key.exchange == exchange && tf.is_none_or(|t| s.key.timeframe == t)).collect();
    let mut rows = Vec::new();
    let mut any_stale = false;
    let tf_text = tf.map_or_else(|| "any".to_owned(), |t| t.to_string());
    let wanted: Vec<Pair> = if pairs.is_empty() {
        let mut all: Vec<Pair> = Vec::new();
        for s in &list {
            if !all.contains(&s.key.pair) {
                all.push(s.key.pair.clone());
            }
        }
        all
    } else {
        pairs.to_vec()
    };
    anyhow::ensure!(
        !wanted.is_empty(),
        "no stored {} series on {exchange} (see `tradai data list`)",
        tf.map_or_else(String::new, |t| t.to_string())
    );
    for p in &wanted {
        let series: Vec<&SeriesInfo> = list.iter().filter(|s| &s.key.pair == p).collect();
        if series.is_empty() {
            any_stale = true;
            rows.push(json!({"symbol": p.to_string(), "timeframe": tf_text, "error": "no stored candles", "is_fresh": false}));
        }
        for info in series {
            let f = &freshness(std::slice::from_ref(info), now_ms, stale_ms)[0];
            // A damaged file may hold the newest candles: the series cannot count as fresh.
            let fresh = !f.stale && info.corrupt.is_empty();
            any_stale |= !fresh;
            #[allow(clippy::cast_precision_loss)]
            let age_hours = (f.age_ms as f64 / 3_600_000.0 * 100.0).round() / 100.0;
            let mut row = json!({
                "symbol": p.to_string(), "timeframe": info.key.timeframe.to_string(), "last_update": format_ts_ms(info.last_ts),
                "age_hours": age_hours, "is_fresh": fresh, "row_count": info.rows,
            });
            if !info.corrupt.is_empty() {
                row["error"] = json!(format!("CORRUPT: {}", info.corrupt.iter().map(|c| c.path.as_str()).collect::<Vec<_>>().join(", ")));
                row["corrupt"] = corrupt_json(&info.corrupt);
            }
            rows.push(row);
        }
    }
    let tf = tf_text;
    if json {
        print_json(&json!({"timeframe": tf.to_string(), "results": rows, "all_fresh": !any_stale}))?;
    } else {
        let mut t = Table::new(&["symbol", "timeframe", "last candle", "age (h)>", "rows>", "status"]);
        for r in &rows {
            t.row(vec![
                r["symbol"].as_str().unwrap_or("").to_owned(),
                r["timeframe"].as_str().unwrap_or("").to_owned(),
                r["last_update"].as_str().unwrap_or("-").to_owned(),
                r["age_hours"].as_f64().map_or("-".into(), |a| format!("{a:.2}")),
                r["row_count"].as_u64().map_or("-".into(), |n| n.to_string()),
                if r["is_fresh"].as_bool() == Some(true) { "fresh".into() } else { r["error"].as_str().unwrap_or("STALE").to_owned() },
            ]);
        }
        print!("{}", t.render());
    }
    Ok(if any_stale { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Whether two paths name the same file (compared canonically where both exist).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}
