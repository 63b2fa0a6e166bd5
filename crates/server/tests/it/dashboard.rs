//! The dashboard as backend-api serves it, and the reads and actions its pages call: files with
//! their types, validators and policy, the API unchanged beside them, a real backtest's plot,
//! export and trade pages, a real hyperopt run's loss plot and "backtest this config", the
//! stored series, the sync pass-through, and the registry's promote and rollback.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use tradai_tracking::strategy::{register_strategy, StrategyRegistration};
use tradai_tracking::{EmbeddedStore, Tracking};

use crate::{call, env, env_local, env_with_state, settings, wait_status, GOOD};

/// One raw request: status, headers and body bytes.
async fn raw(app: &axum::Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut b = Request::builder().uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = app.clone().oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    (parts.status, parts.headers, axum::body::to_bytes(body, usize::MAX).await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_its_files_are_served_with_type_validator_and_policy() {
    let e = env(None).await;
    let (status, h, body) = raw(&e.app, "/", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert!(String::from_utf8(body).unwrap().contains("<script type=\"module\" src=\"/assets/app.js\">"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["cache-control"], "no-cache");
    let etag = h["etag"].to_str().unwrap().to_owned();

    // The browser's copy is current: 304 without a body; a stale copy gets the file.
    let (status, _, body) = raw(&e.app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (status, _, _) = raw(&e.app, "/", &[("if-none-match", "\"0000000000000000\"")]).await;
    assert_eq!(status, StatusCode::OK);

    // Every embedded file at its path, with its type, byte for byte.
    for a in tradai_dashboard::ASSETS {
        let (status, h, body) = raw(&e.app, a.path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{}", a.path);
        assert_eq!(h["content-type"], a.content_type, "{}", a.path);
        assert_eq!(body, a.body, "{}", a.path);
    }
    let (status, h, body) = raw(&e.app, "/assets/missing.js", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(h["content-type"].to_str().unwrap().starts_with("application/json"));
    assert!(String::from_utf8_lossy(&body).contains("/assets/missing.js"));

    // The API is where it was, JSON as before; the page's extra reads are in the spec.
    let (status, health) = call(&e.app, "GET", "/api/v1/health", None, &[]).await;
    assert_eq!((status, health["service"].as_str()), (StatusCode::OK, Some("backend-api")));
    let (_, spec) = call(&e.app, "GET", "/openapi.json", None, &[]).await;
    let paths = spec["paths"].as_object().unwrap();
    for p in [
        "/api/v1/backtests",
        "/api/v1/backtests/{id}",
        "/api/v1/backtests/{id}/trades",
        "/api/v1/backtests/{id}/report",
        "/api/v1/hyperopt/{id}/heatmap",
        "/api/v1/jobs",
        "/api/v1/trading",
        "/api/v1/runs",
        "/api/v1/backtests/{id}/equity",
        "/api/v1/backtests/{id}/export",
        "/api/v1/backtests/{id}/trade-table",
        "/api/v1/hyperopt/{id}/loss",
        "/api/v1/hyperopt/{id}/backtest",
        "/api/v1/data/series",
        "/api/v1/data/sync",
        "/api/v1/models",
        "/api/v1/models/{name}/promote",
        "/api/v1/models/{name}/rollback",
        "/api/v1/auth",
    ] {
        assert!(paths.contains_key(p), "{p} missing from backend-api's OpenAPI document");
    }
    assert!(paths.keys().all(|p| p.starts_with("/api/v1/") || p == "/metrics"), "every API route stays under /api/v1");

    // Without keys the page is told no key is needed; with one, that a key is.
    let (_, a) = call(&e.app, "GET", "/api/v1/auth", None, &[]).await;
    assert_eq!(a["keys_required"], false);
    e.keys.create("dash").unwrap();
    let (_, a) = call(&e.app, "GET", "/api/v1/auth", None, &[]).await;
    assert_eq!(a["keys_required"], true);
    let (status, _) = call(&e.app, "POST", "/api/v1/models/EmaCross/rollback", None, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "promote and rollback need the key once keys exist");
    let (status, _) = call(&e.app, "POST", "/api/v1/data/sync", Some("{}"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_backtest_serves_its_plot_export_and_sorted_trade_pages() {
    let e = env_local().await;
    let (status, sub) = call(&e.app, "POST", "/api/v1/backtests", Some(GOOD), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let (status, _) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/equity"), None, &[]).await;
    assert!(matches!(status, StatusCode::CONFLICT | StatusCode::OK), "before it completes: 409 ({status})");
    let done = wait_status(&e.app, &format!("/api/v1/jobs/{id}"), "COMPLETED", Duration::from_secs(120)).await;
    let n = done["result"]["trade_count"].as_u64().unwrap();
    assert!(n >= 3, "the synthetic market gives trades: {done}");

    let (status, h, svg) = raw(&e.app, &format!("/api/v1/backtests/{id}/equity"), &[]).await;
    assert_eq!((status, h["content-type"].to_str().unwrap()), (StatusCode::OK, "image/svg+xml"));
    assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));

    let (status, h, body) = raw(&e.app, &format!("/api/v1/backtests/{id}/export"), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["content-disposition"].to_str().unwrap(), format!("attachment; filename=\"backtest-{id}.json\""));
    let export: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let trades = export["trades"].as_array().unwrap();
    assert_eq!(trades.len() as u64, n);

    // Sorted by profit, descending, then paged: the pages are slices of the one order.
    let (status, all) =
        call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trade-table?sort=profit_abs&desc=true&limit=500"), None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"].as_u64(), Some(n));
    let profits: Vec<f64> = all["trades"].as_array().unwrap().iter().map(|t| t["profit_abs"].as_f64().unwrap()).collect();
    assert!(profits.windows(2).all(|w| w[0] >= w[1]), "{profits:?}");
    let (_, page) =
        call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trade-table?sort=profit_abs&desc=true&offset=1&limit=2"), None, &[]).await;
    assert_eq!(page["trades"].as_array().unwrap()[..], all["trades"].as_array().unwrap()[1..3]);
    assert_eq!((page["offset"].as_u64(), page["limit"].as_u64()), (Some(1), Some(2)));
    let (_, by_pair) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trade-table?sort=pair"), None, &[]).await;
    let pairs: Vec<&str> = by_pair["trades"].as_array().unwrap().iter().map(|t| t["pair"].as_str().unwrap()).collect();
    assert!(pairs.windows(2).all(|w| w[0] <= w[1]), "{pairs:?}");

    // Bad paging is a 400 naming the parameter and quoting the value.
    let (status, err) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trade-table?sort=secret"), None, &[]).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("sort")));
    assert!(err["error"]["message"].as_str().unwrap().contains("'secret'"));
    let (status, err) = call(&e.app, "GET", &format!("/api/v1/backtests/{id}/trade-table?limit=0"), None, &[]).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")));
    let (status, _) = call(&e.app, "GET", "/api/v1/backtests/00000000-0000-0000-0000-000000000000/equity", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    e.pool.shutdown();
}

const HYPEROPT: &str = r#"{"strategy":"EmaCross","pairs":["ETH/BTC","LTC/BTC"],"timeframe":"5m","stake_amount":0.05,"dry_run_wallet":1,
"epochs":10,"spaces":["buy","stoploss"],"loss":"profit","sampler":"tpe","seed":5,"jobs":1}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hyperopt_run_plots_its_loss_and_backtests_its_best_config() {
    let e = env_local().await;
    let (status, sub) = call(&e.app, "POST", "/api/v1/hyperopt", Some(HYPEROPT), &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let id = sub["job_id"].as_str().unwrap().to_owned();
    let done = wait_status(&e.app, &format!("/api/v1/hyperopt/{id}"), "COMPLETED", Duration::from_secs(180)).await;

    let (status, h, svg) = raw(&e.app, &format!("/api/v1/hyperopt/{id}/loss"), &[]).await;
    assert_eq!((status, h["content-type"].to_str().unwrap()), (StatusCode::OK, "image/svg+xml"));
    let svg = String::from_utf8(svg).unwrap();
    assert_eq!(svg.matches("<circle").count(), 10, "a dot per epoch");
    assert!(svg.contains("EmaCross hyperopt"));

    // One click: a backtest of the best parameters over the same market and window.
    let (status, bt) = call(&e.app, "POST", &format!("/api/v1/hyperopt/{id}/backtest"), None, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{bt}");
    let bid = bt["job_id"].as_str().unwrap().to_owned();
    assert_eq!(bt["status_url"], format!("/api/v1/backtests/{bid}"));
    let b = wait_status(&e.app, &format!("/api/v1/jobs/{bid}"), "COMPLETED", Duration::from_secs(120)).await;
    let best = &done["result"]["best_params"];
    for k in ["fast", "slow"] {
        assert_eq!(b["request"]["params"][k], best[k], "the backtest runs the best {k}: {b}");
    }
    assert_eq!(b["request"]["overrides"]["stoploss"], best["stoploss"], "{b}");
    assert_eq!(b["request"]["pairs"], serde_json::json!(["ETH/BTC", "LTC/BTC"]));
    // The best epoch's in-sample profit is what the backtest of its config makes.
    let in_sample = done["result"]["in_sample"]["profit_total_abs"].as_f64().unwrap();
    let backtest = b["result"]["summary"]["profit_total_abs"].as_f64().unwrap();
    assert!((in_sample - backtest).abs() < 1e-9, "in-sample {in_sample} vs backtest {backtest}");

    let (status, _) = call(&e.app, "POST", &format!("/api/v1/hyperopt/{bid}/backtest"), None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a backtest id is not a hyperopt run");
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_series_show_first_last_gaps_and_staleness_and_syncs_pass_through() {
    let e = env(None).await;
    let (status, s) = call(&e.app, "GET", "/api/v1/data/series", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let series = s["series"].as_array().unwrap();
    let pairs: Vec<&str> = series.iter().map(|x| x["symbol"].as_str().unwrap()).collect();
    assert_eq!(pairs, ["ETH/BTC", "LTC/BTC"]);
    for x in series {
        assert_eq!(x["timeframe"], "5m");
        assert_eq!(x["gaps"], 0, "synthetic candles have no holes: {x}");
        assert!(x["first"].as_str().unwrap() < x["last"].as_str().unwrap());
        assert_eq!(x["row_count"], 576, "two days of 5m candles");
        let age = x["age_hours"].as_f64().unwrap();
        assert_eq!(x["stale"], age > 24.0, "{x}");
    }
    // A threshold above the age marks them fresh.
    let age = series[0]["age_hours"].as_f64().unwrap();
    let (_, s) = call(&e.app, "GET", &format!("/api/v1/data/series?stale_hours={}", age + 1000.0), None, &[]).await;
    assert_eq!(s["series"][0]["stale"], false);
    let (status, err) = call(&e.app, "GET", "/api/v1/data/series?stale_hours=-1", None, &[]).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("stale_hours")));
    let (status, err) = call(&e.app, "GET", "/api/v1/data/series?timeframe=7x", None, &[]).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("timeframe")), "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("7x"), "{err}");
    let (_, s5) = call(&e.app, "GET", "/api/v1/data/series?timeframe=5m", None, &[]).await;
    assert_eq!(s5["series"].as_array().unwrap().len(), 2);
    let (_, s1) = call(&e.app, "GET", "/api/v1/data/series?timeframe=1h", None, &[]).await;
    assert!(s1["series"].as_array().unwrap().is_empty());

    // The sync route answers exactly as data-collection does (this one runs no syncs: 503).
    let body = r#"{"exchange":"binance","pairs":["BTC/USDT"],"timeframe":"1h","start":"2024-01-01"}"#;
    let direct = reqwest::Client::new()
        .post(format!("{}/api/v1/data/sync", e.state.data.0.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (want_status, want_body) = (direct.status().as_u16(), direct.json::<serde_json::Value>().await.unwrap());
    let (status, got) = call(&e.app, "POST", "/api/v1/data/sync", Some(body), &[]).await;
    assert_eq!((status.as_u16(), &got), (want_status, &want_body));
    assert_eq!(got["error"]["code"], "sync_unavailable", "{got}");
    e.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_lists_versions_and_promotes_and_rolls_back() {
    let no_tracking = env(None).await;
    let (status, err) = call(&no_tracking.app, "GET", "/api/v1/models", None, &[]).await;
    assert_eq!((status, err["error"]["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("tracking_disabled")));
    no_tracking.pool.shutdown();

    let rt = tokio::runtime::Handle::current();
    let e = env_with_state(
        |loc, jobs, results| tradai_executor::WorkerPool::start(settings(loc, 0), jobs, results, Vec::new(), Vec::new()).unwrap(),
        move |state, dir| {
            let store = Arc::new(EmbeddedStore::open(&dir.join("state/tracking")).unwrap());
            let tracking = Tracking { tracker: store.clone(), registry: store };
            let jt =
                tradai_executor::tracking::JobTracking::start(&rt, tracking, &dir.join("state/outbox.sqlite"), Duration::from_secs(60))
                    .unwrap();
            state.with_tracking(jt)
        },
    )
    .await;
    let t = &e.state.tracking.as_ref().unwrap().tracking;
    for d in ["first", "second"] {
        let reg = StrategyRegistration {
            name: "EmaCross".into(),
            timeframe: "5m".into(),
            pairs: vec!["ETH/BTC".into()],
            warmup_candles: 30,
            config: serde_json::json!({}),
            description: d.into(),
            tags: Default::default(),
        };
        register_strategy(t.tracker.as_ref(), t.registry.as_ref(), &reg).await.unwrap();
    }
    let (status, list) = call(&e.app, "GET", "/api/v1/models", None, &[]).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["models"][0]["name"], "EmaCross");
    assert_eq!(list["models"][0]["versions"], 2);

    for v in [1, 2] {
        let (status, pv) = call(&e.app, "POST", "/api/v1/models/EmaCross/promote", Some(&format!(r#"{{"version":{v}}}"#)), &[]).await;
        assert_eq!((status, pv["version"].as_u64(), pv["current_stage"].as_str()), (StatusCode::OK, Some(v), Some("Production")), "{pv}");
    }
    let (_, m) = call(&e.app, "GET", "/api/v1/models/EmaCross", None, &[]).await;
    let stages: Vec<(u64, &str)> =
        m["versions"].as_array().unwrap().iter().map(|v| (v["version"].as_u64().unwrap(), v["current_stage"].as_str().unwrap())).collect();
    assert_eq!(stages, [(2, "Production"), (1, "Archived")], "{m}");
    assert_eq!(m["history"][0]["version"], 2, "newest first: {m}");
    assert!(m["versions"][0]["aliases"].as_array().unwrap().iter().any(|a| a == "champion"), "{m}");
    assert_eq!(m["versions"][1]["description"], "first");

    let (status, rb) = call(&e.app, "POST", "/api/v1/models/EmaCross/rollback", None, &[]).await;
    assert_eq!((status, rb["version"].as_u64()), (StatusCode::OK, Some(1)), "{rb}");
    let (_, list) = call(&e.app, "GET", "/api/v1/models", None, &[]).await;
    assert_eq!(list["models"][0]["production_version"], 1);

    let (status, err) = call(&e.app, "POST", "/api/v1/models/EmaCross/promote", Some(r#"{"version":9}"#), &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains('9'), "{err}");
    let (status, err) = call(&e.app, "POST", "/api/v1/models/EmaCross/promote", Some(r#"{"version":"two"}"#), &[]).await;
    assert_eq!((status, err["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("version")), "{err}");
    let (status, _) = call(&e.app, "GET", "/api/v1/models/Nope", None, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    e.pool.shutdown();
}
