//! From a tensor to filters: which tensor is the patch embedding, how its axes map to
//! (kh, kw, c, n), and whether it can be drawn at all.

use crate::error::{Error, Result};
use crate::tensor::{DType, MemoryOrder, Tensor, TensorInfo, Values};
use ndarray::{Array4, ArrayD, Ix4, IxDyn, ShapeBuilder, ShapeError};

/// Axis order of a 4-D convolution kernel in a given format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KernelLayout {
    /// (kh, kw, in, out): Flax/JAX, TensorFlow, the AugReg `.npz` files.
    Hwio,
    /// (out, in, kh, kw): PyTorch.
    Oihw,
    /// (out, kh, kw, in): TensorFlow Lite's CONV_2D filters.
    Ohwi,
}

impl KernelLayout {
    /// Permutation taking this layout to (kh, kw, c, n).
    fn to_hwcn(self) -> [usize; 4] {
        match self {
            KernelLayout::Hwio => [0, 1, 2, 3],
            KernelLayout::Oihw => [2, 3, 1, 0],
            KernelLayout::Ohwi => [1, 2, 3, 0],
        }
    }

    /// (kh, kw, c, n) of a 4-D shape in this layout.
    pub fn hwcn(self, shape: &[usize]) -> Option<[usize; 4]> {
        let [a, b, c, d] = self.to_hwcn();
        (shape.len() == 4).then(|| [shape[a], shape[b], shape[c], shape[d]])
    }
}

/// Channel counts that make an image: grayscale or RGB.
const DRAWABLE_CHANNELS: [usize; 2] = [1, 3];

/// Why a tensor cannot be drawn as filters, or `None` if it can.
pub fn not_drawable_reason(info: &TensorInfo, layout: KernelLayout) -> Option<String> {
    if let DType::Quantized(kind) = &info.dtype {
        return Some(format!("quantized ({kind}), not drawable yet"));
    }
    // Affine-quantized integers (TFLite int8/uint8) are dequantized to f32 by their container.
    if info.dtype.float_size().is_none() && !matches!(info.dtype, DType::Affine { .. }) {
        return Some(format!("{} values are not floats", info.dtype));
    }
    let Some([kh, kw, c, n]) = layout.hwcn(&info.shape) else {
        return Some(format!("it is {}-D; filters are 4-D", info.shape.len()));
    };
    if !DRAWABLE_CHANNELS.contains(&c) {
        return Some(format!("its filters have {c} input channels; only 1 (grayscale) or 3 (RGB) can be drawn"));
    }
    if kh == 0 || kw == 0 || n == 0 {
        return Some("it is empty".into());
    }
    None
}

/// The layout a 4-D shape most likely has when the container does not say (a bare `.npy`, an `.npz`
/// holding a PyTorch weight converted with `.numpy()`): the one reading it as filters with 1 or 3
/// input channels and square spatial dims; when both or neither do, the container's `convention`.
pub fn infer_layout(shape: &[usize], convention: KernelLayout) -> KernelLayout {
    let plausible = |layout: KernelLayout| {
        layout.hwcn(shape).is_some_and(|[kh, kw, c, _]| kh == kw && DRAWABLE_CHANNELS.contains(&c))
    };
    let other = match convention {
        KernelLayout::Hwio => KernelLayout::Oihw,
        KernelLayout::Oihw | KernelLayout::Ohwi => KernelLayout::Hwio,
    };
    if plausible(other) && !plausible(convention) {
        other
    } else {
        convention
    }
}

impl KernelLayout {
    /// Short name, as the CLI's `--layout` and the JS API spell it.
    pub fn name(self) -> &'static str {
        match self {
            KernelLayout::Hwio => "hwio",
            KernelLayout::Oihw => "oihw",
            KernelLayout::Ohwi => "ohwi",
        }
    }

    pub fn parse(text: &str) -> Option<KernelLayout> {
        match text.to_ascii_lowercase().as_str() {
            "hwio" => Some(KernelLayout::Hwio),
            "oihw" => Some(KernelLayout::Oihw),
            "ohwi" => Some(KernelLayout::Ohwi),
            _ => None,
        }
    }
}

/// A kernel as n filters of kh × kw × c, indexed `[y, x, channel, filter]`.
#[derive(Debug, Clone)]
pub enum Filters {
    F32(Array4<f32>),
    F64(Array4<f64>),
}

impl Filters {
    /// Arranges a tensor's values as (kh, kw, c, n) without copying them again.
    pub fn from_tensor(tensor: Tensor, layout: KernelLayout) -> Result<Filters> {
        if let Some(reason) = not_drawable_reason(&tensor.info, layout) {
            return Err(Error::NotDrawable(format!("Tensor {} cannot be drawn: {reason}.", tensor.info.name)));
        }
        let (shape, order) = (&tensor.info.shape, tensor.order);
        let bad =
            |_| Error::Malformed(format!("Tensor {} has the wrong number of values for its shape.", tensor.info.name));
        let axes = layout.to_hwcn();
        Ok(match tensor.values {
            Values::F32(v) => Filters::F32(to_hwcn(v, shape, order, axes).map_err(bad)?),
            Values::F64(v) => Filters::F64(to_hwcn(v, shape, order, axes).map_err(bad)?),
        })
    }

