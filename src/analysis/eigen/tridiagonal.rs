//! Eigenpairs of a symmetric tridiagonal matrix: the wanted eigenvalues by bisection on Sturm counts
//! (LAPACK's dstebz), their vectors by inverse iteration, orthogonalised within clusters (dstein).

use super::dot;
use crate::error::{Error, Result};

/// Bisection steps per eigenvalue: each halves the bracket, which starts within Gershgorin's bounds
/// (width ≤ 4‖T‖) and stops at ε‖T‖ ≈ 2⁻⁵² ‖T‖, so 54 steps reach it; the rest is margin.
const BISECTION_STEPS: usize = 128;

/// Inverse-iteration solves allowed before a vector counts as not converged, LAPACK dstein's MAXITS.
const INVERSE_ITERATIONS: usize = 5;

/// Solves after the vector first grows enough, dstein's EXTRA: they settle it to full precision.
const EXTRA_ITERATIONS: usize = 2;

/// Eigenvalues closer than this share of ‖T‖₁ form a cluster whose vectors are orthogonalised against
/// each other, dstein's ORTOL (10⁻³).
const CLUSTER_GAP: f64 = 1e-3;

/// A symmetric tridiagonal matrix: its diagonal, and the entries beside it (one fewer).
pub struct Tridiagonal {
    pub diagonal: Vec<f64>,
    pub off_diagonal: Vec<f64>,
}

impl Tridiagonal {
    fn size(&self) -> usize {
        self.diagonal.len()
    }

    /// max over rows of |a_i| + |b_{i−1}| + |b_i|: ‖T‖₁ (= ‖T‖∞), the scale of every tolerance.
    fn norm(&self) -> f64 {
        (0..self.size())
            .map(|i| self.diagonal[i].abs() + self.beside(i).0.abs() + self.beside(i).1.abs())
            .fold(0.0, f64::max)
    }

    /// The off-diagonal entries left and right of row i (0 past an edge).
    fn beside(&self, i: usize) -> (f64, f64) {
        let left = i.checked_sub(1).and_then(|j| self.off_diagonal.get(j)).copied().unwrap_or(0.0);
        (left, self.off_diagonal.get(i).copied().unwrap_or(0.0))
    }

    /// Smallest pivot magnitude allowed in a Sturm count (dstebz's PIVMIN): keeps b²/pivot finite.
    fn smallest_pivot(&self) -> f64 {
        let largest_square = self.off_diagonal.iter().fold(1.0f64, |m, b| m.max(b * b));
        f64::MIN_POSITIVE * largest_square
    }

    /// How many eigenvalues are below each x: the negative pivots of the LDLᵀ factorisation of T − x I
    /// (Sylvester), for all xs in one pass so that their divisions overlap instead of waiting on each other.
    fn counts_below(&self, xs: &[f64], smallest_pivot: f64, counts: &mut [usize]) {
        let mut pivots = vec![1.0; xs.len()];
        counts.fill(0);
        // b_{i−1} before each diagonal entry: 0 before the first.
        for (&a, &b) in self.diagonal.iter().zip(std::iter::once(&0.0).chain(&self.off_diagonal)) {
            let b2 = b * b;
            for ((pivot, x), count) in pivots.iter_mut().zip(xs).zip(counts.iter_mut()) {
                let mut next = a - x - b2 / *pivot;
                if next.abs() < smallest_pivot {
                    next = -smallest_pivot;
                }
                *count += usize::from(next < 0.0);
                *pivot = next;
            }
        }
    }

