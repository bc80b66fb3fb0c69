"""Writes the Flax msgpack fixtures ONCE, with real flax/jax (CI has neither): flax.serialization.to_bytes of
small nn.Module parameter trees into tests/fixtures/committed/msgpack/, plus expected.json and expected
kernels (.npy) that let fixtures_msgpack.py check them in CI. Run: /work/tfenv/bin/python
tests/reference/make_msgpack_fixtures.py

expected.json: {"meta": {...}, "files": {file: {"tensors": [{name, dtype, shape}], "default_tensor", "tiled":
[{"tensor", "kernel", "dtype"}], "note"}}}. Tensors and kernels come from flax.serialization.msgpack_restore
of the written bytes: names are the key paths joined with '/', in the file's order, every ndarray and numpy
scalar leaf; the Hugging Face ones are written by transformers 4.x's save_pretrained; each kernel .npy is the restored array itself, already (kh, kw, in, out) as Flax's nn.Conv keeps
it (bfloat16 stored as its uint16 bits). Also checks fixtures_msgpack.write_flax_msgpack byte for byte against
flax on every fixture's tree and on the full AugReg ViT-B/16 tree the CI writes as the big file."""
import json
import sys
from pathlib import Path

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import serialization
from flax.training import train_state

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fixtures_msgpack as fm  # noqa: E402  (the CI side: its writer is checked against flax below)

OUT = fm.COMMITTED


class TinyCNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(8, (3, 3))(x))
        x = nn.Conv(16, (3, 3))(x)
        return nn.Dense(10)(x.mean((1, 2)))


class TinyViT(nn.Module):
    """big_vision's names: embedding (patch conv), cls, Transformer/posembed_input, encoder_norm, head."""
    dim: int = 16

    @nn.compact
    def __call__(self, x):
        x = nn.Conv(self.dim, (4, 4), strides=4, padding="VALID", name="embedding")(x)
        x = x.reshape(x.shape[0], -1, self.dim)
        cls = self.param("cls", nn.initializers.normal(0.02), (1, 1, self.dim))
        x = jnp.concatenate([jnp.tile(cls, (x.shape[0], 1, 1)), x], 1)
        x = Encoder(name="Transformer")(x)
        return nn.Dense(10, name="head")(x[:, 0])


class Encoder(nn.Module):
    @nn.compact
    def __call__(self, x):
        pos = self.param("pos_embedding", nn.initializers.normal(0.02), (1,) + x.shape[1:])
        x = x + pos
        x = x + nn.Dense(x.shape[-1], name="encoderblock_0")(nn.LayerNorm(name="LayerNorm_0")(x))
        return nn.LayerNorm(name="encoder_norm")(x)


def init(module, seed, size=16):
    return module.init(jax.random.PRNGKey(seed), jnp.zeros((1, size, size, 3)))


def cast(tree, dtype):
    return jax.tree_util.tree_map(lambda a: a.astype(dtype), tree)


