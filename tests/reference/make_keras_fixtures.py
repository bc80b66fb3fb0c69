"""Writes the Keras fixtures ONCE, with real Keras (CI has no TensorFlow/Keras): small files from Keras 3
(`model.save("m.keras")`, `model.save_weights("m.weights.h5")`) and Keras 2 (tf_keras: `model.save("m.h5")`,
`save_weights("w.h5")`, and a Hugging Face `tf_model.h5` laid out as transformers' TF save_pretrained writes it:
save_weights of a subclassed model with nested named layers) into tests/fixtures/committed/keras/, plus
expected.json and expected kernels (.npy, (kh, kw, c, n), from the layer's own variables) that let
fixtures_keras.py check them in CI. Run: /work/tfenv/bin/python tests/reference/make_keras_fixtures.py

Names (patchlens' convention, computed here from the model objects, not from patchlens' code):
- Keras 3: the layer names from the top model down, then the variable's own name: `stem/kernel`,
  `backbone/patch_embed/kernel`. A .keras lists them in the model's layer order (config.json); a bare
  .weights.h5 has no config, so in its group order (`layers/conv2d`, `layers/conv2d_1`, … naturally sorted).
- Keras 2: each weight's name as Keras wrote it into `weight_names` (`stem/kernel:0`), in `layer_names` order."""
import io
import json
import os
import sys
import zipfile
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "tests" / "fixtures" / "committed" / "keras"
SEEDS = HERE.parents[1] / "fuzz" / "seeds" / "keras"


def filters(rng, shape):
    """Weight-like filters (oriented stripes of random colour plus noise), as fixtures.filters makes them."""
    kh, kw, c, n = shape
    y, x = np.meshgrid(np.linspace(-1, 1, kh), np.linspace(-1, 1, kw), indexing="ij")
    theta, freq, phase = rng.uniform(0, np.pi, n), rng.uniform(0.5, 3, n), rng.uniform(0, 2 * np.pi, n)
    along = x[..., None] * np.cos(theta) + y[..., None] * np.sin(theta)
    wave = np.cos(np.pi * freq * along + phase)
    colour = rng.normal(0, 1, (c, n))
    return (0.03 * wave[:, :, None, :] * colour + rng.normal(0, 0.02, shape)).astype(np.float32)


def fill(model, seed):
    """Deterministic weights: 4-D kernels get filters, the rest small noise (BN variances stay positive)."""
    rng = np.random.default_rng(seed)
    for layer in iter_layers(model):
        values = []
        for w in layer.get_weights():
            if w.ndim == 4:
                values.append(filters(rng, w.shape).astype(w.dtype))
            else:
                values.append((np.abs(rng.normal(0.5, 0.1, w.shape)) if w.ndim == 1 else
                               rng.normal(0, 0.02, w.shape)).astype(w.dtype))
        if values:
            layer.set_weights(values)


def iter_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.__class__.__name__ in ("Functional", "Sequential", "Model"):
            yield from iter_layers(layer)
        else:
            yield layer


def dtype_name(a):
    return str(np.dtype(a.dtype))


# ---- Keras 3 -----------------------------------------------------------------------------------------

def keras3_layers(model, prefix=()):
    """[(name, array)] in the model's layer order, recursing into nested models: `parents/layer/var`."""
    out = []
    for layer in model.layers:
        if layer.__class__.__name__ in ("Functional", "Sequential"):
            out += keras3_layers(layer, prefix + (layer.name,))
            continue
        for v in layer._trainable_variables + layer._non_trainable_variables:
            out.append(("/".join(prefix + (layer.name, v.name)), np.asarray(v.numpy())))
    return out


