//! Filters scaled to bytes, bit-for-bit what the references draw. `Normalize::Filter` is the notebook's:
//! scikit-learn's `MinMaxScaler` on `kernel.reshape(-1, n)` (one column per filter, RGB together);
//! `Global` is the same scaler on `kernel.reshape(-1, 1)`; `Symmetric` puts zero at mid-grey. Then
//! matplotlib's `imshow` conversion of RGB floats: clip to [0, 1], `(x * 255).astype(uint8)`.

use crate::kernel::Filters;
use crate::sorting;
use ndarray::{Array4, Axis};
use std::ops::Range;

/// The float operations the reference performs, in the kernel's own precision.
pub trait ScaleFloat:
    Copy
    + PartialOrd
    + std::ops::Mul<Output = Self>
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
{
    const ZERO: Self;
    const HALF: Self;
    const ONE: Self;
    const FULL: Self;
    const NAN: Self;
    /// scikit-learn treats a feature range below 10 × machine epsilon as constant.
    const CONSTANT_RANGE: Self;
    fn is_nan(self) -> bool;
    fn abs(self) -> Self;
    /// The value widened to f64, for norms.
    fn to_f64(self) -> f64;
    /// Truncating cast of a value already in [0, 255], as numpy's `astype(uint8)`.
    fn to_byte(self) -> u8;
}

macro_rules! scale_float {
    ($t:ty) => {
        impl ScaleFloat for $t {
            const ZERO: Self = 0.0;
            const HALF: Self = 0.5;
            const ONE: Self = 1.0;
            const FULL: Self = 255.0;
            const NAN: Self = <$t>::NAN;
            const CONSTANT_RANGE: Self = 10.0 * <$t>::EPSILON;
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn to_byte(self) -> u8 {
                self as u8
            }
        }
    };
}
scale_float!(f32);
scale_float!(f64);

/// `np.nanmin` / `np.nanmax` of one column, fed a value at a time; an all-NaN column gives NaN.
#[derive(Clone, Copy)]
struct NanMinMax<T> {
    lo: T,
    hi: T,
}

impl<T: ScaleFloat> NanMinMax<T> {
    const EMPTY: Self = NanMinMax { lo: T::NAN, hi: T::NAN };

    fn add(&mut self, v: T) {
        if v.is_nan() {
            return;
        }
        if self.lo.is_nan() || v < self.lo {
            self.lo = v;
        }
        if self.hi.is_nan() || v > self.hi {
            self.hi = v;
        }
    }

    /// `MinMaxScaler.fit`'s (scale_, min_) for this column.
    fn params(self) -> (T, T) {
        let range = self.hi - self.lo;
        // _handle_zeros_in_scale: a (near-)constant column is divided by 1, not by its range.
        let range = if range < T::CONSTANT_RANGE { T::ONE } else { range };
        let scale = T::ONE / range;
        (scale, T::ZERO - self.lo * scale)
    }
}

/// `MinMaxScaler.fit` for one column: returns (scale_, min_).
pub fn min_max_params<T: ScaleFloat>(values: impl Iterator<Item = T>) -> (T, T) {
    let mut acc = NanMinMax::EMPTY;
    values.for_each(|v| acc.add(v));
    acc.params()
}

/// `transform` then imshow's byte conversion for one value: `x * scale_ + min_` (a multiply then an
/// add, exactly as scikit-learn does in place), clipped to [0, 1]; NaN becomes 0.
pub fn to_byte<T: ScaleFloat>(x: T, scale: T, min: T) -> u8 {
    clip_to_byte(x * scale + min)
}

/// imshow's conversion of one RGB float: clipped to [0, 1] (NaN → 0), times 255, truncated.
fn clip_to_byte<T: ScaleFloat>(y: T) -> u8 {
    let clipped = if y.is_nan() || y < T::ZERO {
        T::ZERO
    } else if y > T::ONE {
        T::ONE
    } else {
        y
    };
    (clipped * T::FULL).to_byte()
}

