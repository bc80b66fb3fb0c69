//! The eigensolver against matrices with known eigenpairs, and residual and orthogonality checks on
//! random symmetric matrices whose eigenvalues come in tight clusters.

use super::tridiagonal::Uniform;
use super::*;

/// Tolerances in units of ε‖A‖ (eigenvalues, residuals) or ε (orthogonality), times the size: the
/// backward-stable bounds of Householder reduction and inverse iteration, with a margin of 10.
const SLACK: f64 = 10.0;

/// A dense symmetric matrix (row-major) as the solver reads it: the lower triangle, column by column.
fn lower(dense: &[f64], size: usize) -> SymmetricLower {
    let mut values = vec![f64::NAN; size * size];
    for j in 0..size {
        for i in j..size {
            values[j * size + i] = dense[i * size + j];
        }
    }
    SymmetricLower { size, values }
}

fn dense_tridiagonal(t: &Tridiagonal) -> Vec<f64> {
    let size = t.diagonal.len();
    let mut dense = vec![0.0; size * size];
    for i in 0..size {
        dense[i * size + i] = t.diagonal[i];
        if i + 1 < size {
            dense[i * size + i + 1] = t.off_diagonal[i];
            dense[(i + 1) * size + i] = t.off_diagonal[i];
        }
    }
    dense
}

/// Q Λ Qᵀ for a pseudo-random orthogonal Q (a product of `size` reflectors): eigenvalues `lambda`.
fn with_eigenvalues(lambda: &[f64], seed: u64) -> Vec<f64> {
    let size = lambda.len();
    let mut random = Uniform(seed);
    let mut q: Vec<f64> = (0..size * size).map(|k| if k % (size + 1) == 0 { 1.0 } else { 0.0 }).collect();
    for _ in 0..size {
        let v: Vec<f64> = (0..size).map(|_| random.next()).collect();
        let vv = dot(&v, &v);
        for row in q.chunks_exact_mut(size) {
            let s = 2.0 * dot(row, &v) / vv;
            row.iter_mut().zip(&v).for_each(|(r, vi)| *r -= s * vi);
        }
    }
    let mut a = vec![0.0; size * size];
    for i in 0..size {
        for j in 0..size {
            a[i * size + j] = (0..size).map(|k| q[i * size + k] * lambda[k] * q[j * size + k]).sum();
        }
    }
    a
}

/// max ‖A v − λ v‖ over the pairs, and max |VᵀV − I|.
fn residual_and_orthogonality(dense: &[f64], values: &[f64], vectors: &[f64]) -> (f64, f64) {
    let size = (dense.len() as f64).sqrt() as usize;
    let mut residual = 0.0f64;
    for (&value, v) in values.iter().zip(vectors.chunks_exact(size)) {
        let r: f64 = dense.chunks_exact(size).zip(v).map(|(row, vi)| (dot(row, v) - value * vi).powi(2)).sum();
        residual = residual.max(r.sqrt());
    }
    let mut orthogonality = 0.0f64;
    for (i, a) in vectors.chunks_exact(size).enumerate() {
        for (j, b) in vectors.chunks_exact(size).enumerate() {
            let want = if i == j { 1.0 } else { 0.0 };
            orthogonality = orthogonality.max((dot(a, b) - want).abs());
        }
    }
    (residual, orthogonality)
}

fn norm(dense: &[f64], size: usize) -> f64 {
    dense.chunks_exact(size).map(|row| row.iter().map(|v| v.abs()).sum::<f64>()).fold(0.0, f64::max)
}

/// Solves `dense` for its top `count` pairs and checks values against `want` (largest first), residuals and
/// orthogonality against the stable bounds.
fn check(dense: &[f64], size: usize, count: usize, want: &[f64]) -> Vec<f64> {
    let (values, vectors) = top_eigenpairs(lower(dense, size), count, &mut |_| {}).unwrap();
    // Bisection also stops within a few smallest pivots (dstebz's PIVMIN ~ MIN_POSITIVE) of a zero eigenvalue.
    let scale = f64::EPSILON * norm(dense, size) * size as f64 * SLACK + 4.0 * f64::MIN_POSITIVE;
    assert_eq!(values.len(), count);
    for (got, want) in values.iter().zip(want) {
        assert!((got - want).abs() <= scale, "eigenvalue {got} for {want}");
    }
    let (residual, orthogonality) = residual_and_orthogonality(dense, &values, &vectors);
    assert!(residual <= scale, "‖Av − λv‖ = {residual:e} > {scale:e}");
    assert!(orthogonality <= f64::EPSILON * size as f64 * SLACK, "‖VᵀV − I‖ = {orthogonality:e}");
    vectors
}

