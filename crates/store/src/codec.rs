//! Parquet encoding of one partition: plain columns any Parquet reader understands.
//!
//! Schema: `date` as `timestamp[ms, tz=UTC]` (pandas reads it as `datetime64[ms, UTC]`, polars
//! as `Datetime(ms, UTC)`), then `open high low close volume` as non-null `float64`. The
//! encodings are tuned for candles (see [`writer_properties`]); readers need nothing special.

use std::ops::BitOr;
use std::sync::Arc;

use arrow_array::{Array, Float64Array, RecordBatch, TimestampMillisecondArray};
use arrow_buffer::ScalarBuffer;
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use bytes::Bytes;
use parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData, ParquetMetaDataReader, SortingColumn};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use tradai_core::Candles;

use crate::StoreError;

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
}

impl Default for WriteTuning {
    fn default() -> Self {
        Self { zstd_level: 1, price_dictionary: true }
    }
}

pub(crate) fn schema() -> Arc<Schema> {
    let mut fields = vec![Field::new(DATE, DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false)];
    fields.extend(VALUE_COLUMNS.iter().map(|c| Field::new(*c, DataType::Float64, false)));
    Arc::new(Schema::new(fields))
}

fn writer_properties(t: WriteTuning, rows: usize) -> Result<WriterProperties, StoreError> {
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
        // Timestamps step by the timeframe: delta encoding turns them into a few bits each.
        .set_column_encoding(ColumnPath::from(DATE), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(ColumnPath::from(DATE), false);
    for (i, c) in VALUE_COLUMNS.iter().enumerate() {
        let is_volume = i == 4;
        let dict = t.price_dictionary && !is_volume;
        b = b.set_column_dictionary_enabled(ColumnPath::from(*c), dict);
        // Splitting the bytes of each double groups the sign/exponent bytes, which zstd then
        // squeezes well; it is the fallback encoding when the dictionary is off or overflows.
        b = b.set_column_encoding(ColumnPath::from(*c), Encoding::BYTE_STREAM_SPLIT);
    }
    Ok(b.build())
}

/// Encodes candles (sorted, unique timestamps) as one Parquet file. Takes the candles by
/// value so their vectors become the Arrow buffers without a copy.
pub(crate) fn encode(c: Candles, tuning: WriteTuning) -> Result<Vec<u8>, StoreError> {
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
    let batch = RecordBatch::try_new(
        schema(),
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
    let mut w = ArrowWriter::try_new(Vec::with_capacity(n * 24 + 4096), schema(), Some(writer_properties(tuning, n)?))
        .map_err(|e| to_err(&e))?;
    w.write(&batch).map_err(|e| to_err(&e))?;
    w.into_inner().map_err(|e| to_err(&e))
}

/// The rows of one partition that a read keeps, as zero-copy slices of the decoded Arrow
/// buffers (one entry per record batch). Value columns not requested stay empty.
#[derive(Debug, Default)]
pub(crate) struct DecodedPart {
    ts: Vec<ScalarBuffer<i64>>,
    values: [Vec<ScalarBuffer<f64>>; 5],
}

impl DecodedPart {
    fn rows(&self) -> usize {
        self.ts.iter().map(|b| b.len()).sum()
    }
}

/// Decodes a partition file, keeping rows with `ts` in `[start, end)` and only the requested
/// columns. `path` names the file in errors.
pub(crate) fn decode(
    path: &str,
    bytes: Bytes,
    columns: Columns,
    start: Option<i64>,
    end: Option<i64>,
) -> Result<DecodedPart, StoreError> {
    let corrupt = |e: &dyn std::fmt::Display| StoreError::corrupt(path, e.to_string(), None);
    let opts = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Skip);
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(bytes, opts)
        .map_err(|e| StoreError::corrupt(path, "not a readable parquet file", Some(Box::new(e))))?;
    let arrow_schema = builder.schema().clone();
    let index_of = |name: &str| arrow_schema.index_of(name).map_err(|_| corrupt(&format!("missing column '{name}'")));
    let mut wanted = vec![index_of(DATE)?];
    for (i, name) in VALUE_COLUMNS.iter().enumerate() {
        if columns.contains(Columns::nth(i)) {
            wanted.push(index_of(name)?);
        }
    }
    let rows = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(rows.max(1))
        .build()
        .map_err(|e| StoreError::corrupt(path, "cannot decode", Some(Box::new(e))))?;
    let mut out = DecodedPart::default();
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::corrupt(path, "cannot decode", Some(Box::new(e))))?;
        let ts_col = batch.column_by_name(DATE).ok_or_else(|| corrupt(&"missing column 'date'"))?;
        let ts = ts_col
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .ok_or_else(|| corrupt(&format!("column 'date' has type {}, expected timestamp[ms]", ts_col.data_type())))?;
        if ts.null_count() > 0 {
            return Err(corrupt(&"column 'date' has nulls"));
        }
        let tsv = ts.values();
        let a = start.map_or(0, |s| tsv.partition_point(|&t| t < s));
        let b = end.map_or(tsv.len(), |e| tsv.partition_point(|&t| t < e)).max(a);
        out.ts.push(tsv.slice(a, b - a));
        for (i, name) in VALUE_COLUMNS.iter().enumerate() {
            if !columns.contains(Columns::nth(i)) {
                continue;
            }
            let col = batch.column_by_name(name).ok_or_else(|| corrupt(&format!("missing column '{name}'")))?;
            let v = col
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| corrupt(&format!("column '{name}' has type {}, expected double", col.data_type())))?;
            if v.null_count() > 0 {
                return Err(corrupt(&format!("column '{name}' has nulls")));
            }
            out.values[i].push(v.values().slice(a, b - a));
        }
    }
    Ok(out)
}