/// How a filter's values become the range [0, 1] before imshow's conversion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Normalize {
    /// Each filter on its own (the notebook's MinMaxScaler on `kernel.reshape(-1, n)`).
    #[default]
    Filter,
    /// One minimum and maximum for the whole kernel (MinMaxScaler on `kernel.reshape(-1, 1)`), as
    /// torchvision's `make_grid(normalize=True)` without `scale_each`: filters compare in brightness.
    Global,
    /// Zero at mid-grey: per filter `a = max|w|`, `(w / a + 1) * 0.5` (`a == 0` gives 0.5), so a colour and
    /// its opposite mean opposite signs.
    Symmetric,
}

impl Normalize {
    pub const ALL: [Normalize; 3] = [Normalize::Filter, Normalize::Global, Normalize::Symmetric];

    pub fn name(self) -> &'static str {
        match self {
            Normalize::Filter => "filter",
            Normalize::Global => "global",
            Normalize::Symmetric => "symmetric",
        }
    }

    pub fn parse(text: &str) -> Option<Normalize> {
        Normalize::ALL.into_iter().find(|n| n.name() == text)
    }
}

/// How one filter's values become bytes.
#[derive(Clone, Copy)]
enum ToUnit<T> {
    /// MinMaxScaler's (scale_, min_).
    MinMax(T, T),
    /// The filter's largest magnitude (NaN when it holds a NaN, as numpy's max does).
    Symmetric(T),
}

impl<T: ScaleFloat> ToUnit<T> {
    fn byte(self, v: T) -> u8 {
        match self {
            ToUnit::MinMax(scale, min) => to_byte(v, scale, min),
            // np.where(a == 0, 0.5, (w / a + 1) * 0.5), in the kernel's precision
            ToUnit::Symmetric(a) if a == T::ZERO => clip_to_byte(T::HALF),
            ToUnit::Symmetric(a) => clip_to_byte((v / a + T::ONE) * T::HALF),
        }
    }
}

/// Filters `indices` as bytes, each kh × kw × c in row-major (y, x, channel) order. Walks the kernel
/// one lane of filters at a time — for (kh, kw, c, n) data in C order, contiguous runs — because
/// gathering each filter separately jumps n values per element and is several times slower.
fn scale_filters<T: ScaleFloat>(kernel: &Array4<T>, indices: &[usize], normalize: Normalize) -> Vec<Vec<u8>> {
    if indices.is_empty() {
        return Vec::new();
    }
    let lanes = || kernel.lanes(Axis(3)).into_iter();
    let to_unit: Vec<ToUnit<T>> = match normalize {
        Normalize::Filter => {
            let mut fits = vec![NanMinMax::EMPTY; indices.len()];
            for lane in lanes() {
                fits.iter_mut().zip(indices).for_each(|(fit, &i)| fit.add(lane[i]));
            }
            fits.into_iter().map(|fit| fit.params()).map(|(scale, min)| ToUnit::MinMax(scale, min)).collect()
        }
        Normalize::Global => {
            let mut fit = NanMinMax::EMPTY;
            kernel.iter().for_each(|&v| fit.add(v));
            let (scale, min) = fit.params();
            vec![ToUnit::MinMax(scale, min); indices.len()]
        }
        Normalize::Symmetric => {
            let mut peaks = vec![T::ZERO; indices.len()];
            for lane in lanes() {
                for (peak, &i) in peaks.iter_mut().zip(indices) {
                    let magnitude = lane[i].abs();
                    // A NaN, once seen, stays: numpy's max propagates it.
                    if !peak.is_nan() && (magnitude.is_nan() || magnitude > *peak) {
                        *peak = magnitude;
                    }
                }
            }
            peaks.into_iter().map(ToUnit::Symmetric).collect()
        }
    };
    let (kh, kw, c, _) = kernel.dim();
    let tile_len = kh * kw * c;
    // Position-major while scanning (one lane of bytes per kernel position), tile-major after.
    let mut by_position = vec![0u8; tile_len * indices.len()];
    for (lane, out) in lanes().zip(by_position.chunks_exact_mut(indices.len())) {
        for ((byte, unit), &i) in out.iter_mut().zip(&to_unit).zip(indices) {
            *byte = unit.byte(lane[i]);
        }
    }
    (0..indices.len()).map(|i| by_position.iter().skip(i).step_by(indices.len()).copied().collect()).collect()
}

