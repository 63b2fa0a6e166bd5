//! Integration tests of tradai-trading (one test binary): the node's state database, its
//! reports, the live broker against a fake Binance, and the live feed against a fake kline venue.

mod binance;
mod fake_binance;
mod fake_klines;
mod live;
mod orders;
mod reconcile;
mod report;
mod state;
mod stops;

use tradai_trading::{BotId, NodeSpec, TradingMode};

/// A dry-run node `bot` replaying `run` (a run in the API's JSON form), with no registered
/// strategy version and the default risk limits.
pub fn dry_run_node(bot: &str, run: serde_json::Value) -> NodeSpec {
    NodeSpec {
        bot_id: BotId::new(bot).unwrap(),
        mode: TradingMode::DryRun,
        run: serde_json::from_value(run).unwrap(),
        strategy_version: None,
        replay: true,
        risk: Default::default(),
    }
}
