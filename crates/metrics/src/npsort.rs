//! numpy's unstable `argsort(kind="quicksort")` for datetime64/int64 keys, reproduced so that
//! ties come out in numpy's order.
//!
//! Freqtrade sorts trades by `close_date` with pandas `sort_values`, which calls numpy's
//! introsort argsort on datetime64 (no SIMD dispatch for that dtype). Trades that close on the
//! same candle keep no particular order, and the cumulative-profit path, hence the max
//! drawdown, depends on it. The shape follows numpy's `npysort/quicksort.cpp`: median-of-3
//! pivot, partitions of at most 16 elements finished by insertion sort, the smaller side
//! iterated and the larger pushed on a stack, and a heapsort fallback once the depth budget
//! `2·floor(log2 n)` is spent.

/// Partitions with `hi - lo` at most this go to insertion sort (numpy's `SMALL_QUICKSORT`).
const SMALL_QUICKSORT: usize = 15;

/// Indices that sort `keys` ascending, in the order numpy's quicksort argsort returns them.
#[must_use]
pub fn numpy_argsort(keys: &[i64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    if keys.len() > 1 {
        aquicksort(keys, &mut idx);
    }
    idx
}

fn msb(mut n: usize) -> i32 {
    let mut depth = 0;
    while n > 1 {
        n >>= 1;
        depth += 1;
    }
    depth
}

/// Sorts `tosort` (indices into `v`) in place. `pl`/`pr` are inclusive bounds, as in numpy.
fn aquicksort(v: &[i64], tosort: &mut [usize]) {
    let num = tosort.len();
    let mut pl: usize = 0;
    let mut pr: usize = num - 1;
    let mut stack: Vec<(usize, usize, i32)> = Vec::new();
    let mut cdepth = msb(num) * 2;

    loop {
        if cdepth < 0 {
            aheapsort(v, &mut tosort[pl..=pr]);
        } else {
            while pr - pl > SMALL_QUICKSORT {
                let pm = pl + ((pr - pl) >> 1);
                if v[tosort[pm]] < v[tosort[pl]] {
                    tosort.swap(pm, pl);
                }
                if v[tosort[pr]] < v[tosort[pm]] {
                    tosort.swap(pr, pm);
                }
                if v[tosort[pm]] < v[tosort[pl]] {
                    tosort.swap(pm, pl);
                }
                let vp = v[tosort[pm]];
                let mut pi = pl;
                let mut pj = pr - 1;
                tosort.swap(pm, pj);
                loop {
                    // The median-of-3 leaves sentinels at pl and pr-1, so neither scan can
                    // run past the partition.
                    pi += 1;
                    while v[tosort[pi]] < vp {
                        pi += 1;
                    }
                    pj -= 1;
                    while vp < v[tosort[pj]] {
                        pj -= 1;
                    }
                    if pi >= pj {
                        break;
                    }
                    tosort.swap(pi, pj);
                }
                let pk = pr - 1;
                tosort.swap(pi, pk);
                // Iterate on the smaller side, push the larger one.
                if pi - pl < pr - pi {
                    cdepth -= 1;
                    stack.push((pi + 1, pr, cdepth));
                    pr = pi - 1;
                } else {
                    cdepth -= 1;
                    stack.push((pl, pi - 1, cdepth));
                    pl = pi + 1;
                }
            }
            insertion_sort(v, &mut tosort[pl..=pr]);
        }
        match stack.pop() {
            Some((l, r, d)) => {
                pl = l;
                pr = r;
                cdepth = d;
            }
            None => break,
        }
    }
}

fn insertion_sort(v: &[i64], a: &mut [usize]) {
    for i in 1..a.len() {
        let vi = a[i];
        let vp = v[vi];
        let mut j = i;
        while j > 0 && vp < v[a[j - 1]] {
            a[j] = a[j - 1];
            j -= 1;
        }
        a[j] = vi;
    }
}

/// numpy's `aheapsort_`, written with 1-based heap positions like the original.
fn aheapsort(v: &[i64], a: &mut [usize]) {
    let mut n = a.len();
    let mut l = n >> 1;
    while l > 0 {
        let tmp = a[l - 1];
        sift_down(v, a, l, n, tmp);
        l -= 1;
    }
    while n > 1 {
        let tmp = a[n - 1];
        a[n - 1] = a[0];
        n -= 1;
        sift_down(v, a, 1, n, tmp);
    }
}

/// The inner loop of `aheapsort_`: puts `tmp` at heap position `i` (1-based) of the heap of
/// the first `n` entries, moving larger children up.
fn sift_down(v: &[i64], a: &mut [usize], mut i: usize, n: usize, tmp: usize) {
    let at = |k: usize| k - 1;
    let mut j = i << 1;
    while j <= n {
        if j < n && v[a[at(j)]] < v[a[at(j + 1)]] {
            j += 1;
        }
        if v[tmp] < v[a[at(j)]] {
            a[at(i)] = a[at(j)];
            i = j;
            j += j;
        } else {
            break;
        }
    }
    a[at(i)] = tmp;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sorted_perm(keys: &[i64], idx: &[usize]) -> bool {
        let mut seen = vec![false; keys.len()];
        for &i in idx {
            seen[i] = true;
        }
        seen.iter().all(|s| *s) && idx.windows(2).all(|w| keys[w[0]] <= keys[w[1]])
    }

    #[test]
    fn sorts_small_and_empty() {
        assert!(numpy_argsort(&[]).is_empty());
        assert_eq!(numpy_argsort(&[5]), vec![0]);
        // Insertion sort is stable: small inputs keep input order among ties.
        assert_eq!(numpy_argsort(&[3, 1, 3, 1, 2]), vec![1, 3, 4, 0, 2]);
    }

    #[test]
    fn heapsort_fallback_sorts() {
        let keys: Vec<i64> = (0..100).map(|i| (i * 37 % 11) as i64).collect();
        let mut idx: Vec<usize> = (0..keys.len()).collect();
        aheapsort(&keys, &mut idx);
        assert!(is_sorted_perm(&keys, &idx));
    }

    /// Permutations printed by numpy 2.4 for
    /// `np.array([(i * 7919) % 13 for i in range(40)], dtype="datetime64[ms]").argsort(kind="quicksort")`.
    #[test]
    fn matches_numpy_tie_order() {
        let keys: Vec<i64> = (0..40).map(|i| (i * 7919) % 13).collect();
        let got = numpy_argsort(&keys);
        assert!(is_sorted_perm(&keys, &got));
        let expected: Vec<usize> = NUMPY_40.to_vec();
        assert_eq!(got, expected);
    }

    const NUMPY_40: [usize; 40] = [
        0, 26, 13, 39, 20, 7, 33, 14, 27, 1, 34, 8, 21, 2, 15, 28, 35, 22, 9, 16, 29, 3, 10, 36, 23, 30, 4, 17, 24, 11, 37, 18, 31, 5, 38,
        12, 25, 32, 6, 19,
    ];

    /// `sum((j + 1) * idx[j]) % 2**61` of numpy's datetime64 argsort for
    /// `vals = [(i*i*2654435761 + 12345) % m for i in range(n)]`.
    #[test]
    fn matches_numpy_on_larger_inputs() {
        for (n, m, want) in [(1000u64, 50u64, 249_860_374u64), (5000, 7, 30_843_434_271), (777, 2331, 116_175_480)] {
            let keys: Vec<i64> = (0..n).map(|i| ((i * i * 2_654_435_761 + 12345) % m) as i64).collect();
            let idx = numpy_argsort(&keys);
            assert!(is_sorted_perm(&keys, &idx));
            let h = idx.iter().enumerate().fold(0u64, |acc, (j, &v)| (acc + (j as u64 + 1) * v as u64) % (1 << 61));
            assert_eq!(h, want, "n={n} m={m}");
        }
    }
}
