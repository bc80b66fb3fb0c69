//! f64x2 kernels for the two dense steps of principal components (the scatter matrix, the reduction's
//! column pass), compiled when the wasm module is built with `+simd128`, as `.cargo/config.toml` builds it
//! (ARCHITECTURE.md, "analysis"); the scalar loops beside their callers are the reference and the native code.

use core::arch::wasm32::{
    f64x2_add, f64x2_extract_lane, f64x2_mul, f64x2_splat, f64x2_sub, v128, v128_load, v128_store,
};

/// A pair of entries (a `chunks_exact(2)` chunk) as one vector.
#[inline(always)]
fn load(pair: &[f64]) -> v128 {
    assert!(pair.len() >= 2);
    // SAFETY: two f64 in bounds, 16 bytes; v128_load reads unaligned.
    unsafe { v128_load(pair.as_ptr() as *const v128) }
}

#[inline(always)]
fn store(pair: &mut [f64], value: v128) {
    assert!(pair.len() >= 2);
    // SAFETY: as in `load`.
    unsafe { v128_store(pair.as_mut_ptr() as *mut v128, value) }
}

#[inline(always)]
fn sum_lanes(value: v128) -> f64 {
    f64x2_extract_lane::<0>(value) + f64x2_extract_lane::<1>(value)
}

/// The reduction's fused column pass, as its scalar loop: a −= v wⱼ + w vⱼ, then y += a uⱼ; returns Σ a u.
pub fn update_column(
    a: &mut [f64],
    (v, w, vj, wj): (&[f64], &[f64], f64, f64),
    (u, y, uj): (&[f64], &mut [f64], f64),
) -> f64 {
    let n = a.len().min(v.len()).min(w.len()).min(u.len()).min(y.len());
    let (vjv, wjv, ujv) = (f64x2_splat(vj), f64x2_splat(wj), f64x2_splat(uj));
    let mut sum = f64x2_splat(0.0);
    let even = n - n % 2;
    let (a2, y2) = (a[..even].chunks_exact_mut(2), y[..even].chunks_exact_mut(2));
    let vw = v[..even].chunks_exact(2).zip(w[..even].chunks_exact(2));
    for (((a2, (v2, w2)), u2), y2) in a2.zip(vw).zip(u[..even].chunks_exact(2)).zip(y2) {
        let updated = f64x2_sub(load(a2), f64x2_add(f64x2_mul(load(v2), wjv), f64x2_mul(load(w2), vjv)));
        store(a2, updated);
        sum = f64x2_add(sum, f64x2_mul(updated, load(u2)));
        store(y2, f64x2_add(load(y2), f64x2_mul(updated, ujv)));
    }
    let mut sum = sum_lanes(sum);
    if even < n {
        let i = even;
        a[i] -= v[i] * wj + w[i] * vj;
        sum += a[i] * u[i];
        y[i] += a[i] * uj;
    }
    sum
}

/// Rows of the scatter tile handled together: 4 × 2 dot products keep 8 accumulators and 6 loads within
/// the 16 vector registers V8 uses on x86-64.
const TILE_ROWS: usize = 4;
const TILE_COLUMNS: usize = 2;

/// a · aᵀ for a row-major q × p matrix, the entries on and above the diagonal (row-major q × q; the rest
/// of each 4 × 2 tile that crosses the diagonal is computed too, and unused).
pub fn upper_product(a: &[f64], q: usize, p: usize) -> Vec<f64> {
    let mut out = vec![0.0; q * q];
    let row = |i: usize| &a[i * p..(i + 1) * p];
    let even = p - p % 2;
    let dot = |x: &[f64], y: &[f64]| -> f64 {
        let mut sum = f64x2_splat(0.0);
        for (x2, y2) in x[..even].chunks_exact(2).zip(y[..even].chunks_exact(2)) {
            sum = f64x2_add(sum, f64x2_mul(load(x2), load(y2)));
        }
        sum_lanes(sum) + x[even..].iter().zip(&y[even..]).map(|(s, t)| s * t).sum::<f64>()
    };
    for i0 in (0..q).step_by(TILE_ROWS) {
        for j0 in (i0..q).step_by(TILE_COLUMNS) {
            if i0 + TILE_ROWS > q || j0 + TILE_COLUMNS > q {
                for i in i0..(i0 + TILE_ROWS).min(q) {
                    for j in j0..(j0 + TILE_COLUMNS).min(q) {
                        out[i * q + j] = dot(row(i), row(j));
                    }
                }
                continue;
            }
            let (x0, x1) = (row(j0), row(j0 + 1));
            let ys = [row(i0), row(i0 + 1), row(i0 + 2), row(i0 + 3)];
            let mut sums = [[f64x2_splat(0.0); TILE_COLUMNS]; TILE_ROWS];
            let columns = pairs(x0, even).zip(pairs(x1, even));
            let tile_rows = pairs(ys[0], even).zip(pairs(ys[1], even)).zip(pairs(ys[2], even).zip(pairs(ys[3], even)));
            for ((b0, b1), ((y0, y1), (y2, y3))) in columns.zip(tile_rows) {
                let (b0, b1) = (load(b0), load(b1));
                for (y, sum) in [y0, y1, y2, y3].into_iter().zip(sums.iter_mut()) {
                    let value = load(y);
                    sum[0] = f64x2_add(sum[0], f64x2_mul(value, b0));
                    sum[1] = f64x2_add(sum[1], f64x2_mul(value, b1));
                }
            }
            for (di, (y, sum)) in ys.iter().zip(&sums).enumerate() {
                for (dj, x) in [x0, x1].iter().enumerate() {
                    let tail: f64 = y[even..].iter().zip(&x[even..]).map(|(s, t)| s * t).sum();
                    out[(i0 + di) * q + j0 + dj] = sum_lanes(sum[dj]) + tail;
                }
            }
        }
    }
    out
}

/// The first `even` entries of a row, two at a time.
fn pairs(row: &[f64], even: usize) -> std::slice::ChunksExact<'_, f64> {
    row[..even].chunks_exact(2)
}
