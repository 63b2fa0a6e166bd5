//! A node's durable state: SQLite under the data directory (`_tradai/trading.sqlite`).
//!
//! Everything a node decided is committed before it goes on: the session state (open trades,
//! wallet, the next candle), the trades closed since the last commit, the orders placed or
//! filled and the wallet capture, in one transaction per candle on which something happened.
//! WAL with `synchronous=FULL` by default, so a committed candle survives `kill -9` and power
//! loss; a paper node may relax that to [`Durability::ProcessCrash`] (`synchronous=NORMAL`:
//! a commit survives `kill -9`, the last ones may be lost with the machine's power). A
//! candle on which nothing opened or closed is not committed: after a crash it is stepped
//! again from the last commit, with the same result, since the rules are deterministic.

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use tradai_core::Trade;
use tradai_engine::SessionState;

use crate::error::TradingError;
use crate::order::OrderRecord;
use crate::spec::{BotId, NodeSpec};

/// What a committed candle survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `kill -9` and the machine losing power (every commit waits for the disk): what a node
    /// sending real orders needs.
    #[default]
    PowerLoss,
    /// `kill -9` of the node (the commit is in the operating system's hands when it
    /// returns), not a power cut: enough for a paper node, whose lost candles are stepped
    /// again with the same result, and many times faster per commit.
    ProcessCrash,
}

/// Candles of a node's run: how many the window should have, how many were missing from the
/// data (the rules see them as gap-filled candles), how many came late (live feed only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
pub struct CandleStats {
    /// Candles the window holds on the timeframe grid, over all pairs.
    pub total: u64,
    /// Of those, candles absent from the data.
    pub missing: u64,
    /// Candles that arrived after their expected time (0 in a replay).
    pub delayed: u64,
}

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    /// Trading (or killed while trading: the next start resumes it).
    Running,
    /// Stopped on request; resumes on the next start.
    Stopped,
    /// A replay that reached its last candle.
    Finished,
}

impl NodeStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Finished => "finished",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "stopped" => Self::Stopped,
            "finished" => Self::Finished,
            _ => Self::Running,
        }
    }
}

/// What is stored of a node.
#[derive(Debug, Clone)]
pub struct StoredNode {
    /// The spec the state belongs to.
    pub spec: NodeSpec,
    /// The spec's fingerprint at creation.
    pub fingerprint: String,
    /// Status.
    pub status: NodeStatus,
    /// The session state of the last commit (`None` before the first).
    pub state: Option<SessionState>,
    /// Closed trades, in closing order.
    pub trades: Vec<Trade>,
    /// The wallet capture up to the last commit.
    pub balance: Vec<(i64, f64)>,
}

/// One row of `tradai trade list`.
#[derive(Debug, Clone, Serialize)]
pub struct NodeSummary {
    /// The node.
    pub bot_id: String,
    /// `dry-run` or `live`.
    pub mode: String,
    /// Strategy.
    pub strategy: String,
    /// Status.
    pub status: NodeStatus,
    /// Candles come from the store (`--replay`).
    pub replay: bool,
    /// The last candle committed (epoch ms), if any.
    pub last_candle_ms: Option<i64>,
    /// Open trades at the last commit.
    pub open_trades: usize,
    /// Closed trades.
    pub closed_trades: usize,
    /// Realised profit.
    pub closed_profit: f64,
    /// Last commit (wall clock, epoch ms).
    pub updated_ms: i64,
    /// The last heartbeat (wall clock, epoch ms).
    pub last_heartbeat_ms: Option<i64>,
    /// The heartbeat interval the node runs with (ms).
    pub heartbeat_interval_ms: Option<i64>,
    /// A running node that missed 3 heartbeats (as of the listing's clock).
    pub stale: bool,
    /// The base URL of the node's REST API while it serves one (`http://127.0.0.1:8005`).
    pub api_url: Option<String>,
}

/// One heartbeat of a node: it is alive, where it is, what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Heartbeat {
    /// When (wall clock, epoch ms).
    pub ts_ms: i64,
    /// The interval the node promises between heartbeats (ms).
    pub interval_ms: i64,
    /// The last candle stepped (epoch ms).
    pub last_candle_ms: Option<i64>,
    /// Open trades.
    pub open_trades: usize,
    /// `running`, `stopped` or `finished`.
    pub status: String,
}

