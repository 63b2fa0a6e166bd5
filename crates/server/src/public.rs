//! What the API shows of the server's file system: nothing. Job errors (a store error quotes
//! the file it could not read) and tracked runs (the embedded store's `artifact_uri` is a
//! `file:///…` URL) pass through here before they are answered, so a client learns the data
//! a message is about (the pair's month file) but not where the server keeps it.

use serde_json::Value;

/// Replaces absolute server paths in `text`: a `file://` URL becomes `<server file>`, an
/// absolute path keeps only its last three components (`…/ETH_BTC/5m/2024-01.parquet`). API
/// routes (`/api/…`) are left alone.
#[must_use]
pub fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    for c in text.chars() {
        if is_separator(c) {
            push_token(&mut out, &token);
            token.clear();
            out.push(c);
        } else {
            token.push(c);
        }
    }
    push_token(&mut out, &token);
    out
}

fn push_token(out: &mut String, token: &str) {
    if token.starts_with("file://") {
        out.push_str("<server file>");
    } else if token.starts_with('/') && !token.starts_with("/api/") && token.matches('/').count() >= 2 {
        let parts: Vec<&str> = token.split('/').filter(|p| !p.is_empty()).collect();
        out.push('…');
        for p in &parts[parts.len() - parts.len().min(3)..] {
            out.push('/');
            out.push_str(p);
        }
    } else {
        out.push_str(token);
    }
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | '[' | ']' | ',' | ';' | '=' | '<' | '>')
}

/// [`scrub`] on every string of a JSON document.
pub fn scrub_json(v: &mut Value) {
    match v {
        Value::String(s) => {
            if s.contains('/') {
                *s = scrub(s);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub_json),
        Value::Object(o) => o.values_mut().for_each(scrub_json),
        _ => {}
    }
}

/// A tracked run (or a search result) as the API shows it: a run's `file:` artifact root
/// becomes `runs:/<run id>` (MLflow's spelling of "this run's artifacts"), and any other
/// server path is scrubbed.
pub fn run_view(v: &mut Value) {
    match v {
        Value::Object(o) => {
            let run_id = o.get("run_id").and_then(Value::as_str).map(str::to_owned);
            if let (Some(Value::String(uri)), Some(id)) = (o.get_mut("artifact_uri"), run_id) {
                if uri.starts_with("file:") {
                    *uri = format!("runs:/{id}");
                }
            }
            o.values_mut().for_each(run_view);
        }
        Value::Array(a) => a.iter_mut().for_each(run_view),
        other => scrub_json(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cut_and_routes_kept() {
        assert_eq!(
            scrub("cannot read '/srv/tradai/data/binance/spot/ETH_BTC/5m/2024-01.parquet': bad magic"),
            "cannot read '…/ETH_BTC/5m/2024-01.parquet': bad magic"
        );
        assert_eq!(scrub("see /api/v1/runs/abc for the run"), "see /api/v1/runs/abc for the run");
        assert_eq!(scrub("artifacts at file:///srv/x/artifacts/1 (gone)"), "artifacts at <server file> (gone)");
        assert_eq!(scrub("ratio 1/2 and a/b/c stay"), "ratio 1/2 and a/b/c stay");
        assert_eq!(scrub("unknown strategy 'Nope'"), "unknown strategy 'Nope'");
    }

    #[test]
    fn run_views_point_at_the_run_not_the_disk() {
        let mut v = serde_json::json!({"run": {"info": {"run_id": "r1", "artifact_uri": "file:///srv/tracking/artifacts/1/r1/artifacts"}},
            "artifacts": [{"path": "export.json"}]});
        run_view(&mut v);
        assert_eq!(v["run"]["info"]["artifact_uri"], "runs:/r1");
        assert!(!v.to_string().contains("/srv"), "{v}");
    }
}
