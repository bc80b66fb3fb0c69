//! The top eigenpairs of a symmetric matrix in f64, for principal components: Householder
//! tridiagonalisation that keeps its reflectors, bisection on Sturm counts for the wanted eigenvalues
//! (as LAPACK's dstebz), inverse iteration on the tridiagonal for their vectors (dstein), back-transformed.

mod tridiagonal;

use crate::error::{Error, Result};
pub use tridiagonal::Tridiagonal;

/// A symmetric matrix of which only the lower triangle is read, stored column by column: entry (i, j),
/// i ≥ j, at `j · size + i`, so the part of column j below the diagonal is contiguous.
pub struct SymmetricLower {
    pub size: usize,
    pub values: Vec<f64>,
}

/// The `count` largest eigenvalues of `matrix`, largest first, with their unit eigenvectors (count × size,
/// row-major). Equal or close eigenvalues get orthonormal vectors.
/// `mark` is called with each step's name as it ends (the timing harness).
pub fn top_eigenpairs(
    matrix: SymmetricLower,
    count: usize,
    mark: &mut dyn FnMut(&'static str),
) -> Result<(Vec<f64>, Vec<f64>)> {
    let size = matrix.size;
    if count > size || size.checked_mul(size) != Some(matrix.values.len()) {
        return Err(Error::InvalidOption(format!(
            "{count} eigenpairs were asked of a {size} × {size} matrix held in {} values.",
            matrix.values.len()
        )));
    }
    let reduced = tridiagonalise(matrix);
    mark("tridiagonalise");
    let tridiagonal = &reduced.tridiagonal;
    let values = tridiagonal.top_eigenvalues(count)?;
    mark("bisection");
    let mut vectors = tridiagonal.eigenvectors(&values)?;
    mark("inverse iteration");
    reduced.back_transform(&mut vectors);
    mark("back-transform");
    Ok((values, vectors))
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
/// triangle once instead of twice.
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
/// A −= v wᵀ + w vᵀ (skipped when its τ is 0), then y = τ' A u with the updated entries. When both are
/// done (the usual case), two columns share one pass, so v, w, u and y are read once for both.
fn update_and_product(
    a: &mut [f64],
    size: usize,
    from: usize,
    (v, w, tau): (&[f64], &[f64], f64),
    (u, y, next): (&[f64], &mut [f64], f64),
) {
    y.fill(0.0);
    if tau != 0.0 && next != 0.0 {
        let mut columns = a.chunks_exact_mut(size).enumerate().take(y.len());
        while let Some((j, first)) = columns.next() {
            let first = &mut first[from + j..];
            let Some((_, second)) = columns.next() else {
                // The last column alone: its diagonal entry only.
                first[0] -= 2.0 * v[j] * w[j];
                y[j] += first[0] * u[j];
                break;
            };
            let second = &mut second[from + j + 1..];
            let k = j + 1;
            let ((vj, wj, uj), (vk, wk, uk)) = ((v[j], w[j], u[j]), (v[k], w[k], u[k]));
            // Rows j and j + 1, where the columns' triangles differ; the rows below go two columns at a time.
            first[0] -= 2.0 * vj * wj;
            first[1] -= vk * wj + wk * vj;
            second[0] -= 2.0 * vk * wk;
            let mut sums = (first[0] * uj + first[1] * uk, second[0] * uk);
            y[k] += first[1] * uj;
            let (first, second) = (&mut first[2..], &mut second[1..]);
            let rows = k + 1;
            let below = (&v[rows..], &w[rows..], &u[rows..]);
            let (s0, s1) = update_two_columns(first, second, below, &mut y[rows..], (vj, wj, uj), (vk, wk, uk));
            sums.0 += s0;
            sums.1 += s1;
            y[j] += sums.0;
            y[k] += sums.1;
        }
    } else {
        let update = tau != 0.0;
        for (j, column) in a.chunks_exact_mut(size).enumerate().take(y.len()) {
            let column = &mut column[from + j..];
            if update {
                let (vj, wj) = (v[j], w[j]);
                column[0] -= 2.0 * vj * wj;
                for ((aij, vi), wi) in column[1..].iter_mut().zip(&v[j + 1..]).zip(&w[j + 1..]) {
                    *aij -= vi * wj + wi * vj;
                }
            }
            if next != 0.0 {
                let uj = u[j];
                let (head, below) = y.split_at_mut(j + 1);
                let mut sum = column[0] * uj;
                for ((aij, ui), yi) in column[1..].iter().zip(&u[j + 1..]).zip(below) {
                    sum += aij * ui;
                    *yi += aij * uj;
                }
                head[j] += sum;
            }
        }
    }
    y.iter_mut().for_each(|yi| *yi *= next);
}

/// Two neighbouring columns' shared rows, a and b: each −= v w_c + w v_c, then y += a u_a + b u_b;
/// returns (Σ a u, Σ b u) over these rows.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn update_two_columns(
    a: &mut [f64],
    b: &mut [f64],
    (v, w, u): (&[f64], &[f64], &[f64]),
    y: &mut [f64],
    (va, wa, ua): (f64, f64, f64),
    (vb, wb, ub): (f64, f64, f64),
) -> (f64, f64) {
    let (mut sa, mut sb) = (0.0, 0.0);
    let vw = v.iter().zip(w);
    for (((ai, bi), (vi, wi)), (ui, yi)) in a.iter_mut().zip(b.iter_mut()).zip(vw).zip(u.iter().zip(y)) {
        *ai -= vi * wa + wi * va;
        *bi -= vi * wb + wi * vb;
        sa += *ai * ui;
        sb += *bi * ui;
        *yi += *ai * ua + *bi * ub;
    }
    (sa, sb)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd::update_two_columns;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Eigenvectors transformed together: one reflector is applied to this many at a time, so its entries are
/// read once for all of them.
const BACK_TRANSFORM_GROUP: usize = 4;

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
            for group in vectors.chunks_mut(BACK_TRANSFORM_GROUP * size) {
                reflect_group(v, tau, group, size, k);
            }
        }
    }
}

