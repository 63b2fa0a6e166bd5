//! A circuit breaker around one remote (an exchange, a service): after enough consecutive
//! failures calls fail fast for a while, then a limited number of probes decide whether it
//! closes again. Time is an argument, never read here.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When the breaker opens, for how long, and how many probes it lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures (transport errors, 5xx) that open the breaker.
    pub failure_threshold: u32,
    /// How long it stays open before probes are let through.
    pub open_for: Duration,
    /// Probes in flight at once while half-open.
    pub half_open_max_calls: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 8, open_for: Duration::from_secs(30), half_open_max_calls: 1 }
    }
}

/// The breaker's state, as a metric shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow; failures are counted.
    Closed,
    /// Calls fail fast until the open period has passed.
    Open,
    /// Probes are let through; one success closes, one failure reopens.
    HalfOpen,
}

impl CircuitState {
    /// 0 closed, 1 half-open, 2 open (the Prometheus gauge value).
    #[must_use]
    pub fn as_gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Why a call was refused: the breaker is open (or its probes are all in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Consecutive failures so far.
    pub failures: u32,
    /// When asking again makes sense.
    pub retry_in: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, failures: u32 },
    HalfOpen { failures: u32, probes: u32 },
}

/// A circuit breaker shared by every call to one remote.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, state: Mutex::new(State::Closed { failures: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The state at `now` (an open breaker past its period reports half-open).
    #[must_use]
    pub fn state(&self, now: Instant) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until, .. } if now < until => CircuitState::Open,
            State::Open { .. } | State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to make a call at `now`.
    ///
    /// # Errors
    /// [`Refused`] while open, or while half-open with every probe in flight.
    pub fn check(&self, now: Instant) -> Result<(), Refused> {
        let mut s = self.lock();
        match *s {
            State::Closed { .. } => Ok(()),
            State::Open { until, failures } if now < until => Err(Refused { failures, retry_in: until - now }),
            State::Open { failures, .. } => {
                *s = State::HalfOpen { failures, probes: 1 };
                Ok(())
            }
            State::HalfOpen { failures, probes } if probes < self.config.half_open_max_calls.max(1) => {
                *s = State::HalfOpen { failures, probes: probes + 1 };
                Ok(())
            }
            State::HalfOpen { failures, .. } => Err(Refused { failures, retry_in: self.config.open_for.min(Duration::from_secs(1)) }),
        }
    }

    /// The call reached a working remote (any answer that is not an outage).
    pub fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// The call failed with an outage at `now`.
    pub fn on_failure(&self, now: Instant) {
        let mut s = self.lock();
        let (failures, probing) = match *s {
            State::Closed { failures } | State::Open { failures, .. } => (failures.saturating_add(1), false),
            State::HalfOpen { failures, .. } => (failures.saturating_add(1), true),
        };
        let was_open = matches!(*s, State::Open { .. });
        *s = if probing || failures >= self.config.failure_threshold {
            if !was_open {
                tracing::warn!(failures, open_for_s = self.config.open_for.as_secs_f64(), "circuit breaker open");
            }
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
    fn opens_probes_and_closes() {
        let b = CircuitBreaker::new(BreakerConfig { failure_threshold: 3, open_for: Duration::from_secs(10), half_open_max_calls: 1 });
        let t0 = Instant::now();
        for _ in 0..2 {
            b.on_failure(t0);
            assert!(b.check(t0).is_ok());
        }
        b.on_failure(t0);
        assert_eq!(b.state(t0), CircuitState::Open);
        let r = b.check(t0 + Duration::from_secs(4)).unwrap_err();
        assert_eq!((r.failures, r.retry_in), (3, Duration::from_secs(6)));
        // After the open period one probe goes through and the others are refused.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(b.state(t1), CircuitState::HalfOpen);
        assert!(b.check(t1).is_ok());
        assert!(b.check(t1).is_err());
        // A failed probe reopens at once.
        b.on_failure(t1);
        assert!(b.check(t1 + Duration::from_secs(9)).is_err());
        assert!(b.check(t1 + Duration::from_secs(10)).is_ok());
        b.on_success();
        assert_eq!(b.state(t1), CircuitState::Closed);
        // A success resets the count: two more failures do not open it.
        b.on_failure(t1);
        b.on_failure(t1);
        assert!(b.check(t1).is_ok());
    }

    #[test]
    fn several_probes_when_configured() {
        let b = CircuitBreaker::new(BreakerConfig { failure_threshold: 1, open_for: Duration::from_secs(1), half_open_max_calls: 2 });
        let t0 = Instant::now();
        b.on_failure(t0);
        let t1 = t0 + Duration::from_secs(1);
        assert!(b.check(t1).is_ok());
        assert!(b.check(t1).is_ok());
        assert!(b.check(t1).is_err());
    }
}
