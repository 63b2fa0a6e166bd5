//! The run spec at the command line: Freqtrade's short flags and aliases, run settings from the
//! settings file, the rules that used to live only in the API (spot and leverage, money
//! bounds), and the CLI habits around it (completions, man page, colours, Ctrl-C in hyperopt,
//! help examples that run as printed).

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::data::{imported_store, json_of, repo, run_err, run_ok, testdata, tradai};

#[test]
fn short_flags_and_aliases_give_the_same_run() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let run = |flags: &str| {
        let mut args = vec!["--data-dir", d, "backtest"];
        args.extend(flags.split(' '));
        json_of(&run_ok(&args))
    };
    let long = run("--strategy EmaCross --pairs ETH/BTC,LTC/BTC --timeframe 5m --timerange 20180115-20180125 \
                    --stake-amount 0.05 --wallet 1 --json");
    // Freqtrade's habits: -s, -p with pairs separated by spaces, -i, --dry-run-wallet, and
    // ISO dates in the time range.
    let short = run("-s EmaCross -p ETH/BTC LTC/BTC -i 5m --timerange 2018-01-15-2018-01-25 --stake-amount 0.05 --dry-run-wallet 1 --json");
    assert!(long["total_trades"].as_u64().unwrap() > 0);
    for k in ["total_trades", "profit_total_abs", "final_balance", "max_drawdown_abs"] {
        assert_eq!(long[k], short[k], "{k}");
    }
    assert_eq!(short["timerange"], "2018-01-15-2018-01-25");
}

#[test]
fn run_settings_come_from_the_config_file_and_flags_win() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let cfg = dir.path().join("tradai.toml");
    std::fs::write(
        &cfg,
        "[run]\nstrategy = \"EmaCross\"\npairs = [\"ETH/BTC\", \"LTC/BTC\"]\ntimeframe = \"5m\"\nstake_amount = 0.05\n\
         dry_run_wallet = 1\nmax_open_trades = 2\n",
    )
    .unwrap();
    let c = cfg.to_str().unwrap();
    let from_file = json_of(&run_ok(&["--data-dir", d, "-c", c, "backtest", "--json"]));
    assert_eq!(from_file["stake_amount"], 0.05);
    assert_eq!(from_file["max_open_trades_setting"], 2);
    assert_eq!(from_file["starting_balance"], 1.0);
    let pairs: Vec<&str> = from_file["results_per_pair"].as_array().unwrap().iter().filter_map(|r| r["key"].as_str()).collect();
    assert!(pairs.contains(&"LTC/BTC"), "{pairs:?}");
    let flagged = json_of(&run_ok(&["--data-dir", d, "-c", c, "backtest", "--max-open-trades", "1", "-p", "ETH/BTC", "--json"]));
    assert_eq!(flagged["max_open_trades_setting"], 1);
    let pairs: Vec<&str> = flagged["results_per_pair"].as_array().unwrap().iter().filter_map(|r| r["key"].as_str()).collect();
    assert!(!pairs.contains(&"LTC/BTC"), "{pairs:?}");
    std::fs::write(&cfg, "[run]\nstrategy = \"EmaCross\"\nstake = 1\n").unwrap();
    run_err(&["--data-dir", d, "-c", c, "backtest", "-p", "ETH/BTC"], "[run]");
}

#[test]
fn the_app_rules_hold_at_the_command_line() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let base = ["--data-dir", d, "backtest", "-s", "EmaCross", "-p", "ETH/BTC", "--stake-amount", "0.05"];
    let with = |extra: &[&'static str]| base.iter().copied().chain(extra.iter().copied()).collect::<Vec<&str>>();
    let e = run_err(&with(&["--wallet", "1", "--leverage", "3"]), "invalid --leverage");
    assert!(e.contains("futures"), "{e}");
    run_err(&with(&["--wallet", "1e308"]), "1e308");
    run_err(&["--data-dir", d, "backtest", "-s", "EmaCross", "-p", "ETH/BTC", "--stake-amount", "1e308"], "1e308");
    // A closed value set: clap names the value and lists the possible ones.
    let bad = tradai().args(with(&["--trading-mode", "margin"])).output().unwrap();
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && e.contains("'margin'") && e.contains("spot, futures"), "{e}");
    run_err(&with(&["--timerange", "2018-01-15"]), "20180115-");
    // Without --wallet a BTC stake currency starts with one coin, not 1000.
    let s = json_of(&run_ok(&["--data-dir", d, "backtest", "-s", "EmaCross", "-p", "ETH/BTC", "--json"]));
    assert_eq!(s["starting_balance"], 1.0);
}

