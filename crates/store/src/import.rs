//! Import of Freqtrade data directories, single candle files and CSV into a [`CandleStore`].
//!
//! Every import runs in two passes: the first reads and checks every source file (and the
//! markets file), the second writes. A corrupt, truncated or incomplete source therefore fails
//! the import before anything is written, with an error naming the file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::{DataType, Schema, TimeUnit};
use tradai_core::{parse_date_ms, Candles, ExchangeId, Instrument, LeverageTier, MarketType, Pair, Timeframe};

use crate::layout::{pair_from_stem, SeriesKey};
use crate::{CandleStore, StoreError};

/// Total candles kept in memory between the check pass and the write pass; above this, files
/// are read a second time instead (about 2.4 GB of candles).
const CACHE_BUDGET_ROWS: usize = 50_000_000;

/// The file formats the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// Arrow IPC file (Freqtrade's `feather` data format).
    Feather,
    /// Freqtrade JSON: an array of `[ts_ms, open, high, low, close, volume]` rows.
    Json,
    /// The same JSON, gzip-compressed (`.json.gz`).
    JsonGz,
    /// Parquet with Freqtrade's columns (Freqtrade's `parquet` data format).
    Parquet,
    /// CSV with a header: a date/timestamp column and open, high, low, close, volume.
    Csv,
}

impl SourceFormat {
    /// The format a file name's extension implies.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        [(".feather", Self::Feather), (".json.gz", Self::JsonGz), (".json", Self::Json), (".parquet", Self::Parquet), (".csv", Self::Csv)]
            .into_iter()
            .find(|(ext, _)| name.ends_with(ext))
            .map(|(_, f)| f)
    }

    fn strip_ext(self, name: &str) -> &str {
        let ext = match self {
            Self::Feather => ".feather",
            Self::Json => ".json",
            Self::JsonGz => ".json.gz",
            Self::Parquet => ".parquet",
            Self::Csv => ".csv",
        };
        &name[..name.len() - ext.len()]
    }
}

/// A candle file found in a Freqtrade data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// The pair its name encodes.
    pub pair: Pair,
    /// The timeframe its name encodes.
    pub timeframe: Timeframe,
    /// How to read it.
    pub format: SourceFormat,
}

/// A file the scan passed over, with the reason (not candles, unsupported timeframe, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was not imported.
    pub reason: String,
}

/// One imported file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The source file.
    pub path: PathBuf,
    /// The series it was merged into.
    pub key: SeriesKey,
    /// Candles read from the file.
    pub rows: usize,
    /// Open time of its first candle, if any.
    pub first_ts: Option<i64>,
    /// Open time of its last candle, if any.
    pub last_ts: Option<i64>,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportReport {
    /// Files imported, in path order.
    pub files: Vec<ImportedFile>,
    /// Files passed over.
    pub skipped: Vec<SkippedFile>,
    /// Instruments stored from the markets file.
    pub instruments: Vec<Instrument>,
}

impl ImportReport {
    /// Total candles imported.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Progress of an import, for a caller that draws progress bars.
#[derive(Debug, Clone, Copy)]
pub enum ImportEvent<'a> {
    /// The source was scanned: `files` will be read, `skipped` were passed over.
    Scanned {
        /// Files to import.
        files: usize,
        /// Files passed over.
        skipped: usize,
    },
    /// A file was read and checked (first pass; nothing written yet).
    Checked {
        /// 0-based position among the files.
        index: usize,
        /// Number of files.
        total: usize,
        /// The file.
        path: &'a Path,
        /// Candles it holds.
        rows: usize,
    },
    /// A file's candles were written to the store (second pass).
    Written {
        /// 0-based position among the files.
        index: usize,
        /// Number of files.
        total: usize,
        /// What was written.
        file: &'a ImportedFile,
    },
}

