//! `GoLiveValidationReport`: whether a strategy may trade real money, from facts its caller
//! gathered (the registry's Production version, the node state's dry-run reports, the venue's
//! answer to a signed account call, the node's risk limits).
//!
//! The checks follow the seeds' go-live gate; each has a severity (`ERROR` blocks go-live) and
//! `overall_passed` is true when no `ERROR` check failed, as in the dry-run report.

use serde::{Deserialize, Serialize};

use crate::report::{Severity, ValidationCheck};

/// What a go-live check found out; every field is a fact, not a judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoLiveFacts {
    /// The strategy.
    pub strategy: String,
    /// Its Production version in the registry, if one is registered.
    pub production_version: Option<u64>,
    /// A passed dry-run report of that version: the node that made it and when (epoch ms).
    pub passed_dry_run: Option<(String, i64)>,
    /// Exchange key and secret are both set.
    pub keys_present: bool,
    /// The venue's answer to a signed account call: `Ok` when it accepted the keys, else
    /// what it said (`None`: not asked, the keys are missing or the venue unreachable).
    pub keys_accepted: Option<Result<(), String>>,
    /// Whether the venue answered at all (server time), or why not.
    pub venue_reachable: Result<(), String>,
    /// The drawdown limit that trips the kill switch (`--max-drawdown`).
    pub max_drawdown: Option<f64>,
}

/// The go-live gate of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoLiveValidationReport {
    /// The strategy.
    pub strategy_id: String,
    /// Its Production version, if any.
    pub strategy_version: Option<u64>,
    /// When the report was made, epoch ms.
    pub created_ms: i64,
    /// Every check, passed or not.
    pub checks: Vec<ValidationCheck>,
    /// No `ERROR` check failed.
    pub overall_passed: bool,
    /// Names of the failed `ERROR` checks.
    pub failed_checks: Vec<String>,
}

fn check(name: &str, severity: Severity, passed: bool, message: String) -> ValidationCheck {
    ValidationCheck { name: name.to_owned(), severity, passed, value: if passed { 1.0 } else { 0.0 }, threshold: 1.0, message }
}

/// The report of `facts`, made at `now_ms`.
#[must_use]
pub fn go_live_report(facts: &GoLiveFacts, now_ms: i64) -> GoLiveValidationReport {
    let mut checks = Vec::new();
    checks.push(check(
        "production_version",
        Severity::Error,
        facts.production_version.is_some(),
        match facts.production_version {
            Some(v) => format!("version {v} of '{}' is in Production", facts.strategy),
            None => format!("no Production version of '{}' is registered (see `tradai models promote`)", facts.strategy),
        },
    ));
    checks.push(check(
        "dry_run_report",
        Severity::Error,
        facts.passed_dry_run.is_some(),
        match (&facts.passed_dry_run, facts.production_version) {
            (Some((bot, _)), Some(v)) => format!("node '{bot}' passed its dry-run report on version {v}"),
            (_, Some(v)) => {
                format!("no passed dry-run report on live candles for version {v} (replays do not count; `tradai trade report`)")
            }
            _ => "no dry-run report can count without a Production version".to_owned(),
        },
    ));
    checks.push(check(
        "exchange_keys",
        Severity::Error,
        facts.keys_present,
        if facts.keys_present {
            "exchange key and secret are set".to_owned()
        } else {
            "exchange key or secret missing (exchange.api_key / exchange.api_secret, exchange.key_file, exchange.secret_id, or binance.api_key / binance.api_secret)".to_owned()
        },
    ));
    checks.push(check(
        "venue_reachable",
        Severity::Error,
        facts.venue_reachable.is_ok(),
        match &facts.venue_reachable {
            Ok(()) => "the venue answered".to_owned(),
            Err(e) => format!("the venue did not answer: {e}"),
        },
    ));
    checks.push(check(
        "keys_accepted",
        Severity::Error,
        matches!(facts.keys_accepted, Some(Ok(()))),
        match &facts.keys_accepted {
            Some(Ok(())) => "a signed account call was accepted".to_owned(),
            Some(Err(e)) => format!("the venue refused a signed account call: {e}"),
            None => "not checked (keys missing or venue unreachable)".to_owned(),
        },
    ));
    let dd_ok = facts.max_drawdown.is_some_and(|d| d > 0.0 && d < 1.0);
    checks.push(check(
        "drawdown_limit",
        Severity::Error,
        dd_ok,
        match facts.max_drawdown {
            Some(d) if dd_ok => format!("the kill switch stops entries at a {:.1}% drawdown", d * 100.0),
            Some(d) => format!("invalid drawdown limit {d}: must be between 0 and 1"),
            None => "no drawdown limit: pass --max-drawdown (e.g. 0.2) so the kill switch can trip".to_owned(),
        },
    ));
    // Nothing in the platform schedules a heartbeat check yet; say so rather than pretend.
    checks.push(check(
        "heartbeat_check",
        Severity::Warning,
        false,
        "no scheduled heartbeat check exists; watch `tradai trade list` or backend-api GET /api/v1/trading for stale nodes".to_owned(),
    ));
    let failed_checks: Vec<String> = checks.iter().filter(|c| c.severity == Severity::Error && !c.passed).map(|c| c.name.clone()).collect();
    GoLiveValidationReport {
        strategy_id: facts.strategy.clone(),
        strategy_version: facts.production_version,
        created_ms: now_ms,
        overall_passed: failed_checks.is_empty(),
        failed_checks,
        checks,
    }
}

