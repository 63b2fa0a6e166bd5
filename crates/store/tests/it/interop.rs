//! Store interop: a stored file read by pandas / pyarrow (the tools a researcher reaches for)
//! gives the candles and names its exchange, market, pair and timeframe.
//!
//! Needs a Python with pandas and pyarrow: `TRADAI_TEST_PYTHON` (scripts/test.sh points it at
//! the venv it installs) or `python3`. Skips, saying why, only when neither has them. When that
//! Python also has fastparquet, the file is read with it too.

use std::process::Command;

use tradai_core::TimeRange;
use tradai_store::Columns;

use crate::{freqtrade_dir, key, temp_store};

/// A Python with pandas and pyarrow, or the reason there is none.
fn python() -> Result<String, String> {
    let candidates: Vec<String> = std::env::var("TRADAI_TEST_PYTHON").into_iter().chain(["python3".to_owned()]).collect();
    for py in &candidates {
        let ok = Command::new(py).args(["-c", "import pandas, pyarrow"]).output().is_ok_and(|o| o.status.success());
        if ok {
            return Ok(py.clone());
        }
    }
    Err(format!("none of {candidates:?} can import pandas and pyarrow (set TRADAI_TEST_PYTHON or run scripts/test.sh)"))
}

const SCRIPT: &str = r#"
import json, sys
import pandas as pd
import pyarrow.parquet as pq
path = sys.argv[1]

def fastparquet(path):
    # Optional third reader: None when not installed, else what it read.
    try:
        import fastparquet as fp
    except ImportError:
        return None
    d = fp.ParquetFile(path).to_pandas()
    return {"rows": len(d), "close_sum": float(d["close"].sum()), "volume_last": float(d["volume"].iloc[-1])}

meta = {k.decode(): v.decode() for k, v in pq.read_metadata(path).metadata.items() if not k.startswith(b"ARROW:")}
df = pd.read_parquet(path)
print(json.dumps({
    "meta": {k: meta[k] for k in ("exchange", "market", "pair", "timeframe")},
    "attrs": df.attrs,
    "columns": list(df.columns),
    "dtypes": [str(t) for t in df.dtypes],
    "rows": len(df),
    "first_ms": int(df["date"].iloc[0].value // 1_000_000),
    "close_sum": float(df["close"].sum()),
    "volume_last": float(df["volume"].iloc[-1]),
    "fastparquet": fastparquet(path),
}))
"#;

#[test]
fn pandas_reads_a_stored_file_and_gets_the_pair_back() {
    let py = match python() {
        Ok(p) => p,
        Err(why) => {
            println!("SKIPPED pandas_reads_a_stored_file_and_gets_the_pair_back: {why}");
            return;
        }
    };
    let (dir, store) = temp_store();
    let opts = tradai_store::FreqtradeImport { exchange: crate::binance(), markets: None };
    store.import_freqtrade(&freqtrade_dir(), &opts, &mut |_| {}).unwrap();

    for (pair, stem, market, folder) in
        [("ETH/BTC", "ETH_BTC", "spot", "spot/ETH_BTC/5m"), ("XRP/USDT:USDT", "XRP_USDT_USDT", "futures", "futures/XRP_USDT_USDT/5m")]
    {
        let k = key(pair, "5m");
        let c = store.read(&k, TimeRange::all(), Columns::ALL).unwrap();
        let file = std::fs::read_dir(dir.path().join("binance").join(folder)).unwrap().next().unwrap().unwrap().path();
        let out = Command::new(&py).args(["-c", SCRIPT]).arg(&file).output().unwrap();
        assert!(out.status.success(), "{stem}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["meta"], serde_json::json!({"exchange": "binance", "market": market, "pair": pair, "timeframe": "5m"}), "{stem}");
        assert_eq!(v["attrs"]["pair"], pair, "pandas DataFrame.attrs");
        assert_eq!(v["columns"], serde_json::json!(["date", "open", "high", "low", "close", "volume"]));
        assert_eq!(v["dtypes"][0], "datetime64[ms, UTC]");

        // The file holds one month; compare with the same month read through the store.
        let first = v["first_ms"].as_i64().unwrap();
        let n = usize::try_from(v["rows"].as_u64().unwrap()).unwrap();
        let at = c.ts.iter().position(|&t| t == first).unwrap();
        let month = c.slice(at..at + n);
        let sum: f64 = month.close.iter().sum();
        assert!((v["close_sum"].as_f64().unwrap() - sum).abs() <= sum.abs() * 1e-12, "{stem}");
        assert_eq!(v["volume_last"].as_f64().unwrap().to_bits(), month.volume[n - 1].to_bits(), "{stem}");
        // fastparquet cannot decode BYTE_STREAM_SPLIT, which the store no longer writes.
        match v.get("fastparquet").filter(|f| !f.is_null()) {
            Some(f) => {
                assert_eq!(f["rows"].as_u64(), Some(n as u64), "{stem}: fastparquet");
                assert!((f["close_sum"].as_f64().unwrap() - sum).abs() <= sum.abs() * 1e-12, "{stem}: fastparquet");
                assert_eq!(f["volume_last"].as_f64().unwrap().to_bits(), month.volume[n - 1].to_bits(), "{stem}: fastparquet");
            }
            None => println!("{stem}: fastparquet is not installed in {py}; read with pandas/pyarrow only"),
        }
    }
}