/// A progress callback; `Send` so import futures can move between threads.
pub type Progress<'p> = &'p mut (dyn FnMut(ImportEvent<'_>) + Send);

/// Settings of a Freqtrade import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreqtradeImport {
    /// The exchange the data came from (Freqtrade's data directories do not say).
    pub exchange: ExchangeId,
    /// A markets file (JSON shaped like `meta.markets` of the conformance results) whose
    /// entries become stored instrument metadata.
    pub markets: Option<PathBuf>,
}

/// Finds the candle files of a Freqtrade data directory: `PAIR-TF.ext` at the top (spot) and
/// `futures/PAIR-TF-futures.ext` (futures, `BASE_QUOTE_SETTLE` names). Other files (trades,
/// mark/index/funding-rate candles, unknown names) are returned as skipped.
///
/// # Errors
/// [`StoreError::Io`] naming the directory when it cannot be listed.
pub fn scan_freqtrade_dir(dir: &Path) -> Result<(Vec<SourceFile>, Vec<SkippedFile>), StoreError> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    scan_into(dir, false, &mut files, &mut skipped)?;
    let fut = dir.join("futures");
    if fut.is_dir() {
        scan_into(&fut, true, &mut files, &mut skipped)?;
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files, skipped))
}

fn scan_into(dir: &Path, futures_dir: bool, files: &mut Vec<SourceFile>, skipped: &mut Vec<SkippedFile>) -> Result<(), StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        let path = entry.path();
        if path.is_dir() {
            continue;
        }
        match parse_freqtrade_name(&path, futures_dir) {
            Ok(f) => files.push(f),
            Err(reason) => skipped.push(SkippedFile { path, reason }),
        }
    }
    Ok(())
}

/// Reads a Freqtrade candle file name: `ETH_BTC-5m.feather`, `XRP_USDT_USDT-5m-futures.feather`.
fn parse_freqtrade_name(path: &Path, futures_dir: bool) -> Result<SourceFile, String> {
    let format = SourceFormat::from_path(path).filter(|f| *f != SourceFormat::Csv).ok_or("not a candle file format")?;
    let name = path.file_name().and_then(|n| n.to_str()).ok_or("file name is not UTF-8")?;
    let stem = format.strip_ext(name);
    let mut parts = stem.split('-');
    let (Some(pair_stem), Some(tf_text)) = (parts.next(), parts.next()) else {
        return Err("name is not PAIR-TIMEFRAME".into());
    };
    let candle_type = parts.next();
    if parts.next().is_some() {
        return Err("name is not PAIR-TIMEFRAME[-TYPE]".into());
    }
    let market = match candle_type {
        None | Some("spot") if !futures_dir => MarketType::Spot,
        None | Some("futures") if futures_dir => MarketType::Futures,
        Some("futures") => MarketType::Futures,
        Some(other) => return Err(format!("'{other}' candles are not price candles")),
        None => return Err("futures folder file without '-futures' candle type".into()),
    };
    let timeframe: Timeframe = tf_text.parse().map_err(|e: tradai_core::ParseError| e.to_string())?;
    let pair = pair_from_stem(pair_stem, market)
        .ok_or_else(|| format!("'{pair_stem}' is not a {market} pair name (BASE_QUOTE for spot, BASE_QUOTE_SETTLE for futures)"))?;
    Ok(SourceFile { path: path.to_path_buf(), pair, timeframe, format })
}

/// Reads one candle file of any [`SourceFormat`]. Rows are returned as stored (not sorted).
///
/// # Errors
/// [`StoreError::Io`] when the file cannot be opened; [`StoreError::SourceFile`] when it is
/// corrupt or truncated; [`StoreError::MissingColumn`] when a column is absent;
/// [`StoreError::InvalidValue`] for nulls or unreadable values.
pub fn read_candle_file(path: &Path, format: SourceFormat) -> Result<Candles, StoreError> {
    match format {
        SourceFormat::Feather => read_feather(path),
        SourceFormat::Json => read_json(path, false),
        SourceFormat::JsonGz => read_json(path, true),
        SourceFormat::Parquet => read_parquet(path),
        SourceFormat::Csv => read_csv(path),
    }
}

fn read_all(path: &Path) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| StoreError::io(path, e))
}

fn read_feather(path: &Path) -> Result<Candles, StoreError> {
    let bytes = read_all(path)?;
    let reader = arrow_ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| StoreError::source_file(path, "not a readable feather (arrow ipc) file", Some(Box::new(e))))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|e| StoreError::source_file(path, "corrupt feather data", Some(Box::new(e))))?;
    candles_from_batches(path, &schema, &batches)
}

