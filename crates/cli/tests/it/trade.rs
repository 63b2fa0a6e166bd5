//! `tradai trade`: a dry-run replay gives `tradai backtest`'s export trade for trade on the
//! three reference runs; a replay killed with SIGKILL at random points and restarted ends
//! with the export of an uninterrupted run; nodes are listed, resumed and reset; bad input
//! fails with one line naming the value.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::backtest::{assert_conforms, run_flags};
use crate::data::{imported_store, json_of, run_err, run_ok, testdata, tradai, PAIRS};

pub(crate) fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(crate) fn trade_args(flags: &[String], bot: &str, export: &Path) -> Vec<String> {
    let mut args: Vec<String> = vec!["-q".into(), "trade".into(), "--mode".into(), "dry-run".into(), "--replay".into()];
    args.extend_from_slice(flags);
    args.extend(["--bot-id".into(), bot.into(), "--export".into(), export.to_str().unwrap().into()]);
    args
}

pub(crate) fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Same trades (every field, exactly), same unclosed trades, same summary and meta.
pub(crate) fn assert_same_export(replay: &Value, backtest: &Value, what: &str) {
    let (rt, bt) = (replay["trades"].as_array().unwrap(), backtest["trades"].as_array().unwrap());
    assert_eq!(rt.len(), bt.len(), "{what}: trade count");
    for (i, (r, b)) in rt.iter().zip(bt).enumerate() {
        assert_eq!(r, b, "{what}: trade {i}");
    }
    assert_eq!(replay["unclosed_trades"], backtest["unclosed_trades"], "{what}: unclosed");
    assert_eq!(replay["summary"], backtest["summary"], "{what}: summary");
    assert_eq!(replay["meta"], backtest["meta"], "{what}: meta");
}

#[test]
fn dry_run_replay_equals_the_backtest_on_the_reference_runs() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    for (strategy, mot, name) in [
        ("EmaCross", "3", "EmaCross-mot3"),
        ("BollingerBreakout", "3", "BollingerBreakout-mot3"),
        ("RsiMeanReversion", "-1", "RsiMeanReversion-unlimited"),
    ] {
        let flags = run_flags(d, strategy, mot);
        let bt_out = dir.path().join(format!("{name}.backtest.json"));
        let mut bt = vec!["backtest".to_owned()];
        bt.extend_from_slice(&flags);
        bt.extend(["--export".into(), bt_out.to_str().unwrap().into()]);
        run_ok(&strs(&bt));
        let tr_out = dir.path().join(format!("{name}.replay.json"));
        let out = run_ok(&strs(&[trade_args(&flags, name, &tr_out), vec!["--json".into()]].concat()));
        let j = json_of(&out);
        let (replay, backtest) = (read(&tr_out), read(&bt_out));
        assert!(!replay["trades"].as_array().unwrap().is_empty(), "{name}: no trades");
        assert_same_export(&replay, &backtest, name);
        let expected = read(&testdata().join(format!("conformance/expected/{name}.json")));
        assert_conforms(&replay, &expected, name);
        // Each trade closed before the end had an entry and an exit order (force exits at
        // the end are the backtest's, not orders).
        assert!(
            j["orders_sent"].as_u64().unwrap()
                >= 2 * (j["trades"].as_u64().unwrap()
                    - replay["trades"].as_array().unwrap().iter().filter(|t| t["exit_reason"] == "force_exit").count() as u64),
            "{j}"
        );
    }
    // The nodes are listed, finished, with their closed trades.
    let list = json_of(&run_ok(&["--data-dir", d, "trade", "list", "--json"]));
    let nodes = list.as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{list}");
    for n in nodes {
        assert_eq!(n["status"], "finished", "{n}");
        assert_eq!(n["mode"], "dry-run", "{n}");
        assert!(n["closed_trades"].as_u64().unwrap() > 0, "{n}");
        assert!(n["last_heartbeat_ms"].is_i64() && n["stale"] == false, "{n}");
    }
    // The dry-run report of a finished replay: heartbeats at start and end, every order
    // filled, the data's few missing candles counted.
    let r = json_of(&run_ok(&["--data-dir", d, "trade", "report", "--bot", "EmaCross-mot3", "--json"]));
    assert_eq!(r["overall_passed"], true, "{r}");
    assert_eq!(r["order_metrics"]["placed"], r["order_metrics"]["filled"], "{r}");
    assert!(r["candle_metrics"]["total_candles"].as_u64().unwrap() > 50_000, "{r}");
    assert!(r["candle_metrics"]["missing_candles"].as_u64().unwrap() > 0, "{r}");
    assert!(r["heartbeat_metrics"]["total_received"].as_u64().unwrap() >= 2, "{r}");
    assert_eq!(r["failed_checks"], serde_json::json!(["replay_only"]), "{r}");
    let text = String::from_utf8(run_ok(&["--data-dir", d, "trade", "report", "--bot", "EmaCross-mot3"]).stdout).unwrap();
    assert!(text.starts_with("DryRunValidationReport: bot EmaCross-mot3") && text.contains("overall: PASSED"), "{text}");
    run_err(&["--data-dir", d, "trade", "report", "--bot", "nobody"], "'nobody'");
    // backend-api lists the same nodes.
    let up = crate::services::Up::start(dir.path(), &[]);
    let (status, body) = crate::services::http(&up.backend, "GET", "/api/v1/trading", None);
    assert_eq!(status, 200, "{body}");
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{body}");
    for n in nodes {
        assert!(n["last_heartbeat"].is_string() && n["stale"] == false && n["status"] == "finished", "{n}");
        assert_eq!(n["heartbeat_interval_secs"], 60.0, "{n}");
    }
}

