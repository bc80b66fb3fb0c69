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

/// The reduction's fused pass over two neighbouring columns' shared rows, as its scalar loop: each column
/// −= v w_c + w v_c, then y += a u_a + b u_b; returns (Σ a u, Σ b u). Not inlined, as [`tile`].
#[inline(never)]
pub fn update_two_columns(
    a: &mut [f64],
    b: &mut [f64],
    (v, w, u): (&[f64], &[f64], &[f64]),
    y: &mut [f64],
    (va, wa, ua): (f64, f64, f64),
    (vb, wb, ub): (f64, f64, f64),
) -> (f64, f64) {
    let n = a.len().min(b.len()).min(v.len()).min(w.len()).min(u.len()).min(y.len());
    let (vav, wav, uav) = (f64x2_splat(va), f64x2_splat(wa), f64x2_splat(ua));
    let (vbv, wbv, ubv) = (f64x2_splat(vb), f64x2_splat(wb), f64x2_splat(ub));
    let (mut sa, mut sb) = (f64x2_splat(0.0), f64x2_splat(0.0));
    let even = n - n % 2;
    let ab = a[..even].chunks_exact_mut(2).zip(b[..even].chunks_exact_mut(2));
    let vw = v[..even].chunks_exact(2).zip(w[..even].chunks_exact(2));
    let uy = u[..even].chunks_exact(2).zip(y[..even].chunks_exact_mut(2));
    for (((a2, b2), (v2, w2)), (u2, y2)) in ab.zip(vw).zip(uy) {
        let (vi, wi) = (load(v2), load(w2));
        let ai = f64x2_sub(load(a2), f64x2_add(f64x2_mul(vi, wav), f64x2_mul(wi, vav)));
        let bi = f64x2_sub(load(b2), f64x2_add(f64x2_mul(vi, wbv), f64x2_mul(wi, vbv)));
        store(a2, ai);
        store(b2, bi);
        let ui = load(u2);
        sa = f64x2_add(sa, f64x2_mul(ai, ui));
        sb = f64x2_add(sb, f64x2_mul(bi, ui));
        store(y2, f64x2_add(load(y2), f64x2_add(f64x2_mul(ai, uav), f64x2_mul(bi, ubv))));
    }
    let (mut sa, mut sb) = (sum_lanes(sa), sum_lanes(sb));
    if even < n {
        let i = even;
        a[i] -= v[i] * wa + w[i] * va;
        b[i] -= v[i] * wb + w[i] * vb;
        sa += a[i] * u[i];
        sb += b[i] * u[i];
        y[i] += a[i] * ua + b[i] * ub;
    }
    (sa, sb)
}

/// v · x for four vectors x at once, as its scalar loop: v's pairs loaded once for all four. Not inlined, as
/// [`tile`].
#[inline(never)]
pub fn dot4(v: &[f64], x: [&[f64]; 4]) -> [f64; 4] {
    let n = x.iter().fold(v.len(), |n, x| n.min(x.len()));
    let even = n - n % 2;
    let mut sums = [f64x2_splat(0.0); 4];
    let xs = pairs(x[0], even).zip(pairs(x[1], even)).zip(pairs(x[2], even).zip(pairs(x[3], even)));
    for (v2, ((x0, x1), (x2, x3))) in pairs(v, even).zip(xs) {
        let vi = load(v2);
        for (sum, x2) in sums.iter_mut().zip([x0, x1, x2, x3]) {
            *sum = f64x2_add(*sum, f64x2_mul(vi, load(x2)));
        }
    }
    let mut out = [0.0; 4];
    for ((o, sum), x) in out.iter_mut().zip(sums).zip(x) {
        *o = sum_lanes(sum) + v[even..n].iter().zip(&x[even..n]).map(|(s, t)| s * t).sum::<f64>();
    }
    out
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
    // Called through a pointer the optimisers cannot see through: wasm-opt -O3 inlines a function with one
    // caller whatever Rust's #[inline(never)] says, and `tile` must stay a function of its own (see there).
    let tile = std::hint::black_box(tile as TileKernel);
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
            let sums = tile(ys, [x0, x1], even);
            for (di, (y, sum)) in ys.iter().zip(&sums).enumerate() {
                for (dj, x) in [x0, x1].iter().enumerate() {
                    let tail: f64 = y[even..].iter().zip(&x[even..]).map(|(s, t)| s * t).sum();
                    out[(i0 + di) * q + j0 + dj] = sum[dj] + tail;
                }
            }
        }
    }
    out
}

type TileKernel = fn([&[f64]; TILE_ROWS], [&[f64]; TILE_COLUMNS], usize) -> [[f64; TILE_COLUMNS]; TILE_ROWS];

/// The 4 × 2 dot products of rows `ys` with rows `xs` over their first `even` entries. Not inlined, and so
/// one small function called for every tile: V8 runs a function's first calls unoptimised and swaps in the
/// optimised code only at a later call (it cannot replace a running loop), so a first fit gets it after a
/// few tiles rather than only on the next fit — a fresh module's first B/16 scatter matrix took 130 ms
/// with the tiles inlined and ~60 ms without, against ~18 ms once optimised.
#[inline(never)]
fn tile(ys: [&[f64]; TILE_ROWS], [x0, x1]: [&[f64]; TILE_COLUMNS], even: usize) -> [[f64; TILE_COLUMNS]; TILE_ROWS] {
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
    sums.map(|row| row.map(sum_lanes))
}

/// The first `even` entries of a row, two at a time.
fn pairs(row: &[f64], even: usize) -> std::slice::ChunksExact<'_, f64> {
    row[..even].chunks_exact(2)
}