fn read_parquet(path: &Path) -> Result<Candles, StoreError> {
    let bytes = bytes::Bytes::from(read_all(path)?);
    let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| StoreError::source_file(path, "not a readable parquet file", Some(Box::new(e))))?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| StoreError::source_file(path, "corrupt parquet data", Some(Box::new(e))))?;
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|e| StoreError::source_file(path, "corrupt parquet data", Some(Box::new(e))))?;
    candles_from_batches(path, &schema, &batches)
}

/// Converts Arrow batches with Freqtrade's columns into candles.
fn candles_from_batches(path: &Path, schema: &Schema, batches: &[RecordBatch]) -> Result<Candles, StoreError> {
    let idx =
        |name: &str| schema.index_of(name).map_err(|_| StoreError::MissingColumn { path: path.to_path_buf(), column: name.to_owned() });
    let cols = [idx("date")?, idx("open")?, idx("high")?, idx("low")?, idx("close")?, idx("volume")?];
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let mut out = Candles::with_capacity(rows);
    for b in batches {
        append_ts(path, b.column(cols[0]), &mut out.ts)?;
        let targets = [&mut out.open, &mut out.high, &mut out.low, &mut out.close, &mut out.volume];
        for ((&ci, name), target) in cols[1..].iter().zip(["open", "high", "low", "close", "volume"]).zip(targets) {
            append_f64(path, name, b.column(ci), target)?;
        }
    }
    Ok(out)
}

fn null_error(path: &Path, column: &str, array: &dyn Array) -> Result<(), StoreError> {
    if array.null_count() == 0 {
        return Ok(());
    }
    let row = (0..array.len()).find(|&i| array.is_null(i)).unwrap_or(0);
    Err(StoreError::InvalidValue {
        context: format!("'{}' column '{column}' row {row}", path.display()),
        value: "null".into(),
        reason: "candles cannot have missing values".into(),
    })
}

fn append_ts(path: &Path, a: &ArrayRef, out: &mut Vec<i64>) -> Result<(), StoreError> {
    null_error(path, "date", a.as_ref())?;
    let any = a.as_any();
    let bad = || StoreError::InvalidValue {
        context: format!("'{}' column 'date'", path.display()),
        value: a.data_type().to_string(),
        reason: "expected a timestamp or int64 epoch milliseconds".into(),
    };
    match a.data_type() {
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            let v = any.downcast_ref::<TimestampNanosecondArray>().ok_or_else(bad)?;
            out.extend(v.values().iter().map(|&x| x.div_euclid(1_000_000)));
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let v = any.downcast_ref::<TimestampMicrosecondArray>().ok_or_else(bad)?;
            out.extend(v.values().iter().map(|&x| x.div_euclid(1_000)));
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            out.extend_from_slice(any.downcast_ref::<TimestampMillisecondArray>().ok_or_else(bad)?.values());
        }
        DataType::Timestamp(TimeUnit::Second, _) => {
            let v = any.downcast_ref::<TimestampSecondArray>().ok_or_else(bad)?;
            out.extend(v.values().iter().map(|&x| x.saturating_mul(1_000)));
        }
        DataType::Int64 => out.extend_from_slice(any.downcast_ref::<Int64Array>().ok_or_else(bad)?.values()),
        _ => return Err(bad()),
    }
    Ok(())
}

fn append_f64(path: &Path, name: &str, a: &ArrayRef, out: &mut Vec<f64>) -> Result<(), StoreError> {
    null_error(path, name, a.as_ref())?;
    let any = a.as_any();
    let bad = || StoreError::InvalidValue {
        context: format!("'{}' column '{name}'", path.display()),
        value: a.data_type().to_string(),
        reason: "expected a number column".into(),
    };
    match a.data_type() {
        DataType::Float64 => out.extend_from_slice(any.downcast_ref::<Float64Array>().ok_or_else(bad)?.values()),
        DataType::Float32 => out.extend(any.downcast_ref::<Float32Array>().ok_or_else(bad)?.values().iter().map(|&x| f64::from(x))),
        #[allow(clippy::cast_precision_loss)] // volumes and prices far below 2^53
        DataType::Int64 => out.extend(any.downcast_ref::<Int64Array>().ok_or_else(bad)?.values().iter().map(|&x| x as f64)),
        DataType::Int32 => out.extend(any.downcast_ref::<Int32Array>().ok_or_else(bad)?.values().iter().map(|&x| f64::from(x))),
        _ => return Err(bad()),
    }
    Ok(())
}

