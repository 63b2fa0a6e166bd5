//! A request-weight budget per fixed time window, shared by every task that calls one exchange
//! endpoint family, kept in step with the weight the exchange reports it has counted.
//!
//! Binance counts request weight per IP per clock minute and reports the running total in
//! `X-MBX-USED-WEIGHT-1M`; Bybit counts requests per 5 s and reports what remains. Both fit a
//! budget per window that the exchange's own count can only raise: other processes on the same
//! IP spend the same budget, and only the exchange sees them. A 429/418 `Retry-After` blocks the
//! whole family, not just the task that received it, because the ban is per IP.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::time::Instant;

/// The budget of one endpoint family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterConfig {
    /// Length of the exchange's counting window (60 s on Binance, 5 s on Bybit).
    pub window: Duration,
    /// Weight we allow ourselves per window; keep it below the exchange's limit so other
    /// clients on the same IP have room.
    pub budget: u32,
}

/// A snapshot of a limiter, for reports and progress displays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitState {
    /// Which endpoint family (`binance spot`, `binance futures`, `bybit`).
    pub scope: String,
    /// The window length in milliseconds.
    pub window_ms: u64,
    /// The budget per window.
    pub budget: u32,
    /// Weight used in the current window (ours, or the exchange's count when higher).
    pub used: u32,
    /// Milliseconds until a `Retry-After` block ends, when one is in force.
    pub blocked_for_ms: Option<u64>,
    /// Requests let through since the limiter was made.
    pub requests: u64,
    /// Times a request had to wait for the budget or a block.
    pub waits: u64,
    /// Total time spent waiting, in milliseconds.
    pub waited_ms: u64,
}

#[derive(Debug)]
struct Inner {
    window_index: i64,
    used: u32,
    blocked_until: Option<Instant>,
    requests: u64,
    waits: u64,
    waited: Duration,
}

/// The shared limiter. Cheap to lock: every critical section is a few arithmetic operations.
#[derive(Debug)]
pub(crate) struct WindowLimiter {
    scope: String,
    config: LimiterConfig,
    /// A monotonic instant and the wall-clock time it corresponds to, read once: windows are
    /// aligned to the wall clock as the exchange's are, while waiting uses monotonic time.
    origin: Instant,
    origin_wall_ms: i64,
    inner: Mutex<Inner>,
}

impl WindowLimiter {
    pub(crate) fn new(scope: impl Into<String>, config: LimiterConfig) -> Self {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        Self::with_origin(scope, config, Instant::now(), wall)
    }