#[test]
fn a_replay_killed_anywhere_resumes_to_the_uninterrupted_export() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let flags = run_flags(d, "RsiMeanReversion", "-1");
    let whole = dir.path().join("whole.json");
    run_ok(&strs(&trade_args(&flags, "whole", &whole)));

    let total = read(&whole)["trades"].as_array().unwrap().len();
    assert!(total >= 10, "too few trades to kill between: {total}");

    let resumed = dir.path().join("resumed.json");
    // A commit at every candle with a fill (a live node's rule; a dry-run's default batches
    // 1000 candles, the second half below), so kills land between many commits.
    let mut args = trade_args(&flags, "killed", &resumed);
    args.extend(["--commit-every".into(), "1".into()]);
    // Kill points are picked by progress, not by the clock (a run takes ~0.1 s here, and most
    // of it can be start-up on a slow machine): the first run is killed during its start-up,
    // each later one once the node has committed its next target count of closed trades —
    // targets spread over the run by a small LCG (fixed seed: the test is reproducible in its
    // choices, not in where the process happens to be when the signal lands).
    let db = dir.path().join("_tradai/trading.sqlite");
    let committed = || -> usize {
        let Ok(c) = rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY) else { return 0 };
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.query_row("SELECT count(*) FROM trades WHERE bot_id = 'killed'", [], |r| r.get::<_, i64>(0))
            .map_or(0, |n| usize::try_from(n).unwrap())
    };
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut targets: Vec<usize> = (0..8)
        .map(|_| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            1 + usize::try_from(seed >> 33).unwrap() % (total - 1)
        })
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let (mut kills, mut mid_run_kills) = (0, 0);
    for target in std::iter::once(None).chain(targets.into_iter().map(Some)) {
        let mut child = tradai().args(strs(&args)).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        let started = std::time::Instant::now();
        let finished = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            match target {
                None if started.elapsed() >= Duration::from_millis(5) => break false,
                Some(n) if committed() >= n => break false,
                _ => {}
            }
            assert!(started.elapsed() < Duration::from_secs(120), "the replay neither finished nor reached {target:?} trades");
            std::thread::sleep(Duration::from_millis(1));
        };
        if finished {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        // What the killed process left committed: a node part-way through.
        let list = json_of(&run_ok(&["--data-dir", d, "trade", "list", "--json"]));
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["bot_id"] == "killed" && n["status"] == "running" && n["closed_trades"].as_u64().unwrap() > 0)
        {
            mid_run_kills += 1;
        }
    }
    let out = run_ok(&strs(&[args.clone(), vec!["--json".into()]].concat()));
    let j = json_of(&out);
    assert!(kills >= 1, "the replay finished before the first kill");
    assert!(mid_run_kills >= 1, "no kill landed after a commit ({kills} kills)");
    assert!(j["resumed_at"].is_string(), "{j}");
    let (a, b) = (read(&resumed), read(&whole));
    assert_same_export(&a, &b, "killed and resumed");

    // Batched commits (a commit every 2000 candles at most): killed and resumed, the same.
    let batched = dir.path().join("batched.json");
    let mut args = trade_args(&flags, "batched", &batched);
    args.extend(["--commit-every".into(), "2000".into()]);
    for delay in [150, 300, 450] {
        let mut child = tradai().args(strs(&args)).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        child.wait().unwrap();
    }
    run_ok(&strs(&args));
    assert_same_export(&read(&batched), &b, "batched commits, killed and resumed");

    // A finished node run again gives its export again.
    let again = dir.path().join("again.json");
    run_ok(&strs(&trade_args(&flags, "killed", &again)));
    assert_same_export(&read(&again), &b, "finished node rerun");
}

