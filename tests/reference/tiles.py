"""Reference tiles: the notebook pipeline (sklearn MinMaxScaler per filter, matplotlib's RGB float -> uint8)
that patchlens must reproduce byte for byte. `expected_tiles(kernel)` returns uint8 (n, kh, kw, c).
Only this file decides what "correct" bytes are; the fixture writers call it, never re-implement it."""
import warnings

import ml_dtypes
import numpy as np
from sklearn.preprocessing import MinMaxScaler

# What MinMaxScaler does, read in scikit-learn 1.9.1 sklearn/preprocessing/_data.py (what Rust must mirror):
#   partial_fit: data_min = np.nanmin(X, axis=0); data_max = np.nanmax(X, axis=0)   (NaNs ignored;
#                  an all-NaN column gives NaN), data_range = data_max - data_min   (may overflow to inf)
#                scale_ = 1 / _handle_zeros_in_scale(data_range), where
#                _handle_zeros_in_scale sets scale to 1.0 where `scale < 10 * np.finfo(scale.dtype).eps`
#                  (strictly less: range == 10*eps is NOT constant; float32 threshold 1.1920929e-06)
#                min_ = 0 - data_min * scale_
#   transform:   X *= scale_; X += min_      (two roundings, no fused multiply-add; not (x-min)/range)
# all in the dtype of X (float32 stays float32). Infinite inputs make validate_data raise ValueError,
# so there is no reference for kernels holding inf.
SKLEARN_VERSION_CHECKED = "1.9.1"


def working_dtype(dtype):
    """The float type the pipeline scales in: float64 stays, every other float kind is widened to float32."""
    dtype = np.dtype(dtype)
    if dtype in (ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2) or (
            dtype.kind == "f" and dtype.itemsize <= 4):
        return np.dtype(np.float32)
    if dtype.kind == "f" and dtype.itemsize == 8:
        return np.dtype(np.float64)
    raise TypeError(f"not a drawable float dtype: {dtype}")


def expected_tiles(kernel_hwcn):
    """uint8 tiles (n, kh, kw, c) for a (kh, kw, c, n) kernel, as the notebook shows them."""
    kernel = np.asarray(kernel_hwcn)
    if kernel.ndim != 4:
        raise ValueError(f"kernel must be 4-D (kh, kw, c, n), got shape {kernel.shape}")
    work = working_dtype(kernel.dtype)
    # astype to the native-endian working type: widens f16/bf16 exactly, undoes '>f4' and Fortran order
    kernel = np.ascontiguousarray(kernel.astype(work.newbyteorder("=")))
    kh, kw, c, n = kernel.shape

    with warnings.catch_warnings():
        # all-NaN filters ("All-NaN slice") and ranges overflowing to inf are part of the fixtures
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = MinMaxScaler().fit_transform(kernel.reshape(-1, n)).reshape(kh, kw, c, n)
    assert scaled.dtype == work, (scaled.dtype, work)

    # matplotlib imshow clips RGB floats to [0, 1] (np.clip keeps the dtype and NaN) ...
    clipped = np.clip(scaled, 0, 1)
    # ... then casts NaN with (x * 255).astype(np.uint8), which numpy leaves undefined: we define NaN -> 0.
    clipped = np.nan_to_num(clipped, nan=0.0)
    product = clipped * 255  # multiplied in the array's own dtype (float32 * 255 stays float32)
    assert product.dtype == work, (product.dtype, work)
    tiles = product.astype(np.uint8)  # truncation toward zero
    return np.ascontiguousarray(tiles.transpose(3, 0, 1, 2))


def load_as_kernel(array):
    """An array from np.load, with numpy's '<V2' (how ml_dtypes bfloat16 is saved) read as bfloat16."""
    if array.dtype.kind == "V" and array.dtype.itemsize == 2 and array.dtype.names is None:
        return array.view(ml_dtypes.bfloat16)
    return array


def _to_bytes(unit, work):
    """imshow's conversion of floats meant for [0, 1]: clip, NaN -> 0, times 255 in the array's dtype, truncate."""
    clipped = np.nan_to_num(np.clip(unit, 0, 1), nan=0.0)
    product = clipped * 255
    assert product.dtype == work, (product.dtype, work)
    return product.astype(np.uint8)


def _working(kernel_hwcn):
    kernel = np.asarray(kernel_hwcn)
    work = working_dtype(kernel.dtype)
    return np.ascontiguousarray(kernel.astype(work.newbyteorder("="))), work


def expected_tiles_global(kernel_hwcn):
    """uint8 tiles (n, kh, kw, c), one min and max for the whole kernel: MinMaxScaler on kernel.reshape(-1, 1)
    (torchvision make_grid(normalize=True) without scale_each), then imshow's conversion."""
    kernel, work = _working(kernel_hwcn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with np.errstate(over="ignore", invalid="ignore"):
            scaled = MinMaxScaler().fit_transform(kernel.reshape(-1, 1)).reshape(kernel.shape)
    assert scaled.dtype == work, (scaled.dtype, work)
    return np.ascontiguousarray(_to_bytes(scaled, work).transpose(3, 0, 1, 2))


def expected_tiles_symmetric(kernel_hwcn):
    """uint8 tiles (n, kh, kw, c) with zero at mid-grey: per filter a = max|w| (NaN if the filter holds one),
    v = (w / a + 1) * 0.5 in the kernel's precision, 0.5 where a == 0; then imshow's conversion."""
    kernel, work = _working(kernel_hwcn)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        a = np.abs(kernel).max(axis=(0, 1, 2))
        unit = np.where(a == 0, work.type(0.5), (kernel / a + work.type(1)) * work.type(0.5))
    assert unit.dtype == work, (unit.dtype, work)
    return np.ascontiguousarray(_to_bytes(unit, work).transpose(3, 0, 1, 2))


def expected_norm_order(kernel_hwcn):
    """Filter indices by L2 norm in float64, largest first, ties in file order, NaN norms last."""
    kernel, _ = _working(kernel_hwcn)
    n = kernel.shape[3]
    with np.errstate(over="ignore", invalid="ignore"):
        norms = np.linalg.norm(kernel.reshape(-1, n).astype(np.float64), axis=0)
    return [int(i) for i in np.argsort(-norms, kind="stable")]