def keras3_models():
    import keras
    from keras import layers
    inp = keras.Input((32, 32, 3))
    s = layers.Conv2D(8, 3, name="stem")(inp)
    s = layers.BatchNormalization(name="bn")(s)
    s = layers.DepthwiseConv2D(3, name="dw")(s)
    s = layers.GlobalAveragePooling2D(name="pool")(s)
    t = layers.Conv2D(4, 5, name="a_conv")(inp)
    t = layers.GlobalAveragePooling2D(name="a_pool")(t)
    x = layers.Concatenate(name="join")([s, t])
    x = layers.Dense(5, name="head")(x)
    tiny = keras.Model(inp, x, name="tiny")
    fill(tiny, 3)

    inner = keras.Input((32, 32, 3))
    y = layers.Conv2D(6, 16, strides=16, name="patch_embed")(inner)
    y = layers.LayerNormalization(name="ln")(y)
    backbone = keras.Model(inner, y, name="backbone")
    vit = keras.Sequential([keras.Input((32, 32, 3)), backbone,
                            layers.Flatten(name="flat"), layers.Dense(3, name="head")], name="vitlike")
    fill(vit, 4)
    return keras, tiny, vit


def keras3_fixtures(expected):
    keras, tiny, vit = keras3_models()
    files = {}
    for model, file, note in [
        (tiny, "keras3_tiny.keras", "Keras 3 .keras of a two-branch CNN: stem first in model order, a_conv first by name"),
        (vit, "keras3_vitlike.keras", "Keras 3 .keras: Sequential around a nested Functional with a 16x16/16 patch conv"),
    ]:
        model.save(OUT / file)
        with zipfile.ZipFile(OUT / file) as z:
            if any(i.compress_type != zipfile.ZIP_STORED for i in z.infolist()):
                raise AssertionError(f"{file}: Keras 3 no longer stores its entries")
        reloaded = keras.saving.load_model(OUT / file)
        tensors = keras3_layers(reloaded)
        files[file] = entry(file, tensors, "keras3", note, keras.__version__)
    # A bare .weights.h5: no config, so listed in the file's group order (Keras names groups by class).
    tiny.save_weights(OUT / "keras3_tiny.weights.h5")
    with h5py.File(OUT / "keras3_tiny.weights.h5") as f:
        groups = sorted(f["layers"], key=natural_key)
        tensors = []
        for g in groups:
            layer = tiny.get_layer(f["layers"][g]["vars"].attrs["name"])
            for v in layer._trainable_variables + layer._non_trainable_variables:
                tensors.append((f"{layer.name}/{v.name}", np.asarray(v.numpy())))
    files["keras3_tiny.weights.h5"] = entry("keras3_tiny.weights.h5", tensors, "keras3",
                                            "Keras 3 save_weights: layers/<class>/vars/<i>, no config", keras.__version__)
    expected.update(files)


def natural_key(name):
    import re
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


# ---- Keras 2 (tf_keras) ------------------------------------------------------------------------------