/// Concatenates decoded partitions (in time order) into candles: one copy per column, the
/// columns filled in parallel.
pub(crate) fn assemble(parts: &[DecodedPart]) -> Candles {
    fn gather<T: Copy + Send + Sync>(total: usize, bufs: impl Iterator<Item = ScalarBuffer<T>>) -> Vec<T>
    where
        T: arrow_buffer::ArrowNativeType,
    {
        let mut v = Vec::with_capacity(total);
        for b in bufs {
            v.extend_from_slice(&b);
        }
        v
    }
    let total: usize = parts.iter().map(DecodedPart::rows).sum();
    let col = |i: usize| {
        let any = parts.iter().any(|p| !p.values[i].is_empty());
        if any {
            gather(total, parts.iter().flat_map(|p| p.values[i].iter().cloned()))
        } else {
            Vec::new()
        }
    };
    let mut c = Candles::default();
    let (mut open, mut high, mut low, mut close, mut volume) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    rayon::scope(|s| {
        s.spawn(|_| open = col(0));
        s.spawn(|_| high = col(1));
        s.spawn(|_| low = col(2));
        s.spawn(|_| close = col(3));
        s.spawn(|_| volume = col(4));
        c.ts = gather(total, parts.iter().flat_map(|p| p.ts.iter().cloned()));
    });
    c.open = open;
    c.high = high;
    c.low = low;
    c.close = close;
    c.volume = volume;
    c
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

    #[test]
    fn round_trip_with_projection_and_range() {
        let c = sample(1000);
        let bytes = Bytes::from(encode(c.clone(), WriteTuning::default()).unwrap());
        let all = assemble(&[decode("t", bytes.clone(), Columns::ALL, None, None).unwrap()]);
        assert_eq!(all, c);
        let half = decode("t", bytes.clone(), Columns::ALL, None, Some(c.ts[500])).unwrap();
        let rest = decode("t", bytes.clone(), Columns::ALL, Some(c.ts[500]), None).unwrap();
        assert_eq!(assemble(&[half, rest]), c);
        let part = assemble(&[decode("t", bytes.clone(), Columns::CLOSE, Some(c.ts[10]), Some(c.ts[20])).unwrap()]);
        assert_eq!(part.ts, c.ts[10..20]);
        assert_eq!(part.close, c.close[10..20]);
        assert!(part.open.is_empty() && part.volume.is_empty());

        let n = bytes.len();
        let len = footer_len("t", &bytes[n - 8..]).unwrap();
        let s = summarize_footer("t", &bytes[n - 8 - len..n - 8]).unwrap();
        assert_eq!(s, FooterSummary { rows: 1000, first_ts: Some(c.ts[0]), last_ts: Some(c.ts[999]) });
    }

    #[test]
    fn truncated_file_is_corrupt_and_named() {
        let bytes = encode(sample(100), WriteTuning::default()).unwrap();
        let cut = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
        let e = decode("binance/spot/X_Y/5m/2018-01.parquet", cut, Columns::ALL, None, None).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Corrupt);
        assert!(e.to_string().contains("2018-01.parquet"), "{e}");
        assert!(footer_len("p", &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn columns_combine() {
        let c = Columns::OPEN | Columns::CLOSE;
        assert!(c.contains(Columns::CLOSE) && !c.contains(Columns::HIGH));
        assert!(Columns::ALL.contains(Columns::OHLC | Columns::VOLUME));
    }
}