    /// (kh, kw, c, n)
    pub fn dims(&self) -> [usize; 4] {
        let d = match self {
            Filters::F32(a) => a.dim(),
            Filters::F64(a) => a.dim(),
        };
        [d.0, d.1, d.2, d.3]
    }
}

/// Views flat values as a 4-D array in their memory order, then permutes the axes to (kh, kw, c, n).
fn to_hwcn<T>(
    values: Vec<T>,
    shape: &[usize],
    order: MemoryOrder,
    axes: [usize; 4],
) -> std::result::Result<Array4<T>, ShapeError> {
    let array = match order {
        MemoryOrder::C => ArrayD::from_shape_vec(IxDyn(shape), values)?,
        MemoryOrder::Fortran => ArrayD::from_shape_vec(IxDyn(shape).f(), values)?,
    };
    Ok(array.into_dimensionality::<Ix4>()?.permuted_axes(axes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, shape: &[usize]) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: DType::F32, shape: shape.to_vec() }
    }

    #[test]
    fn fortran_and_torch_orders_land_on_the_same_filters() {
        // Element [y, x, c, n] = 1000y + 100x + 10c + n, in a (2,2,3,2) kernel.
        let value = |y: usize, x: usize, c: usize, n: usize| (1000 * y + 100 * x + 10 * c + n) as f32;
        let mut c_order = Vec::new();
        let mut f_order = Vec::new();
        let mut oihw = Vec::new();
        for y in 0..2 {
            for x in 0..2 {
                for c in 0..3 {
                    for n in 0..2 {
                        c_order.push(value(y, x, c, n));
                    }
                }
            }
        }
        for n in 0..2 {
            for c in 0..3 {
                for x in 0..2 {
                    for y in 0..2 {
                        f_order.push(value(y, x, c, n));
                    }
                }
            }
        }
        for n in 0..2 {
            for c in 0..3 {
                for y in 0..2 {
                    for x in 0..2 {
                        oihw.push(value(y, x, c, n));
                    }
                }
            }
        }
        let make = |values, order, shape: &[usize], layout| {
            let t = Tensor { info: info("k", shape), values: Values::F32(values), order };
            match Filters::from_tensor(t, layout).unwrap() {
                Filters::F32(a) => a,
                _ => unreachable!(),
            }
        };
        let a = make(c_order, MemoryOrder::C, &[2, 2, 3, 2], KernelLayout::Hwio);
        let b = make(f_order, MemoryOrder::Fortran, &[2, 2, 3, 2], KernelLayout::Hwio);
        let c = make(oihw, MemoryOrder::C, &[2, 3, 2, 2], KernelLayout::Oihw);
        let mut ohwi = Vec::new();
        for n in 0..2 {
            for y in 0..2 {
                for x in 0..2 {
                    for c in 0..3 {
                        ohwi.push(value(y, x, c, n));
                    }
                }
            }
        }
        let d = make(ohwi, MemoryOrder::C, &[2, 2, 2, 3], KernelLayout::Ohwi);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
        assert_eq!(KernelLayout::parse("OHWI"), Some(KernelLayout::Ohwi));
        assert_eq!(a[[1, 0, 2, 1]], 1021.0);
    }

    #[test]
    fn infers_the_layout_from_the_shape_when_the_container_does_not_say() {
        use KernelLayout::*;
        assert_eq!(infer_layout(&[16, 16, 3, 768], Hwio), Hwio);
        assert_eq!(infer_layout(&[768, 3, 16, 16], Hwio), Oihw);
        assert_eq!(infer_layout(&[64, 1, 5, 5], Hwio), Oihw);
        // Ambiguous or neither: the container's convention wins.
        assert_eq!(infer_layout(&[3, 3, 3, 3], Hwio), Hwio);
        assert_eq!(infer_layout(&[3, 3, 3, 3], Oihw), Oihw);
        assert_eq!(infer_layout(&[7, 5, 3, 12], Hwio), Hwio);
        assert_eq!(infer_layout(&[16, 16, 3, 8], Oihw), Hwio);
    }

    #[test]
    fn explains_why_a_tensor_cannot_be_drawn() {
        let mut t = info("x", &[3, 3, 64, 64]);
        assert!(not_drawable_reason(&t, KernelLayout::Hwio).unwrap().contains("64 input channels"));
        t.shape = vec![768];
        assert!(not_drawable_reason(&t, KernelLayout::Hwio).unwrap().contains("1-D"));
        t.shape = vec![3, 3, 3, 4];
        t.dtype = DType::Other("int32".into());
        assert!(not_drawable_reason(&t, KernelLayout::Hwio).unwrap().contains("int32"));
    }
}
