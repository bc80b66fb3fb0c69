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
}

impl KernelLayout {
    /// Permutation taking this layout to (kh, kw, c, n).
    fn to_hwcn(self) -> [usize; 4] {
        match self {
            KernelLayout::Hwio => [0, 1, 2, 3],
            KernelLayout::Oihw => [2, 3, 1, 0],
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
    if info.dtype.float_size().is_none() {
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

/// The patch embedding's name in the AugReg / big_vision parameter trees, under any prefix.
const EMBEDDING: &str = "embedding/kernel";

/// True for `suffix` itself or `…/suffix` (not `my_suffix`).
fn is_named(name: &str, suffix: &str) -> bool {
    name.strip_suffix(suffix).is_some_and(|rest| rest.is_empty() || rest.ends_with('/'))
}

/// The first tensor named like the patch embedding, by name alone: the usual answer of
/// [`pick_patch_embedding`], which a caller can read before knowing its shape.
pub fn named_patch_embedding(names: &[String]) -> Option<usize> {
    names.iter().position(|name| is_named(name, EMBEDDING))
}

/// Picks the patch embedding among `infos` (index-aligned with the container's names):
/// `embedding/kernel` under any prefix; the hybrid ResNet stem `conv_root/kernel` when that
/// embedding is 1×1; otherwise the first 4-D float tensor with 3 input channels, then with 1.
/// `info` is asked lazily so that files with a named embedding read only that header.
pub fn pick_patch_embedding(
    names: &[String],
    layout: KernelLayout,
    info: impl Fn(usize) -> Option<TensorInfo>,
) -> Option<usize> {
    let named = |suffix: &str| {
        names.iter().enumerate().find_map(|(i, name)| {
            is_named(name, suffix)
                .then(|| info(i))
                .flatten()
                .filter(|t| layout.hwcn(&t.shape).is_some())
                .map(|t| (i, t))
        })
    };
    if let Some((index, embedding)) = named(EMBEDDING) {
        let one_by_one = matches!(layout.hwcn(&embedding.shape), Some([1, 1, _, _]));
        if one_by_one {
            if let Some((root, _)) = named("conv_root/kernel") {
                return Some(root);
            }
        }
        if not_drawable_reason(&embedding, layout).is_none() {
            return Some(index);
        }
    }
    let drawable_with = |channels: usize| {
        (0..names.len()).find(|&i| {
            info(i).is_some_and(|t| {
                not_drawable_reason(&t, layout).is_none() && layout.hwcn(&t.shape).map(|s| s[2]) == Some(channels)
            })
        })
    };
    drawable_with(3).or_else(|| drawable_with(1))
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

    fn pick(tensors: &[TensorInfo]) -> Option<&str> {
        let names: Vec<String> = tensors.iter().map(|t| t.name.clone()).collect();
        pick_patch_embedding(&names, KernelLayout::Hwio, |i| tensors.get(i).cloned()).map(|i| tensors[i].name.as_str())
    }

    #[test]
    fn picks_embedding_kernel_under_any_prefix() {
        let t = [
            info("cls", &[1, 1, 768]),
            info("stem/kernel", &[3, 3, 3, 8]),
            info("opt/target/embedding/kernel", &[16, 16, 3, 768]),
        ];
        assert_eq!(pick(&t), Some("opt/target/embedding/kernel"));
        assert_eq!(
            pick(&[info("params/img/embedding/kernel", &[14, 14, 3, 384])]),
            Some("params/img/embedding/kernel")
        );
        // A name that merely ends the same way is not the embedding.
        assert_eq!(pick(&[info("my_embedding/kernel", &[2, 2, 5, 4])]), None);
    }

    #[test]
    fn hybrid_models_use_the_resnet_root() {
        let t = [info("embedding/kernel", &[1, 1, 1024, 768]), info("conv_root/kernel", &[7, 7, 3, 64])];
        assert_eq!(pick(&t), Some("conv_root/kernel"));
    }

    #[test]
    fn falls_back_to_the_first_rgb_then_gray_kernel() {
        let t = [info("a", &[3, 3, 16, 32]), info("b", &[5, 5, 1, 8]), info("c", &[3, 3, 3, 32])];
        assert_eq!(pick(&t), Some("c"));
        assert_eq!(pick(&t[..2]), Some("b"));
        assert_eq!(pick(&t[..1]), None);
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
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a[[1, 0, 2, 1]], 1021.0);
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