def keras2_fixtures(expected):
    import tensorflow as tf
    import tf_keras as keras
    from tf_keras import layers
    inp = keras.Input((32, 32, 3))
    s = layers.Conv2D(8, 3, name="stem")(inp)
    s = layers.BatchNormalization(name="bn")(s)
    s = layers.DepthwiseConv2D(3, name="dw")(s)
    s = layers.GlobalAveragePooling2D(name="pool")(s)
    t = layers.Conv2D(4, 5, name="a_conv")(inp)
    t = layers.GlobalAveragePooling2D(name="a_pool")(t)
    x = layers.Concatenate(name="join")([s, t])
    x = layers.Dense(5, name="head")(x)
    tiny = keras.Model(inp, x, name="tiny")
    fill(tiny, 5)
    tiny.save(OUT / "keras2_tiny.h5")
    tiny.save_weights(OUT / "keras2_tiny_weights.h5")
    tensors = [(w.name, np.asarray(w.numpy())) for layer in tiny.layers for w in layer.weights]
    for file, note in [("keras2_tiny.h5", "tf_keras model.save: model_weights/<layer>/<weight name>"),
                       ("keras2_tiny_weights.h5", "tf_keras save_weights: <layer>/<weight name> at the root")]:
        check_keras2(OUT / file, tensors)
        expected[file] = entry(file, tensors, "keras", note, keras.__version__)

    # Hugging Face transformers' TFViTModel.save_pretrained: save_weights of a subclassed model whose
    # main layer `vit` nests embeddings/patch_embeddings/projection (a 16x16 stride-16 Conv2D).
    class PatchEmbeddings(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.projection = layers.Conv2D(6, 16, strides=16, name="projection")

        def call(self, x):
            return self.projection(x)

    class Embeddings(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.patch_embeddings = PatchEmbeddings(name="patch_embeddings")

        def build(self, shape):
            self.cls_token = self.add_weight(name="cls_token", shape=(1, 1, 6))
            super().build(shape)

        def call(self, x):
            return self.patch_embeddings(x)

    class MainLayer(layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.embeddings = Embeddings(name="embeddings")
            self.pooler = layers.Dense(4, name="pooler")

        def call(self, x):
            return self.pooler(self.embeddings(x))

    class TFViTModel(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.vit = MainLayer(name="vit")

        def call(self, x):
            return self.vit(x)

    hf = TFViTModel(name="tf_vi_t_model")
    hf(tf.zeros((1, 32, 32, 3)))
    rng = np.random.default_rng(6)
    hf.set_weights([filters(rng, w.shape) if len(w.shape) == 4 else rng.normal(0, 0.02, w.shape).astype(np.float32)
                    for w in hf.weights])
    hf.save_weights(OUT / "tf_model.h5")
    tensors = [(w.name, np.asarray(w.numpy())) for w in hf.weights]
    check_keras2(OUT / "tf_model.h5", tensors)
    expected["tf_model.h5"] = entry("tf_model.h5", tensors, "keras",
                                    "Hugging Face TF ViT layout (save_weights of nested layers, vit/... path)",
                                    keras.__version__)


def check_keras2(path, tensors):
    """The file holds exactly these weights, by layer_names then weight_names, with these values."""
    with h5py.File(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        names = []
        for layer in root.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for w in root[layer].attrs["weight_names"]:
                w = w.decode() if isinstance(w, bytes) else w
                names.append(w)
                want = dict(tensors)[w]
                if not np.array_equal(root[layer][w][()], want):
                    raise AssertionError(f"{path.name}: {w} differs from the model's weight")
    if names != [n for n, _ in tensors]:
        raise AssertionError(f"{path.name}: {names} != model order")


# ---- expected.json -------------------------------------------------------------------------------------

def entry(file, tensors, fmt, note, version):
    """tensors: [(name, array)] in patchlens' order. The default is the first 4-D float kernel with 3
    input channels (then 1): none of these names is in patchlens' table, so the fallback decides."""
    listing = [{"name": n, "dtype": dtype_name(a), "shape": list(a.shape)} for n, a in tensors]
    drawable = [(n, a) for n, a in tensors if a.ndim == 4 and a.shape[2] in (1, 3)]
    default = next((n for n, a in drawable if a.shape[2] == 3), None) or (drawable[0][0] if drawable else None)
    tiled = []
    stem = file.replace(".", "_")
    for k, (n, a) in enumerate(drawable):
        kernel = f"{stem}.{k}.kernel.npy"
        np.save(OUT / kernel, a)
        tiled.append({"tensor": n, "kernel": kernel})
    return {"format": fmt, "tensors": listing, "default_tensor": default, "tiled": tiled,
            "note": f"{note} (written by Keras {version})"}


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    expected = {}
    keras3_fixtures(expected)
    keras2_fixtures(expected)
    (OUT / "expected.json").write_text(json.dumps({"files": expected}, indent=1) + "\n")
    SEEDS.mkdir(parents=True, exist_ok=True)
    for file in expected:
        data = (OUT / file).read_bytes()
        if len(data) < 64 << 10:
            (SEEDS / file).write_bytes(data)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT}: {len(expected)} files, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
