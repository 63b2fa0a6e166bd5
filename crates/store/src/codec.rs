//! Parquet encoding of one partition: plain columns any Parquet reader understands.
//!
//! Schema: `date` as `timestamp[ms, tz=UTC]` (pandas reads it as `datetime64[ms, UTC]`, polars
//! as `Datetime(ms, UTC)`), then `open high low close volume` as non-null `float64`. The
//! encodings are tuned for candles (see [`writer_properties`]); readers need nothing special.
//!
//! # What each file carries besides candles
//!
//! Key-value metadata in the footer names the series (`exchange`, `market`, `pair`,
//! `timeframe`), so a file copied out of the store still says what it holds; the same facts as
//! `PANDAS_ATTRS` JSON, which pandas turns into `DataFrame.attrs`.
//!
//! A CRC-32 of the file's data (every byte before the page index and footer) sits in
//! `tradai.data_crc32`, with the length it covers in `tradai.data_len`, and is checked on
//! every read: a file changed after it was written (a bad disk, a copy gone wrong, stray
//! writes) is reported as corrupt, naming the file, instead of giving wrong candles. Parquet's
//! own page CRCs would do the same, but the Rust writer does not write them. The footer itself
//! is not covered (it holds the checksum); damage there makes the footer undecodable, or the
//! row counts and statistics disagree with the data, which reads also check. Files written
//! before checksums existed carry none and are read as before; the next append to their
//! month adds one.

use std::ops::{BitOr, Range};
use std::sync::Arc;

