//! Classification metrics of probability forecasts: accuracy, log loss, ROC AUC and precision
//! at the top decile (what a strategy that only trades its most confident calls earns on).

use serde::{Deserialize, Serialize};

/// Scores of predictions against 0/1 labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Rows scored.
    pub rows: usize,
    /// Share of rows where `p > 0.5` matches the label.
    pub accuracy: f64,
    /// Mean negative log-likelihood (probabilities clipped to `[1e-15, 1 - 1e-15]`).
    pub log_loss: f64,
    /// Area under the ROC curve (0.5 is chance; ties count half).
    pub auc: f64,
    /// Share of positives among the 10 % of rows with the highest probability.
    pub precision_top_decile: f64,
    /// Share of positives among all rows (the precision of guessing).
    pub base_rate: f64,
}

impl ClassMetrics {
    /// Scores `p` against `y`.
    ///
    /// # Panics
    /// When the lengths differ.
    #[must_use]
    pub fn score(y: &[f64], p: &[f64]) -> Self {
        assert_eq!(y.len(), p.len(), "labels and predictions differ in length");
        let n = y.len();
        if n == 0 {
            return Self::default();
        }
        let pos = y.iter().filter(|v| **v > 0.5).count();
        let correct = y.iter().zip(p).filter(|(y, p)| (**p > 0.5) == (**y > 0.5)).count();
        let eps = 1e-15;
        let ll = y
            .iter()
            .zip(p)
            .map(|(y, p)| {
                let p = p.clamp(eps, 1.0 - eps);
                -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
            })
            .sum::<f64>()
            / n as f64;
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_unstable_by(|&a, &b| p[b].total_cmp(&p[a]));
        let top = (n / 10).max(1);
        let top_pos = order[..top].iter().filter(|&&i| y[i] > 0.5).count();
        Self {
            rows: n,
            accuracy: correct as f64 / n as f64,
            log_loss: ll,
            auc: auc(y, p),
            precision_top_decile: top_pos as f64 / top as f64,
            base_rate: pos as f64 / n as f64,
        }
    }

    /// The row-weighted mean of several scores (walk-forward folds).
    #[must_use]
    pub fn mean(parts: &[Self]) -> Self {
        let rows: usize = parts.iter().map(|m| m.rows).sum();
        if rows == 0 {
            return Self::default();
        }
        let w = |f: fn(&Self) -> f64| parts.iter().map(|m| f(m) * m.rows as f64).sum::<f64>() / rows as f64;
        Self {
            rows,
            accuracy: w(|m| m.accuracy),
            log_loss: w(|m| m.log_loss),
            auc: w(|m| m.auc),
            precision_top_decile: w(|m| m.precision_top_decile),
            base_rate: w(|m| m.base_rate),
        }
    }
}

/// ROC AUC by the rank-sum (Mann–Whitney) identity, average ranks for ties; 0.5 when one class
/// is missing.
#[must_use]
pub fn auc(y: &[f64], p: &[f64]) -> f64 {
    let n = y.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| p[a].total_cmp(&p[b]));
    let (mut rank_sum_pos, mut n_pos) = (0.0f64, 0usize);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && p[order[j + 1]] == p[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            if y[k] > 0.5 {
                rank_sum_pos += avg_rank;
                n_pos += 1;
            }
        }
        i = j + 1;
    }
    let n_neg = n - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return 0.5;
    }
    (rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let y = [0.0, 0.0, 1.0, 1.0];
        let p = [0.1, 0.4, 0.35, 0.8];
        // sklearn.metrics.roc_auc_score gives 0.75 for this classic example.
        assert!((auc(&y, &p) - 0.75).abs() < 1e-12);
        let m = ClassMetrics::score(&y, &p);
        assert!((m.accuracy - 0.75).abs() < 1e-12);
        let ll = -((0.9f64).ln() + (0.6f64).ln() + (0.35f64).ln() + (0.8f64).ln()) / 4.0;
        assert!((m.log_loss - ll).abs() < 1e-12);
        assert_eq!(m.precision_top_decile, 1.0);
        assert_eq!(auc(&y, &[0.5; 4]), 0.5);
        assert_eq!(auc(&[1.0, 1.0], &[0.1, 0.2]), 0.5);
    }
}
