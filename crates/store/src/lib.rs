//! Candle storage for TradAI: partitioned Parquet files on a local directory or S3, import
//! from Freqtrade data directories and CSV, data validation, freshness and synthetic data.
//!
//! # Layout and format
//!
//! `<root>/<exchange>/<spot|futures>/<PAIR_STEM>/<timeframe>/<YYYY-MM>.parquet` (one file per
//! UTC month for timeframes under a day, `<YYYY>.parquet` per year otherwise), with the pair's
//! `instrument.json` beside its timeframe folders. Files are plain Parquet (zstd): `date` as
//! `timestamp[ms, UTC]` and `open high low close volume` as `float64`, so pandas, polars or
//! DuckDB read them without TradAI; each file's footer names its exchange, market, pair and
//! timeframe (key-value metadata, and `DataFrame.attrs` in pandas). There is no manifest: listings come from the files and
//! their footers, so nothing can disagree with the data after a crash.
//!
//! # Guarantees
//!
//! Every file is written whole and atomically (temp file + rename locally, a single `PUT` on
//! S3); readers never see a half-written file, and a crash leaves each partition old or new
//! and the series readable. See [`CandleStore`]'s module for the multi-partition details.
//!
//! Concurrent writers of one series are serialised (a file lock per series locally,
//! conditional puts on object stores), so no append is lost. Every file carries a CRC-32 of
//! its data, checked on read: a damaged file is an error naming it, never wrong candles, and
//! it affects its own series only (listings and validation report it and go on).
//! [`CandleStore::quarantine_corrupt`] moves damaged files aside.
//!
//! # Reading the files without TradAI
//!
//! ```text
//! pandas: pd.read_parquet("<root>/binance/spot/ETH_BTC/5m/")
//! polars: pl.read_parquet("<root>/binance/spot/ETH_BTC/5m/*.parquet")
//! ```
//!
//! A writer killed mid-write can leave a staging file `<name>.parquet#<n>` beside the
//! partitions. TradAI ignores it; a directory reader such as pandas may not, so use a
//! `*.parquet` glob or clear them with [`CandleStore::remove_temp_files`].
//!
//! # Features
//!
//! * `s3` — `s3://bucket/prefix` locations through `object_store`'s AWS back end (off by
//!   default; it adds an HTTP and TLS stack).
//!
//! Architecture invariant: this crate knows candles, files and object stores; it knows
//! nothing of strategies, the CLI (no clap, no progress bars: it reports through callbacks)
//! or exchanges' HTTP APIs.

mod blocking;
mod codec;
mod error;
mod freshness;
mod import;
mod layout;
mod lock;
mod store;
mod synth;
mod validate;

pub use blocking::BlockingCandleStore;
pub use codec::{Columns, WriteTuning};
pub use error::{BoxError, ErrorKind, StoreError};
pub use freshness::{freshness, Freshness};
pub use import::{
    read_candle_file, read_markets, scan_freqtrade_dir, FreqtradeImport, ImportEvent, ImportReport, ImportedFile, Progress, SkippedFile,
    SourceFile, SourceFormat,
};
pub use layout::SeriesKey;
pub use store::{
    s3_object_store, AppendReport, CandleStore, QuarantinedFile, SeriesInfo, StoreOptions, MAX_WRITE_ATTEMPTS, QUARANTINE_DIR,
};
pub use synth::{synth, synth_series, SynthSpec};
pub use validate::{validate_candles, CorruptFile, Gap, OhlcIssue, OhlcProblem, ValidationReport};
