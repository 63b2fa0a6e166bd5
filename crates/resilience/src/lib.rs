//! What every TradAI client that talks to something that can fail shares: a retry policy with
//! jittered exponential backoff, a circuit breaker, the one-line form of an error chain, and the
//! proxies the environment names (`HTTPS_PROXY`, `NO_PROXY`; the `http` feature applies them to
//! a reqwest client).
//!
//! The breaker takes the current instant as an argument instead of reading a clock, so its
//! state machine is tested without sleeping, and a caller on tokio's (pausable) clock passes
//! `tokio::time::Instant::now().into_std()`. No I/O, no async runtime: the exchange adapters,
//! the services' HTTP clients and whatever comes next (AWS, a trading venue) all use these.

mod breaker;
mod proxy;
mod retry;

pub use breaker::{BreakerConfig, CircuitBreaker, CircuitState, Refused};
pub use proxy::{ProxyEnv, ALWAYS_DIRECT};
pub use retry::RetryPolicy;

/// An error and its causes on one line, `a: b: c` (what logs and job records show).
#[must_use]
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        // Some errors repeat their source's message in their own; say it once.
        if !s.ends_with(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    #[test]
    fn chains_read_on_one_line() {
        let e = Layer("cannot sync ETH/BTC", Some(Box::new(Layer("request failed", Some(Box::new(Layer("connection reset", None)))))));
        assert_eq!(error_chain(&e), "cannot sync ETH/BTC: request failed: connection reset");
        let repeated = Layer("timeout: connection reset", Some(Box::new(Layer("connection reset", None))));
        assert_eq!(error_chain(&repeated), "timeout: connection reset");
    }
}