#[test]
fn one_by_one_and_two_by_two() {
    let vectors = check(&[4.0], 1, 1, &[4.0]);
    assert_eq!(vectors, [1.0]);
    let vectors = check(&[2.0, 1.0, 1.0, 2.0], 2, 2, &[3.0, 1.0]);
    let h = std::f64::consts::FRAC_1_SQRT_2;
    assert!((vectors[0].abs() - h).abs() < 1e-15 && (vectors[0] - vectors[1]).abs() < 1e-15, "{vectors:?}");
    assert!((vectors[2].abs() - h).abs() < 1e-15 && (vectors[2] + vectors[3]).abs() < 1e-15, "{vectors:?}");
}

#[test]
fn a_diagonal_matrix_gives_its_entries_and_unit_vectors() {
    let entries = [3.0, -1.0, 2.0, 0.5, 7.0];
    let mut dense = vec![0.0; 25];
    entries.iter().enumerate().for_each(|(i, &e)| dense[i * 5 + i] = e);
    let vectors = check(&dense, 5, 5, &[7.0, 3.0, 2.0, 0.5, -1.0]);
    for (v, at) in vectors.chunks_exact(5).zip([4, 0, 2, 3, 1]) {
        assert_eq!(v[at].abs(), 1.0, "{v:?}");
    }
}

#[test]
fn the_second_difference_matrix_has_its_sine_eigenvectors() {
    // T = tridiag(−1, 2, −1), size m: λ_k = 2 − 2 cos(kπ/(m+1)), v_k(j) ∝ sin(jkπ/(m+1)).
    let m = 40;
    let t = Tridiagonal { diagonal: vec![2.0; m], off_diagonal: vec![-1.0; m - 1] };
    let angle = |k: usize| k as f64 * std::f64::consts::PI / (m + 1) as f64;
    let want: Vec<f64> = (1..=m).rev().map(|k| 2.0 - 2.0 * angle(k).cos()).collect();
    let values = t.top_eigenvalues(m).unwrap();
    for (got, want) in values.iter().zip(&want) {
        assert!((got - want).abs() <= 4.0 * f64::EPSILON * SLACK, "{got} for {want}");
    }
    let vectors = t.eigenvectors(&values).unwrap();
    for (v, k) in vectors.chunks_exact(m).zip((1..=m).rev()) {
        let exact: Vec<f64> = (1..=m).map(|j| (j as f64 * angle(k)).sin()).collect();
        let length = dot(&exact, &exact).sqrt();
        let along = dot(v, &exact) / length;
        assert!((along.abs() - 1.0).abs() < 1e-13, "vector {k}: cosine {along}");
    }
    // The same through the dense route (reduction and back-transformation).
    check(&dense_tridiagonal(&t), m, 6, &want);
}

#[test]
fn repeated_eigenvalues_get_orthonormal_vectors() {
    // Already tridiagonal with zero off-diagonals (T splits), then the same spectrum rotated.
    let entries = [2.0, 1.0, 2.0, 2.0, 1.0, 0.0];
    let mut dense = vec![0.0; 36];
    entries.iter().enumerate().for_each(|(i, &e)| dense[i * 6 + i] = e);
    let want = [2.0, 2.0, 2.0, 1.0, 1.0, 0.0];
    check(&dense, 6, 6, &want);
    check(&with_eigenvalues(&entries, 3), 6, 6, &want);
    let mut spectrum = vec![5.0f64; 20];
    spectrum.extend([1.0, -3.0, 0.0, 0.0]);
    let mut want = spectrum.clone();
    want.sort_by(|a, b| b.total_cmp(a));
    check(&with_eigenvalues(&spectrum, 11), 24, 24, &want);
    // A zero matrix: any basis will do, and it is orthonormal.
    check(&[0.0; 9], 3, 3, &[0.0; 3]);
}

#[test]
fn clustered_eigenvalues_have_small_residuals_and_orthonormal_vectors() {
    for (seed, size) in [(1, 30), (2, 64), (5, 97)] {
        // Clusters 1e-14 … 1e-4 wide around a few centres, with separated values between.
        let mut spectrum: Vec<f64> = Vec::new();
        let mut random = Uniform(seed);
        while spectrum.len() < size {
            let centre = 10.0 * random.next();
            let width = 10f64.powi(-4 - (spectrum.len() % 11) as i32);
            for k in 0..(1 + spectrum.len() % 5).min(size - spectrum.len()) {
                spectrum.push(centre + k as f64 * width);
            }
        }
        let mut want = spectrum.clone();
        want.sort_by(|a, b| b.total_cmp(a));
        let dense = with_eigenvalues(&spectrum, seed + 100);
        check(&dense, size, size, &want);
        check(&dense, size, 7, &want);
    }
}

#[test]
fn a_mismatched_size_is_an_error_not_a_panic() {
    let matrix = SymmetricLower { size: 3, values: vec![0.0; 8] };
    assert!(top_eigenpairs(matrix, 2, &mut |_| {}).is_err());
    let matrix = SymmetricLower { size: 2, values: vec![0.0; 4] };
    assert!(top_eigenpairs(matrix, 3, &mut |_| {}).is_err());
}
