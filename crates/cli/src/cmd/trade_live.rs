//! `tradai trade` without `--replay`: the node on live candles (polled from the exchange at
//! each candle close), with its REST API on 127.0.0.1 (8005 dry-run, 8004 live).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tradai_engine::StrategyRegistry;
use tradai_exchange::TransportConfig;
use tradai_server::node_api::{spawn_node_api, NodeApiState};
use tradai_server::serve::{exchange_endpoints, ServerConfig};
use tradai_settings::Settings;
use tradai_trading::{Broker, FeedConfig, NodeControl, NodeHooks, NodeSpec, SystemClock, TradingError};

use crate::cmd::data::open_store;
use crate::cmd::trade::{heartbeat_ms, latency_summary, state_store, TradeArgs};
use crate::flags::flag_error;
use crate::output::print_json;

/// Runs the node on live candles until Ctrl-C (or `--max-candles`).
pub(crate) fn run(
    a: &TradeArgs,
    spec: &NodeSpec,
    registry: &StrategyRegistry,
    settings: &Settings,
    broker: &mut dyn Broker,
) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        spec.run.timerange_text.is_empty(),
        "--timerange '{}' needs --replay: a live node trades from the last closed candle on",
        spec.run.timerange_text
    );
    let store = open_store(settings)?;
    let mut db = state_store(settings)?;
    let client = tradai_exchange::connect(&spec.run.exchange, &exchange_endpoints(settings), TransportConfig::default())
        .with_context(|| format!("cannot use exchange '{}' for the live feed", spec.run.exchange))?;
    let control = Arc::new(NodeControl::new());
    let keys = ServerConfig::from_settings(settings)
        .map_err(anyhow::Error::from)
        .and_then(|cfg| Ok(tradai_server::auth::ApiKeyStore::open(&cfg.db_path())?))
        .context("opening the API key store")?;
    let stop = Arc::new(AtomicBool::new(false));
    on_ctrl_c(Arc::clone(&stop));
    let port = a.api_port.unwrap_or_else(|| spec.mode.default_api_port());
    let api = spawn_node_api(
        NodeApiState {
            bot_id: spec.bot_id.clone(),
            mode: spec.mode,
            stake_currency: spec.run.stake_currency().to_owned(),
            state_db: db.path().to_path_buf(),
            control: Arc::clone(&control),
            keys: Arc::new(keys),
        },
        port,
    )
    .with_context(|| format!("cannot serve the node API on 127.0.0.1:{port} (in use? pass --api-port, 0 for any free port)"))?;
    // On stderr, so `--json` output stays one document; scripts with --api-port 0 read it.
    eprintln!("bot {}: node API on http://{}", spec.bot_id, api.addr);
    // backend-api reads the address from the shared state database to reach this node.
    let api_url = format!("http://{}", api.addr);
    db.set_api_url(&spec.bot_id, Some(&api_url), chrono::Utc::now().timestamp_millis()).context("registering the node API's address")?;

    let hooks = NodeHooks {
        progress: &|_, _| {},
        stop: &stop,
        now_ms: &|| chrono::Utc::now().timestamp_millis(),
        heartbeat_every_ms: heartbeat_ms(a.heartbeat_interval)?,
        commit_every: 1,
    };
    let feed = FeedConfig { max_candles: a.max_candles, ..FeedConfig::default() };
    let result = tradai_trading::run_live(&store, &mut db, spec, registry, broker, client, &SystemClock, &hooks, &feed, &control);
    drop(api);
    // Withdrawn however the run ended: an address that no longer answers only costs a 502.
    let _ = db.set_api_url(&spec.bot_id, None, chrono::Utc::now().timestamp_millis());
    let outcome = match result {
        Ok(o) => o,
        Err(TradingError::Spec(f)) => return Err(flag_error(f)),
        Err(e) => return Err(e.into()),
    };
    if a.json {
        print_json(&serde_json::json!({
            "bot_id": spec.bot_id,
            "mode": spec.mode,
            "replay": false,
            "first_candle": tradai_core::iso_ts_ms(outcome.first_candle_ms),
            "resumed": outcome.resumed,
            "candles_stepped": outcome.candles_stepped,
            "orders_sent": outcome.orders_sent,
            "candles": outcome.candles,
            "poll_errors": outcome.poll_errors,
            "closed_trades": outcome.closed_trades,
            "open_trades": outcome.open_trades,
            "entries_stopped": outcome.entries_stopped,
            "risk_stop": outcome.risk_stop,
            "order_latency_ms": latency_summary(&outcome.order_latency_us),
            "state_db": db.path(),
        }))?;
    } else {
        println!(
            "bot {} ({}, live feed from {}): {} candles stepped ({} delayed, {} missing), {} orders, {} closed and {} open trades; state in {}",
            spec.bot_id,
            spec.mode,
            tradai_core::iso_ts_ms(outcome.first_candle_ms),
            outcome.candles_stepped,
            outcome.candles.delayed,
            outcome.candles.missing,
            outcome.orders_sent,
            outcome.closed_trades,
            outcome.open_trades,
            db.path().display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The first Ctrl-C (or SIGTERM, as a container stop sends) stops the node after its current
/// candle (state committed); the second exits at once (the last commit still holds). Returns
/// once the handler is installed, so an early signal is not lost to the default handler.
fn on_ctrl_c(stop: Arc<AtomicBool>) {
    let (ready, installed) = std::sync::mpsc::channel::<()>();
    let spawned = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{signal, SignalKind};
                let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
                let _ = ready.send(());
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if stop.swap(true, Ordering::SeqCst) {
                        std::process::exit(130);
                    }
                    eprintln!("interrupted: stopping after the current candle (again to exit at once)");
                }
            }
            #[cfg(not(unix))]
            {
                let _ = ready.send(());
                while tokio::signal::ctrl_c().await.is_ok() {
                    if stop.swap(true, Ordering::SeqCst) {
                        std::process::exit(130);
                    }
                    eprintln!("interrupted: stopping after the current candle (again to exit at once)");
                }
            }
        });
    });
    if spawned.is_ok() {
        let _ = installed.recv_timeout(std::time::Duration::from_secs(5));
    }
}