    /// The `count` largest eigenvalues, largest first, by bisection to dstebz's tolerance (2ε relative, or
    /// ε‖T‖ absolute for those near zero), all brackets halved together; every count narrows every bracket.
    pub fn top_eigenvalues(&self, count: usize) -> Result<Vec<f64>> {
        let size = self.size();
        let norm = self.norm();
        let smallest_pivot = self.smallest_pivot();
        let absolute = f64::EPSILON * norm;
        // Gershgorin's interval, widened as dstebz does so that its ends are strictly outside.
        let (mut low, mut high) = (f64::MAX, f64::MIN);
        for (i, &a) in self.diagonal.iter().enumerate() {
            let (left, right) = self.beside(i);
            let radius = left.abs() + right.abs();
            low = low.min(a - radius);
            high = high.max(a + radius);
        }
        let margin = 2.1 * f64::EPSILON * norm * size as f64 + 2.0 * smallest_pivot;
        // Bracket j holds the (size − 1 − j)-th smallest eigenvalue: counts_below(lo) ≤ index < counts_below(hi).
        let index: Vec<usize> = (size - count..size).rev().collect();
        let mut lo = vec![low - margin; count];
        let mut hi = vec![high + margin; count];
        let open = |lo: f64, hi: f64| {
            let mid = 0.5 * (lo + hi);
            let tolerance = absolute.max(smallest_pivot).max(2.0 * f64::EPSILON * lo.abs().max(hi.abs()));
            hi - lo > tolerance && lo < mid && mid < hi
        };
        let mut mids = Vec::with_capacity(count);
        let mut counts = vec![0; count];
        for _ in 0..BISECTION_STEPS {
            mids.clear();
            mids.extend((0..count).filter(|&j| open(lo[j], hi[j])).map(|j| 0.5 * (lo[j] + hi[j])));
            if mids.is_empty() {
                break;
            }
            self.counts_below(&mids, smallest_pivot, &mut counts[..mids.len()]);
            for (&mid, &below) in mids.iter().zip(&counts) {
                for j in 0..count {
                    if below > index[j] {
                        hi[j] = hi[j].min(mid);
                    } else {
                        lo[j] = lo[j].max(mid);
                    }
                }
            }
        }
        if (0..count).any(|j| open(lo[j], hi[j])) {
            return Err(not_converged());
        }
        Ok(lo.iter().zip(&hi).map(|(l, h)| 0.5 * (l + h)).collect())
    }

    /// Unit eigenvectors (rows) for `values` (eigenvalues of T, largest first) by inverse iteration from
    /// fixed pseudo-random starts, orthogonalised within clusters of close eigenvalues (LAPACK's dstein).
    pub fn eigenvectors(&self, values: &[f64]) -> Result<Vec<f64>> {
        let size = self.size();
        let mut vectors = vec![0.0; values.len() * size];
        if size == 1 {
            vectors.fill(1.0);
            return Ok(vectors);
        }
        let norm = self.norm();
        if norm == 0.0 {
            // T = 0: every vector is an eigenvector; the unit ones are orthonormal.
            vectors.chunks_exact_mut(size).enumerate().for_each(|(j, v)| v[j] = 1.0);
            return Ok(vectors);
        }
        let cluster_gap = CLUSTER_GAP * norm;
        let enough = (0.1 / size as f64).sqrt();
        let mut random = Uniform(0x5DEE_CE66_D1CE_4E5B);
        let mut cluster_start = 0;
        let mut previous: Option<f64> = None;
        let mut x = vec![0.0; size];
        for (j, &value) in values.iter().enumerate() {
            let mut shift = value;
            if let Some(above) = previous {
                // An equal eigenvalue would give the same vector: separate the shifts a little (dstein's PERTOL).
                let separation = 10.0 * (f64::EPSILON * value).abs();
                if above - shift < separation {
                    shift = above - separation;
                }
                if (above - shift).abs() > cluster_gap {
                    cluster_start = j;
                }
            }
            previous = Some(shift);
            let factors = Factorisation::new(self, shift, norm);
            x.iter_mut().for_each(|v| *v = random.next());
            let (done, rest) = vectors.split_at_mut(j * size);
            let cluster = &done[cluster_start * size..];
            let mut grown = 0;
            for _ in 0..INVERSE_ITERATIONS {
                // Scale the start so that growth past `enough` means the shift is an eigenvalue (dstein).
                let sum = x.iter().map(|v| v.abs()).sum::<f64>();
                if sum == 0.0 || !sum.is_finite() {
                    break;
                }
                let scale = size as f64 * norm * f64::EPSILON.max(factors.last_pivot().abs()) / sum;
                x.iter_mut().for_each(|v| *v *= scale);
                factors.solve(&mut x);
                for other in cluster.chunks_exact(size) {
                    let along = dot(&x, other);
                    x.iter_mut().zip(other).for_each(|(xi, oi)| *xi -= along * oi);
                }
                let largest = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                if largest >= enough {
                    grown += 1;
                    if grown > EXTRA_ITERATIONS {
                        break;
                    }
                }
            }
            let length = dot(&x, &x).sqrt();
            if grown <= EXTRA_ITERATIONS || !(length > 0.0 && length.is_finite()) {
                return Err(not_converged());
            }
            rest[..size].iter_mut().zip(&x).for_each(|(out, xi)| *out = xi / length);
        }
        Ok(vectors)
    }
}