/// A node is stale when it should be running but its last heartbeat is older than 3
/// intervals (the seeds' heartbeat check: 3 missed beats).
#[must_use]
pub fn is_stale(status: NodeStatus, last_heartbeat_ms: Option<i64>, interval_ms: Option<i64>, now_ms: i64) -> bool {
    match (status, last_heartbeat_ms, interval_ms) {
        (NodeStatus::Running, Some(last), Some(every)) => now_ms - last > 3 * every,
        (NodeStatus::Running, None, _) => true,
        _ => false,
    }
}

/// What one commit adds.
#[derive(Debug)]
pub struct Commit<'a> {
    /// The state after the candle.
    pub state: &'a SessionState,
    /// Index (in closing order) of the first of `new_trades`.
    pub first_trade_seq: usize,
    /// Trades closed since the last commit.
    pub new_trades: &'a [Trade],
    /// Orders placed, changed or filled since the last commit.
    pub orders: &'a [OrderRecord],
    /// The wallet capture of the candles since the last commit.
    pub balance: &'a [(i64, f64)],
    /// The node's status after the commit.
    pub status: NodeStatus,
    /// Wall clock (epoch ms).
    pub now_ms: i64,
}

/// Something a node recorded for its operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeEvent {
    /// When (wall clock, epoch ms).
    pub ts_ms: i64,
    /// What: `rejected`, `venue_event`, `reconcile_adopted`, `reconcile_cancelled`,
    /// `reconcile_settled`, `insufficient_balance`, `catch_up`.
    pub kind: String,
    /// The order, the venue's code and message, the amounts (never a key).
    pub detail: String,
}

enum OrderWriteError {
    Sql(rusqlite::Error),
    Json(serde_json::Error),
}

/// The one way an order row is written (by a commit, or alone).
fn put_order(conn: &Connection, bot: &BotId, o: &OrderRecord) -> Result<(), OrderWriteError> {
    let body = serde_json::to_string(o).map_err(OrderWriteError::Json)?;
    let purpose = serde_json::to_value(o.purpose).map_err(OrderWriteError::Json)?;
    conn.prepare_cached(
        "INSERT OR REPLACE INTO orders (bot_id, client_order_id, pair, purpose, status, placed_ms, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .and_then(|mut st| {
        st.execute(params![bot.as_str(), o.client_order_id, o.pair.to_string(), purpose.as_str().unwrap_or_default(), o.status.as_str(), o.placed_ms, body])
    })
    .map_err(OrderWriteError::Sql)?;
    Ok(())
}

/// What the trading state database holds, for errors and the schema version table.
pub const STATE_DATABASE: &str = "trading state database";

/// The trading state schema. Never edit a released step: add one.
pub const SCHEMA: tradai_sqlite::Schema = tradai_sqlite::Schema {
    name: STATE_DATABASE,
    // Version 1 is the tables of the release before versioning (IF NOT EXISTS adopts a
    // database of that release, which has no version table).
    migrations: &[tradai_sqlite::Migration {
        description: "nodes, trades, orders, heartbeats, reports, balance, events and node APIs",
        step: tradai_sqlite::Step::Sql(TABLES_V1),
    }],
};