use arrow_array::{Array, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{KeyValue, PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use rayon::prelude::*;
use tradai_core::Candles;

use crate::{SeriesKey, StoreError};

/// Footer key of the CRC-32 (8 hex digits) of the file's first `tradai.data_len` bytes.
const KV_CRC: &str = "tradai.data_crc32";
/// Footer key of the number of bytes the CRC covers.
const KV_CRC_LEN: &str = "tradai.data_len";

/// Name of the timestamp column (Freqtrade's name, so its users find what they expect).
pub(crate) const DATE: &str = "date";
const VALUE_COLUMNS: [&str; 5] = ["open", "high", "low", "close", "volume"];

/// Which value columns to read; `date` is always read. Unrequested columns come back empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Columns(u8);

impl Columns {
    /// Only timestamps.
    pub const NONE: Self = Self(0);
    /// Open prices.
    pub const OPEN: Self = Self(1);
    /// High prices.
    pub const HIGH: Self = Self(2);
    /// Low prices.
    pub const LOW: Self = Self(4);
    /// Close prices.
    pub const CLOSE: Self = Self(8);
    /// Volumes.
    pub const VOLUME: Self = Self(16);
    /// Open, high, low and close.
    pub const OHLC: Self = Self(15);
    /// Every column.
    pub const ALL: Self = Self(31);

    /// Whether every column of `other` is included.
    #[must_use]
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The value column at position `i` of `open high low close volume`.
    fn nth(i: usize) -> Self {
        Self(1 << i)
    }
}

impl Default for Columns {
    fn default() -> Self {
        Self::ALL
    }
}

impl BitOr for Columns {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Compression and encoding knobs of the files the store writes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WriteTuning {
    /// Zstandard level (1 fastest … 22 smallest). Level 1 is the default: on candles the
    /// encodings already remove most redundancy, and level 3 gains under 0.1 %.
    pub zstd_level: i32,
    /// Dictionary-encode prices. Synthetic and most exchange prices sit on a tick grid with
    /// few distinct values per month, where a dictionary halves the size compared with
    /// `BYTE_STREAM_SPLIT`; for high-entropy columns the writer falls back to plain pages by
    /// itself once the dictionary outgrows its page limit.
    pub price_dictionary: bool,
    /// `BYTE_STREAM_SPLIT` for volume and for price pages that fall back from the dictionary
    /// (`PLAIN` otherwise). Splitting the bytes of each double groups sign and exponent bytes,
    /// which zstd squeezes better, but fastparquet cannot decode it. Off by default: on real
    /// Binance candles it saves under half a byte per candle (docs/BENCHMARKS.md), not worth
    /// locking a common reader out. (Prices rarely reach the fallback: a month of 1m candles
    /// has far fewer distinct prices than the dictionary holds.)
    pub byte_stream_split: bool,
}

impl Default for WriteTuning {
    fn default() -> Self {
        Self { zstd_level: 1, price_dictionary: true, byte_stream_split: false }
    }
}

pub(crate) fn schema() -> Arc<Schema> {
    let mut fields = vec![Field::new(DATE, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false)];
    fields.extend(VALUE_COLUMNS.iter().map(|c| Field::new(*c, DataType::Float64, false)));
    Arc::new(Schema::new(fields))
}

/// The footer entries that name the series of a file.
fn series_metadata(key: &SeriesKey) -> Vec<KeyValue> {
    let facts = [
        ("exchange", key.exchange.to_string()),
        ("market", key.market_type().to_string()),
        ("pair", key.pair.to_string()),
        ("timeframe", key.timeframe.to_string()),
    ];
    let attrs: serde_json::Map<String, serde_json::Value> = facts.iter().map(|(k, v)| ((*k).to_owned(), v.clone().into())).collect();
    let mut kv: Vec<KeyValue> = facts.into_iter().map(|(k, v)| KeyValue::new(k.to_owned(), v)).collect();
    kv.push(KeyValue::new("PANDAS_ATTRS".to_owned(), serde_json::Value::Object(attrs).to_string()));
    kv
}

fn writer_properties(t: WriteTuning, rows: usize, key: &SeriesKey) -> Result<WriterProperties, StoreError> {
    let level = ZstdLevel::try_new(t.zstd_level).map_err(|e| StoreError::InvalidValue {
        context: "zstd level".into(),
        value: t.zstd_level.to_string(),
        reason: e.to_string(),
    })?;
    let mut b = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(level))
        // Price statistics would serve no query of ours and cost ~3 % of encode time; the date
        // column's (set below) give `list` its first/last candle without reading data pages.
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from(DATE), EnabledStatistics::Chunk)
        // One row group per partition: files are a month of data, and a single group lets
        // the reader decode each column in one pass.
        .set_max_row_group_row_count(Some(rows.max(1)))
        .set_sorting_columns(Some(vec![SortingColumn { column_idx: 0, descending: false, nulls_first: false }]))
        .set_created_by(concat!("tradai-store ", env!("CARGO_PKG_VERSION")).to_owned())
        .set_key_value_metadata(Some(series_metadata(key)))
        // Timestamps step by the timeframe: delta encoding turns them into a few bits each.
        .set_column_encoding(ColumnPath::from(DATE), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from(DATE), false);
    for (i, c) in VALUE_COLUMNS.iter().enumerate() {
        let is_volume = i == 4;
        let dict = t.price_dictionary && !is_volume;
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), dict);
        // The encoding of volume, and the fallback of prices when the dictionary is off or
        // overflows (see `WriteTuning::byte_stream_split`).
        let plain = if t.byte_stream_split { Encoding::BYTE_STREAM_SPLIT } else { Encoding::PLAIN };
        b = b.set_column_encoding(ColumnPath::from(*c), plain);
    }
    Ok(b.build())
}