/// A filter's raw numbers, for the page's inspector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterStats {
    /// Smallest and largest value, NaNs ignored (NaN when every value is NaN), as the scaler sees them.
    pub min: f64,
    pub max: f64,
    /// Mean of all values in f64 (NaN when one is NaN).
    pub mean: f64,
    /// L2 norm in f64, as `Order::Norm` sorts by.
    pub norm: f64,
}

fn stats<T: ScaleFloat>(kernel: &Array4<T>, indices: &[usize]) -> Vec<FilterStats> {
    let mut fits = vec![NanMinMax::<f64>::EMPTY; indices.len()];
    let mut sums = vec![(0.0f64, 0.0f64); indices.len()];
    for lane in kernel.lanes(Axis(3)) {
        for ((fit, sum), &i) in fits.iter_mut().zip(sums.iter_mut()).zip(indices) {
            let v = lane[i].to_f64();
            fit.add(v);
            *sum = (sum.0 + v, sum.1 + v * v);
        }
    }
    let len = (kernel.len() / kernel.dim().3.max(1)) as f64;
    let stats = fits.into_iter().zip(sums);
    stats
        .map(|(fit, (sum, squares))| FilterStats { min: fit.lo, max: fit.hi, mean: sum / len, norm: squares.sqrt() })
        .collect()
}

/// Each filter's L2 norm, summed in f64 position by position in (y, x, channel) order — numpy's
/// `np.linalg.norm(kernel.reshape(-1, n).astype(np.float64), axis=0)` adds row by row the same way.
fn norms<T: ScaleFloat>(kernel: &Array4<T>) -> Vec<f64> {
    let mut sums = vec![0.0f64; kernel.dim().3];
    for lane in kernel.lanes(Axis(3)) {
        sums.iter_mut().zip(lane.iter()).for_each(|(sum, &v)| *sum += v.to_f64() * v.to_f64());
    }
    sums.into_iter().map(f64::sqrt).collect()
}

impl Filters {
    /// Filters `range` scaled to bytes, each on its own (per-filter min–max, channels together),
    /// kh × kw × c bytes in (y, x, channel) order. The range is clamped to the filters there are.
    pub fn tiles(&self, range: Range<usize>) -> Vec<Vec<u8>> {
        let n = self.dims()[3];
        let indices: Vec<usize> = (range.start.min(n)..range.end.min(n)).collect();
        self.tiles_of(&indices, Normalize::Filter)
    }

    /// The filters at `indices` (each < n), scaled to bytes as `normalize` says.
    pub fn tiles_of(&self, indices: &[usize], normalize: Normalize) -> Vec<Vec<u8>> {
        let n = self.dims()[3];
        let indices: Vec<usize> = indices.iter().copied().filter(|&i| i < n).collect();
        match self {
            Filters::F32(a) => scale_filters(a, &indices, normalize),
            Filters::F64(a) => scale_filters(a, &indices, normalize),
        }
    }

    /// Filter `index` scaled to bytes; `None` if there is no such filter.
    pub fn tile(&self, index: usize) -> Option<Vec<u8>> {
        self.tiles(index..index.saturating_add(1)).pop()
    }

    /// Raw min, max, mean and norm of the filters at `indices` (each < n; others are left out).
    pub fn stats(&self, indices: &[usize]) -> Vec<FilterStats> {
        let n = self.dims()[3];
        let indices: Vec<usize> = indices.iter().copied().filter(|&i| i < n).collect();
        match self {
            Filters::F32(a) => stats(a, &indices),
            Filters::F64(a) => stats(a, &indices),
        }
    }

