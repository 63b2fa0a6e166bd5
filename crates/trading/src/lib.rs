//! Trading nodes: a strategy trading on candles as they come, on paper (dry-run) or with
//! real orders, with the backtest's rules.
//!
//! A node does not have trading rules of its own: it steps [`tradai_engine::TradingSession`],
//! the backtest simulator driven one candle at a time, so a dry-run gives exactly the
//! backtest's trades. Around it this crate adds what a running node needs:
//! - [`spec`]: who a node is ([`BotId`], [`TradingMode`]) and what it trades ([`NodeSpec`],
//!   the backtest's request);
//! - [`order`] and [`broker`]: the orders a decision needs, with client order ids derived from
//!   the trade and purpose, and the [`Broker`] that carries them out ([`PaperBroker`]: the
//!   backtest's fill model; [`binance::BinanceBroker`]: signed Binance spot and USDT-M futures
//!   orders, never placed twice);
//!   A live node may keep a stop order on the venue at each trade's stop price
//!   (`stoploss_on_exchange`, [`StopOrders`]); the stop's fill, when the venue filled it,
//!   is the trade's exit;
//! - [`reconcile`]: a live node's start-up check of the venue's open orders and holdings
//!   against its state;
//! - [`state`]: the node's durable state in SQLite, committed before the node goes on, so a
//!   killed node resumes without losing or doubling a trade;
//! - [`replay`]: the loop over stored candles (`tradai trade --replay`), with heartbeats;
//! - [`live`]: the loop over live candles, polled from the exchange at each candle close;
//! - [`control`]: commands to a running node (kill switch, forced exits) and its snapshot;
//! - [`risk`]: limits on top of the rules (a drawdown that trips the kill switch);
//! - [`report`]: the `DryRunValidationReport` of a node, from what it recorded;
//! - [`golive`]: the `GoLiveValidationReport` of a strategy, from facts its caller gathered.
//!
//! No CLI, terminal or HTTP here: progress and stop are callbacks.

pub mod binance;
pub mod broker;
pub mod control;
mod error;
pub mod golive;
pub mod live;
pub mod order;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod risk;
pub mod spec;
pub mod state;
mod stepper;
mod stops;

pub use broker::{Broker, BrokerError, PaperBroker, StopOrders};
pub use control::{NodeControl, NodeSnapshot, OpenTradeView, StopOrderView};
pub use error::TradingError;
pub use golive::{go_live_report, GoLiveFacts, GoLiveValidationReport};
pub use live::{run_live, Clock, FeedConfig, LiveOutcome, SystemClock};
pub use order::{OrderPurpose, OrderRecord, OrderSide, OrderStatus};
pub use reconcile::{reconcile, ReconcileReport};
pub use replay::{replay, replay_with, NodeHooks, ReplayOutcome};
pub use report::{dry_run_report, DryRunValidationReport, ReportThresholds, Severity};
pub use risk::{RiskLimits, RiskStop};
pub use spec::{BotId, NodeSpec, TradingMode, DRY_RUN_COMMIT_EVERY};
pub use state::{is_stale, CandleStats, Durability, Heartbeat, NodeEvent, NodeStatus, NodeSummary, StateStore, StoredNode};
