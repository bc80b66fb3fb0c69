//! Principal components of the filters, as in the ViT paper's Figure 7 (left): the n filters are the
//! samples, each flattened in (y, x, channel) order; scikit-learn's `PCA(svd_solver="full")` in float64
//! is the reference, and each component is drawn as a tile with the filters' own per-filter scaling.

use super::eigen::{top_eigenpairs, SymmetricLower};
use crate::error::{Error, Result};
use crate::kernel::Filters;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array4, ArrayView2};

/// Components shown by default: the paper's figure has 28, in 4 rows of 7.
pub const DEFAULT_COMPONENTS: usize = 28;

/// Columns per block product when forming the scatter matrix: only blocks on or below the diagonal
/// are computed (the eigensolver reads the lower triangle), about half the multiply-adds.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
const SCATTER_BLOCK: usize = 64;

/// Largest scatter matrix (min(n, d) on a side) worth decomposing: 4096² f64 is 128 MB and minutes of
/// work in a page; known patch embeddings stay at or below 1024 (ViT-L/32: 1024 filters of 3072 values).
const MAX_SCATTER_SIDE: usize = 4096;

/// The top principal components of a kernel's filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    /// K × d, row-major: component k's weight for value (y, x, channel) is at `k·d + (y·kw + x)·c + channel`.
    components: Vec<f64>,
    explained_variance_ratio: Vec<f64>,
    /// (kh, kw, c) of one filter, and so of one component.
    filter_shape: [usize; 3],
}

impl Pca {
    /// The top `count` principal components of the filters (1 ≤ count ≤ min(n, d)), with the share of
    /// the filters' variance each explains. A component along which the filters do not vary at all
    /// (there are fewer independent filters than `count`) is all zeros, with ratio 0.
    pub fn fit(filters: &Filters, count: usize) -> Result<Pca> {
        Pca::fit_marked(filters, count, &mut |_| {})
    }

