//! The few statistics the comparator and the A/B test need, written out: Welch's t-test (with
//! the Student-t tail from the regularised incomplete beta function), the Mann–Whitney U test
//! (normal approximation with tie correction) and a bootstrap of a mean difference.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Mean and sample variance (`n - 1`); variance 0 below two values.
#[must_use]
pub fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len();
    if n == 0 {
        return (f64::NAN, 0.0);
    }
    let m = x.iter().sum::<f64>() / n as f64;
    let v = if n < 2 { 0.0 } else { x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1) as f64 };
    (m, v)
}

/// Welch's two-sample t-test of `a` against `b`: `(t, df, two-sided p)`. `p = 1` when both
/// variances are zero and the means are equal, `0` when they are zero and the means differ.
#[must_use]
pub fn welch_t(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let ((ma, va), (mb, vb)) = (mean_var(a), mean_var(b));
    let se2 = va / na + vb / nb;
    if se2 <= 0.0 {
        return if ma == mb { (0.0, f64::NAN, 1.0) } else { ((ma - mb).signum() * f64::INFINITY, f64::NAN, 0.0) };
    }
    let t = (ma - mb) / se2.sqrt();
    let df = se2 * se2 / ((va / na).powi(2) / (na - 1.0) + (vb / nb).powi(2) / (nb - 1.0));
    let p = student_t_two_sided(t, df);
    (t, df, p)
}

/// Two-sided tail probability `P(|T| > |t|)` of Student's t with `df` degrees of freedom.
#[must_use]
pub fn student_t_two_sided(t: f64, df: f64) -> f64 {
    let x = df / (df + t * t);
    reg_inc_beta(df / 2.0, 0.5, x).clamp(0.0, 1.0)
}

/// Mann–Whitney U test of `a` against `b`: `(U of a, z, two-sided p)`, normal approximation
/// with the tie correction.
#[must_use]
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> (f64, f64, f64) {
    let (n1, n2) = (a.len(), b.len());
    let mut all: Vec<(f64, bool)> = a.iter().map(|&v| (v, true)).chain(b.iter().map(|&v| (v, false))).collect();
    all.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let (mut r1, mut tie_term) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        r1 += rank * all[i..=j].iter().filter(|e| e.1).count() as f64;
        i = j + 1;
    }
    let (n1f, n2f, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = r1 - n1f * (n1f + 1.0) / 2.0;
    let mu = n1f * n2f / 2.0;
    let sigma2 = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if sigma2 <= 0.0 {
        return (u1, 0.0, 1.0);
    }
    let z = (u1 - mu) / sigma2.sqrt();
    (u1, z, (2.0 * normal_sf(z.abs())).min(1.0))
}

/// `P(Z > z)` of the standard normal.
#[must_use]
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, |error| < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07 + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9).
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + 7.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Regularised incomplete beta `I_x(a, b)` by Lentz's continued fraction.
fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-14 {
            break;
        }
    }
    h
}

/// Share of `samples` bootstrap resamples (each side resampled with replacement, ChaCha8 from
/// `seed`) in which the mean of `b` exceeds the mean of `a`: the confidence that `b` is better.
#[must_use]
pub fn bootstrap_confidence(a: &[f64], b: &[f64], samples: usize, seed: u64) -> f64 {
    if a.is_empty() || b.is_empty() || samples == 0 {
        return 0.5;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mean_of = |x: &[f64], rng: &mut ChaCha8Rng| (0..x.len()).map(|_| x[rng.random_range(0..x.len())]).sum::<f64>() / x.len() as f64;
    let mut wins = 0.0;
    for _ in 0..samples {
        let (ma, mb) = (mean_of(a, &mut rng), mean_of(b, &mut rng));
        if mb > ma {
            wins += 1.0;
        } else if mb == ma {
            wins += 0.5;
        }
    }
    wins / samples as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_values() {
        // scipy.stats.t.sf(2.0, 10) * 2 = 0.07338803...
        assert!((student_t_two_sided(2.0, 10.0) - 0.073_388_03).abs() < 1e-6);
        // scipy.stats.norm.sf(1.96) = 0.0249979
        assert!((normal_sf(1.96) - 0.024_997_9).abs() < 1e-6);
        // Welch on [1..5] and [2,4,..,10]: t = -3/sqrt(2.5), df = 6.25/1.0625 = 5.882,
        // two-sided p = 0.1075 (scipy.stats.ttest_ind(..., equal_var=False)).
        let (t, df, p) = welch_t(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 6.0, 8.0, 10.0]);
        assert!((t + 1.897_366_6).abs() < 1e-6 && (df - 5.882_353).abs() < 1e-5 && (p - 0.1075).abs() < 1e-3, "{t} {df} {p}");
        // Fully separated samples of 10: U = 0 and a tiny p.
        let a: Vec<f64> = (0..10).map(f64::from).collect();
        let b: Vec<f64> = (10..20).map(f64::from).collect();
        let (u, _, p) = mann_whitney_u(&a, &b);
        assert_eq!(u, 0.0);
        assert!(p < 0.001, "{p}");
        assert!(bootstrap_confidence(&a, &b, 500, 1) > 0.99);
        assert!(bootstrap_confidence(&b, &a, 500, 1) < 0.01);
    }
}
