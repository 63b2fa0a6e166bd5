//! Checkpoints of a running search: the trials told so far, at a batch boundary, so a run
//! stopped by a shutdown or a crash continues where it stopped instead of from epoch 0.
//!
//! A search is deterministic given its inputs (trial *i* draws from stream *i* of the seed and
//! a batch is proposed from the results told before it), so restoring the told trials — each
//! point, loss and metrics bit for bit — and going on from the next batch gives exactly the
//! study an uninterrupted run gives. Floats are stored as their bit patterns: a decimal
//! round trip that is off by one unit in the last place would change TPE's next proposals.
//!
//! A checkpoint names the run it belongs to by a fingerprint of everything that shapes the
//! search (strategy, backtest configuration, search settings including the job count, the
//! dimensions, and the prepared market's extent); a checkpoint of another run, or one that
//! does not end at a batch boundary, is ignored and the search starts over.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::loss::EpochMetrics;

/// Format version of [`Checkpoint`]; a checkpoint of another version is ignored.
pub const CHECKPOINT_VERSION: u32 = 1;

/// The main search's trials told so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// Which run this belongs to (see the module docs).
    pub fingerprint: String,
    /// Epochs planned for the search.
    pub planned: usize,
    /// Trials in trial order.
    pub trials: Vec<TrialRecord>,
}

/// One told trial, floats as bit patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The sampled point.
    pub point: Vec<u64>,
    /// The loss.
    pub loss: u64,
    /// `trades`, `wins`, then the eight float metrics in declaration order.
    pub metrics: [u64; 10],
}

impl TrialRecord {
    pub(crate) fn new(point: &[f64], loss: f64, m: &EpochMetrics) -> Self {
        Self {
            point: point.iter().map(|x| x.to_bits()).collect(),
            loss: loss.to_bits(),
            metrics: [
                m.trades,
                m.wins,
                m.profit_total.to_bits(),
                m.profit_total_abs.to_bits(),
                m.profit_mean.to_bits(),
                m.max_drawdown.to_bits(),
                m.sharpe.to_bits(),
                m.sortino.to_bits(),
                m.calmar.to_bits(),
                m.holding_avg_s.to_bits(),
            ],
        }
    }

    pub(crate) fn decode(&self) -> (Vec<f64>, f64, EpochMetrics) {
        let f = f64::from_bits;
        let m = &self.metrics;
        let metrics = EpochMetrics {
            trades: m[0],
            wins: m[1],
            profit_total: f(m[2]),
            profit_total_abs: f(m[3]),
            profit_mean: f(m[4]),
            max_drawdown: f(m[5]),
            sharpe: f(m[6]),
            sortino: f(m[7]),
            calmar: f(m[8]),
            holding_avg_s: f(m[9]),
        };
        (self.point.iter().map(|b| f(*b)).collect(), f(self.loss), metrics)
    }
}

/// What a search resumes from and where it saves its progress.
pub struct Resume<'a> {
    /// The last checkpoint of this run, if any.
    pub from: Option<Checkpoint>,
    /// Called with a new checkpoint after a batch when `every` has passed since the last
    /// save, and once more when the run is cancelled (so a shutdown loses no finished batch).
    pub save: &'a (dyn Fn(&Checkpoint) + Sync),
    /// Least time between two saves; zero saves after every batch.
    pub every: Duration,
}

impl std::fmt::Debug for Resume<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resume").field("from_trials", &self.from.as_ref().map(|c| c.trials.len())).field("every", &self.every).finish()
    }
}

/// A stable hash (FNV-1a, 64 bits) of `text`, as hex: the fingerprint must not change between
/// builds, which `std`'s hasher does not promise.
pub(crate) fn fingerprint(text: &str) -> String {
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_round_trip_bit_for_bit_through_json() {
        let m = EpochMetrics { trades: 3, wins: 2, profit_total: 0.1 + 0.2, sharpe: f64::NAN, calmar: -0.0, ..EpochMetrics::default() };
        let t = TrialRecord::new(&[1.0 / 3.0, 7.0], f64::INFINITY, &m);
        let back: TrialRecord = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        let (p, loss, m2) = back.decode();
        assert_eq!(p.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), vec![(1.0f64 / 3.0).to_bits(), 7.0f64.to_bits()]);
        assert_eq!(loss, f64::INFINITY);
        assert_eq!(m2.profit_total.to_bits(), (0.1f64 + 0.2).to_bits());
        assert!(m2.sharpe.is_nan());
        assert_eq!(m2.calmar.to_bits(), (-0.0f64).to_bits());
    }

    #[test]
    fn fingerprints_are_stable() {
        assert_eq!(fingerprint("EmaCross|seed=1"), fingerprint("EmaCross|seed=1"));
        assert_ne!(fingerprint("EmaCross|seed=1"), fingerprint("EmaCross|seed=2"));
    }
}
