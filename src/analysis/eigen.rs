//! The top eigenpairs of a symmetric matrix in f64, for principal components: Householder
//! tridiagonalisation that keeps its reflectors, bisection on Sturm counts for the wanted eigenvalues
//! (as LAPACK's dstebz), inverse iteration on the tridiagonal for their vectors (dstein), back-transformed.

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

/// A symmetric matrix of which only the lower triangle is read, stored column by column: entry (i, j),
/// i ≥ j, at `j · size + i`, so the part of column j below the diagonal is contiguous.
pub struct SymmetricLower {
    pub size: usize,
    pub values: Vec<f64>,
}

/// The `count` largest eigenvalues of `matrix`, largest first, with their unit eigenvectors (count × size,
/// row-major). Equal or close eigenvalues get orthonormal vectors.
pub fn top_eigenpairs(matrix: SymmetricLower, count: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let size = matrix.size;
    if count > size || matrix.values.len() != size * size {
        return Err(Error::InvalidOption(format!(
            "{count} eigenpairs were asked of a {size} × {size} matrix held in {} values.",
            matrix.values.len()
        )));
    }
    let reduced = tridiagonalise(matrix);
    let tridiagonal = &reduced.tridiagonal;
    let values = tridiagonal.top_eigenvalues(count)?;
    let mut vectors = tridiagonal.eigenvectors(&values)?;
    reduced.back_transform(&mut vectors);
    Ok((values, vectors))
}

/// A symmetric tridiagonal matrix: its diagonal, and the entries beside it (one fewer).
pub struct Tridiagonal {
    pub diagonal: Vec<f64>,
    pub off_diagonal: Vec<f64>,
}

/// Q T Qᵀ = A: T, and Q as reflectors H_k = I − τ_k v_k v_kᵀ acting on rows k + 1.., v_k's first entry
/// 1 (implicit) and the rest in column k of `reflectors` below the subdiagonal.
struct Reduction {
    tridiagonal: Tridiagonal,
    reflectors: Vec<f64>,
    scales: Vec<f64>,
}

/// Householder reduction of the lower triangle (LAPACK's dsytd2, lower): step k makes column k zero below
/// its subdiagonal, and the trailing matrix is updated on one triangle, one column at a time. The update
/// of step k and the matrix-vector product of step k + 1 share one pass, so each step reads the trailing
/// triangle once (the reduction is bound by that traffic, not by its multiply-adds).
fn tridiagonalise(matrix: SymmetricLower) -> Reduction {
    let SymmetricLower { size, values: mut a } = matrix;
    let mut diagonal = vec![0.0; size];
    let mut off_diagonal = vec![0.0; size.saturating_sub(1)];
    let mut scales = vec![0.0; size.saturating_sub(1)];
    // v, w: step k's reflector and update vector; u, y: step k + 1's reflector and product τ A u.
    let (mut v, mut w, mut u, mut y) = (vec![0.0; size], vec![0.0; size], vec![0.0; size], vec![0.0; size]);
    if size >= 2 {
        let tau = reflect(&mut a, size, 0, &mut off_diagonal, &mut scales, &mut v);
        update_and_product(&mut a[size..], size, 1, (&[], &[], 0.0), (&v[..size - 1], &mut w[..size - 1], tau));
    }
    for k in 0..size.saturating_sub(1) {
        diagonal[k] = a[k * size + k];
        let r = size - k - 1;
        let tau = scales[k];
        if tau != 0.0 {
            // w = τ A v − ½ τ (τ vᵀ A v) v, so that A − v wᵀ − w vᵀ = H A H.
            let alpha = -0.5 * tau * dot(&w[..r], &v[..r]);
            w[..r].iter_mut().zip(&v[..r]).for_each(|(wi, vi)| *wi += alpha * vi);
            let first = &mut a[(k + 1) * size + k + 1..(k + 2) * size];
            let (v0, w0) = (v[0], w[0]);
            first.iter_mut().zip(&v[..r]).zip(&w[..r]).for_each(|((aij, vi), wi)| *aij -= vi * w0 + wi * v0);
        }
        if r < 2 {
            continue;
        }
        // Column k + 1 is final: its reflector, then the rest of the trailing matrix in one pass.
        let next = reflect(&mut a, size, k + 1, &mut off_diagonal, &mut scales, &mut u);
        let trailing = &mut a[(k + 2) * size..];
        update_and_product(trailing, size, k + 2, (&v[1..r], &w[1..r], tau), (&u[..r - 1], &mut y[..r - 1], next));
        std::mem::swap(&mut v, &mut u);
        std::mem::swap(&mut w, &mut y);
    }
    if let Some(last) = size.checked_sub(1) {
        diagonal[last] = a[last * size + last];
    }
    Reduction { tridiagonal: Tridiagonal { diagonal, off_diagonal }, reflectors: a, scales }
}

