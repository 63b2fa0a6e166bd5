//! Key-by-key comparison of a summary (as JSON) against a reference summary, for conformance
//! tests and the CLI.
//!
//! Walks the *expected* value: every key it has must exist in the actual value and match.
//! Extra keys in the actual value are ignored, because Freqtrade's full export carries more
//! keys than the trimmed reference files and either may be on the expected side.

use serde_json::Value;

/// Differences smaller than this count as equal whatever their relative size, so that a value
/// that is zero on one side and float noise (1e-18) on the other does not fail.
const ABS_FLOOR: f64 = 1e-12;

/// Lists every place where `actual` differs from `expected`, one line each, with a JSON path
/// such as `wallet_stats.sharpe` or `results_per_pair[3].wins`.
///
/// Numbers match when `|a − e| ≤ rel_tol·max(|a|, |e|)` (or both are within 1e-12 of each
/// other); integers and floats compare by value (`3` equals `3.0`). Strings, booleans and
/// nulls must be equal, arrays must have the same length. An empty result means they match.
#[must_use]
pub fn compare_summaries(actual: &Value, expected: &Value, rel_tol: f64) -> Vec<String> {
    let mut out = Vec::new();
    walk("", actual, expected, rel_tol, &mut out);
    out
}

fn numbers_match(a: f64, e: f64, rel_tol: f64) -> bool {
    if a == e || (a.is_nan() && e.is_nan()) {
        return true;
    }
    let diff = (a - e).abs();
    diff <= ABS_FLOOR || diff <= rel_tol * a.abs().max(e.abs())
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, actual: &Value, expected: &Value, rel_tol: f64, out: &mut Vec<String>) {
    let here = if path.is_empty() { "<root>" } else { path };
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => walk(&join(path, k), av, ev, rel_tol, out),
                    None => out.push(format!("{}: missing (expected {ev})", join(path, k))),
                }
            }
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() == e.len() {
                for (i, (av, ev)) in a.iter().zip(e).enumerate() {
                    walk(&format!("{path}[{i}]"), av, ev, rel_tol, out);
                }
            } else {
                out.push(format!("{here}: {} elements, expected {}", a.len(), e.len()));
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (af, ef) = (a.as_f64().unwrap_or(f64::NAN), e.as_f64().unwrap_or(f64::NAN));
            if !numbers_match(af, ef, rel_tol) {
                let rel = (af - ef).abs() / af.abs().max(ef.abs());
                out.push(format!("{here}: {a} != expected {e} (relative difference {rel:.3e})"));
            }
        }
        (a, e) if a == e => {}
        (a, e) => out.push(format!("{here}: {a} != expected {e}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_within_tolerance() {
        let e = json!({"a": 1.0, "b": {"c": [1, 2.5]}, "s": "x", "n": null});
        let a = json!({"a": 1.000_000_1, "b": {"c": [1.0, 2.5]}, "s": "x", "n": null, "extra": 3});
        assert!(compare_summaries(&a, &e, 1e-6).is_empty());
    }

    #[test]
    fn lists_each_difference_with_its_path() {
        let e = json!({"a": 1.0, "b": {"c": [1, 2]}, "s": "x", "m": true, "z": 0.0});
        let a = json!({"a": 1.1, "b": {"c": [1, 3]}, "s": "y", "z": 1e-15});
        let d = compare_summaries(&a, &e, 1e-6);
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].starts_with("a: 1.1 != expected 1.0"));
        assert!(d[1].starts_with("b.c[1]: 3 != expected 2"));
        assert!(d.iter().any(|l| l.starts_with("m: missing")));
        assert!(d.iter().any(|l| l.starts_with("s: \"y\" != expected \"x\"")));
    }

    #[test]
    fn array_length_mismatch() {
        let d = compare_summaries(&json!({"l": [1]}), &json!({"l": [1, 2]}), 1e-6);
        assert_eq!(d, vec!["l: 1 elements, expected 2".to_owned()]);
    }
}
