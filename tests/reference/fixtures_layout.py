"""Arrays whose layout the file does not state: a PyTorch weight (n, c, kh, kw) saved from `.numpy()` into an
.npz beside Flax-layout kernels, and as a bare .npy. patchlens must read each 4-D array's layout from its
shape (1 or 3 input channels, square filters; the npz convention (kh, kw, in, out) on ties)."""
import numpy as np

from fixtures import describe, filters, fixture_entry, savez


def torch_layout_npz(outdir, rng):
    file = "torch_layout.npz"
    weight = np.ascontiguousarray(filters(rng, (8, 8, 3, 24)).transpose(3, 2, 0, 1))  # (24, 3, 8, 8)
    flax = filters(rng, (3, 3, 3, 4))  # ambiguous: (3, 3, 3, 4) reads as either; the convention wins
    savez(outdir / file, {"flax_stem": flax, "head.weight": rng.normal(0, 0.02, (10, 24)).astype(np.float32),
                          "patch_embed.proj.weight": weight})
    return fixture_entry(outdir, file, "patch_embed.proj.weight", describe(outdir / file),
                         [("patch_embed.proj.weight", weight.transpose(2, 3, 1, 0)), ("flax_stem", flax)],
                         "a PyTorch (n, c, kh, kw) weight saved with .numpy() into an npz: read as OIHW from its shape")


def torch_layout_npy(outdir, rng):
    file = "conv1_weight.npy"
    weight = np.ascontiguousarray(filters(rng, (5, 5, 1, 12)).transpose(3, 2, 0, 1))  # (12, 1, 5, 5), gray
    np.save(outdir / file, weight)
    tensors = [{"name": "array", "dtype": "float32", "shape": list(weight.shape)}]
    return fixture_entry(outdir, file, "array", tensors, [("array", weight.transpose(2, 3, 1, 0))],
                         "a bare .npy of a PyTorch (n, 1, kh, kw) weight: read as OIHW from its shape")


def build(outdir, big=False):
    rng = np.random.default_rng(51)
    return [torch_layout_npz(outdir, rng), torch_layout_npy(outdir, rng)], []