/// The reflector of column k (rows k + 1..): β and τ recorded, v (v₀ = 1) into `v` and below the subdiagonal.
fn reflect(a: &mut [f64], size: usize, k: usize, off: &mut [f64], scales: &mut [f64], v: &mut [f64]) -> f64 {
    let column = &mut a[k * size + k + 1..(k + 1) * size];
    let (beta, tau) = householder(column);
    off[k] = beta;
    scales[k] = tau;
    v[0] = 1.0;
    v[1..column.len()].copy_from_slice(&column[1..]);
    tau
}

/// LAPACK's dlarfg on `x` (α, then the rest): H x = (β, 0, …); the rest of x becomes v (v₀ = 1 implied).
/// Returns (β, τ); τ = 0 when nothing below α needs zeroing (H = I).
fn householder(x: &mut [f64]) -> (f64, f64) {
    let Some((&mut alpha, rest)) = x.split_first_mut() else { return (0.0, 0.0) };
    let norm = rest.iter().fold(0.0f64, |s, v| s.hypot(*v));
    if norm == 0.0 {
        return (alpha, 0.0);
    }
    let beta = -alpha.hypot(norm).copysign(alpha);
    let tau = (beta - alpha) / beta;
    let scale = 1.0 / (alpha - beta);
    rest.iter_mut().for_each(|v| *v *= scale);
    (beta, tau)
}

/// On the trailing matrix A (rows and columns `from`..; `a` starts at column `from`), column by column:
/// A −= v wᵀ + w vᵀ (skipped when its τ is 0), then y = τ' A u with the updated entries.
fn update_and_product(
    a: &mut [f64],
    size: usize,
    from: usize,
    (v, w, tau): (&[f64], &[f64], f64),
    (u, y, next): (&[f64], &mut [f64], f64),
) {
    y.fill(0.0);
    let update = tau != 0.0;
    for (j, column) in a.chunks_exact_mut(size).enumerate() {
        let column = &mut column[from + j..];
        let (vj, wj) = if update { (v[j], w[j]) } else { (0.0, 0.0) };
        if update {
            column[0] -= 2.0 * vj * wj;
        }
        if next == 0.0 {
            if update {
                for ((aij, vi), wi) in column[1..].iter_mut().zip(&v[j + 1..]).zip(&w[j + 1..]) {
                    *aij -= vi * wj + wi * vj;
                }
            }
            continue;
        }
        let uj = u[j];
        let mut sum = column[0] * uj;
        let (head, below) = y.split_at_mut(j + 1);
        if update {
            let pairs = v[j + 1..].iter().zip(&w[j + 1..]);
            for (((aij, (vi, wi)), ui), yi) in column[1..].iter_mut().zip(pairs).zip(&u[j + 1..]).zip(below) {
                *aij -= vi * wj + wi * vj;
                sum += *aij * ui;
                *yi += *aij * uj;
            }
        } else {
            for ((aij, ui), yi) in column[1..].iter().zip(&u[j + 1..]).zip(below) {
                sum += aij * ui;
                *yi += aij * uj;
            }
        }
        head[j] += sum;
    }
    y.iter_mut().for_each(|yi| *yi *= next);
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Reduction {
    /// Eigenvectors of T (rows of `vectors`) into eigenvectors of A: x ← H₀ H₁ … x, the last reflector first.
    fn back_transform(&self, vectors: &mut [f64]) {
        let size = self.tridiagonal.diagonal.len();
        if size == 0 {
            return;
        }
        for (k, &tau) in self.scales.iter().enumerate().rev() {
            if tau == 0.0 {
                continue;
            }
            let v = &self.reflectors[k * size + k + 2..(k + 1) * size];
            for x in vectors.chunks_exact_mut(size) {
                let (head, rest) = x[k + 1..].split_at_mut(1);
                let scale = tau * (head[0] + dot(v, rest));
                head[0] -= scale;
                rest.iter_mut().zip(v).for_each(|(xi, vi)| *xi -= scale * vi);
            }
        }
    }
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
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}

#[cfg(test)]
mod tests;