fn read_json(path: &Path, gz: bool) -> Result<Candles, StoreError> {
    let raw = read_all(path)?;
    let text = if gz {
        let mut s = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut s)
            .map_err(|e| StoreError::source_file(path, "corrupt or truncated gzip data", Some(Box::new(e))))?;
        s
    } else {
        raw
    };
    let rows: Vec<[f64; 6]> = serde_json::from_slice(&text).map_err(|e| {
        StoreError::source_file(path, "not freqtrade candle json ([[ts_ms, open, high, low, close, volume], ...])", Some(Box::new(e)))
    })?;
    let mut out = Candles::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        #[allow(clippy::cast_possible_truncation)] // checked integral and in range just below
        let ts = r[0] as i64;
        if r[0].fract() != 0.0 || !r[0].is_finite() {
            return Err(StoreError::InvalidValue {
                context: format!("'{}' row {i}", path.display()),
                value: r[0].to_string(),
                reason: "timestamp must be whole epoch milliseconds".into(),
            });
        }
        out.push(tradai_core::CandleRow { ts, open: r[1], high: r[2], low: r[3], close: r[4], volume: r[5] });
    }
    Ok(out)
}

/// Parses a CSV timestamp: integer epoch milliseconds, or a date/date-time text (ISO 8601 /
/// RFC 3339, `YYYY-MM-DD HH:MM[:SS]`, with or without offset).
fn csv_ts(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    if let Ok(v) = t.parse::<f64>() {
        #[allow(clippy::cast_possible_truncation)]
        return (v.is_finite() && v.fract() == 0.0).then_some(v as i64);
    }
    parse_date_ms(t).ok()
}

fn read_csv(path: &Path) -> Result<Candles, StoreError> {
    let file = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).trim(csv::Trim::All).from_reader(std::io::BufReader::new(file));
    let csv_err = |e: csv::Error| StoreError::source_file(path, "not readable csv", Some(Box::new(e)));
    let headers: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(str::to_ascii_lowercase).collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let missing = |c: &str| StoreError::MissingColumn { path: path.to_path_buf(), column: c.to_owned() };
    let ts_col = find(&["date", "timestamp", "time", "datetime", "open_time", "ts"]).ok_or_else(|| missing("date"))?;
    let mut value_cols = [0usize; 5];
    for (slot, name) in value_cols.iter_mut().zip(["open", "high", "low", "close", "volume"]) {
        *slot = find(&[name]).ok_or_else(|| missing(name))?;
    }
    let mut out = Candles::default();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(csv_err)?;
        // Line numbers count the header as line 1.
        let line = i + 2;
        let field = |c: usize| rec.get(c).unwrap_or("");
        let t = field(ts_col);
        let ts = csv_ts(t).ok_or_else(|| StoreError::InvalidValue {
            context: format!("'{}' line {line} column '{}'", path.display(), headers[ts_col]),
            value: t.to_owned(),
            reason: "expected epoch milliseconds or an ISO 8601 date-time".into(),
        })?;
        let mut v = [0f64; 5];
        for (k, &c) in value_cols.iter().enumerate() {
            let text = field(c);
            v[k] = text.parse().map_err(|_| StoreError::InvalidValue {
                context: format!("'{}' line {line} column '{}'", path.display(), headers[c]),
                value: text.to_owned(),
                reason: "expected a number".into(),
            })?;
        }
        out.push(tradai_core::CandleRow { ts, open: v[0], high: v[1], low: v[2], close: v[3], volume: v[4] });
    }
    Ok(out)
}

