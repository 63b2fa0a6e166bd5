//! Retry with exponential backoff, and a circuit breaker around one exchange.
//!
//! Retries absorb the odd reset connection or 502; the breaker stops a sync of many pairs from
//! hammering an exchange that is down (each pair would otherwise burn its own retries against
//! it). The breaker takes the current instant as an argument, so its state machine is tested
//! without sleeping and without reading a clock.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// How often and how patiently a failed request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles with each further retry.
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(20) }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (0-based): `base * 2^attempt`, capped,
    /// then drawn uniformly from its upper half so concurrent tasks do not retry in lockstep.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1u32 << attempt.min(20)).min(self.max_delay);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if nanos == 0 { 0 } else { rand::rng().random_range(0..=nanos) })
    }
}

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive outage failures (transport errors, 5xx) that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before one probe request is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 8, open_for: Duration::from_secs(30) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
        failures: u32,
    },
    /// One probe is in flight; everyone else fails fast until it reports.
    HalfOpen {
        failures: u32,
    },
}

/// Why a call was refused: the breaker is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub failures: u32,
    pub retry_in: Duration,
}

#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self { config, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks to make a call at `now`.
    pub(crate) fn check(&self, now: Instant) -> Result<(), Refused> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Ok(()),
            State::Open { until, failures } if now < until => Err(Refused { failures, retry_in: until - now }),
            State::Open { failures, .. } => {
                *s = State::HalfOpen { failures };
                Ok(())
            }
            State::HalfOpen { failures } => Err(Refused { failures, retry_in: self.config.open_for.min(Duration::from_secs(1)) }),
        }
    }

    /// The call reached a working exchange (any answer that is not an outage).
    pub(crate) fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed with an outage at `now`.
    pub(crate) fn on_failure(&self, now: Instant) {
        let mut s = self.lock();
        let failures = match *s {
            State::Closed { failures } | State::Open { failures, .. } | State::HalfOpen { failures } => failures + 1,
        };
        let reopen = matches!(*s, State::HalfOpen { .. }) || failures >= self.config.failure_threshold;
        *s = if reopen {
            tracing::warn!(failures, open_for_s = self.config.open_for.as_secs(), "exchange circuit breaker open");
            State::Open { until: now + self.config.open_for, failures }
        } else {
            State::Closed { failures }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy { max_attempts: 5, base_delay: Duration::from_millis(100), max_delay: Duration::from_millis(700) };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400), (3, 700), (30, 700)] {
            let d = p.delay(attempt);
            assert!(d >= Duration::from_millis(full / 2) && d <= Duration::from_millis(full), "{attempt}: {d:?}");
        }
    }

    #[test]
    fn breaker_opens_probes_and_closes() {
        let b = CircuitBreaker::new(BreakerConfig { failure_threshold: 3, open_for: Duration::from_secs(10) });
        let t0 = Instant::now();
        for _ in 0..2 {
            b.on_failure(t0);
            assert!(b.check(t0).is_ok());
        }
        b.on_failure(t0);
        let r = b.check(t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!((r.failures, r.retry_in), (3, Duration::from_secs(6)));
        // After the open period one probe goes through and the others are refused.
        let t1 = t0 + Duration::from_secs(10);
        assert!(b.check(t1).is_ok());
        assert!(b.check(t1).is_err());
        // A failed probe reopens at once.
        b.on_failure(t1);
        assert!(b.check(t1 + Duration::from_secs(9)).is_err());
        assert!(b.check(t1 + Duration::from_secs(10)).is_ok());
        b.on_success();
        assert!(b.check(t1 + Duration::from_secs(10)).is_ok());
        // A success resets the count: two more failures do not open it.
        b.on_failure(t1);
        b.on_failure(t1);
        assert!(b.check(t1).is_ok());
    }
}