#[test]
fn every_timerange_form_runs_and_the_end_is_explained_once() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let window = |range: &str| {
        let flag = format!("--timerange={range}");
        let s = json_of(&run_ok(&["--data-dir", d, "backtest", "-s", "EmaCross", "-p", "ETH/BTC", "-i", "5m", &flag, "--json"]));
        (s["backtest_start"].as_str().unwrap().to_owned(), s["backtest_end"].as_str().unwrap().to_owned())
    };
    // Freqtrade's forms and their ISO spellings: the end is 00:00 UTC of the end date, and
    // the candle opening then is the last one tested.
    let (first, last) = ("2018-01-10 07:25:00", "2018-01-30 04:50:00");
    for (range, start, end) in [
        ("20180115-20180120", "2018-01-15 00:00:00", "2018-01-20 00:00:00"),
        ("2018-01-15-2018-01-20", "2018-01-15 00:00:00", "2018-01-20 00:00:00"),
        ("20180115-", "2018-01-15 00:00:00", last),
        ("2018-01-15-", "2018-01-15 00:00:00", last),
        ("-20180120", first, "2018-01-20 00:00:00"),
    ] {
        assert_eq!(window(range), (start.to_owned(), end.to_owned()), "{range}");
    }
    // A single date is not a range (Freqtrade refuses it too): the message says how to write
    // "from that day on" and does not list the form it refuses as accepted.
    for single in ["2018-01-15", "20180115"] {
        let e = run_err(&["--data-dir", d, "backtest", "-s", "EmaCross", "-p", "ETH/BTC", "--timerange", single], "20180115-");
        assert!(e.contains(&format!("'{single}'")) && !e.contains("expected YYYYMMDD, YYYY-MM-DD"), "{e}");
    }
    // The help says what the end means, in the API's words (its end_date is the same end).
    let help = String::from_utf8(tradai().args(["backtest", "--help"]).output().unwrap().stdout).unwrap();
    let flag = &help[help.find("--timerange").unwrap()..];
    let flag = &flag[..flag.find("\n\n").unwrap_or(flag.len())];
    assert!(flag.contains("00:00 UTC") && flag.contains("last one tested") && !flag.contains("end day is included"), "{flag}");
}

#[test]
fn completions_and_man_page_are_generated_from_the_parser() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run_ok(&["completions", shell]);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("tradai") && text.contains("stake-amount"), "{shell}: {}", &text[..text.len().min(300)]);
    }
    let bad = tradai().args(["completions", "cmd.exe"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("'cmd.exe'"));
    let man = String::from_utf8(run_ok(&["man"]).stdout).unwrap();
    assert!(man.starts_with(".ie") || man.contains(".TH tradai"), "{}", &man[..man.len().min(300)]);
    assert!(man.contains("backtest"));
    let dir = tempfile::tempdir().unwrap();
    run_ok(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(dir.path().join("tradai.1").is_file());
    assert!(dir.path().join("tradai-backtest.1").is_file());
}

#[test]
fn no_ansi_codes_in_redirected_logs_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // `data list` logs where it opens the store at debug level.
    let plain = tradai().env_remove("NO_COLOR").args(["--data-dir", d, "--log-level", "debug", "data", "list"]).output().unwrap();
    assert!(plain.status.success());
    let forced = tradai()
        .env_remove("NO_COLOR")
        .args(["--data-dir", d, "--log-level", "debug", "--color", "always", "data", "list"])
        .output()
        .unwrap();
    let (p, f) = (String::from_utf8_lossy(&plain.stderr), String::from_utf8_lossy(&forced.stderr));
    assert!(!f.trim().is_empty(), "no debug log lines to check");
    assert!(!p.contains('\u{1b}'), "ANSI codes in redirected logs: {p:?}");
    assert!(f.contains('\u{1b}'), "--color always should colour: {f:?}");
}

#[test]
fn ctrl_c_in_hyperopt_reports_and_writes_the_best_so_far() {
    let dir = imported_store();
    let d = dir.path().to_str().unwrap();
    let best = dir.path().join("best.json");
    let mut child = tradai()
        .args([
            "--data-dir",
            d,
            "hyperopt",
            "-s",
            "EmaCross",
            "-p",
            "ETH/BTC",
            "--stake-amount",
            "0.05",
            "-e",
            "100000",
            "--sampler",
            "random",
            "-j",
            "1",
            "--json",
            "--progress-json",
            "--best-config",
            best.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // The first progress line means evaluations are running: interrupt then.
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("epochs_done"), "{first}");
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{rest:?}");
    let report = json_of(&out);
    assert_eq!(report["stopped_early"], true);
    let done = report["epochs"].as_u64().unwrap();
    assert!((1..100_000).contains(&done), "{done}");
    assert!(report["best"]["loss"].is_number());
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&best).unwrap()).unwrap();
    assert_eq!(cfg["strategy"], "EmaCross");
    assert!(rest.iter().any(|l| l.contains("stopped early")), "{rest:?}");
}