/// Encodes candles (sorted, unique timestamps) of `key` as one Parquet file with its series
/// metadata and data checksum. Takes the candles by value so their vectors become the Arrow
/// buffers without a copy.
pub(crate) fn encode(c: Candles, tuning: WriteTuning, key: &SeriesKey) -> Result<Vec<u8>, StoreError> {
    let n = c.len();
    let to_err = |e: &dyn std::fmt::Display| StoreError::InvalidValue {
        context: "candles to write".into(),
        value: format!("{n} rows"),
        reason: e.to_string(),
    };
    if [c.open.len(), c.high.len(), c.low.len(), c.close.len(), c.volume.len()].iter().any(|&l| l != n) {
        return Err(to_err(&"columns have different lengths"));
    }
    let f = |v: Vec<f64>| Arc::new(Float64Array::new(ScalarBuffer::from(v), None)) as Arc<dyn Array>;
    let Candles { ts, open, high, low, close, volume } = c;
    // The series facts go into the Arrow schema's metadata as well as the footer: pyarrow
    // (and so pandas) takes a file's schema metadata from the embedded Arrow schema.
    let facts: std::collections::HashMap<String, String> =
        series_metadata(key).into_iter().filter_map(|kv| Some((kv.key, kv.value?))).collect();
    let schema = Arc::new(schema().as_ref().clone().with_metadata(facts));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(TimestampMillisecondArray::new(ScalarBuffer::from(ts), None).with_timezone("UTC")),
            f(open),
            f(high),
            f(low),
            f(close),
            f(volume),
        ],
    )
    .map_err(|e| to_err(&e))?;
    let mut w = ArrowWriter::try_new(Vec::with_capacity(n * 24 + 4096), schema, Some(writer_properties(tuning, n, key)?))
        .map_err(|e| to_err(&e))?;
    w.write(&batch).map_err(|e| to_err(&e))?;
    // Close the row group and push it out of the writer's buffer, so the bytes so far are
    // the data the checksum covers; the footer written by `into_inner` then carries it.
    w.flush().map_err(|e| to_err(&e))?;
    w.sync().map_err(|e| to_err(&e))?;
    let data = w.inner();
    let crc = crc32fast::hash(data);
    let len = data.len();
    w.append_key_value_metadata(KeyValue::new(KV_CRC.to_owned(), format!("{crc:08x}")));
    w.append_key_value_metadata(KeyValue::new(KV_CRC_LEN.to_owned(), len.to_string()));
    w.into_inner().map_err(|e| to_err(&e))
}

/// Checks the data checksum a file's footer carries (files without one pass).
fn verify_checksum(path: &str, bytes: &[u8], md: &ParquetMetaData) -> Result<(), StoreError> {
    let Some(kv) = md.file_metadata().key_value_metadata() else { return Ok(()) };
    let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.as_deref());
    let (Some(crc), Some(len)) = (get(KV_CRC), get(KV_CRC_LEN)) else { return Ok(()) };
    let bad = |what: String| StoreError::corrupt(path, what, None);
    let want = u32::from_str_radix(crc, 16).map_err(|_| bad(format!("unreadable checksum '{crc}' in footer")))?;
    let len: usize = len.parse().map_err(|_| bad(format!("unreadable checksum length '{len}' in footer")))?;
    let Some(data) = bytes.get(..len) else {
        return Err(bad(format!("checksum covers {len} bytes but the file has {}", bytes.len())));
    };
    let got = crc32fast::hash(data);
    if got != want {
        return Err(bad(format!(
            "checksum mismatch (footer says crc32 {want:08x}, data has {got:08x}): the file changed after it was written"
        )));
    }
    Ok(())
}

/// Rows decoded per record batch. Small batches keep the decoder's buffers in cache and
/// below the allocator's mmap threshold, so they are reused rather than page-faulted in anew.
const READ_BATCH_ROWS: usize = 8 * 1024;

/// A partition opened for reading: its footer parsed and the rows a read keeps located.
pub(crate) struct PartitionRead {
    path: String,
    bytes: Bytes,
    meta: ArrowReaderMetadata,
    /// Row indices (in file order) with `ts` inside the requested window.
    keep: Range<usize>,
}