/// The report as text: one line per check, then the verdict.
#[must_use]
pub fn render_text(r: &GoLiveValidationReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ =
        writeln!(s, "GoLiveValidationReport: {}{}", r.strategy_id, r.strategy_version.map(|v| format!(" version {v}")).unwrap_or_default());
    crate::report::render_checks(&mut s, &r.checks, r.overall_passed);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> GoLiveFacts {
        GoLiveFacts {
            strategy: "EmaCross".into(),
            production_version: Some(3),
            passed_dry_run: Some(("EmaCross-dry-run".into(), 1)),
            keys_present: true,
            keys_accepted: Some(Ok(())),
            venue_reachable: Ok(()),
            max_drawdown: Some(0.2),
        }
    }

    #[test]
    fn every_fact_in_place_passes_with_the_heartbeat_warning() {
        let r = go_live_report(&good(), 5);
        assert!(r.overall_passed, "{r:?}");
        assert_eq!(r.strategy_version, Some(3));
        let hb = r.checks.iter().find(|c| c.name == "heartbeat_check").unwrap();
        assert!(!hb.passed && hb.severity == Severity::Warning);
        assert!(render_text(&r).ends_with("overall: PASSED\n"));
    }

    /// A check's name and how to break the fact it reads.
    type Breakage = (&'static str, fn(&mut GoLiveFacts));

    #[test]
    fn each_missing_fact_fails_its_own_check() {
        let cases: [Breakage; 6] = [
            ("production_version", |f| f.production_version = None),
            ("dry_run_report", |f| f.passed_dry_run = None),
            ("exchange_keys", |f| f.keys_present = false),
            ("venue_reachable", |f| f.venue_reachable = Err("connection refused".into())),
            ("keys_accepted", |f| f.keys_accepted = Some(Err("-2015 Invalid API-key".into()))),
            ("drawdown_limit", |f| f.max_drawdown = Some(1.5)),
        ];
        for (name, break_it) in cases {
            let mut f = good();
            break_it(&mut f);
            let r = go_live_report(&f, 5);
            assert!(!r.overall_passed, "{name}");
            assert_eq!(r.failed_checks, vec![name.to_owned()], "{name}");
        }
        let r = go_live_report(&GoLiveFacts { max_drawdown: None, ..good() }, 5);
        assert!(render_text(&r).contains("--max-drawdown"), "{}", render_text(&r));
    }
}
