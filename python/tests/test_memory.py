"""In-memory objects: NumPy arrays in both layouts, mappings (flat and nested), JAX arrays and torch tensors,
state dicts and modules where those libraries are installed (skipped with the reason where not) — each drawn
byte for byte as the file it came from."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

import patchlens
from conftest import FIXTURES, SAMPLE, cli

KERNEL = np.load(SAMPLE)["embedding/kernel"]  # (14, 14, 3, 384), HWIO, float32


@pytest.fixture(scope="module")
def sample_png(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    png, said = cli(str(SAMPLE), tmp=tmp_path_factory.mktemp("cli"))
    assert png is not None, said
    return png


def test_a_numpy_kernel_draws_as_its_file(sample_png: bytes) -> None:
    grid = patchlens.grid(KERNEL)
    assert grid.png() == sample_png
    assert grid.layout == "hwio"


def test_a_numpy_kernel_in_torch_layout_is_read_by_its_shape(sample_png: bytes) -> None:
    oihw = np.ascontiguousarray(KERNEL.transpose(3, 2, 0, 1))  # (384, 3, 14, 14)
    grid = patchlens.grid(oihw)
    assert grid.layout == "oihw" and grid.pixels.tobytes() == patchlens.grid(KERNEL).pixels.tobytes()
    # A view that is not contiguous is made contiguous when read, not before.
    assert patchlens.grid(KERNEL.transpose(3, 2, 0, 1)).png() == sample_png


def test_big_endian_and_float64_arrays_draw(sample_png: bytes) -> None:
    assert patchlens.grid(KERNEL.astype(">f4")).png() == sample_png
    wide = KERNEL.astype(np.float64)
    assert patchlens.grid(wide).tiles[0].max == pytest.approx(float(KERNEL[..., 0].max()))


def test_a_mapping_finds_the_patch_embedding_by_name(sample_png: bytes) -> None:
    params = {"cls": np.zeros((1, 1, 384), np.float32), "embedding": {"kernel": KERNEL, "bias": np.zeros(384, np.float32)},
              "step": 1000}
    checkpoint = patchlens.open(params)
    assert checkpoint.default == "embedding/kernel"
    assert [t.name for t in checkpoint.tensors] == ["cls", "embedding/kernel", "embedding/bias"]
    assert checkpoint.render().png() == sample_png
    # Only the 128 filters drawn... of an HWIO kernel every filter's bytes are interleaved: the kernel is read.
    assert checkpoint.bytes_read == KERNEL.nbytes


def test_an_npz_loaded_by_numpy_is_a_mapping(sample_png: bytes) -> None:
    with np.load(SAMPLE) as npz:
        assert patchlens.grid(dict(npz)).png() == sample_png


def test_objects_patchlens_cannot_draw_say_what_it_can() -> None:
    with pytest.raises(patchlens.UnsupportedError, match="patchlens cannot draw a list"):
        patchlens.grid([1, 2, 3])
    with pytest.raises(patchlens.UnknownFormatError, match="no arrays"):
        patchlens.grid({"step": 3})
    with pytest.raises(patchlens.NotDrawableError):
        patchlens.grid(np.zeros((3, 4), np.float32))


def test_a_jax_array_draws_without_jax_being_a_dependency(sample_png: bytes) -> None:
    jnp = pytest.importorskip("jax.numpy", reason="jax is not installed here (it is optional)")
    assert patchlens.grid({"embedding": {"kernel": jnp.asarray(KERNEL)}}).png() == sample_png


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed here (CI has no small CPU wheel on PyPI)")


def test_a_torch_state_dict_and_module_draw_as_the_pth(tmp_path: Path) -> None:
    torch = _torch()
    path = FIXTURES / "dinov2_small_patch_embed.safetensors"
    expected, said = cli(str(path), tmp=tmp_path)
    assert expected is not None, said
    from safetensors.torch import load_file

    state = load_file(str(path))
    assert patchlens.grid(state).png() == expected
    weight = state[patchlens.open(state).default]

    class PatchEmbed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Conv2d(3, weight.shape[0], weight.shape[2], stride=weight.shape[2])

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = PatchEmbed()

    model = Tiny()
    with torch.no_grad():
        model.patch_embed.proj.weight.copy_(weight)
    grid = patchlens.grid(model)
    assert grid.tensor == "patch_embed.proj.weight" and grid.layout == "oihw"
    assert grid.png() == patchlens.grid({"patch_embed.proj.weight": weight}).png()
    # Only the filters drawn are copied out of the tensor: 128 of them.
    checkpoint = patchlens.open(model)
    checkpoint.render(count=16)
    assert checkpoint.bytes_read == 16 * weight[0].numel() * 4


def test_bfloat16_torch_tensors_draw() -> None:
    torch = _torch()
    weight = torch.from_numpy(KERNEL.transpose(3, 2, 0, 1).copy())
    f32 = patchlens.grid({"conv1.weight": weight})
    bf16 = patchlens.grid({"conv1.weight": weight.to(torch.bfloat16)})
    assert bf16.dtype == "bfloat16" and f32.dtype == "float32"
    assert bf16.pixels.shape == f32.pixels.shape


def test_an_object_laid_out_as_a_file_for_the_widget_draws_as_the_object() -> None:
    from patchlens._memory import MemoryFile

    params = {"cls": np.zeros((1, 1, 384), np.float32), "embedding": {"kernel": KERNEL}, "step": np.int64(3),
              "odd": np.zeros(2, np.complex64)}
    file = MemoryFile(params)
    whole = file.read(0, file.size)
    assert len(whole) == file.size and file.name.endswith("(in memory).safetensors")
    checkpoint = patchlens.open(whole)
    assert checkpoint.format == "safetensors" and checkpoint.default == "embedding/kernel"
    assert [t.name for t in checkpoint.tensors] == ["cls", "embedding/kernel", "step"]  # complex64 has no name there
    assert checkpoint.render().png() == patchlens.grid(params).png()
    # Any ranges, across the header and the tensors, are the same bytes.
    assert b"".join(file.read(at, min(999, file.size - at)) for at in range(0, file.size, 999)) == whole
    with pytest.raises(ValueError):
        file.read(file.size - 1, 2)
