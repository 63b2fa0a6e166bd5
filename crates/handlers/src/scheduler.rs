//! The schedules of `tradai up`: each scheduled handler runs on its own interval (the seeds'
//! EventBridge rates, overridable with `every = "5s"` in `[handlers.<name>]`), in its own loop,
//! so a run never overlaps the previous run of the same handler: a run longer than the
//! interval makes the missed ticks be skipped (and counted), not queued.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::invoke::Handlers;
use crate::registry::HANDLERS;
use crate::settings::parse_every;
use crate::HandlerError;

/// One scheduled handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Handler name.
    pub handler: &'static str,
    /// Interval between runs.
    pub every: Duration,
}

/// What `GET /api/v1/handlers` shows of a scheduled handler.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Handler name.
    pub handler: String,
    /// Interval, seconds.
    pub every_seconds: f64,
    /// Runs finished.
    pub runs: u64,
    /// Runs that answered non-2xx.
    pub failures: u64,
    /// Ticks skipped because the previous run was still going.
    pub skipped: u64,
    /// Whether a run is going now.
    pub running: bool,
    /// When the last run started (RFC 3339).
    pub last_run: Option<String>,
    /// How long it took, ms.
    pub last_duration_ms: Option<f64>,
    /// Its status code.
    pub last_status: Option<u16>,
    /// Its error message, when it failed.
    pub last_error: Option<String>,
    /// Its response body.
    pub last_result: Option<serde_json::Value>,
}

/// The scheduled handlers' records, shared with the API that shows them.
#[derive(Debug, Clone, Default)]
pub struct RunBoard(Arc<Mutex<BTreeMap<String, RunRecord>>>);

impl RunBoard {
    /// Every record, by handler name.
    #[must_use]
    pub fn snapshot(&self) -> Vec<RunRecord> {
        self.lock().values().cloned().collect()
    }

    /// Adds a record for each schedule not yet on the board (before the first run, so the API
    /// lists a handler as soon as it is scheduled).
    pub fn register(&self, schedules: &[Schedule]) {
        let mut b = self.lock();
        for s in schedules {
            b.entry(s.handler.to_owned()).or_insert_with(|| RunRecord {
                handler: s.handler.to_owned(),
                every_seconds: s.every.as_secs_f64(),
                runs: 0,
                failures: 0,
                skipped: 0,
                running: false,
                last_run: None,
                last_duration_ms: None,
                last_status: None,
                last_error: None,
                last_result: None,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, RunRecord>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, handler: &str, f: impl FnOnce(&mut RunRecord)) {
        if let Some(r) = self.lock().get_mut(handler) {
            f(r);
        }
    }
}

/// The schedules of `handlers`: the seeds' six scheduled handlers at their default rates, and
/// any handler whose settings table sets `every`; `enabled = false` leaves one out.
///
/// # Errors
/// [`HandlerError::Setting`] naming a bad `every` or `enabled`.
pub fn schedules(handlers: &Handlers) -> Result<Vec<Schedule>, HandlerError> {
    let mut out = Vec::new();
    for spec in &HANDLERS {
        let vars = handlers.vars_for(spec.name);
        if !vars.flag("ENABLED", true)? {
            continue;
        }
        let raw = match (vars.get("EVERY"), spec.schedule) {
            (Some(e), _) => e.to_owned(),
            (None, Some(s)) => s.to_owned(),
            (None, None) => continue,
        };
        let every = parse_every(&raw).map_err(|message| HandlerError::Setting {
            name: format!("handlers.{}.every", spec.name),
            value: raw.clone(),
            message,
        })?;
        out.push(Schedule { handler: spec.name, every });
    }
    Ok(out)
}

/// Runs `schedules` until `shutdown` resolves, recording each run on `board`. The first run of
/// each comes one interval after the start, as with an EventBridge rate.
pub async fn run(handlers: Arc<Handlers>, schedules: Vec<Schedule>, board: RunBoard, shutdown: impl std::future::Future<Output = ()>) {
    board.register(&schedules);
    let mut loops = tokio::task::JoinSet::new();
    for s in schedules {
        let (h, b) = (Arc::clone(&handlers), board.clone());
        loops.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + s.every, s.every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                let started = chrono::Utc::now();
                b.update(s.handler, |r| r.running = true);
                let invoked =
                    h.invoke(s.handler, serde_json::json!({"source": "tradai.scheduler", "detail-type": "Scheduled Event"})).await;
                let Ok(inv) = invoked else { continue };
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let missed = (inv.duration_ms / (s.every.as_secs_f64() * 1000.0)).floor() as u64;
                let ok = inv.response.is_success();
                b.update(s.handler, |r| {
                    r.running = false;
                    r.runs += 1;
                    r.failures += u64::from(!ok);
                    r.skipped += missed;
                    r.last_run = Some(started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
                    r.last_duration_ms = Some((inv.duration_ms * 10.0).round() / 10.0);
                    r.last_status = Some(inv.response.status_code);
                    r.last_error = inv.response.body.get("error").and_then(|e| e.as_str()).map(str::to_owned);
                    r.last_result = Some(serde_json::Value::Object(inv.response.body.clone()));
                });
            }
        });
    }
    shutdown.await;
    loops.abort_all();
}