    /// Each filter's L2 norm of its raw values, in f64.
    pub fn norms(&self) -> Vec<f64> {
        match self {
            Filters::F32(a) => norms(a),
            Filters::F64(a) => norms(a),
        }
    }

    /// Filter indices by L2 norm, largest first; equal norms keep file order, NaN norms come last
    /// (`np.argsort(-norms, kind="stable")`).
    pub fn norm_order(&self) -> Vec<usize> {
        let norms = self.norms();
        let mut order: Vec<usize> = (0..norms.len()).collect();
        sorting::sort_by(&mut order, |&a, &b| match (norms[a].is_nan(), norms[b].is_nan()) {
            (false, false) => norms[b].total_cmp(&norms[a]),
            (nan_a, nan_b) => nan_a.cmp(&nan_b),
        });
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_the_raw_numbers_of_each_filter() {
        // Filter i holds i, i + 1, …, i + 11.
        let filters =
            Filters::F32(Array4::from_shape_fn((2, 2, 3, 4), |(y, x, c, n)| ((y * 2 + x) * 3 + c + n) as f32));
        let [a, b] = filters.stats(&[3, 0])[..] else { panic!("two filters") };
        assert_eq!((a.min, a.max, a.mean), (3.0, 14.0, 8.5));
        assert_eq!(a.norm, (3..15).map(|v| (v * v) as f64).sum::<f64>().sqrt());
        assert_eq!(a.norm, filters.norms()[3], "the norm the order sorts by");
        assert_eq!((b.min, b.max), (0.0, 11.0));
        assert!(filters.stats(&[9]).is_empty());
    }

    #[test]
    fn tiles_past_the_last_filter_are_none_not_a_panic() {
        let filters = Filters::F32(Array4::from_shape_fn((2, 2, 3, 4), |(y, x, c, n)| (y + x + c + n) as f32));
        assert_eq!(filters.tile(3).map(|t| t.len()), Some(12));
        assert_eq!(filters.tile(4), None);
        assert_eq!(filters.tile(usize::MAX), None);
        assert!(filters.tiles(2..2).is_empty());
        assert_eq!(filters.tiles(3..10).len(), 1);
    }

    #[test]
    fn matches_sklearn_multiply_then_add() {
        // x = max must map to (max * scale) + min_, which can exceed 1 by an ulp and then clips.
        let (scale, min) = min_max_params([-0.3f32, 0.7, 0.1].into_iter());
        assert_eq!(scale, 1.0f32 / (0.7f32 - -0.3f32));
        assert_eq!(min, 0.0f32 - (-0.3f32 * scale));
        assert_eq!(to_byte(0.7f32, scale, min), 255);
        assert_eq!(to_byte(-0.3f32, scale, min), 0);
        assert_eq!(to_byte(0.1f32, scale, min), ((0.1f32 * scale + min) * 255.0) as u8);
    }

    #[test]
    fn constant_and_nan_columns() {
        // Range below 10 eps: divided by 1, so values become x - min = 0.
        let (scale, min) = min_max_params([0.5f32, 0.5 + f32::EPSILON].into_iter());
        assert_eq!(scale, 1.0);
        assert_eq!(to_byte(0.5f32, scale, min), 0);
        // NaNs are ignored when fitting and drawn as 0.
        let (scale, min) = min_max_params([f32::NAN, 1.0, 3.0].into_iter());
        assert_eq!((scale, min), (0.5, -0.5));
        assert_eq!(to_byte(f32::NAN, scale, min), 0);
        assert_eq!(to_byte(3.0f32, scale, min), 255);
        let (scale, _) = min_max_params([f64::NAN, f64::NAN].into_iter());
        assert!(scale.is_nan());
    }

    #[test]
    fn float64_is_scaled_in_float64() {
        let (scale, min) = min_max_params([0.0f64, 3.0].into_iter());
        assert_eq!(to_byte(1.0f64, scale, min), (255.0 * (1.0f64 / 3.0)) as u8);
    }
}