fn not_converged() -> Error {
    Error::NotDrawable("The principal components of this kernel did not converge.".into())
}

/// T − σI = P L U by Gaussian elimination with row interchanges (LAPACK's dlagtf): U has two
/// superdiagonals; row i was swapped with row i + 1 where `swapped[i]`.
struct Factorisation {
    pivots: Vec<f64>,
    first: Vec<f64>,
    second: Vec<f64>,
    multipliers: Vec<f64>,
    swapped: Vec<bool>,
    /// Pivots smaller than this are raised to it (dlagts' perturbation): T − σI is nearly singular on purpose.
    tiny: f64,
}

impl Factorisation {
    fn new(t: &Tridiagonal, shift: f64, norm: f64) -> Factorisation {
        let size = t.size();
        let mut pivots: Vec<f64> = t.diagonal.iter().map(|a| a - shift).collect();
        let mut first = t.off_diagonal.clone();
        first.push(0.0);
        let mut second = vec![0.0; size];
        let mut multipliers = vec![0.0; size];
        let mut swapped = vec![false; size];
        for i in 0..size - 1 {
            let below = t.off_diagonal[i];
            let next_super = t.off_diagonal.get(i + 1).copied().unwrap_or(0.0);
            if pivots[i].abs() >= below.abs() {
                let l = if pivots[i] == 0.0 { 0.0 } else { below / pivots[i] };
                multipliers[i] = l;
                pivots[i + 1] -= l * first[i];
            } else {
                // Row i + 1 has the larger entry in column i: it becomes the pivot row.
                let l = pivots[i] / below;
                multipliers[i] = l;
                swapped[i] = true;
                let (upper, next_pivot) = (first[i], pivots[i + 1]);
                pivots[i] = below;
                first[i] = next_pivot;
                second[i] = next_super;
                pivots[i + 1] = upper - l * next_pivot;
                first[i + 1] = -l * next_super;
            }
        }
        let tiny = f64::EPSILON * norm.max(f64::MIN_POSITIVE);
        Factorisation { pivots, first, second, multipliers, swapped, tiny }
    }

    fn last_pivot(&self) -> f64 {
        self.pivots.last().copied().unwrap_or(0.0)
    }

    /// x ← (T − σI)⁻¹ x.
    fn solve(&self, x: &mut [f64]) {
        let size = x.len();
        for i in 0..size - 1 {
            if self.swapped[i] {
                x.swap(i, i + 1);
            }
            x[i + 1] -= self.multipliers[i] * x[i];
        }
        for i in (0..size).rev() {
            let mut sum = x[i];
            if i + 1 < size {
                sum -= self.first[i] * x[i + 1];
            }
            if i + 2 < size {
                sum -= self.second[i] * x[i + 2];
            }
            let pivot = self.pivots[i];
            let pivot = if pivot.abs() < self.tiny { self.tiny.copysign(pivot) } else { pivot };
            x[i] = sum / pivot;
        }
    }
}

/// Fixed pseudo-random numbers in (−1, 1) for inverse iteration's starts (xorshift64*): repeatable runs.
pub(super) struct Uniform(pub(super) u64);

impl Uniform {
    pub(super) fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}