#[test]
fn node_state_belongs_to_its_spec_and_can_be_reset() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let mut flags = run_flags(d, "EmaCross", "3");
    flags.extend(["--timerange".into(), "20180115-20180125".into()]);
    let out = dir.path().join("a.json");
    run_ok(&strs(&trade_args(&flags, "node1", &out)));
    // Same bot, another window: refused, naming the bot and the way out.
    let mut other = run_flags(d, "EmaCross", "3");
    other.extend(["--timerange".into(), "20180116-20180125".into()]);
    let e = run_err(&strs(&trade_args(&other, "node1", &out)), "bot 'node1'");
    assert!(e.contains("trade reset"), "{e}");
    run_ok(&["--data-dir", d, "trade", "reset", "--bot", "node1"]);
    run_ok(&strs(&trade_args(&other, "node1", &out)));
    run_err(&["--data-dir", d, "trade", "reset", "--bot", "nobody"], "'nobody'");
}

#[test]
fn bad_trade_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = ["--data-dir", d, "trade", "--replay", "--strategy", "EmaCross", "--pairs", "ETH/BTC"];
    run_err(&[&base[..], &["--mode", "paperish"]].concat(), "'paperish'");
    run_err(&[&base[..], &["--bot-id", "a b"]].concat(), "'a b'");
    run_err(&[&base[..], &["--fee", "0.7"]].concat(), "--fee");
    run_err(&[&base[..], &["--heartbeat-interval", "0"]].concat(), "--heartbeat-interval");
    run_err(&[&base[..], &["--max-drawdown", "1.5"]].concat(), "1.5");
    run_err(&[&base[..], &["--stoploss-on-exchange-limit-ratio", "1.2"]].concat(), "--stoploss-on-exchange-limit-ratio 1.2");
    run_err(&["--data-dir", d, "trade", "--replay", "--strategy", "Nope", "--pairs", "ETH/BTC"], "Nope");
    // Registry of nodes on an empty data dir: empty list, not an error.
    let list = json_of(&run_ok(&["--data-dir", d, "trade", "list", "--json"]));
    assert_eq!(list, serde_json::json!([]));
}