    /// [`Pca::fit`], calling `mark` with each step's name as it ends: the timing harness
    /// (examples/pca_steps.rs) reads a clock there.
    #[doc(hidden)]
    pub fn fit_marked(filters: &Filters, count: usize, mark: &mut dyn FnMut(&'static str)) -> Result<Pca> {
        let [kh, kw, c, n] = filters.dims();
        let d = kh * kw * c;
        let most = n.min(d);
        if count == 0 || count > most {
            return Err(Error::InvalidOption(format!(
                "{count} principal components were asked for; {n} filters of {d} values have between 1 and {most}."
            )));
        }
        if most > MAX_SCATTER_SIDE {
            return Err(Error::TooLarge(format!(
                "Principal components of {n} filters of {d} values would need a {most} × {most} decomposition; the limit is {MAX_SCATTER_SIDE}."
            )));
        }
        // Xᵀ, one row per value (y, x, channel) holding it across the n filters: the kernel's own order, so
        // the usual (kh, kw, c, n) layout is read straight through, and the scatter matrix XᵀX takes these rows.
        let mut features = match filters {
            Filters::F32(a) => features(a),
            Filters::F64(a) => features(a),
        };
        mark("samples");
        if features.iter().any(|v| !v.is_finite()) {
            return Err(Error::NotDrawable(
                "The kernel holds NaN or infinite values, so its principal components are not defined.".into(),
            ));
        }
        // Every filter the same is every value constant across the filters.
        if features.chunks_exact(n).all(|row| row.iter().all(|v| *v == row[0])) {
            let which = if n == 1 {
                "The kernel has a single filter".to_string()
            } else {
                format!("All {n} filters are the same")
            };
            return Err(Error::NotDrawable(format!(
                "{which}, so there is no variance for principal components to show."
            )));
        }
        centre(&mut features, n);
        mark("centre");
        let (variances, mut components, total) = top_components(features, n, d, count, mark)?;
        let top = variances.first().copied().unwrap_or(0.0);
        let noise = top * n.max(d) as f64 * f64::EPSILON;
        let mut explained_variance_ratio = Vec::with_capacity(count);
        for (&variance, component) in variances.iter().zip(components.chunks_exact_mut(d)) {
            if variance <= noise {
                // Within rounding of zero: no direction the filters vary in, so nothing to draw.
                component.fill(0.0);
                explained_variance_ratio.push(0.0);
            } else {
                flip_sign(component);
                explained_variance_ratio.push(variance / total);
            }
        }
        mark("signs");
        Ok(Pca { components, explained_variance_ratio, filter_shape: [kh, kw, c] })
    }

    /// Number of components.
    pub fn len(&self) -> usize {
        self.explained_variance_ratio.len()
    }

    pub fn is_empty(&self) -> bool {
        self.explained_variance_ratio.is_empty()
    }

    /// (kh, kw, c) of one component, the shape of one filter.
    pub fn filter_shape(&self) -> [usize; 3] {
        self.filter_shape
    }

    /// All components, K × d row-major, each in the filters' (y, x, channel) order.
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// Component `index` (unit length, or all zeros), if there is one.
    pub fn component(&self, index: usize) -> Option<&[f64]> {
        let [kh, kw, c] = self.filter_shape;
        self.components.chunks_exact(kh * kw * c).nth(index)
    }

    /// The share of the filters' total variance along each component, largest first.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// The first `count` components, as `fit` with that count would give them (a component and its ratio do
    /// not depend on how many are asked for); `None` if there are fewer.
    pub fn leading(&self, count: usize) -> Option<Pca> {
        let d = self.filter_shape.iter().product::<usize>();
        Some(Pca {
            components: self.components.get(..count.checked_mul(d)?)?.to_vec(),
            explained_variance_ratio: self.explained_variance_ratio.get(..count)?.to_vec(),
            filter_shape: self.filter_shape,
        })
    }
}

/// The components as tiles, tile-major, each kh × kw × c bytes in (y, x, channel) order: scaled by the
/// very rule that draws a filter ([`Filters::tiles`]: min–max over its values, channels together).
/// An all-zero component is a constant, which that rule draws black.
pub fn pca_tiles(pca: &Pca) -> Vec<u8> {
    let [kh, kw, c] = pca.filter_shape;
    let count = pca.len();
    Array4::from_shape_vec((count, kh, kw, c), pca.components.clone())
        .map(|a| Filters::F64(a.permuted_axes([1, 2, 3, 0])).tiles(0..count).concat())
        .unwrap_or_default()
}

/// The filters as a d × n matrix in f64, row-major (Xᵀ): row (y·kw + x)·c + channel holds that value of
/// every filter, in filter order.
fn features<T: Copy + Into<f64>>(kernel: &Array4<T>) -> Vec<f64> {
    match kernel.as_slice() {
        // The usual layout: one straight widening pass.
        Some(values) => values.iter().map(|&v| v.into()).collect(),
        None => kernel.iter().map(|&v| v.into()).collect(),
    }
}

/// Subtracts each feature's mean (a row of Xᵀ, `n` filters long), then scales by a power of two (exact)
/// so that the largest value is in [0.5, 1): squares of float64 kernels with extreme magnitudes then
/// neither overflow nor underflow.
fn centre(features: &mut [f64], n: usize) {
    let largest = features.chunks_exact_mut(n.max(1)).map(centre_row).fold(0.0f64, f64::max);
    if largest > 0.0 {
        let exponent = (largest.log2().floor() as i32 + 1).clamp(-1000, 1000);
        let factor = f64::from_bits(((1023 - exponent) as u64) << 52);
        features.chunks_exact_mut(n.max(1)).for_each(|row| scale_row(row, factor));
    }
}

/// One feature less its mean; returns its largest magnitude. This and `scale_row` are functions called per
/// row, not inlined: V8 swaps in a function's optimised code only at a later call, so the first fit of a big
/// kernel gets it after a few rows instead of running the whole pass unoptimised.
#[inline(never)]
fn centre_row(row: &mut [f64]) -> f64 {
    let mean = row.iter().sum::<f64>() / row.len() as f64;
    let mut largest = 0.0f64;
    for v in row.iter_mut() {
        *v -= mean;
        largest = largest.max(v.abs());
    }
    largest
}

#[inline(never)]
fn scale_row(row: &mut [f64], factor: f64) {
    row.iter_mut().for_each(|v| *v *= factor);
}

/// The top `count` eigenpairs of the centred samples' scatter matrix, largest first, as (σ², unit
/// components K × d row-major, ‖X‖²_F — the matrix's trace), from Xᵀ (d × n, row-major). The matrix is XᵀX (d × d), or XXᵀ (n × n) when
/// there are fewer filters than values, whose eigenvectors u give the components Xᵀu / ‖Xᵀu‖ (all K as one
/// product UX).
fn top_components(
    features: Vec<f64>,
    n: usize,
    d: usize,
    count: usize,
    mark: &mut dyn FnMut(&'static str),
) -> Result<(Vec<f64>, Vec<f64>, f64)> {
    let by_filter = n < d;
    let scatter = if by_filter {
        let samples = ArrayView2::from_shape((d, n), &features).map_err(|_| shape_error())?;
        let rows: Vec<f64> = samples.t().iter().copied().collect();
        upper_product(&rows, n, d)
    } else {
        upper_product(&features, d, n)
    };
    let total = scatter.values.iter().step_by(scatter.size + 1).sum::<f64>();
    mark("scatter");
    let (values, vectors) = top_eigenpairs(scatter, count, mark)?;
    // Rounding can leave a zero eigenvalue slightly negative; scikit-learn's covariance solver clips those to 0 too.
    let variances = values.iter().map(|v| v.max(0.0)).collect();
    if !by_filter {
        return Ok((variances, vectors, total));
    }
    let x = ArrayView2::from_shape((d, n), &features).map_err(|_| shape_error())?;
    let u = ArrayView2::from_shape((count, n), &vectors).map_err(|_| shape_error())?;
    let mut components = Array2::zeros((count, d));
    general_mat_mul(1.0, &u, &x.t(), 0.0, &mut components);
    for mut component in components.rows_mut() {
        let norm = component.dot(&component).sqrt();
        let scale = if norm > 0.0 { norm.recip() } else { 0.0 };
        component.iter_mut().for_each(|v| *v *= scale);
    }
    Ok((variances, components.into_raw_vec_and_offset().0, total))
}

/// a · aᵀ for a row-major q × p matrix `a`, as a [`SymmetricLower`]: its column-major lower triangle is the
/// row-major upper one, computed by row blocks of `SCATTER_BLOCK` from the diagonal rightwards, each one
/// matrix product (matrixmultiply's dgemm through ndarray), about half the multiply-adds of the whole product.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn upper_product(a: &[f64], q: usize, p: usize) -> SymmetricLower {
    let mut out = Array2::zeros((q, q));
    if let Ok(a) = ArrayView2::from_shape((q, p), a) {
        for i0 in (0..q).step_by(SCATTER_BLOCK) {
            let rows = a.slice(ndarray::s![i0..(i0 + SCATTER_BLOCK).min(q), ..]);
            let columns = a.slice(ndarray::s![i0.., ..]);
            let mut block = out.slice_mut(ndarray::s![i0..(i0 + SCATTER_BLOCK).min(q), i0..]);
            general_mat_mul(1.0, &rows, &columns.t(), 0.0, &mut block);
        }
    }
    SymmetricLower { size: q, values: out.into_raw_vec_and_offset().0 }
}

/// [`upper_product`] with f64x2 tiles, when the module is built with `+simd128` (matrixmultiply has no
/// wasm SIMD kernel).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
fn upper_product(a: &[f64], q: usize, p: usize) -> SymmetricLower {
    SymmetricLower { size: q, values: super::simd::upper_product(a, q, p) }
}

fn shape_error() -> Error {
    Error::NotDrawable("The filters could not be arranged as a matrix for principal components.".into())
}

/// scikit-learn's `svd_flip(u, vt, u_based_decision=False)`: the entry of largest magnitude (the first
/// of equals, as `np.argmax`) is made positive.
fn flip_sign(component: &mut [f64]) {
    let mut largest = (0.0f64, 0.0f64);
    for &v in component.iter() {
        if v.abs() > largest.0 {
            largest = (v.abs(), v);
        }
    }
    if largest.1 < 0.0 {
        component.iter_mut().for_each(|v| *v = -*v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A (kh, kw, c, n) f64 kernel whose filter i is `filter(i)`, given in (y, x, channel) order.
    fn kernel(shape: [usize; 3], n: usize, filter: impl Fn(usize) -> Vec<f64>) -> Filters {
        let [kh, kw, c] = shape;
        let values: Vec<f64> = (0..n).flat_map(filter).collect();
        let a = Array4::from_shape_vec((n, kh, kw, c), values).unwrap();
        Filters::F64(a.permuted_axes([1, 2, 3, 0]))
    }

    /// A real kernel committed beside the torch fixtures (MTCNN's conv1, written by torch as (kh, kw, c, n)).
    #[cfg(not(target_arch = "wasm32"))]
    fn committed_kernel(file: &str) -> Filters {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/committed/torch").join(file);
        let source = crate::SliceSource(std::fs::read(path).unwrap());
        crate::Checkpoint::open(source).unwrap().filters(None).unwrap().1
    }

    fn is_sentence(error: &Error) -> bool {
        let text = error.to_string();
        text.ends_with('.') && text.matches(". ").count() == 0
    }

    #[test]
    fn a_count_out_of_range_is_a_sentence() {
        let filters = kernel([2, 2, 3], 5, |i| (0..12).map(|j| ((i * 7 + j * 3) % 11) as f64).collect());
        for count in [0, 6, usize::MAX] {
            let error = Pca::fit(&filters, count).unwrap_err();
            assert!(matches!(error, Error::InvalidOption(_)) && is_sentence(&error), "{error}");
            assert!(error.to_string().contains("between 1 and 5"), "{error}");
        }
        assert_eq!(Pca::fit(&filters, 5).unwrap().len(), 5);
    }

    #[test]
    fn identical_filters_and_non_finite_values_are_sentences_not_nan() {
        let same = kernel([2, 2, 3], 6, |_| (0..12).map(|j| j as f64 * 0.1).collect());
        let error = Pca::fit(&same, 1).unwrap_err();
        assert!(matches!(error, Error::NotDrawable(_)) && is_sentence(&error), "{error}");
        assert!(error.to_string().starts_with("All 6 filters"), "{error}");
        let one = kernel([2, 2, 3], 1, |_| vec![0.5; 12]);
        let error = Pca::fit(&one, 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "The kernel has a single filter, so there is no variance for principal components to show."
        );
        for bad in [f64::NAN, f64::INFINITY] {
            let filters = kernel([1, 1, 3], 4, |i| vec![i as f64, if i == 2 { bad } else { 1.0 }, 0.0]);
            let error = Pca::fit(&filters, 2).unwrap_err();
            assert!(error.to_string().contains("NaN or infinite"), "{error}");
        }
    }

    #[test]
    fn one_direction_of_variation_is_the_first_component_with_its_largest_entry_positive() {
        // Filters m + t·u: all variance along u, whose largest entry (-0.8) is negative, so the component is -u.
        let u = [0.2, -0.8, 0.4, 0.4];
        let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
        let filters =
            kernel([1, 2, 2], 7, |i| u.iter().enumerate().map(|(j, v)| j as f64 + (i as f64 - 3.0) * v).collect());
        let pca = Pca::fit(&filters, 2).unwrap();
        for (got, want) in pca.component(0).unwrap().iter().zip(u) {
            assert!((got + want / norm).abs() < 1e-12, "{:?}", pca.component(0));
        }
        assert!((pca.explained_variance_ratio()[0] - 1.0).abs() < 1e-12);
        // Nothing varies in any other direction: the second component is empty, drawn black.
        assert_eq!(pca.component(1).unwrap(), &[0.0; 4]);
        assert_eq!(pca.explained_variance_ratio()[1], 0.0);
        assert_eq!(&pca_tiles(&pca)[4..], &[0; 4]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn components_beyond_the_filters_rank_are_empty_and_explain_nothing() {
        // P-Net's 10 filters span at most 9 directions once centred: the 10th component is noise.
        let pca = Pca::fit(&committed_kernel("pnet_pt.0.kernel.npy"), 10).unwrap();
        let ratio = pca.explained_variance_ratio();
        assert!(ratio[..9].iter().all(|&r| r > 1e-3), "{ratio:?}");
        assert_eq!(ratio[9], 0.0);
        assert!((ratio.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let tiles = pca_tiles(&pca);
        assert!(tiles[9 * 27..].iter().all(|&b| b == 0));
        // The largest entry scales to 1 up to rounding, which may truncate to 254: drawn, not black.
        assert!(tiles[..27].iter().max() >= Some(&254), "{:?}", &tiles[..27]);
    }

    #[test]
    fn tiles_are_the_components_drawn_as_filters() {
        let filters = kernel([3, 2, 3], 9, |i| (0..18).map(|j| ((i * 5 + j * j) % 13) as f64 - 6.0).collect());
        let pca = Pca::fit(&filters, 4).unwrap();
        let tiles = pca_tiles(&pca);
        assert_eq!(tiles.len(), 4 * 18);
        for (k, tile) in tiles.chunks_exact(18).enumerate() {
            let component = pca.component(k).unwrap().to_vec();
            let alone = Array4::from_shape_vec((3, 2, 3, 1), component).unwrap();
            assert_eq!(Filters::F64(alone).tile(0).unwrap(), tile, "component {k}");
        }
    }

    #[test]
    fn extreme_magnitudes_give_the_same_components() {
        let shape =
            |scale: f64| kernel([2, 2, 1], 6, move |i| (0..4).map(|j| scale * ((i * 3 + j * 5) % 7) as f64).collect());
        let plain = Pca::fit(&shape(1.0), 3).unwrap();
        // Powers of two scale exactly: squares of 2^1000 would overflow and of 2^-1000 underflow, unless
        // the samples are brought near 1 first, after which the computation is the same to the bit.
        for scale in [2f64.powi(-1000), 2f64.powi(1000)] {
            assert_eq!(Pca::fit(&shape(scale), 3).unwrap(), plain, "scale {scale:e}");
        }
    }
}