/// H_k x for each vector x (a row of `group`, at most four): x −= τ (x · v) v on rows k + 1.., v₀ = 1 implied.
/// Not inlined, and so called once per reflector and group: V8 swaps in a function's optimised code only at
/// a later call, so a first fit gets it after a few reflectors rather than on the next fit.
#[inline(never)]
fn reflect_group(v: &[f64], tau: f64, group: &mut [f64], size: usize, k: usize) {
    let mut rows: Vec<&mut [f64]> = group.chunks_exact_mut(size).map(|x| &mut x[k + 1..]).collect();
    let dots = match &rows[..] {
        [x0, x1, x2, x3] => dot4(v, [&x0[1..], &x1[1..], &x2[1..], &x3[1..]]),
        _ => {
            let mut dots = [0.0; BACK_TRANSFORM_GROUP];
            dots.iter_mut().zip(&rows).for_each(|(d, x)| *d = dot(v, &x[1..]));
            dots
        }
    };
    for (x, along) in rows.iter_mut().zip(dots) {
        let (head, rest) = x.split_at_mut(1);
        let scale = tau * (head[0] + along);
        head[0] -= scale;
        rest.iter_mut().zip(v).for_each(|(xi, vi)| *xi -= scale * vi);
    }
}

/// v · x for four vectors x at once: independent sums, v read once.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn dot4(v: &[f64], [x0, x1, x2, x3]: [&[f64]; 4]) -> [f64; 4] {
    let mut sums = [0.0; 4];
    for ((((vi, a), b), c), d) in v.iter().zip(x0).zip(x1).zip(x2).zip(x3) {
        sums[0] += vi * a;
        sums[1] += vi * b;
        sums[2] += vi * c;
        sums[3] += vi * d;
    }
    sums
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
use super::simd::dot4;

#[cfg(test)]
mod tests;
