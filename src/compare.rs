//! Two kernels of the same shape side by side (pretrained and fine-tuned, say): each filter's cosine
//! similarity, and the filters of A − B, which the difference view draws symmetrically (zero is grey),
//! most changed first.

use crate::checkpoint::{Checkpoint, Rendered};
use crate::error::{Error, Result};
use crate::grid::{self, FilterTiles, GridOptions};
use crate::kernel::{Filters, KernelLayout};
use crate::scale::Normalize;
use crate::sorting;
use ndarray::{Array4, Axis};

/// What changed from B to A, filter by filter.
#[derive(Debug, Clone)]
pub struct Difference {
    /// A − B, in float32 when both are float32 (numpy's `a - b`), else in float64.
    pub filters: Filters,
    /// Each filter's cosine similarity in f64: `(a·b) / sqrt((a·a)(b·b))`; NaN when either is all zeros.
    pub cosine: Vec<f64>,
}

impl Difference {
    /// Filter indices, least similar first; equal similarities keep file order, NaN ones come last
    /// (`np.argsort(cosine, kind="stable")`).
    pub fn most_changed_first(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.cosine.len()).collect();
        let c = &self.cosine;
        sorting::sort_by(&mut order, |&a, &b| match (c[a].is_nan(), c[b].is_nan()) {
            (false, false) => c[a].total_cmp(&c[b]),
            (nan_a, nan_b) => nan_a.cmp(&nan_b),
        });
        order
    }
}

/// A − B and each filter's similarity; the kernels must have the same (kh, kw, c, n).
pub fn difference(a: &Filters, b: &Filters) -> Result<Difference> {
    if a.dims() != b.dims() {
        let shape = |d: [usize; 4]| d.map(|x| x.to_string()).join("×");
        return Err(Error::NotDrawable(format!(
            "The two kernels differ in shape ({} and {}); a difference needs the same shape.",
            shape(a.dims()),
            shape(b.dims())
        )));
    }
    let (a64, b64) = (as_f64(a), as_f64(b));
    let filters = match (a, b) {
        (Filters::F32(x), Filters::F32(y)) => Filters::F32(x - y),
        _ => Filters::F64(&a64 - &b64),
    };
    let (mut dot, mut aa, mut bb) = (vec![0.0; a64.dim().3], vec![0.0; a64.dim().3], vec![0.0; a64.dim().3]);
    // Position by position, as numpy's reductions along axis 0 of `k.reshape(-1, n)` add.
    for (x, y) in a64.lanes(Axis(3)).into_iter().zip(b64.lanes(Axis(3))) {
        for (i, (&p, &q)) in x.iter().zip(y.iter()).enumerate() {
            dot[i] += p * q;
            aa[i] += p * p;
            bb[i] += q * q;
        }
    }
    // One square root of the product: a filter left alone comes out as exactly 1.
    let cosine = (0..dot.len()).map(|i| dot[i] / (aa[i] * bb[i]).sqrt()).collect();
    Ok(Difference { filters, cosine })
}

fn as_f64(filters: &Filters) -> Array4<f64> {
    match filters {
        Filters::F32(a) => a.mapv(f64::from),
        Filters::F64(a) => a.clone(),
    }
}

/// The difference view of two checkpoints: A − B drawn symmetrically, most changed first, with the
/// similarity of each filter drawn (in drawing order) in `Rendered::similarity`.
pub fn render_difference(
    a: &Checkpoint,
    b: &Checkpoint,
    tensor: [Option<&str>; 2],
    layout: [Option<KernelLayout>; 2],
    options: &GridOptions,
) -> Result<Rendered> {
    let (info, first, layout_used) = a.filters_as(tensor[0], layout[0])?;
    let (_, second, _) = b.filters_as(tensor[1], layout[1])?;
    let change = difference(&first, &second)?;
    let order = change.most_changed_first();
    let tiles = FilterTiles { filters: &change.filters, normalize: Normalize::Symmetric, order: Some(order.clone()) };
    let grid = grid::render_tiles(&tiles, options)?;
    let shown: Vec<usize> = order.into_iter().take(grid.filters_shown).collect();
    let [kh, kw, c, _] = change.filters.dims();
    Ok(Rendered {
        stats: change.filters.stats(&shown),
        similarity: Some(shown.iter().map(|&i| change.cosine[i]).collect()),
        grid,
        tensor: info,
        filter_shape: [kh, kw, c],
        layout: layout_used,
        shown,
        steps: Default::default(),
    })
}
