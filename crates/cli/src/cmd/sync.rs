//! `tradai data sync`: incremental download of candles from an exchange into the store, with a
//! progress bar per pair. The work is `tradai_exchange::sync_pairs`; this file only turns flags
//! into a request and the report into a table or JSON.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tradai_core::{format_ts_ms, parse_date_ms, ExchangeId};
use tradai_exchange::{error_chain, CancelToken, SyncEvent, SyncOptions, SyncReport, SyncRequest, TransportConfig};
use tradai_server::serve::exchange_endpoints;
use tradai_settings::Settings;
use tradai_store::CandleStore;

use crate::flags::{parse_pairs, parse_timeframe};
use crate::output::{print_json, Table};

/// Help examples of `tradai data sync`.
pub const EXAMPLES: &str = "Example (downloads from Binance):
  tradai data sync --exchange binance -p BTC/USDT -i 1h --start 2024-01-01";

/// `--exchange` values of a sync: the exchanges with an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExchangeArg {
    /// Binance spot and USDⓈ-M futures.
    Binance,
    /// Bybit spot and linear futures.
    Bybit,
}

impl ExchangeArg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Binance => "binance",
            Self::Bybit => "bybit",
        }
    }
}

/// `tradai data sync` flags.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Exchange to download from [default: the `exchange` setting].
    #[arg(long, value_enum)]
    pub exchange: Option<ExchangeArg>,
    /// Pairs in CCXT notation, separated by commas or spaces: BTC/USDT (spot), BTC/USDT:USDT
    /// (USDT futures).
    #[arg(short = 'p', long, value_delimiter = ',', num_args = 1.., required = true)]
    pub pairs: Vec<String>,
    /// Candle timeframe.
    #[arg(short = 'i', long, default_value = "1h")]
    pub timeframe: String,
    /// First candle wanted: YYYY-MM-DD, YYYYMMDD, an RFC 3339 time or a unix timestamp.
    #[arg(long, value_name = "TIME")]
    pub start: String,
    /// End, exclusive; up to the last closed candle when omitted.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Pairs fetched at once; they share the exchange's rate limit.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// Runs `tradai data sync`.
pub fn run(a: SyncArgs, settings: &Settings, quiet: bool) -> anyhow::Result<ExitCode> {
    let exchange = ExchangeId::new(a.exchange.map_or(settings.exchange.as_str(), |e| e.as_str()))?;
    let pairs = parse_pairs(&a.pairs)?;
    anyhow::ensure!(!pairs.is_empty(), "--pairs is empty (expected e.g. BTC/USDT,ETH/USDT:USDT)");
    let timeframe = parse_timeframe(&a.timeframe)?;
    let start_ms = parse_date_ms(&a.start)?;
    let end_ms = a.end.as_deref().map(parse_date_ms).transpose()?;
    anyhow::ensure!((1..=32).contains(&a.concurrency), "invalid --concurrency {}: expected 1 to 32", a.concurrency);

    let endpoints = exchange_endpoints(settings);
    let client = tradai_exchange::connect(&exchange, &endpoints, TransportConfig::default())?;
    let store = CandleStore::open(&settings.data_dir).with_context(|| format!("cannot open data dir '{}'", settings.data_dir))?;
    let request = SyncRequest {
        pairs: pairs.clone(),
        timeframe,
        start_ms,
        end_ms,
        options: SyncOptions { concurrency: a.concurrency, ..SyncOptions::default() },
    };

    let multi = if quiet || !std::io::stderr().is_terminal() {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    let style = ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bars: Arc<HashMap<String, ProgressBar>> = Arc::new(
        pairs
            .iter()
            .map(|p| {
                let pb = multi.add(ProgressBar::new(0).with_style(style.clone()).with_prefix(p.to_string()));
                pb.set_message("waiting");
                (p.to_string(), pb)
            })
            .collect(),
    );
    let bars2 = Arc::clone(&bars);
    let progress: tradai_exchange::SyncProgress = Arc::new(move |ev| match ev {
        SyncEvent::Planned { pair, missing, .. } => {
            if let Some(b) = bars2.get(&pair.to_string()) {
                b.set_length(missing);
                b.set_message(if missing == 0 { "up to date".to_owned() } else { "fetching".to_owned() });
            }
        }
        SyncEvent::Fetched { pair, done, fetched } => {
            if let Some(b) = bars2.get(&pair.to_string()) {
                b.set_position(done);
                b.set_message(format!("{fetched} candles"));
            }
        }
        SyncEvent::Stored { .. } => {}
        SyncEvent::Finished { pair, ok } => {
            if let Some(b) = bars2.get(&pair.to_string()) {
                b.finish_with_message(if ok { "done" } else { "failed" });
            }
        }
    });

    // Two workers: requests are I/O-bound and decoding is cheap; the store encodes on its own pool.
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("cannot start the async runtime")?;
    let report = rt.block_on(async move {
        let cancel = CancelToken::new();
        let on_ctrl_c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                on_ctrl_c.cancel();
            }
        });
        tradai_exchange::sync_pairs(client, store, request, progress, cancel).await
    })?;
    for b in bars.values() {
        b.finish_and_clear();
    }
    drop(multi);
    print_report(&report, a.json)?;

    let failures: Vec<String> = report.failures().map(|(_, e)| error_chain(e)).collect();
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let retry = if report.failures().all(|(_, e)| e.is_retryable()) {
        "; candles fetched before the failure are stored, rerun to resume"
    } else {
        ""
    };
    anyhow::bail!("{} of {} pairs failed: {}{retry}", failures.len(), report.pairs.len(), failures.join("; "))
}