#[test]
fn a_registered_production_config_trades_like_its_backtest() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let cfg = dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"params": {"fast": 12, "slow": 40}, "stoploss": -0.05}"#).unwrap();
    let cli = |args: &[&str]| {
        let out = tradai().env_remove("MLFLOW_TRACKING_URI").env_remove("TRADAI_TRACKING__URI").args(args).output().unwrap();
        assert!(out.status.success(), "tradai {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    };
    cli(&[
        "--data-dir",
        d,
        "-q",
        "models",
        "register",
        "EmaCross",
        "--strategy-config",
        cfg.to_str().unwrap(),
        "--pairs",
        "ETH/BTC,LTC/BTC",
    ]);
    cli(&["--data-dir", d, "-q", "models", "promote", "EmaCross", "1"]);
    let money = ["--timerange", "20180115-20180125", "--stake-amount", "0.05", "--wallet", "1"];
    let bt = dir.path().join("bt.json");
    let mut args = vec!["--data-dir", d, "backtest", "--strategy", "EmaCross", "--pairs", "ETH/BTC,LTC/BTC", "--timeframe", "5m"];
    args.extend(money);
    args.extend(["--strategy-config", cfg.to_str().unwrap(), "--export", bt.to_str().unwrap()]);
    cli(&args);
    // Flags: --strategy and --version, no pairs or timeframe (they come from the registry).
    let tr = dir.path().join("tr.json");
    let mut args = vec!["--data-dir", d, "trade", "--replay", "--strategy", "EmaCross", "--version", "production", "--json"];
    args.extend(money);
    args.extend(["--export", tr.to_str().unwrap()]);
    let j = json_of(&cli(&args));
    assert_eq!(j["bot_id"], "EmaCross-dry-run", "{j}");
    assert_same_export(&read(&tr), &read(&bt), "registry production");
    // The strategy container's environment instead of flags.
    let env = dir.path().join("env.json");
    let mut args = vec!["--data-dir", d, "trade", "--replay", "--bot-id", "from-env"];
    args.extend(money);
    args.extend(["--export", env.to_str().unwrap()]);
    let out = tradai()
        .env_remove("MLFLOW_TRACKING_URI")
        .env("STRATEGY_NAME", "EmaCross")
        .env("STRATEGY_STAGE", "Production")
        .env("TRADING_MODE", "dry_run")
        .args(&args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_export(&read(&env), &read(&bt), "registry from the environment");
    // An unknown version is named.
    let e = tradai()
        .env_remove("MLFLOW_TRACKING_URI")
        .args(["--data-dir", d, "trade", "--replay", "--strategy", "EmaCross", "--version", "7"])
        .output()
        .unwrap();
    assert!(!e.status.success());
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(err.contains("version '7'") && err.lines().count() == 1, "{err}");

    // Go-live: the Production version is registered; the fake venue answers and checks keys.
    let fake = crate::fake_binance::start();
    let go_live = |secret: &str, extra: &[&str]| {
        let mut args = vec!["--data-dir", d, "trade", "go-live-check", "--strategy", "EmaCross", "--json"];
        args.extend(extra);
        let out = tradai()
            .env_remove("MLFLOW_TRACKING_URI")
            .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
            .env("TRADAI_BINANCE__API_KEY", crate::fake_binance::KEY)
            .env("TRADAI_BINANCE__API_SECRET", secret)
            .args(&args)
            .output()
            .unwrap();
        let j = json_of(&out);
        assert_eq!(out.status.success(), j["overall_passed"] == true, "exit code follows the verdict: {j}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(secret), "the secret is never printed");
        j
    };
    let failed =
        |j: &serde_json::Value| j["failed_checks"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>();
    // No dry-run report yet, and no drawdown limit.
    let j = go_live(crate::fake_binance::SECRET, &[]);
    assert_eq!(j["strategy_version"], 1, "{j}");
    assert_eq!(failed(&j), ["dry_run_report", "drawdown_limit"], "{j}");
    // The dry-run node's report on version 1.
    let rep = json_of(&cli(&["--data-dir", d, "trade", "report", "--bot", "EmaCross-dry-run", "--json"]));
    assert_eq!(rep["strategy_version"], 1, "{rep}");
    // The replay's report passes (its replay_only check is INFO), but a replay is the backtest
    // again, no dry-run on live candles: it does not count for going live.
    assert_eq!(rep["overall_passed"], true, "{rep}");
    assert_eq!(rep["failed_checks"], serde_json::json!(["replay_only"]), "{rep}");
    let j = go_live(crate::fake_binance::SECRET, &["--max-drawdown", "0.2"]);
    assert_eq!(failed(&j), ["dry_run_report"], "a replay's report does not count: {j}");
    assert!(j["checks"][1]["message"].as_str().unwrap().contains("replays do not count"), "{j}");
    // Keys the venue refuses.
    let j = go_live("not-the-secret", &["--max-drawdown", "0.2"]);
    assert!(failed(&j).contains(&"keys_accepted".to_owned()), "{j}");
    // `--mode live` reads the newest go-live report of the version: it failed, so no start
    // without --force.
    let out = tradai()
        .env_remove("MLFLOW_TRACKING_URI")
        .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
        .env("TRADAI_BINANCE__API_KEY", crate::fake_binance::KEY)
        .env("TRADAI_BINANCE__API_SECRET", crate::fake_binance::SECRET)
        .args(["--data-dir", d, "trade", "--replay", "--mode", "live", "--strategy", "EmaCross", "--version", "production"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("go-live report of 'EmaCross' version 1") && err.contains("failed"), "{err}");
    assert!(err.contains("--force") && err.trim().lines().count() == 1, "{err}");
}

#[test]
fn the_drawdown_limit_trips_the_kill_switch() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let flags = run_flags(d, "EmaCross", "3");
    let whole = dir.path().join("whole.json");
    run_ok(&strs(&trade_args(&flags, "free", &whole)));
    let limited = dir.path().join("limited.json");
    let mut args = trade_args(&flags, "limited", &limited);
    args.extend(["--max-drawdown".into(), "0.01".into(), "--json".into()]);
    let j = json_of(&run_ok(&strs(&args)));
    assert_eq!(j["entries_stopped"], true, "{j}");
    let stop = j["risk_stop"]["candle_ms"].as_i64().unwrap();
    assert!(j["risk_stop"]["drawdown"].as_f64().unwrap() >= 0.01, "{j}");
    let (all, some) = (read(&whole), read(&limited));
    let (all, some) = (all["trades"].as_array().unwrap(), some["trades"].as_array().unwrap());
    assert!(some.len() < all.len(), "{} vs {}", some.len(), all.len());
    // Until the switch the two runs are the same; after it nothing opens.
    for t in some {
        assert!(t["open_timestamp"].as_i64().unwrap() <= stop, "{t}");
    }
    let before: Vec<_> = all.iter().filter(|t| t["close_timestamp"].as_i64().unwrap() <= stop).collect();
    assert_eq!(before, some.iter().filter(|t| t["close_timestamp"].as_i64().unwrap() <= stop).collect::<Vec<_>>());
}

/// The live replays' run (EmaCross on ETH/BTC and LTC/BTC over ten days of the imported store
/// under `dir`) and the export of its dry-run replay, node "dry".
fn two_pair_dry_run(dir: &Path) -> (Vec<String>, std::path::PathBuf) {
    let mut flags: Vec<String> = run_flags(dir.to_str().unwrap(), "EmaCross", "3");
    let i = flags.iter().position(|f| f == PAIRS).unwrap();
    flags[i] = "ETH/BTC,LTC/BTC".into();
    flags.extend(["--timerange".into(), "20180115-20180125".into()]);
    let dry = dir.join("dry.json");
    run_ok(&strs(&trade_args(&flags, "dry", &dry)));
    (flags, dry)
}

#[test]
fn a_live_replay_on_a_venue_that_fills_in_full_equals_the_dry_run() {
    use crate::fake_binance::{KEY, SECRET};
    let dir = imported_store();
    let (flags, dry) = two_pair_dry_run(dir.path());

    let fake = crate::fake_binance::start();
    let live = dir.path().join("live.json");
    let mut args = trade_args(&flags, "live", &live);
    args[3] = "live".into(); // --mode live
    let with_keys = |args: &[String]| {
        tradai()
            .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
            .env("TRADAI_EXCHANGE__API_KEY", KEY)
            .env("TRADAI_EXCHANGE__API_SECRET", SECRET)
            .args(strs(args))
            .output()
            .unwrap()
    };
    // Without a go-live report, live needs --force.
    let out = with_keys(&args);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--force"));
    args.extend(["--force".into(), "--json".into()]);
    // Without keys: named, and nothing sent.
    let out = tradai().env("TRADAI_BINANCE_SPOT_URL", &fake.url).args(strs(&args)).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("exchange.api_key"), "{err}");
    let out = with_keys(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET) && !stdout.contains(KEY), "a key was printed");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    assert_same_export(&read(&live), &read(&dry), "live replay on the fake venue");
    let st = fake.state.lock().unwrap();
    let sent = j["orders_sent"].as_u64().unwrap();
    assert!(sent > 10, "{j}");
    assert_eq!(st.orders.len() as u64, sent, "every order reached the venue once");
    assert!(st.created.values().all(|n| *n == 1));
    assert!(st.orders.values().all(|o| o.status == "FILLED"));
    assert_eq!(j["order_latency_ms"]["orders"].as_u64(), Some(sent), "{j}");
    // The number docs/BENCHMARKS.md quotes (printed with --nocapture; not asserted: no timed tests).
    eprintln!("live replay on the fake venue: candle in hand -> order answered, ms: {}", j["order_latency_ms"]);
}

/// The futures reference run (EmaCrossFutures on XRP/USDT:USDT, longs and shorts, 2x) live on
/// the fake USDT-M venue, keys from a key file: the dry-run replay's trades, every order once,
/// leverage set, exits reduceOnly. On candles where a short closes and a long opens, the
/// short's exit goes first: sent after the entry, the one-way position would be netted and
/// the reduceOnly exit refused (-2022), as Binance does.
#[test]
fn a_futures_live_replay_on_the_fake_venue_equals_the_dry_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/binance");
    let markets = sample.join("markets.json");
    run_ok(&["--data-dir", d, "-q", "data", "import", "freqtrade", sample.to_str().unwrap(), "--markets", markets.to_str().unwrap()]);
    let mut flags: Vec<String> = ["--data-dir", d, "--strategy", "EmaCrossFutures"].iter().map(|s| (*s).to_owned()).collect();
    flags.extend(crate::backtest::FUTURES_RUN.iter().map(|s| (*s).to_owned()));
    flags.extend(["--leverage".into(), "2".into()]);
    let dry = dir.path().join("fdry.json");
    run_ok(&strs(&trade_args(&flags, "fdry", &dry)));

    let fake = crate::fake_binance::start();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, format!("api_key = \"{}\"\napi_secret = \"{}\"\n", crate::fake_binance::KEY, crate::fake_binance::SECRET))
        .unwrap();
    let live = dir.path().join("flive.json");
    let mut args = trade_args(&flags, "flive", &live);
    args[3] = "live".into(); // --mode live
    args.extend(["--force".into(), "--json".into()]);
    let out =
        tradai().env("TRADAI_BINANCE_FUTURES_URL", &fake.url).env("TRADAI_EXCHANGE__KEY_FILE", &keys).args(strs(&args)).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(!stdout.contains(crate::fake_binance::SECRET) && !stderr.contains(crate::fake_binance::SECRET), "a key was printed");
    let j: Value = serde_json::from_str(&stdout).unwrap();
    let (l, dr) = (read(&live), read(&dry));
    assert_same_export(&l, &dr, "futures live replay on the fake venue");
    let trades = l["trades"].as_array().unwrap();
    assert!(trades.iter().any(|t| t["is_short"] == true) && trades.iter().any(|t| t["is_short"] == false), "longs and shorts");
    let st = fake.state.lock().unwrap();
    let sent = j["orders_sent"].as_u64().unwrap();
    assert!(sent > 4, "{j}");
    assert_eq!(st.orders.len() as u64, sent, "every order reached the venue once");
    assert!(st.created.values().all(|n| *n == 1));
    assert!(st.orders.values().all(|o| o.futures && o.status == "FILLED"));
    assert_eq!(st.leverage.get("XRPUSDT"), Some(&2));
    assert!(st.orders.iter().all(|(cid, o)| o.reduce_only == cid.ends_with('x')), "exits and only exits are reduceOnly");
    drop(st);

    // With --stoploss-on-exchange on a fresh venue: a STOP_MARKET reduceOnly stop rests on the
    // closing side of each trade after its entry, follows the stop, and is cancelled when the
    // trade exits otherwise. The venue never triggers one: the dry-run's trades again.
    let fake = crate::fake_binance::start();
    let stopped = dir.path().join("fstop.json");
    let mut args = trade_args(&flags, "fstop", &stopped);
    args[3] = "live".into(); // --mode live
    args.extend(["--force".into(), "--json".into(), "--stoploss-on-exchange".into()]);
    let out =
        tradai().env("TRADAI_BINANCE_FUTURES_URL", &fake.url).env("TRADAI_EXCHANGE__KEY_FILE", &keys).args(strs(&args)).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_same_export(&read(&stopped), &dr, "futures live replay with stops on the exchange");
    let st = fake.state.lock().unwrap();
    assert!(st.created.values().all(|n| *n == 1));
    let mut with_stops = 0;
    for t in trades.iter().filter(|t| t["close_timestamp"] != t["open_timestamp"]) {
        let (pair, open) = (t["pair"].as_str().unwrap().parse().unwrap(), t["open_timestamp"].as_i64().unwrap());
        let stem = tradai_trading::order::trade_order_stem("fstop", &pair, open);
        let mut stops: Vec<_> = st.orders.iter().filter(|(c, _)| c.starts_with(&stem) && c.ends_with('s')).map(|(_, o)| o).collect();
        stops.sort_by_key(|o| o.order_id);
        let side = if t["is_short"] == true { "BUY" } else { "SELL" };
        assert!(!stops.is_empty() && stops.iter().all(|o| o.kind == "STOP_MARKET" && o.reduce_only && o.side == side), "{t}");
        let open_at_end = t["exit_reason"] == "force_exit";
        assert_eq!(stops.last().unwrap().status, if open_at_end { "NEW" } else { "CANCELED" }, "{t}");
        with_stops += 1;
    }
    assert!(with_stops >= 4, "{with_stops}");
}

