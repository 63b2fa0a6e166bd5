//! Why a trading node stopped, grouped by what the caller can do about it.

use tradai_app::backtest::BacktestFailure;
use tradai_engine::SessionError;

/// Errors of a trading node.
#[derive(Debug, thiserror::Error)]
pub enum TradingError {
    /// The run spec is invalid (a field the user must change).
    #[error(transparent)]
    Spec(#[from] BacktestFailure),
    /// A bot id that cannot name a node.
    #[error("invalid bot id '{0}': use 1 to 64 letters, digits, '.', '_' or '-'")]
    InvalidBotId(String),
    /// The node's stored state belongs to another run spec.
    #[error("bot '{bot_id}' holds the state of another run ({stored}); use another --bot-id or `tradai trade reset --bot {bot_id}`")]
    SpecChanged {
        /// The node.
        bot_id: String,
        /// The stored spec, summarised.
        stored: String,
    },
    /// The stored state does not fit the candles (another range or pair list).
    #[error("bot '{bot_id}': stored state cannot be resumed")]
    Resume {
        /// The node.
        bot_id: String,
        /// Why.
        #[source]
        source: Box<SessionError>,
    },
    /// The engine refused the strategy's output (a strategy bug).
    #[error("strategy '{strategy}' failed")]
    Strategy {
        /// The strategy.
        strategy: String,
        /// Why.
        #[source]
        source: Box<SessionError>,
    },
    /// The broker could not carry out an order.
    #[error("bot '{bot_id}': order failed")]
    Broker {
        /// The node.
        bot_id: String,
        /// Why.
        #[source]
        source: crate::broker::BrokerError,
    },
    /// An order did not fill as the rules assumed (in full, at its price): the node stops
    /// rather than trade on a position the venue does not have.
    #[error("bot '{bot_id}': order {client_order_id} ended {status} with {filled} of {amount} filled; the node stopped")]
    NotFilled {
        /// The node.
        bot_id: String,
        /// The order.
        client_order_id: String,
        /// Its final status.
        status: String,
        /// Amount filled.
        filled: f64,
        /// Amount ordered.
        amount: f64,
    },
    /// The exchange could not give the warm-up candles (a pair's sync failed).
    #[error("bot '{bot_id}': cannot sync the warm-up candles{}", pair.as_ref().map(|p| format!(" of {p}")).unwrap_or_default())]
    Feed {
        /// The node.
        bot_id: String,
        /// The pair, when one pair failed.
        pair: Option<String>,
        /// Why.
        #[source]
        source: Box<tradai_exchange::SyncError>,
    },
    /// A polled candle could not be stored (or the store not read).
    #[error("cannot store the live candles of {pair}")]
    Store {
        /// The pair.
        pair: String,
        /// Why.
        #[source]
        source: tradai_store::StoreError,
    },
    /// No node of that id.
    #[error("no trading node '{0}' (see `tradai trade list`)")]
    UnknownBot(String),
    /// The state database failed.
    #[error("trading state database error at {path}")]
    State {
        /// The database file.
        path: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The state database cannot be opened, is damaged, or its schema cannot be brought up
    /// to date (the error names the file).
    #[error(transparent)]
    Database(Box<tradai_sqlite::DbError>),
    /// Stored state could not be read back (corrupt or from a newer version).
    #[error("stored state of bot '{bot_id}' is unreadable")]
    Corrupt {
        /// The node.
        bot_id: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Creating the state directory failed.
    #[error("cannot create the trading state directory {path}")]
    Io {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Stopped on request (Ctrl-C, the kill switch).
    #[error("stopped")]
    Stopped,
}

impl TradingError {
    /// Whether running the same command again may succeed without changes (a busy or
    /// flaky database, a store read that failed).
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::State { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked | rusqlite::ErrorCode::SystemIoFailure)
            ),
            Self::Database(e) => e.is_retryable(),
            Self::Spec(f) => f.is_retryable(),
            Self::Broker { source, .. } => source.is_retryable(),
            Self::Feed { source, .. } => source.is_retryable(),
            Self::Store { source, .. } => source.is_retryable(),
            _ => false,
        }
    }
}