const TABLES_V1: &str = "
CREATE TABLE IF NOT EXISTS nodes (
    bot_id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    state TEXT,
    last_candle_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trades (
    bot_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    pair TEXT NOT NULL,
    open_ms INTEGER NOT NULL,
    close_ms INTEGER NOT NULL,
    profit_abs REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (bot_id, seq)
);
CREATE TABLE IF NOT EXISTS orders (
    bot_id TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    pair TEXT NOT NULL,
    purpose TEXT NOT NULL,
    status TEXT NOT NULL,
    placed_ms INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (bot_id, client_order_id)
);
CREATE TABLE IF NOT EXISTS heartbeats (
    bot_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    interval_ms INTEGER NOT NULL,
    last_candle_ms INTEGER,
    open_trades INTEGER NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS heartbeats_bot ON heartbeats (bot_id, ts_ms);
CREATE TABLE IF NOT EXISTS candle_stats (
    bot_id TEXT PRIMARY KEY,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    bot_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS golive_reports (
    strategy TEXT NOT NULL,
    version INTEGER,
    created_ms INTEGER NOT NULL,
    passed INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS golive_reports_strategy ON golive_reports (strategy, created_ms);
CREATE TABLE IF NOT EXISTS balance (
    bot_id TEXT NOT NULL,
    first_ms INTEGER NOT NULL,
    points BLOB NOT NULL,
    PRIMARY KEY (bot_id, first_ms)
);
CREATE TABLE IF NOT EXISTS node_events (
    bot_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS node_events_bot ON node_events (bot_id, ts_ms);
CREATE TABLE IF NOT EXISTS node_apis (
    bot_id TEXT PRIMARY KEY,
    api_url TEXT NOT NULL,
    registered_ms INTEGER NOT NULL
);
";

/// The trading state database.
#[derive(Debug)]
pub struct StateStore {
    conn: Connection,
    path: PathBuf,
}

impl StateStore {
    /// The database of a local data directory: `<dir>/_tradai/trading.sqlite`.
    ///
    /// # Errors
    /// [`TradingError::Io`], [`TradingError::Database`].
    pub fn open_in(data_dir: &Path) -> Result<Self, TradingError> {
        let dir = data_dir.join("_tradai");
        std::fs::create_dir_all(&dir).map_err(|source| TradingError::Io { path: dir.display().to_string(), source })?;
        Self::open(&dir.join("trading.sqlite"))
    }

    /// Opens (creating) the database at `path`, bringing its schema to the newest version.
    ///
    /// # Errors
    /// [`TradingError::Database`] naming the file.
    pub fn open(path: &Path) -> Result<Self, TradingError> {
        let conn = tradai_sqlite::open(path, &SCHEMA).map_err(|e| TradingError::Database(Box::new(e)))?;
        // A replay's commits carry thousands of trade and order rows: a page cache that holds
        // them keeps SQLite from spilling half-written pages to the WAL mid-transaction.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(|source| TradingError::State { path: path.display().to_string(), source })?;
        Ok(Self { conn, path: path.to_owned() })
    }

    /// Sets what a commit survives on this connection (the default is
    /// [`Durability::PowerLoss`]). Nodes sharing the file may differ: WAL keeps the file
    /// consistent either way.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn set_durability(&self, durability: Durability) -> Result<(), TradingError> {
        let (level, checkpoint_pages) = match durability {
            Durability::PowerLoss => ("FULL", 1_000),
            Durability::ProcessCrash => ("NORMAL", 16_384),
        };
        self.conn.pragma_update(None, "synchronous", level).map_err(|e| self.err(e))?;
        self.conn.pragma_update(None, "wal_autocheckpoint", checkpoint_pages).map_err(|e| self.err(e))
    }

    fn err(&self, source: rusqlite::Error) -> TradingError {
        TradingError::State { path: self.path.display().to_string(), source }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Everything stored of `bot`, `None` for a new node.
    ///
    /// # Errors
    /// [`TradingError::State`], [`TradingError::Corrupt`].
    pub fn load(&self, bot: &BotId) -> Result<Option<StoredNode>, TradingError> {
        let row = self
            .conn
            .query_row("SELECT spec, fingerprint, status, state FROM nodes WHERE bot_id = ?1", [bot.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, Option<String>>(3)?))
            })
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((spec, fingerprint, status, state)) = row else { return Ok(None) };
        let corrupt = |source| TradingError::Corrupt { bot_id: bot.to_string(), source };
        let spec: NodeSpec = serde_json::from_str(&spec).map_err(corrupt)?;
        let state: Option<SessionState> = state.map(|s| serde_json::from_str(&s)).transpose().map_err(corrupt)?;
        let trades = self.trades(bot)?;
        let mut balance = Vec::new();
        let mut stmt = self.conn.prepare("SELECT points FROM balance WHERE bot_id = ?1 ORDER BY first_ms").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([bot.as_str()], |r| r.get::<_, Vec<u8>>(0)).map_err(|e| self.err(e))?;
        for blob in rows {
            let blob = blob.map_err(|e| self.err(e))?;
            for c in blob.chunks_exact(16) {
                let mut ts = [0u8; 8];
                let mut v = [0u8; 8];
                ts.copy_from_slice(&c[..8]);
                v.copy_from_slice(&c[8..]);
                balance.push((i64::from_le_bytes(ts), f64::from_le_bytes(v)));
            }
        }
        Ok(Some(StoredNode { spec, fingerprint, status: NodeStatus::parse(&status), state, trades, balance }))
    }

    /// Registers a new node (no state yet).
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn create(&self, spec: &NodeSpec, now_ms: i64) -> Result<(), TradingError> {
        let body = serde_json::to_string(spec).map_err(|source| TradingError::Corrupt { bot_id: spec.bot_id.to_string(), source })?;
        self.conn
            .execute(
                "INSERT INTO nodes (bot_id, spec, fingerprint, status, created_ms, updated_ms) VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
                params![spec.bot_id.as_str(), body, spec.fingerprint(), now_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Commits one candle's changes atomically.
    ///
    /// # Errors
    /// [`TradingError::State`]; then nothing of the commit is stored.
    pub fn commit(&mut self, bot: &BotId, c: &Commit<'_>) -> Result<(), TradingError> {
        let path = self.path.display().to_string();
        let err = |source| TradingError::State { path: path.clone(), source };
        let corrupt = |source| TradingError::Corrupt { bot_id: bot.to_string(), source };
        let tx = self.conn.transaction().map_err(err)?;
        {
            let mut ins =
                tx.prepare_cached("INSERT OR REPLACE INTO trades (bot_id, seq, pair, open_ms, close_ms, profit_abs, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                    .map_err(err)?;
            for (i, t) in c.new_trades.iter().enumerate() {
                let body = serde_json::to_string(t).map_err(corrupt)?;
                let seq = i64::try_from(c.first_trade_seq + i).unwrap_or(i64::MAX);
                ins.execute(params![bot.as_str(), seq, t.pair.to_string(), t.open_timestamp, t.close_timestamp, t.profit_abs, body])
                    .map_err(err)?;
            }
            for o in c.orders {
                put_order(&tx, bot, o).map_err(|e| match e {
                    OrderWriteError::Sql(source) => err(source),
                    OrderWriteError::Json(source) => corrupt(source),
                })?;
            }
            if let Some(first) = c.balance.first() {
                let mut blob = Vec::with_capacity(c.balance.len() * 16);
                for (ts, v) in c.balance {
                    blob.extend_from_slice(&ts.to_le_bytes());
                    blob.extend_from_slice(&v.to_le_bytes());
                }
                tx.execute(
                    "INSERT OR REPLACE INTO balance (bot_id, first_ms, points) VALUES (?1, ?2, ?3)",
                    params![bot.as_str(), first.0, blob],
                )
                .map_err(err)?;
            }
            let state = serde_json::to_string(c.state).map_err(corrupt)?;
            let last = c.balance.last().map(|b| b.0);
            tx.execute(
                "UPDATE nodes SET state = ?2, status = ?3, last_candle_ms = COALESCE(?4, last_candle_ms), updated_ms = ?5 WHERE bot_id = ?1",
                params![bot.as_str(), state, c.status.as_str(), last, c.now_ms],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Stores `order` as it is now (a reconcile that learnt its final status).
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn put_order(&self, bot: &BotId, order: &OrderRecord) -> Result<(), TradingError> {
        put_order(&self.conn, bot, order).map_err(|e| match e {
            OrderWriteError::Sql(source) => self.err(source),
            OrderWriteError::Json(source) => TradingError::Corrupt { bot_id: bot.to_string(), source },
        })
    }

    /// Records something the node's operator must know (a venue rejection, a reconcile
    /// finding, a balance short of the open trades), under a `kind` scripts can match.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn add_event(&self, bot: &BotId, ts_ms: i64, kind: &str, detail: &str) -> Result<(), TradingError> {
        self.conn
            .execute(
                "INSERT INTO node_events (bot_id, ts_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)",
                params![bot.as_str(), ts_ms, kind, detail],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A node's recorded events, oldest first.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn events(&self, bot: &BotId) -> Result<Vec<NodeEvent>, TradingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT ts_ms, kind, detail FROM node_events WHERE bot_id = ?1 ORDER BY ts_ms, rowid")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([bot.as_str()], |r| Ok(NodeEvent { ts_ms: r.get(0)?, kind: r.get(1)?, detail: r.get(2)? }))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Sets a node's status.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn set_status(&self, bot: &BotId, status: NodeStatus, now_ms: i64) -> Result<(), TradingError> {
        self.conn
            .execute("UPDATE nodes SET status = ?2, updated_ms = ?3 WHERE bot_id = ?1", params![bot.as_str(), status.as_str(), now_ms])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A node's closed trades in closing order.
    ///
    /// # Errors
    /// [`TradingError::State`], [`TradingError::Corrupt`].
    pub fn trades(&self, bot: &BotId) -> Result<Vec<Trade>, TradingError> {
        self.bodies(bot, "SELECT body FROM trades WHERE bot_id = ?1 ORDER BY seq")
    }

    /// The JSON `body` column of `sql`'s rows (one parameter: the bot id), decoded.
    fn bodies<T: serde::de::DeserializeOwned>(&self, bot: &BotId, sql: &str) -> Result<Vec<T>, TradingError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let rows = stmt.query_map([bot.as_str()], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for body in rows {
            let body = body.map_err(|e| self.err(e))?;
            out.push(serde_json::from_str(&body).map_err(|source| TradingError::Corrupt { bot_id: bot.to_string(), source })?);
        }
        Ok(out)
    }

    /// A node's orders, oldest first.
    ///
    /// # Errors
    /// [`TradingError::State`], [`TradingError::Corrupt`].
    pub fn orders(&self, bot: &BotId) -> Result<Vec<OrderRecord>, TradingError> {
        self.bodies(bot, "SELECT body FROM orders WHERE bot_id = ?1 ORDER BY placed_ms, rowid")
    }

    /// Every node, by id, with staleness as of `now_ms`.
    ///
    /// # Errors
    /// [`TradingError::State`], [`TradingError::Corrupt`].
    pub fn list(&self, now_ms: i64) -> Result<Vec<NodeSummary>, TradingError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT n.bot_id, n.spec, n.status, n.state, n.last_candle_ms, n.updated_ms,
                        (SELECT COUNT(*) FROM trades t WHERE t.bot_id = n.bot_id),
                        (SELECT MAX(h.ts_ms) FROM heartbeats h WHERE h.bot_id = n.bot_id),
                        (SELECT h.interval_ms FROM heartbeats h WHERE h.bot_id = n.bot_id ORDER BY h.ts_ms DESC LIMIT 1),
                        (SELECT a.api_url FROM node_apis a WHERE a.bot_id = n.bot_id)
                 FROM nodes n ORDER BY n.bot_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (bot_id, spec, status, state, last_candle_ms, updated_ms, closed, last_heartbeat_ms, heartbeat_interval_ms, api_url) =
                row.map_err(|e| self.err(e))?;
            let status = NodeStatus::parse(&status);
            let corrupt = |source| TradingError::Corrupt { bot_id: bot_id.clone(), source };
            let spec: NodeSpec = serde_json::from_str(&spec).map_err(corrupt)?;
            let state: Option<SessionState> = state.map(|s| serde_json::from_str(&s)).transpose().map_err(corrupt)?;
            out.push(NodeSummary {
                bot_id: bot_id.clone(),
                mode: spec.mode.to_string(),
                strategy: spec.run.strategy.clone(),
                status,
                replay: spec.replay,
                last_candle_ms,
                open_trades: state.as_ref().map_or(0, |s| s.open_trades.len()),
                closed_trades: usize::try_from(closed).unwrap_or(0),
                closed_profit: state.as_ref().map_or(0.0, |s| s.closed_profit),
                updated_ms,
                last_heartbeat_ms,
                heartbeat_interval_ms,
                stale: is_stale(status, last_heartbeat_ms, heartbeat_interval_ms, now_ms),
                api_url,
            });
        }
        Ok(out)
    }

    /// Records a heartbeat.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn heartbeat(&self, bot: &BotId, hb: &Heartbeat) -> Result<(), TradingError> {
        self.conn
            .execute(
                "INSERT INTO heartbeats (bot_id, ts_ms, interval_ms, last_candle_ms, open_trades, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    bot.as_str(),
                    hb.ts_ms,
                    hb.interval_ms,
                    hb.last_candle_ms,
                    i64::try_from(hb.open_trades).unwrap_or(i64::MAX),
                    hb.status
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Registers where the node's REST API answers (`Some`) while it serves, or withdraws it
    /// (`None`) when the API stops, so backend-api knows which nodes it can reach. Kept apart
    /// from `nodes` because the API starts before the node's first start creates its row.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn set_api_url(&self, bot: &BotId, api_url: Option<&str>, now_ms: i64) -> Result<(), TradingError> {
        match api_url {
            Some(url) => self.conn.execute(
                "INSERT INTO node_apis (bot_id, api_url, registered_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (bot_id) DO UPDATE SET api_url = excluded.api_url, registered_ms = excluded.registered_ms",
                params![bot.as_str(), url, now_ms],
            ),
            None => self.conn.execute("DELETE FROM node_apis WHERE bot_id = ?1", [bot.as_str()]),
        }
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A node's heartbeats, oldest first.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn heartbeats(&self, bot: &BotId) -> Result<Vec<Heartbeat>, TradingError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ts_ms, interval_ms, last_candle_ms, open_trades, status FROM heartbeats WHERE bot_id = ?1 ORDER BY ts_ms, rowid",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([bot.as_str()], |r| {
                Ok(Heartbeat {
                    ts_ms: r.get(0)?,
                    interval_ms: r.get(1)?,
                    last_candle_ms: r.get(2)?,
                    open_trades: usize::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    status: r.get(4)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }

    /// Stores the candle statistics of a node's run (replaces earlier ones).
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn set_candle_stats(&self, bot: &BotId, stats: &CandleStats) -> Result<(), TradingError> {
        let body = serde_json::to_string(stats).map_err(|source| TradingError::Corrupt { bot_id: bot.to_string(), source })?;
        self.conn
            .execute("INSERT OR REPLACE INTO candle_stats (bot_id, body) VALUES (?1, ?2)", params![bot.as_str(), body])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The candle statistics of a node's run, if recorded.
    ///
    /// # Errors
    /// [`TradingError::State`], [`TradingError::Corrupt`].
    pub fn candle_stats(&self, bot: &BotId) -> Result<Option<CandleStats>, TradingError> {
        let body: Option<String> = self
            .conn
            .query_row("SELECT body FROM candle_stats WHERE bot_id = ?1", [bot.as_str()], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        body.map(|b| serde_json::from_str(&b)).transpose().map_err(|source| TradingError::Corrupt { bot_id: bot.to_string(), source })
    }

    /// Stores a validation report of a node.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn add_report(&self, bot: &BotId, created_ms: i64, passed: bool, body: &serde_json::Value) -> Result<(), TradingError> {
        self.conn
            .execute(
                "INSERT INTO reports (bot_id, created_ms, passed, body) VALUES (?1, ?2, ?3, ?4)",
                params![bot.as_str(), created_ms, passed, body.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest passed dry-run report of `strategy` version `version` from a node on live
    /// candles (a replay is the backtest again, no evidence for going live): the node that made
    /// it and when.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn passed_dry_run(&self, strategy: &str, version: u64) -> Result<Option<(String, i64)>, TradingError> {
        let mut stmt = self
            .conn
            .prepare("SELECT bot_id, created_ms, body FROM reports WHERE passed = 1 ORDER BY created_ms DESC")
            .map_err(|e| self.err(e))?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))).map_err(|e| self.err(e))?;
        for row in rows {
            let (bot, created, body) = row.map_err(|e| self.err(e))?;
            // A report this crate did not write is not evidence of anything: skip it.
            let Ok(r) = serde_json::from_str::<crate::report::DryRunValidationReport>(&body) else { continue };
            if r.mode == crate::spec::TradingMode::DryRun && !r.replay && r.strategy_id == strategy && r.strategy_version == Some(version) {
                return Ok(Some((bot, created)));
            }
        }
        Ok(None)
    }

    /// Stores a go-live report of `strategy` for its Production `version` (none when no
    /// version was registered).
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn add_go_live_report(
        &self,
        strategy: &str,
        version: Option<u64>,
        created_ms: i64,
        passed: bool,
        body: &serde_json::Value,
    ) -> Result<(), TradingError> {
        let version = version.and_then(|v| i64::try_from(v).ok());
        self.conn
            .execute(
                "INSERT INTO golive_reports (strategy, version, created_ms, passed, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![strategy, version, created_ms, passed, body.to_string()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The newest go-live report of `strategy` for `version`: when it was made and whether it
    /// passed. A newer failed report outranks an older passed one.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn latest_go_live(&self, strategy: &str, version: u64) -> Result<Option<(i64, bool)>, TradingError> {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.conn
            .query_row(
                "SELECT created_ms, passed FROM golive_reports WHERE strategy = ?1 AND version = ?2 ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                params![strategy, version],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, bool>(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Deletes everything of `bot`; false when there was nothing.
    ///
    /// # Errors
    /// [`TradingError::State`].
    pub fn reset(&mut self, bot: &BotId) -> Result<bool, TradingError> {
        let path = self.path.display().to_string();
        let err = |source| TradingError::State { path: path.clone(), source };
        let tx = self.conn.transaction().map_err(err)?;
        let mut n = 0;
        for table in ["nodes", "trades", "orders", "balance", "heartbeats", "candle_stats", "reports", "node_apis", "node_events"] {
            n += tx.execute(&format!("DELETE FROM {table} WHERE bot_id = ?1"), [bot.as_str()]).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(n > 0)
    }
}