impl PartitionRead {
    /// Parses the footer and finds the rows in `[start, end)`: from the footer statistics
    /// when the whole file is inside the window, otherwise by decoding the date column.
    pub(crate) fn open(path: String, bytes: Bytes, start: Option<i64>, end: Option<i64>) -> Result<Self, StoreError> {
        let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Skip);
        let meta = ArrowReaderMetadata::load(&bytes, opts)
            .map_err(|e| StoreError::corrupt(&path, "not a readable parquet file", Some(Box::new(e))))?;
        verify_checksum(&path, &bytes, meta.metadata())?;
        let rows = usize::try_from(meta.metadata().file_metadata().num_rows()).unwrap_or(0);
        let summary = summarize(&path, meta.metadata())?;
        let inside = match (summary.first_ts, summary.last_ts) {
            (Some(lo), Some(hi)) => start.is_none_or(|s| lo >= s) && end.is_none_or(|e| hi < e),
            _ => rows == 0,
        };
        let mut part = Self { path, bytes, meta, keep: 0..rows };
        if !inside {
            let mut ts = Vec::with_capacity(rows);
            part.extend_ts(&mut ts)?;
            let a = start.map_or(0, |s| ts.partition_point(|&t| t < s));
            let b = end.map_or(rows, |e| ts.partition_point(|&t| t < e)).max(a);
            part.keep = a..b;
        }
        Ok(part)
    }

    /// Number of rows the read keeps from this file.
    pub(crate) fn kept(&self) -> usize {
        self.keep.len()
    }

    fn corrupt(&self, reason: &str) -> StoreError {
        StoreError::corrupt(&self.path, reason, None)
    }

    /// Decodes one column batch by batch, handing each batch's array and the kept part of it.
    fn for_each_batch(&self, name: &str, mut f: impl FnMut(&dyn Array, Range<usize>) -> Result<(), StoreError>) -> Result<(), StoreError> {
        let path = self.path.as_str();
        let idx = self.meta.schema().index_of(name).map_err(|_| self.corrupt(&format!("missing column '{name}'")))?;
        let mask = ProjectionMask::roots(self.meta.parquet_schema(), [idx]);
        let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(self.bytes.clone(), self.meta.clone())
            .with_projection(mask)
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| StoreError::corrupt(path, "cannot decode", Some(Box::new(e))))?;
        let mut pos = 0usize;
        for batch in reader {
            let batch = batch.map_err(|e| StoreError::corrupt(path, "cannot decode", Some(Box::new(e))))?;
            let n = batch.num_rows();
            let (lo, hi) = (self.keep.start.max(pos), self.keep.end.min(pos + n));
            if lo < hi {
                let col = batch.column(0);
                if col.null_count() > 0 {
                    return Err(self.corrupt(&format!("column '{name}' has nulls")));
                }
                f(col.as_ref(), lo - pos..hi - pos)?;
            }
            pos += n;
        }
        if pos < self.keep.end {
            return Err(self.corrupt(&format!("footer promises {} rows, data has {pos}", self.keep.end)));
        }
        Ok(())
    }

    /// Appends the kept timestamps to `out`.
    fn extend_ts(&self, out: &mut Vec<i64>) -> Result<(), StoreError> {
        self.for_each_batch(DATE, |a, r| {
            let t = a
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .ok_or_else(|| self.corrupt(&format!("column 'date' has type {}, expected timestamp[ms]", a.data_type())))?;
            out.extend_from_slice(&t.values()[r]);
            Ok(())
        })
    }

    /// Appends the kept values of a value column to `out`.
    fn extend_values(&self, name: &str, out: &mut Vec<f64>) -> Result<(), StoreError> {
        self.for_each_batch(name, |a, r| {
            let v = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| self.corrupt(&format!("column '{name}' has type {}, expected double", a.data_type())))?;
            out.extend_from_slice(&v.values()[r]);
            Ok(())
        })
    }
}

/// Decodes several partitions (in time order) into one series. Work is split by column, not
/// by file: each column is decoded through all files by one task straight into its final
/// vector, so there is a single copy and no zero-filled or concatenated buffers (allocation
/// and page-fault costs exceeded decoding when files were decoded separately and joined).
pub(crate) fn decode_partitions(parts: &[PartitionRead], columns: Columns) -> Result<Candles, StoreError> {
    let total: usize = parts.iter().map(PartitionRead::kept).sum();
    let ts_task = || -> Result<Vec<i64>, StoreError> {
        let mut v = Vec::with_capacity(total);
        for p in parts {
            p.extend_ts(&mut v)?;
        }
        Ok(v)
    };
    let value_task = |i: usize| -> Result<Vec<f64>, StoreError> {
        if !columns.contains(Columns::nth(i)) {
            return Ok(Vec::new());
        }
        let mut v = Vec::with_capacity(total);
        for p in parts {
            p.extend_values(VALUE_COLUMNS[i], &mut v)?;
        }
        Ok(v)
    };
    let (ts, values) = rayon::join(ts_task, || (0..VALUE_COLUMNS.len()).into_par_iter().map(value_task).collect::<Vec<_>>());
    let ts = ts?;
    let mut values = values.into_iter();
    let mut next = || values.next().unwrap_or(Ok(Vec::new()));
    let (open, high, low, close, volume) = (next()?, next()?, next()?, next()?, next()?);
    Ok(Candles { ts, open, high, low, close, volume })
}