fn print_report(report: &SyncReport, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(report);
    }
    let mut t = Table::new(&["pair", "market", "fetched>", "stored>", "rows>", "first", "last", "status"]);
    for p in &report.pairs {
        let (fetched, stored, rows, first, last, status) = match &p.result {
            Ok(s) => (
                s.fetched.to_string(),
                s.stored.to_string(),
                s.rows.to_string(),
                s.first_ts.map(format_ts_ms).unwrap_or_default(),
                s.last_ts.map(format_ts_ms).unwrap_or_default(),
                if s.unavailable > 0 { format!("ok ({} not on exchange)", s.unavailable) } else { "ok".to_owned() },
            ),
            Err(_) => Default::default(),
        };
        let status = if p.result.is_err() { "failed".to_owned() } else { status };
        t.row(vec![p.pair.to_string(), p.pair.market_type().to_string(), fetched, stored, rows, first, last, status]);
    }
    print!("{}", t.render());
    println!(
        "synced {} pairs from {} ({}): {} candles fetched, {} stored in {:.1}s",
        report.pairs.len(),
        report.exchange,
        report.timeframe,
        report.fetched(),
        report.stored(),
        report.elapsed_ms as f64 / 1000.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tradai_settings::SettingsSources;

    #[test]
    fn endpoint_variables_are_settings_keys() {
        let src = |env: &[(&str, &str)]| SettingsSources {
            config_file: Some(std::path::PathBuf::from("/nonexistent/tradai.toml")).filter(|p| p.exists()),
            env: env.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
            flags: std::collections::BTreeMap::new(),
        };
        let s = Settings::load(&src(&[("TRADAI_BINANCE_FUTURES_URL", "http://127.0.0.1:1"), ("TRADAI_BYBIT_URL", "http://127.0.0.1:3")]))
            .unwrap();
        let e = exchange_endpoints(&s);
        assert_eq!(e.binance_spot, "https://api.binance.com");
        assert_eq!(e.binance_futures, "http://127.0.0.1:1");
        assert_eq!(e.bybit, "http://127.0.0.1:3");
        let s =
            Settings::load(&src(&[("TRADAI_BINANCE_SPOT_URL", "http://old"), ("TRADAI_BINANCE__SPOT_URL", "http://127.0.0.1:2")])).unwrap();
        assert_eq!(exchange_endpoints(&s).binance_spot, "http://127.0.0.1:2", "the key's own variable wins");
    }
}