/// `tradai trade events` after a live replay on a venue that refuses two entries (-2010 and
/// -1013): each refusal is listed with the venue's code and message, in text and JSON; the
/// node traded on (a refused entry leaves its trade unopened) and no key is shown.
#[test]
fn trade_events_name_the_venue_rejections_of_a_live_replay() {
    use crate::fake_binance::{KEY, SECRET};
    use tradai_trading::order::client_order_id;
    use tradai_trading::OrderPurpose;
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let (flags, dry) = two_pair_dry_run(dir.path());
    let dry = read(&dry);
    let trades = dry["trades"].as_array().unwrap();
    assert!(trades.len() >= 3, "{}", trades.len());
    let entry_of = |t: &Value| {
        client_order_id(
            "refused",
            &t["pair"].as_str().unwrap().parse().unwrap(),
            t["open_timestamp"].as_i64().unwrap(),
            OrderPurpose::Entry,
        )
    };
    let (first, second) = (entry_of(&trades[0]), entry_of(&trades[1]));

    let fake = crate::fake_binance::start();
    {
        let mut st = fake.state.lock().unwrap();
        st.reject.insert(first.clone(), (-2010, "Account has insufficient balance for requested action.".into()));
        st.reject.insert(second.clone(), (-1013, "Filter failure: LOT_SIZE".into()));
    }
    let live = dir.path().join("live.json");
    let mut args = trade_args(&flags, "refused", &live);
    args[3] = "live".into(); // --mode live
    args.extend(["--force".into(), "--json".into()]);
    let out = tradai()
        .env("TRADAI_BINANCE_SPOT_URL", &fake.url)
        .env("TRADAI_EXCHANGE__API_KEY", KEY)
        .env("TRADAI_EXCHANGE__API_SECRET", SECRET)
        .args(strs(&args))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let l = read(&live);
    let opened = |cid: &str| l["trades"].as_array().unwrap().iter().any(|t| entry_of(t) == cid);
    assert!(!opened(&first) && !opened(&second));
    assert_eq!(fake.state.lock().unwrap().posts.get(&first), Some(&1), "a refused order is never sent again");

    let j = json_of(&run_ok(&["--data-dir", d, "trade", "events", "--bot", "refused", "--json"]));
    let events = j.as_array().unwrap();
    let rejected: Vec<&str> = events.iter().filter(|e| e["kind"] == "rejected").map(|e| e["detail"].as_str().unwrap()).collect();
    assert_eq!(rejected.len(), 2, "{j}");
    assert!(rejected[0].starts_with(&first) && rejected[0].contains("-2010 Account has insufficient balance"), "{j}");
    assert!(rejected[1].starts_with(&second) && rejected[1].contains("-1013 Filter failure: LOT_SIZE"), "{j}");
    assert!(rejected.iter().all(|r| r.contains("entry rejected; the trade is not opened")), "{j}");
    assert!(events.iter().all(|e| e["ts_ms"].is_i64()), "{j}");
    let text = String::from_utf8(run_ok(&["--data-dir", d, "trade", "events", "--bot", "refused"]).stdout).unwrap();
    for (cid, code) in [(&first, "-2010"), (&second, "-1013")] {
        assert!(text.lines().any(|l| l.contains("rejected") && l.contains(cid.as_str()) && l.contains(code)), "{text}");
    }
    assert!(!text.contains(SECRET) && !text.contains(KEY) && !j.to_string().contains(SECRET), "a key was shown");
    run_err(&["--data-dir", d, "trade", "events", "--bot", "nobody"], "'nobody'");
}