/// Decodes a whole partition file (all columns).
pub(crate) fn decode_all(path: &str, bytes: Bytes) -> Result<Candles, StoreError> {
    let part = PartitionRead::open(path.to_owned(), bytes, None, None)?;
    decode_partitions(std::slice::from_ref(&part), Columns::ALL)
}

/// What the footer of a partition says, without reading its data pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FooterSummary {
    pub rows: u64,
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
}

/// Length of the footer metadata given the file's last 8 bytes, or an error if they are not
/// a Parquet trailer.
pub(crate) fn footer_len(path: &str, trailer: &[u8]) -> Result<usize, StoreError> {
    if trailer.len() < 8 || &trailer[trailer.len() - 4..] != b"PAR1" {
        return Err(StoreError::corrupt(path, "no parquet trailer (truncated file?)", None));
    }
    let n = trailer.len();
    let len = u32::from_le_bytes([trailer[n - 8], trailer[n - 7], trailer[n - 6], trailer[n - 5]]);
    Ok(len as usize)
}

/// Decodes the footer metadata (the `footer_len` bytes before the trailer).
pub(crate) fn summarize_footer(path: &str, meta: &[u8]) -> Result<FooterSummary, StoreError> {
    let md: ParquetMetaData = ParquetMetaDataReader::decode_metadata(meta)
        .map_err(|e| StoreError::corrupt(path, "unreadable parquet footer", Some(Box::new(e))))?;
    summarize(path, &md)
}