def leaves(tree, path=()):
    """(name, leaf) of every ndarray and numpy scalar in a restored tree, in its order."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, path + (str(key),))
    elif isinstance(tree, (np.ndarray, np.generic)):
        yield "/".join(path), tree


def dtype_name(array):
    return np.asarray(array).dtype.name


def fixture(files, file, data, default, tiled, note, notes_contain=None, check_writer=True):
    (OUT / file).write_bytes(data)
    restored = serialization.msgpack_restore(data)
    found = dict(leaves(restored))
    tensors = [{"name": n, "dtype": dtype_name(a), "shape": list(np.shape(a))} for n, a in found.items()]
    items = []
    for k, name in enumerate(tiled):
        kernel = np.asarray(found[name])
        if kernel.ndim != 4:
            raise AssertionError(f"{file}: {name} is not a 4-D kernel")
        stored = kernel.view(np.uint16) if dtype_name(kernel) == "bfloat16" else kernel
        kernel_file = f"{file.replace('.', '_')}.{k}.kernel.npy"
        np.save(OUT / kernel_file, stored)
        items.append({"tensor": name, "kernel": kernel_file, "dtype": dtype_name(kernel)})
    entry = {"tensors": tensors, "default_tensor": default, "tiled": items, "note": note}
    if notes_contain:
        entry["notes_contain"] = notes_contain
    files[file] = entry
    if check_writer and fm.flax_bytes(restored) != data:
        raise AssertionError(f"{file}: write_flax_msgpack differs from flax.serialization.to_bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for stale in OUT.iterdir():
        stale.unlink()
    files = {}
    cnn = init(TinyCNN(), 0)
    fixture(files, "cnn_f32.msgpack", serialization.to_bytes(cnn), "params/Conv_0/kernel",
            ["params/Conv_0/kernel"], "flax to_bytes of a small nn.Module CNN (Conv 3->8 first)")
    vit = init(TinyViT(), 1)
    fixture(files, "vit_f32.msgpack", serialization.to_bytes(vit), "params/embedding/kernel",
            ["params/embedding/kernel"], "flax to_bytes of a ViT-like tree, patch conv `embedding` 4x4 stride 4")
    for dtype, name in ((jnp.bfloat16, "bf16"), (jnp.float16, "f16")):
        fixture(files, f"vit_{name}.msgpack", serialization.to_bytes(cast(vit, dtype)), "params/embedding/kernel",
                ["params/embedding/kernel"], f"the ViT-like tree cast to {np.dtype(dtype).name}")
    # transformers 4.x (v5 dropped Flax): real models with random init, saved as the hub holds them.
    import tempfile
    import transformers
    from transformers import CLIPVisionConfig, FlaxCLIPVisionModel, FlaxViTForImageClassification, ViTConfig
    small = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=16,
                 patch_size=4)
    for file, model, default, note in [
        ("flax_model.msgpack", FlaxViTForImageClassification(ViTConfig(num_labels=3, **small), seed=2),
         "vit/embeddings/patch_embeddings/projection/kernel",
         "transformers FlaxViTForImageClassification (small config, random init), save_pretrained's flax_model.msgpack"),
        ("clip_vision.msgpack", FlaxCLIPVisionModel(CLIPVisionConfig(**small), seed=3),
         "vision_model/embeddings/patch_embedding/kernel",
         "transformers FlaxCLIPVisionModel (small config, random init), save_pretrained's flax_model.msgpack"),
    ]:
        with tempfile.TemporaryDirectory() as tmp:
            model.save_pretrained(tmp)
            data = (Path(tmp) / "flax_model.msgpack").read_bytes()
        fixture(files, file, data, default, [default], f"{note}, transformers {transformers.__version__}")

    model = TinyViT()
    params = init(model, 4)["params"]
    state = train_state.TrainState.create(apply_fn=model.apply, params=params, tx=optax.adam(1e-2))
    grads = jax.grad(lambda p: jnp.sum(model.apply({"params": p}, jnp.ones((1, 16, 16, 3))) ** 2))(params)
    state = state.apply_gradients(grads=grads)
    fixture(files, "train_state.msgpack", serialization.to_bytes(state), "params/embedding/kernel",
            ["params/embedding/kernel", "opt_state/0/mu/embedding/kernel"],
            "flax TrainState after one optax.adam step: step, params, opt_state (mu, nu beside the params)")

    extras = {"params": init(TinyViT(), 5)["params"],
              "meta": {"scale": np.float32(0.5), "phase": 1 + 2j, "name": "tiny", "none": None, "epoch": 3}}
    fixture(files, "scalars.msgpack", serialization.to_bytes(extras), "params/embedding/kernel",
            ["params/embedding/kernel"], "params beside a numpy scalar (ext 3), a complex (ext 2), str, None, int",
            notes_contain=["4 values that are not arrays"])

    # Arrays over flax's MAX_CHUNK_SIZE (1 GiB) are written as chunk maps; a smaller limit makes flax chunk
    # the 3 KiB patch kernel the same way.
    saved = serialization.MAX_CHUNK_SIZE
    serialization.MAX_CHUNK_SIZE = 1024
    try:
        chunked = serialization.to_bytes(init(TinyViT(), 6))
    finally:
        serialization.MAX_CHUNK_SIZE = saved
    if b"__msgpack_chunked_array__" not in chunked:
        raise AssertionError("flax did not chunk the kernel")
    fixture(files, "chunked.msgpack", chunked, "params/embedding/kernel", ["params/embedding/kernel"],
            "the ViT-like tree with arrays over 1 KiB chunked by flax (MAX_CHUNK_SIZE lowered)", check_writer=False)

    # The CI's big file: write_flax_msgpack on the AugReg B/16 tree against flax on the same arrays.
    tree, _ = fm.augreg_tree("B/16", seed=16)
    import io
    ours = io.BytesIO()
    fm.write_flax_msgpack(ours, tree)
    theirs = serialization.to_bytes(fm.materialise(tree))
    if ours.getvalue() != theirs:
        raise AssertionError("write_flax_msgpack differs from flax.serialization.to_bytes on the AugReg B/16 tree")
    meta = {"flax": flax.__version__, "jax": jax.__version__,
            "writer_check": f"byte-identical to flax.serialization.to_bytes on every fixture's tree but chunked.msgpack,"
                            f" and on the AugReg B/16 tree ({len(theirs)} bytes)"}
    (OUT / "expected.json").write_text(json.dumps({"meta": meta, "files": files}, indent=1) + "\n")
    fm.write_seeds()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT}: {len(files)} files, {total} bytes; {meta['writer_check']}", file=sys.stderr)


if __name__ == "__main__":
    main()
