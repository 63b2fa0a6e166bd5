//! Risk limits a node enforces on top of the rules (whose slots and stake limits already
//! bound every entry): a maximum drawdown that trips the kill switch, and an optional stop
//! order on the exchange at each trade's stop price.

use serde::{Deserialize, Serialize};
use tradai_core::Trade;

/// A node's risk limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RiskLimits {
    /// Stop opening trades once realised equity falls this far below its peak (0.2 = 20 %).
    pub max_drawdown: Option<f64>,
    /// Keep a stop order on the venue at each open trade's stop price (Freqtrade's
    /// `order_types.stoploss_on_exchange`; live brokers only, off by default). Not written
    /// when off, so the fingerprint of nodes created before it stays the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stoploss_on_exchange: bool,
}

impl RiskLimits {
    /// Checks the values, naming the bad one.
    ///
    /// # Errors
    /// A message quoting the value.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.max_drawdown {
            if !(d.is_finite() && d > 0.0 && d < 1.0) {
                return Err(format!("invalid max drawdown {d}: must be between 0 and 1 (0.2 = 20%)"));
            }
        }
        Ok(())
    }
}

/// Why the kill switch tripped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskStop {
    /// The candle after which no trade opens (epoch ms).
    pub candle_ms: i64,
    /// The drawdown reached.
    pub drawdown: f64,
    /// The limit.
    pub limit: f64,
}

/// The drawdown at the end of a balance series: how far its last value lies below the highest
/// one before it, as a fraction of that peak (0.2 = 20 %); `None` for an empty series or a
/// peak that is not positive.
#[must_use]
pub fn drawdown_of(series: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (mut peak, mut last) = (f64::NEG_INFINITY, None);
    for v in series {
        peak = peak.max(v);
        last = Some(v);
    }
    last.filter(|_| peak > 0.0).map(|l| ((peak - l) / peak).max(0.0))
}

/// Realised equity (starting balance plus closed profits) and its peak.
#[derive(Debug, Clone)]
pub struct DrawdownGuard {
    limit: Option<f64>,
    equity: f64,
    peak: f64,
}

impl DrawdownGuard {
    /// A guard for `limits`, with the trades closed so far (after a restart).
    #[must_use]
    pub fn new(limits: &RiskLimits, starting_balance: f64, closed: &[Trade]) -> Self {
        let mut g = Self { limit: limits.max_drawdown, equity: starting_balance, peak: starting_balance };
        for t in closed {
            g.add(t);
        }
        g
    }

    fn add(&mut self, t: &Trade) -> f64 {
        self.equity += t.profit_abs;
        if self.equity > self.peak {
            self.peak = self.equity;
        }
        if self.peak > 0.0 {
            (self.peak - self.equity) / self.peak
        } else {
            0.0
        }
    }

    /// Counts a closed trade; the drawdown when it reaches the limit.
    pub fn on_closed(&mut self, t: &Trade) -> Option<f64> {
        let dd = self.add(t);
        self.limit.filter(|l| dd >= *l).map(|_| dd)
    }

    /// The limit, if any.
    #[must_use]
    pub fn limit(&self) -> Option<f64> {
        self.limit
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A closed ETH/BTC trade with `profit_abs` (other crate tests adjust the fields they need).
    pub(crate) fn closed(profit_abs: f64) -> Trade {
        let mut t: Trade = serde_json::from_value(serde_json::json!({
            "pair": "ETH/BTC", "open_date": "2018-01-10T00:00:00+00:00", "close_date": "2018-01-10T01:00:00+00:00",
            "open_rate": 1.0, "close_rate": 1.0, "amount": 1.0, "stake_amount": 1.0, "profit_abs": 0.0, "profit_ratio": 0.0,
            "exit_reason": "roi", "is_short": false, "open_timestamp": 0, "close_timestamp": 3_600_000, "trade_duration": 60,
            "leverage": 1.0, "max_stake_amount": 1.0, "fee_open": 0.0, "fee_close": 0.0, "initial_stop_loss_abs": 0.9,
            "initial_stop_loss_ratio": -0.1, "stop_loss_abs": 0.9, "stop_loss_ratio": -0.1, "min_rate": 1.0, "max_rate": 1.0,
            "funding_fees": 0.0, "enter_tag": "", "is_open": false, "exit_order_placed": "2018-01-10T01:00:00+00:00",
            "exit_order_tag": "roi"
        }))
        .unwrap();
        t.profit_abs = profit_abs;
        t
    }

    #[test]
    fn drawdown_from_the_peak_trips_the_limit() {
        let limits = RiskLimits { max_drawdown: Some(0.1), ..RiskLimits::default() };
        let mut g = DrawdownGuard::new(&limits, 100.0, &[closed(20.0)]);
        assert_eq!(g.on_closed(&closed(-6.0)), None); // 114 of peak 120: 5 %
        let dd = g.on_closed(&closed(-6.0)).unwrap(); // 108 of 120: 10 %
        assert!((dd - 0.1).abs() < 1e-12);
        assert_eq!(DrawdownGuard::new(&RiskLimits::default(), 1.0, &[]).on_closed(&closed(-0.9)), None);
        assert!(RiskLimits { max_drawdown: Some(1.5), ..RiskLimits::default() }.validate().unwrap_err().contains("1.5"));
        assert!(limits.validate().is_ok());
    }

    #[test]
    fn the_drawdown_of_a_balance_series_is_its_end_below_its_peak() {
        assert!((drawdown_of([1.0, 1.2, 0.9]).unwrap() - 0.25).abs() < 1e-12);
        assert_eq!(drawdown_of([1.0, 0.8, 1.1]), Some(0.0));
        assert_eq!(drawdown_of([]), None);
        assert_eq!(drawdown_of([0.0, 0.0]), None);
    }
}