#[test]
fn help_examples_run_as_printed_on_the_sample_data() {
    // The store the quickstart fills: the sample candles under the default data dir.
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let sample = repo().join("sample-data/binance");
    // The files the strategy-file examples name, as a user would have them: a folder of
    // Freqtrade strategies and a TOML strategy in the working directory.
    let mine = home.path().join("my_strategies");
    std::fs::create_dir_all(&mine).unwrap();
    std::fs::copy(testdata().join("conformance/strategies/EmaCross.py"), mine.join("EmaCross.py")).unwrap();
    std::fs::copy(testdata().join("strategies/EmaCrossToml.toml"), home.path().join("EmaCrossToml.toml")).unwrap();
    let python = crate::strategy_files::python();
    let env = |c: &mut std::process::Command| {
        c.env("TRADAI_DATA_DIR", &data).env("TRADAI_PYTHON", &python).current_dir(home.path());
    };
    let mut import = tradai();
    env(&mut import);
    let out = import.args(["data", "import", "freqtrade", sample.to_str().unwrap(), "--exchange", "binance", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json_of(&out);
    // markets.json beside the candles is read as the markets file, not reported as skipped.
    let skipped = report["skipped"].as_array().unwrap();
    assert!(skipped.iter().all(|s| !s["path"].as_str().unwrap_or("").ends_with("markets.json")), "{skipped:?}");
    for cmd in [
        vec!["backtest"],
        vec!["hyperopt"],
        vec!["data", "list"],
        vec!["data", "validate"],
        vec!["data", "freshness"],
        vec!["data", "synth"],
        vec!["data", "repair"],
        vec!["data", "delete"],
        vec!["strategies", "list"],
        vec!["config", "show"],
        vec!["completions"],
        vec!["man"],
    ] {
        let mut h = tradai();
        let help = String::from_utf8(h.args(&cmd).arg("--help").output().unwrap().stdout).unwrap();
        let examples: Vec<&str> = help.lines().map(str::trim).filter(|l| l.starts_with("tradai ")).collect();
        assert!(!examples.is_empty(), "{cmd:?} has no example");
        for ex in examples {
            // Shell redirections stay out of the run; what is before them is the command.
            let words: Vec<&str> = ex.split_whitespace().skip(1).take_while(|w| !matches!(*w, ">" | "&&")).collect();
            let mut c = tradai();
            env(&mut c);
            let out = c.args(&words).output().unwrap();
            // `data freshness` exits 1 when the data is stale, which 2018 candles are.
            let ok = out.status.success() || (cmd == ["data", "freshness"] && out.status.code() == Some(1));
            assert!(ok, "example failed: {ex}\n{}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

#[test]
fn the_report_says_why_final_balance_and_total_profit_differ() {
    // The quickstart's run: one trade is still open at the end, its stake is out of the final
    // balance while the total profit counts closed trades only (as in Freqtrade).
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let sample = repo().join("sample-data/binance");
    run_ok(&["--data-dir", d, "-q", "data", "import", "freqtrade", sample.to_str().unwrap(), "--exchange", "binance"]);
    let pairs = "ADA/BTC,DASH/BTC,ETC/BTC,ETH/BTC,LTC/BTC,NXT/BTC,TRX/BTC,XLM/BTC,XMR/BTC,ZEC/BTC";
    let args = ["--data-dir", d, "backtest", "-s", "EmaCross", "-p", pairs, "-i", "5m", "--stake-amount", "0.05", "--wallet", "1"];
    let s = json_of(&run_ok(&args.iter().copied().chain(["--json"]).collect::<Vec<_>>()));
    let locked = 1.0 + s["profit_total_abs"].as_f64().unwrap() - s["final_balance"].as_f64().unwrap();
    let text = String::from_utf8(run_ok(&args).stdout).unwrap();
    if locked.abs() > 1e-9 {
        assert!(text.contains("staked in trades still open at the end is not in the final balance"), "{text}");
    } else {
        assert!(!text.contains("still open at the end"), "{text}");
    }
    assert!(locked > 0.0, "the quickstart run ends with a trade open (locked {locked})");
}