/// Reads a markets file: a JSON object from CCXT pair to `{amount_step, limits: {amount:
/// {min, max}, cost: {min, max}}, price_tick | precision.price, contractSize, leverage_tiers}`
/// (the `meta.markets` shape of the conformance results; a whole results file with
/// `meta.markets` is accepted too). `leverage_tiers` is a list of CCXT leverage tiers
/// (`minNotional`, `maxNotional`, `maxLeverage`; snake_case keys work too), lowest first.
///
/// # Errors
/// [`StoreError::Io`] when unreadable, [`StoreError::SourceFile`] when not such JSON or a
/// leverage tier lacks its bounds, [`StoreError::Parse`] for a key that is not a pair.
pub fn read_markets(path: &Path) -> Result<Vec<Instrument>, StoreError> {
    let raw = read_all(path)?;
    let v: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| StoreError::source_file(path, "not json", Some(Box::new(e))))?;
    let map = v
        .pointer("/meta/markets")
        .or_else(|| v.get("markets"))
        .unwrap_or(&v)
        .as_object()
        .ok_or_else(|| StoreError::source_file(path, "expected a json object of pair -> market", None))?;
    let num = |m: &serde_json::Value, ptrs: &[&str]| ptrs.iter().find_map(|p| m.pointer(p).and_then(serde_json::Value::as_f64));
    let mut out = Vec::with_capacity(map.len());
    for (k, m) in map {
        let pair: Pair = k.parse().map_err(|source| StoreError::Parse { context: format!("markets file '{}'", path.display()), source })?;
        if !m.is_object() {
            return Err(StoreError::source_file(path, format!("market '{k}' is not a json object"), None));
        }
        let tiers = m.get("leverage_tiers").or_else(|| m.get("leverageTiers")).and_then(serde_json::Value::as_array);
        let leverage_tiers = tiers
            .into_iter()
            .flatten()
            .map(|t| {
                let (Some(min_notional), Some(max_leverage)) =
                    (num(t, &["/minNotional", "/min_notional"]), num(t, &["/maxLeverage", "/max_leverage"]))
                else {
                    return Err(StoreError::source_file(path, format!("a leverage tier of '{k}' lacks minNotional or maxLeverage"), None));
                };
                Ok(LeverageTier { min_notional, max_notional: num(t, &["/maxNotional", "/max_notional"]), max_leverage })
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.push(Instrument {
            pair,
            price_tick: num(m, &["/price_tick", "/precision/price"]),
            amount_step: num(m, &["/amount_step", "/precision/amount"]),
            min_amount: num(m, &["/limits/amount/min"]),
            min_notional: num(m, &["/limits/cost/min"]),
            contract_size: num(m, &["/contractSize", "/contract_size"]),
            max_amount: num(m, &["/limits/amount/max"]),
            max_notional: num(m, &["/limits/cost/max"]),
            leverage_tiers,
        });
    }
    Ok(out)
}

async fn read_in_background(path: PathBuf, format: SourceFormat) -> Result<Candles, StoreError> {
    let what = path.display().to_string();
    tokio::task::spawn_blocking(move || read_candle_file(&path, format)).await.map_err(|source| StoreError::Task { path: what, source })?
}

fn summary(c: &Candles) -> (Option<i64>, Option<i64>) {
    (c.ts.iter().min().copied(), c.ts.iter().max().copied())
}

impl CandleStore {
    /// Imports a Freqtrade data directory (see [`scan_freqtrade_dir`]) and, optionally, a
    /// markets file. Nothing is written unless every file reads cleanly.
    ///
    /// # Errors
    /// Any error of [`scan_freqtrade_dir`], [`read_candle_file`], [`read_markets`] (before
    /// anything is written) or [`CandleStore::append`].
    pub async fn import_freqtrade(&self, dir: &Path, opts: &FreqtradeImport, progress: Progress<'_>) -> Result<ImportReport, StoreError> {
        if !dir.is_dir() {
            let e = std::fs::metadata(dir).err().unwrap_or_else(|| std::io::Error::other("not a directory"));
            return Err(StoreError::io(dir, e));
        }
        let (files, skipped) = scan_freqtrade_dir(dir)?;
        let instruments = opts.markets.as_deref().map(read_markets).transpose()?.unwrap_or_default();
        let sources: Vec<(PathBuf, SeriesKey, SourceFormat)> =
            files.into_iter().map(|f| (f.path, SeriesKey::new(opts.exchange.clone(), f.pair, f.timeframe), f.format)).collect();
        let mut report = self.import_sources(sources, skipped, progress).await?;
        for i in &instruments {
            self.put_instrument(&opts.exchange, i).await?;
        }
        report.instruments = instruments;
        Ok(report)
    }

    /// Imports one candle file (CSV, feather, JSON, parquet: see [`SourceFormat`]) into `key`.
    ///
    /// # Errors
    /// [`StoreError::InvalidValue`] when the extension is not a known format, then as
    /// [`read_candle_file`] and [`CandleStore::append`].
    pub async fn import_file(&self, path: &Path, key: &SeriesKey, progress: Progress<'_>) -> Result<ImportReport, StoreError> {
        let format = SourceFormat::from_path(path).ok_or_else(|| StoreError::InvalidValue {
            context: "file to import".into(),
            value: path.display().to_string(),
            reason: "unknown extension (expected .csv, .feather, .json, .json.gz or .parquet)".into(),
        })?;
        self.import_sources(vec![(path.to_path_buf(), key.clone(), format)], Vec::new(), progress).await
    }

    async fn import_sources(
        &self,
        sources: Vec<(PathBuf, SeriesKey, SourceFormat)>,
        skipped: Vec<SkippedFile>,
        progress: Progress<'_>,
    ) -> Result<ImportReport, StoreError> {
        let total = sources.len();
        progress(ImportEvent::Scanned { files: total, skipped: skipped.len() });
        // Pass 1: read and check everything; keep what fits in the budget.
        let mut cache: Vec<Option<Arc<Candles>>> = Vec::with_capacity(total);
        let mut cached_rows = 0usize;
        for (index, (path, _, format)) in sources.iter().enumerate() {
            let c = read_in_background(path.clone(), *format).await?;
            progress(ImportEvent::Checked { index, total, path, rows: c.len() });
            if cached_rows + c.len() <= CACHE_BUDGET_ROWS {
                cached_rows += c.len();
                cache.push(Some(Arc::new(c)));
            } else {
                cache.push(None);
            }
        }
        // Pass 2: write.
        let mut report = ImportReport { skipped, ..ImportReport::default() };
        for (index, ((path, key, format), cached)) in sources.into_iter().zip(cache).enumerate() {
            let c = match cached {
                Some(c) => c,
                None => Arc::new(read_in_background(path.clone(), format).await?),
            };
            self.append(&key, &c).await?;
            let (first_ts, last_ts) = summary(&c);
            let file = ImportedFile { path, key, rows: c.len(), first_ts, last_ts };
            progress(ImportEvent::Written { index, total, file: &file });
            report.files.push(file);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freqtrade_names() {
        let f = parse_freqtrade_name(Path::new("/d/ETH_BTC-5m.feather"), false).unwrap();
        assert_eq!((f.pair.to_string(), f.timeframe, f.format), ("ETH/BTC".into(), Timeframe::M5, SourceFormat::Feather));
        let f = parse_freqtrade_name(Path::new("/d/futures/XRP_USDT_USDT-5m-futures.feather"), true).unwrap();
        assert_eq!(f.pair.to_string(), "XRP/USDT:USDT");
        let f = parse_freqtrade_name(Path::new("/d/ETH_BTC-1h.json.gz"), false).unwrap();
        assert_eq!(f.format, SourceFormat::JsonGz);
        for (name, fut) in [
            ("ETH_BTC-trades.feather", false),
            ("XRP_USDT_USDT-1h-funding_rate.feather", true),
            ("XRP_USDT_USDT-1h-mark.feather", true),
            ("ETH_BTC-5m.txt", false),
            ("ETH-5m.feather", false),
            ("XRP_USDT-5m-futures.feather", true),
            ("ETH_BTC-1M.feather", false),
        ] {
            assert!(parse_freqtrade_name(Path::new(name), fut).is_err(), "{name}");
        }
    }

    #[test]
    fn csv_timestamps() {
        assert_eq!(csv_ts("1515553500000"), Some(1_515_553_500_000));
        assert_eq!(csv_ts("1515553500000.0"), Some(1_515_553_500_000));
        assert_eq!(csv_ts("2018-01-10T03:05:00Z"), Some(1_515_553_500_000));
        assert_eq!(csv_ts("2018-01-10 03:05:00+00:00"), Some(1_515_553_500_000));
        assert_eq!(csv_ts("2018-01-10 03:05:00"), Some(1_515_553_500_000));
        assert_eq!(csv_ts("yesterday"), None);
    }
}