    fn with_origin(scope: impl Into<String>, config: LimiterConfig, origin: Instant, origin_wall_ms: i64) -> Self {
        Self {
            scope: scope.into(),
            config,
            origin,
            origin_wall_ms,
            inner: Mutex::new(Inner {
                window_index: i64::MIN,
                used: 0,
                blocked_until: None,
                requests: 0,
                waits: 0,
                waited: Duration::ZERO,
            }),
        }
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.config.window.as_millis()).unwrap_or(i64::MAX).max(1)
    }

    fn wall_ms(&self, now: Instant) -> i64 {
        self.origin_wall_ms + i64::try_from(now.saturating_duration_since(self.origin).as_millis()).unwrap_or(i64::MAX / 2)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain counters behind; they are still usable.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves to the window holding `now`, starting its count at zero when it is a new one.
    fn roll(&self, inner: &mut Inner, now: Instant) -> (i64, i64) {
        let wall = self.wall_ms(now);
        let index = wall.div_euclid(self.window_ms());
        if index != inner.window_index {
            inner.window_index = index;
            inner.used = 0;
        }
        (wall, index)
    }

    /// Takes `cost` from the budget at `now`, or says how long to wait before asking again.
    fn try_take(&self, inner: &mut Inner, now: Instant, cost: u32) -> Option<Duration> {
        if let Some(until) = inner.blocked_until {
            if until > now {
                return Some(until - now);
            }
            inner.blocked_until = None;
        }
        let (wall, index) = self.roll(inner, now);
        // A request costing more than the whole budget still goes through, alone in a window,
        // rather than waiting forever.
        if inner.used == 0 || inner.used.saturating_add(cost) <= self.config.budget {
            inner.used = inner.used.saturating_add(cost);
            inner.requests += 1;
            return None;
        }
        let next = (index + 1) * self.window_ms();
        Some(Duration::from_millis(u64::try_from(next - wall).unwrap_or(1).max(1)))
    }

    /// Waits until `cost` fits in the budget (and no block is in force), then takes it.
    pub(crate) async fn acquire(&self, cost: u32) {
        loop {
            let wait = {
                let mut inner = self.lock();
                let wait = self.try_take(&mut inner, Instant::now(), cost);
                if let Some(w) = wait {
                    inner.waits += 1;
                    inner.waited += w;
                }
                wait
            };
            match wait {
                None => return,
                Some(w) => {
                    tracing::debug!(scope = %self.scope, wait_ms = w.as_millis() as u64, "waiting for the exchange's rate limit");
                    tokio::time::sleep(w).await;
                }
            }
        }
    }

    /// Records the weight the exchange says it has counted in the current window.
    pub(crate) fn observe_used(&self, used: u32) {
        self.observe_used_at(used, Instant::now());
    }

    fn observe_used_at(&self, used: u32, now: Instant) {
        let mut inner = self.lock();
        self.roll(&mut inner, now);
        inner.used = inner.used.max(used);
    }

    /// Blocks every request of this family for `wait` (a `Retry-After`).
    pub(crate) fn block_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut inner = self.lock();
        inner.blocked_until = Some(inner.blocked_until.map_or(until, |u| u.max(until)));
    }

    pub(crate) fn state(&self) -> RateLimitState {
        let now = Instant::now();
        let inner = self.lock();
        let current = self.wall_ms(now).div_euclid(self.window_ms()) == inner.window_index;
        RateLimitState {
            scope: self.scope.clone(),
            window_ms: u64::try_from(self.config.window.as_millis()).unwrap_or(u64::MAX),
            budget: self.config.budget,
            used: if current { inner.used } else { 0 },
            blocked_for_ms: inner.blocked_until.filter(|u| *u > now).map(|u| u64::try_from((u - now).as_millis()).unwrap_or(u64::MAX)),
            requests: inner.requests,
            waits: inner.waits,
            waited_ms: u64::try_from(inner.waited.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(budget: u32) -> (WindowLimiter, Instant) {
        let origin = Instant::now();
        // Wall clock at exactly a minute boundary, so window arithmetic is easy to read.
        (WindowLimiter::with_origin("t", LimiterConfig { window: Duration::from_secs(60), budget }, origin, 60_000 * 1000), origin)
    }

    #[test]
    fn budget_then_wait_for_next_window() {
        let (l, t0) = limiter(10);
        let mut inner = l.lock();
        assert_eq!(l.try_take(&mut inner, t0, 4), None);
        assert_eq!(l.try_take(&mut inner, t0 + Duration::from_secs(1), 4), None);
        // 8 used; 4 more would exceed 10: wait for the window that starts at 60 s.
        assert_eq!(l.try_take(&mut inner, t0 + Duration::from_secs(15), 4), Some(Duration::from_secs(45)));
        // In the next window the budget is fresh.
        assert_eq!(l.try_take(&mut inner, t0 + Duration::from_secs(60), 4), None);
        assert_eq!(inner.used, 4);
    }

    #[test]
    fn exchange_count_raises_ours_and_blocks_stop_everything() {
        let (l, t0) = limiter(100);
        l.observe_used_at(99, t0);
        {
            let mut inner = l.lock();
            assert_eq!(l.try_take(&mut inner, t0, 1), None);
            assert_eq!(inner.used, 100);
        }
        let (l, t0) = limiter(100);
        {
            let mut inner = l.lock();
            inner.blocked_until = Some(t0 + Duration::from_secs(3));
            assert_eq!(l.try_take(&mut inner, t0 + Duration::from_secs(1), 1), Some(Duration::from_secs(2)));
            assert_eq!(l.try_take(&mut inner, t0 + Duration::from_secs(3), 1), None);
        }
    }

    #[test]
    fn oversized_request_goes_alone() {
        let (l, t0) = limiter(5);
        let mut inner = l.lock();
        assert_eq!(l.try_take(&mut inner, t0, 50), None);
        assert!(l.try_take(&mut inner, t0, 1).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_through_a_block() {
        let l = WindowLimiter::new("t", LimiterConfig { window: Duration::from_secs(60), budget: 1000 });
        l.block_for(Duration::from_secs(2));
        let t = Instant::now();
        l.acquire(1).await;
        assert!(t.elapsed() >= Duration::from_secs(2));
        let s = l.state();
        assert_eq!((s.requests, s.waits), (1, 1));
    }
}
