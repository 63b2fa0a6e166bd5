//! Wallet-based metrics (`wallet_stats`) against the expected files, using balance series
//! rebuilt from the reference trades and candles (see `tests/fixtures/README.md`).

use std::io::Read as _;
use std::path::PathBuf;

use tradai_metrics::{compare_summaries, summarize};

use crate::reference::Reference;
use crate::RUNS;

/// Reads `tests/fixtures/<run>.balance.txt.gz`: a `# start_ms=… step_ms=…` header, then one
/// balance per line.
fn balance_series(run: &str) -> Vec<(i64, f64)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{run}.balance.txt.gz"));
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let field = |name: &str| -> i64 {
        header
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing in header {header:?}"))
            .parse()
            .unwrap()
    };
    let (start, step) = (field("start_ms"), field("step_ms"));
    lines.enumerate().map(|(i, l)| (start + i as i64 * step, l.trim().parse().unwrap())).collect()
}

#[test]
fn wallet_stats_match_freqtrade() {
    let mut failures = Vec::new();
    for run in RUNS {
        let r = Reference::load(run);
        let series = balance_series(run);
        let actual = serde_json::to_value(summarize(&r.input(&series))).unwrap();
        let expected = r.expected_summary();
        // The whole summary, wallet block included, to the conformance tolerance…
        for d in compare_summaries(&actual, expected, 1e-6) {
            failures.push(format!("{run}: {d}"));
        }
        // …and the wallet block much tighter: only summation order can differ.
        for d in compare_summaries(&actual["wallet_stats"], &expected["wallet_stats"], 1e-9) {
            failures.push(format!("{run} (1e-9): wallet_stats.{d}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
