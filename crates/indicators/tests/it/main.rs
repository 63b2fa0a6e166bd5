//! Property tests: every indicator against a naive reference implementation.

// Index loops mirror the formulas being checked.
#![allow(clippy::needless_range_loop)]

use proptest::prelude::*;
use tradai_indicators as ind;

/// Price-like columns: positive, with plateaus (equal neighbours exercise the EWM skip branch
/// and the `<=` sides of the crosses).
fn prices() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(prop_oneof![1 => Just(None), 8 => (1u32..2000u32).prop_map(Some)], 1..120).prop_map(|v| {
        let mut last = 1.0;
        v.into_iter()
            .map(|s| {
                if let Some(step) = s {
                    last = f64::from(step) * 1.0e-5 + 0.01;
                }
                last
            })
            .collect()
    })
}

fn close_rel(a: f64, b: f64, tol: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * a.abs().max(b.abs()).max(1e-300)
}

fn naive_window<F: Fn(&[f64]) -> f64>(x: &[f64], w: usize, f: F) -> Vec<f64> {
    (0..x.len()).map(|t| if t + 1 < w { f64::NAN } else { f(&x[t + 1 - w..=t]) }).collect()
}

proptest! {
    #[test]
    fn ema_matches_textbook_recursion(x in prices(), span in 1usize..40) {
        let y = ind::ema(&x, span);
        let a = 2.0 / (span as f64 + 1.0);
        let mut r = x[0];
        prop_assert_eq!(y[0], x[0]);
        for t in 1..x.len() {
            r = (1.0 - a) * r + a * x[t];
            prop_assert!(close_rel(y[t], r, 1e-12), "t={} {} vs {}", t, y[t], r);
        }
    }

    #[test]
    fn ewm_alpha_is_pandas_update(x in prices(), period in 2usize..30) {
        let spec = ind::EwmSpec::Alpha(1.0 / period as f64);
        let y = ind::ewm_mean(&x, spec);
        let a = spec.alpha();
        let mut r = x[0];
        for t in 1..x.len() {
            if r != x[t] {
                r = ((1.0 - a) * r + a * x[t]) / ((1.0 - a) + a);
            }
            prop_assert_eq!(y[t].to_bits(), r.to_bits());
        }
    }

    #[test]
    fn sma_matches_naive_mean(x in prices(), w in 1usize..30) {
        let fast = ind::sma(&x, w);
        let exact = ind::sma_shifted(&x, w);
        let naive = naive_window(&x, w, |s| s.iter().rev().fold(0.0, |a, v| a + v) / w as f64);
        for t in 0..x.len() {
            prop_assert_eq!(exact[t].to_bits(), naive[t].to_bits());
            prop_assert!(close_rel(fast[t], naive[t], 1e-12), "t={} {} vs {}", t, fast[t], naive[t]);
        }
    }

    #[test]
    fn rolling_std_matches_two_pass(x in prices(), w in 1usize..30, ddof in 0usize..2) {
        let got = ind::rolling_std(&x, w, ddof);
        let naive = naive_window(&x, w, |s| {
            if s.len() <= ddof { return f64::NAN; }
            let m = s.iter().sum::<f64>() / s.len() as f64;
            (s.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (s.len() - ddof) as f64).sqrt()
        });
        for t in 0..x.len() {
            // The online update loses a little precision on near-constant windows; compare on
            // the scale of the prices themselves.
            prop_assert!(
                (got[t].is_nan() && naive[t].is_nan()) || (got[t] - naive[t]).abs() <= 1e-9 * x[t],
                "t={} {} vs {}", t, got[t], naive[t]
            );
        }
    }

    #[test]
    fn donchian_matches_naive_extremes(x in prices(), w in 1usize..30) {
        let hi = ind::donchian_high(&x, w);
        let lo = ind::donchian_low(&x, w);
        let nh = naive_window(&x, w, |s| s.iter().copied().fold(f64::MIN, f64::max));
        let nl = naive_window(&x, w, |s| s.iter().copied().fold(f64::MAX, f64::min));
        for t in 0..x.len() {
            prop_assert_eq!(hi[t].to_bits(), nh[t].to_bits());
            prop_assert_eq!(lo[t].to_bits(), nl[t].to_bits());
        }
    }

    #[test]
    fn bollinger_versions_agree(x in prices(), w in 2usize..30) {
        let a = ind::bollinger_shifted(&x, w, 2.0);
        let b = ind::bollinger(&x, w, 2.0, 0);
        for t in 0..x.len() {
            prop_assert!(close_rel(a.mid[t], b.mid[t], 1e-12));
            prop_assert!((a.upper[t].is_nan() && b.upper[t].is_nan()) || (a.upper[t] - b.upper[t]).abs() <= 1e-9 * x[t]);
            prop_assert!(a.lower[t].is_nan() || a.lower[t] <= a.mid[t]);
        }
    }

    #[test]
    fn rsi_matches_naive(x in prices(), period in 2usize..30) {
        let got = ind::rsi(&x, period);
        let spec = ind::EwmSpec::Alpha(1.0 / period as f64);
        let a = spec.alpha();
        let (mut g, mut l) = (0.0f64, 0.0f64);
        for t in 0..x.len() {
            let d = if t == 0 { 0.0 } else { x[t] - x[t - 1] };
            let (gi, li) = (d.max(0.0), (-d).max(0.0));
            if t == 0 {
                g = gi;
                l = li;
            } else {
                if g != gi { g = ((1.0 - a) * g + a * gi) / ((1.0 - a) + a); }
                if l != li { l = ((1.0 - a) * l + a * li) / ((1.0 - a) + a); }
            }
            let want = 100.0 - 100.0 / (1.0 + g / l);
            prop_assert!((got[t].is_nan() && want.is_nan()) || got[t].to_bits() == want.to_bits(), "t={}", t);
            prop_assert!(got[t].is_nan() || (0.0..=100.0).contains(&got[t]));
        }
    }

    #[test]
    fn crosses_and_shift_match_naive(a in prices(), b in prices(), k in -5isize..6) {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let up = ind::crossed_above(a, b);
        let down = ind::crossed_below(a, b);
        let (sa, sb) = (ind::shift(a, 1), ind::shift(b, 1));
        for t in 0..n {
            prop_assert_eq!(up[t], a[t] > b[t] && sa[t] <= sb[t]);
            prop_assert_eq!(down[t], a[t] < b[t] && sa[t] >= sb[t]);
            prop_assert!(!(up[t] && down[t]));
        }
        let s = ind::shift(a, k);
        for t in 0..n {
            let src = t as isize - k;
            if src >= 0 && (src as usize) < n {
                prop_assert_eq!(s[t], a[src as usize]);
            } else {
                prop_assert!(s[t].is_nan());
            }
        }
    }

    #[test]
    fn macd_is_difference_of_emas(x in prices()) {
        let m = ind::macd(&x, 12, 26, 9);
        let f = ind::ema(&x, 12);
        let s = ind::ema(&x, 26);
        for t in 0..x.len() {
            prop_assert_eq!(m.macd[t], f[t] - s[t]);
            prop_assert_eq!(m.hist[t], m.macd[t] - m.signal[t]);
        }
    }

    #[test]
    fn atr_is_positive_and_bounded(x in prices()) {
        let hi: Vec<f64> = x.iter().map(|v| v * 1.01).collect();
        let lo: Vec<f64> = x.iter().map(|v| v * 0.99).collect();
        let a = ind::atr(&hi, &lo, &x, 14);
        let tr = ind::true_range(&hi, &lo, &x);
        let max_tr = tr.iter().copied().fold(0.0, f64::max);
        for (t, v) in a.iter().enumerate() {
            if t < 13 { prop_assert!(v.is_nan()); } else { prop_assert!(*v > 0.0 && *v <= max_tr * (1.0 + 1e-12)); }
        }
    }
}

#[test]
fn wilder_rsi_known_values() {
    // Hand-checked: a rise then a fall.
    let r = ind::rsi(&[1.0, 2.0, 1.5], 2);
    // alpha = 1/(1+com) with com = (1-0.5)/0.5 = 1 → 0.5.
    let (g, l) = ((0.0 * 0.5 + 1.0 * 0.5) / 1.0, 0.0);
    assert_eq!(r[1], 100.0 - 100.0 / (1.0 + g / l));
    let (g2, l2) = (g * 0.5 + 0.0, (l * 0.5 + 0.5 * 0.5) / 1.0);
    assert_eq!(r[2], 100.0 - 100.0 / (1.0 + g2 / l2));
}