/// Row count and date range from parsed footer metadata.
fn summarize(path: &str, md: &ParquetMetaData) -> Result<FooterSummary, StoreError> {
    let rows = u64::try_from(md.file_metadata().num_rows()).unwrap_or(0);
    let date_idx = md
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == DATE)
        .ok_or_else(|| StoreError::corrupt(path, "missing column 'date'", None))?;
    let mut first_ts: Option<i64> = None;
    let mut last_ts: Option<i64> = None;
    for rg in md.row_groups() {
        if rg.num_rows() == 0 {
            continue;
        }
        match rg.column(date_idx).statistics() {
            Some(Statistics::Int64(s)) => {
                if let (Some(&lo), Some(&hi)) = (s.min_opt(), s.max_opt()) {
                    first_ts = Some(first_ts.map_or(lo, |f| f.min(lo)));
                    last_ts = Some(last_ts.map_or(hi, |l| l.max(hi)));
                    continue;
                }
                return Err(StoreError::corrupt(path, "no date statistics in footer", None));
            }
            _ => return Err(StoreError::corrupt(path, "no date statistics in footer", None)),
        }
    }
    Ok(FooterSummary { rows, first_ts, last_ts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_core::CandleRow;

    fn sample(n: i64) -> Candles {
        let mut c = Candles::default();
        for i in 0..n {
            let p = 100.0 + (i as f64) * 0.01;
            c.push(CandleRow { ts: 1_514_764_800_000 + i * 60_000, open: p, high: p + 0.05, low: p - 0.05, close: p + 0.01, volume: 3.0 });
        }
        c
    }

    fn test_key() -> SeriesKey {
        SeriesKey::new(tradai_core::ExchangeId::new("binance").unwrap(), "ETH/BTC".parse().unwrap(), "1m".parse().unwrap())
    }

    fn read(bytes: &Bytes, columns: Columns, start: Option<i64>, end: Option<i64>) -> Candles {
        let p = PartitionRead::open("t".into(), bytes.clone(), start, end).unwrap();
        decode_partitions(&[p], columns).unwrap()
    }

    #[test]
    fn round_trip_with_projection_and_range() {
        // More rows than one read batch, so batch boundaries are crossed.
        let c = sample(20_000);
        let bytes = Bytes::from(encode(c.clone(), WriteTuning::default(), &test_key()).unwrap());
        assert_eq!(decode_all("t", bytes.clone()).unwrap(), c);
        let part = read(&bytes, Columns::CLOSE, Some(c.ts[10]), Some(c.ts[20]));
        assert_eq!(part.ts, c.ts[10..20]);
        assert_eq!(part.close, c.close[10..20]);
        assert!(part.open.is_empty() && part.volume.is_empty());
        let mid = read(&bytes, Columns::ALL, Some(c.ts[8000]), Some(c.ts[17_000] + 1));
        assert_eq!(mid, c.slice(8000..17_001));
        assert!(read(&bytes, Columns::ALL, Some(c.ts[19_999] + 1), None).is_empty());

        // Two files into one output.
        let a = PartitionRead::open("a".into(), bytes.clone(), None, Some(c.ts[100])).unwrap();
        let b = PartitionRead::open("b".into(), bytes.clone(), Some(c.ts[19_900]), None).unwrap();
        let both = decode_partitions(&[a, b], Columns::ALL).unwrap();
        let mut expect = c.slice(0..100);
        expect.extend_from(&c.slice(19_900..20_000));
        assert_eq!(both, expect);

        let n = bytes.len();
        let len = footer_len("t", &bytes[n - 8..]).unwrap();
        let s = summarize_footer("t", &bytes[n - 8 - len..n - 8]).unwrap();
        assert_eq!(s, FooterSummary { rows: 20_000, first_ts: Some(c.ts[0]), last_ts: Some(c.ts[19_999]) });
    }

    #[test]
    fn truncated_file_is_corrupt_and_named() {
        let bytes = encode(sample(100), WriteTuning::default(), &test_key()).unwrap();
        let cut = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
        let e = decode_all("binance/spot/X_Y/5m/2018-01.parquet", cut).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
        assert!(e.to_string().contains("2018-01.parquet"), "{e}");
        assert!(footer_len("p", &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn footer_names_the_series_and_a_changed_byte_is_caught() {
        let bytes = encode(sample(5000), WriteTuning::default(), &test_key()).unwrap();
        let md = ParquetMetaDataReader::new().parse_and_finish(&Bytes::from(bytes.clone())).unwrap();
        let kv: std::collections::HashMap<_, _> =
            md.file_metadata().key_value_metadata().unwrap().iter().map(|e| (e.key.clone(), e.value.clone().unwrap_or_default())).collect();
        assert_eq!(kv["exchange"], "binance");
        assert_eq!(kv["market"], "spot");
        assert_eq!(kv["pair"], "ETH/BTC");
        assert_eq!(kv["timeframe"], "1m");
        let attrs: serde_json::Value = serde_json::from_str(&kv["PANDAS_ATTRS"]).unwrap();
        assert_eq!(attrs["pair"], "ETH/BTC");
        let covered: usize = kv[KV_CRC_LEN].parse().unwrap();
        assert!(covered > bytes.len() / 2 && covered < bytes.len());

        // Flip one bit in every position of the data region in turn (sampled): each is caught
        // by the checksum or by the decoder, never read back as other numbers.
        for pos in (4..covered).step_by(97) {
            let mut bad = bytes.clone();
            bad[pos] ^= 0x10;
            let e = decode_all("binance/spot/ETH_BTC/1m/2018-01.parquet", Bytes::from(bad)).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::Corrupt, "byte {pos}: {e}");
            assert!(e.to_string().contains("ETH_BTC/1m/2018-01.parquet"), "{e}");
        }
        let mut bad = bytes.clone();
        bad[covered / 2] ^= 1;
        let e = decode_all("f", Bytes::from(bad)).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch"), "{e}");
    }

    #[test]
    fn columns_combine() {
        let c = Columns::OPEN | Columns::CLOSE;
        assert!(c.contains(Columns::CLOSE) && !c.contains(Columns::HIGH));
        assert!(Columns::ALL.contains(Columns::OHLC | Columns::VOLUME));
    }
}
