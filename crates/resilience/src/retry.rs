//! Retry timing: exponential backoff with jitter, so clients that failed together do not
//! retry together.

use std::time::Duration;

use rand::Rng;

/// How often and how patiently a failed call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// Delay before the first retry (upper bound); doubles with each further retry.
    pub base_delay: Duration,
    /// Upper bound of one delay.
    pub max_delay: Duration,
    /// How long one attempt may take; `None` leaves it to the transport's own timeout.
    pub attempt_timeout: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay: Duration::from_millis(500), max_delay: Duration::from_secs(20), attempt_timeout: None }
    }
}

impl RetryPolicy {
    /// No retries.
    #[must_use]
    pub fn none() -> Self {
        Self { max_attempts: 1, ..Self::default() }
    }

    /// Whether failed attempt number `attempt` (0-based) may be followed by another.
    #[must_use]
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt + 1 < self.max_attempts
    }

    /// The delay after failed attempt number `attempt` (0-based): `base * 2^attempt`, capped,
    /// then drawn uniformly from its upper half.
    #[must_use]
    pub fn delay(&self, attempt: u32) -> Duration {
        let full = self.base_delay.saturating_mul(1u32 << attempt.min(20)).min(self.max_delay);
        let half = full / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(if nanos == 0 { 0 } else { rand::rng().random_range(0..=nanos) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            attempt_timeout: None,
        };
        for (attempt, full) in [(0, 100), (1, 200), (2, 400), (3, 700), (30, 700)] {
            let d = p.delay(attempt);
            assert!(d >= Duration::from_millis(full / 2) && d <= Duration::from_millis(full), "{attempt}: {d:?}");
        }
        assert!(p.may_retry(3) && !p.may_retry(4));
        assert!(!RetryPolicy::none().may_retry(0));
    }
}
