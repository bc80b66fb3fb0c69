"""Writes the TensorFlow fixtures once, with real TensorFlow (CI has none): TF1 `Saver` checkpoints (float32,
float16/bfloat16/float64, a partitioned variable, a 2-shard one on two logical CPUs), a TF2
`tf.train.Checkpoint` of a small tf_keras model with its Adam slots, and a SavedModel of a tf.Module, into
tests/fixtures/committed/tf/, with expected.json and each drawn kernel as `tf.train.load_checkpoint(prefix)
.get_tensor(name)` returns it (TF kernels are already (kh, kw, c, n)). Also checks tf_bundle_writer.py byte
for byte against checkpoints TF wrote for the same variables, and writes fuzz seeds (fuzz/seeds/tf_bundle/).
Usage: /work/tfenv/bin/python tests/reference/make_tf_fixtures.py"""
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = REPO / "tests" / "fixtures" / "committed" / "tf"
SEEDS = REPO / "fuzz" / "seeds" / "tf_bundle"
sys.path.insert(0, str(HERE))
import tf_bundle_writer  # noqa: E402

SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def filters(rng, shape, dtype=np.float32):
    """Weight-like filters: oriented stripes of a random colour per filter, plus noise (as fixtures.py)."""
    kh, kw, c, n = shape
    y, x = np.meshgrid(np.linspace(-1, 1, kh), np.linspace(-1, 1, kw), indexing="ij")
    theta, freq, phase = rng.uniform(0, np.pi, n), rng.uniform(0.5, 3, n), rng.uniform(0, 2 * np.pi, n)
    along = x[..., None] * np.cos(theta) + y[..., None] * np.sin(theta)
    wave = np.cos(np.pi * freq * along + phase)
    kernel = 0.03 * wave[:, :, None, :] * rng.normal(0, 1, (c, n)) + rng.normal(0, 0.02, shape)
    return kernel.astype(dtype)


def saver_checkpoint(prefix, variables, sharded=False, partitioned=None):
    """tf.compat.v1.train.Saver over graph variables {name: (initial value, tf dtype, device)}."""
    graph = tf.Graph()
    with graph.as_default():
        for name, (value, dtype, device) in variables.items():
            with tf.device(device):
                tf.compat.v1.get_variable(name, initializer=tf.constant(value, dtype=dtype))
        if partitioned:
            name, value = partitioned
            tf.compat.v1.get_variable(name, initializer=tf.constant(value), partitioner=
                                      tf.compat.v1.fixed_size_partitioner(2))
        saver = tf.compat.v1.train.Saver(sharded=sharded)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(prefix), write_meta_graph=False)


def keras_checkpoint(prefix, rng):
    import tf_keras as keras
    model = keras.Sequential([
        keras.layers.Conv2D(8, 4, strides=4, input_shape=(16, 16, 3)),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    model.layers[0].kernel.assign(filters(rng, (4, 4, 3, 8)))
    # The legacy optimizer keeps its slots under the variables (…/.OPTIMIZER_SLOT/optimizer/m), as TF2
    # checkpoints written before Keras 2.11 do; the new one's optimizer/_variables/N are in tf1-style trees.
    optimizer = keras.optimizers.legacy.Adam(1e-3)
    model.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(rng.normal(size=(4, 16, 16, 3)).astype(np.float32), np.arange(4) % 10, epochs=1, verbose=0)
    saved = Path(tf.train.Checkpoint(model=model, optimizer=optimizer).save(str(prefix)))  # prefix-1, save_counter
    for path in saved.parent.glob(saved.name + ".*"):
        path.rename(prefix.parent / path.name.replace(saved.name, prefix.name, 1))
    (prefix.parent / "checkpoint").unlink(missing_ok=True)


class Patches(tf.Module):
    def __init__(self, rng):
        super().__init__()
        self.embedding = tf.Module()
        self.embedding.kernel = tf.Variable(filters(rng, (4, 4, 3, 8)))
        self.embedding.bias = tf.Variable(np.zeros(8, np.float32))

    @tf.function(input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32)])
    def __call__(self, images):
        return tf.nn.conv2d(images, self.embedding.kernel, 4, "VALID") + self.embedding.bias


def describe(prefix):
    """[{name, dtype, shape}] in index order as patchlens lists them: TF's own listing (sorted, slices of
    partitioned variables folded into their variable), names shown without /.ATTRIBUTES/VARIABLE_VALUE."""
    reader = tf.train.load_checkpoint(str(prefix))
    dtypes = reader.get_variable_to_dtype_map()
    shapes = reader.get_variable_to_shape_map()
    return [{"name": name.removesuffix(SUFFIX), "dtype": dtypes[name].name, "shape": list(shapes[name])}
            for name in sorted(shapes)]


def files_of(prefix):
    return sorted(p.name for p in prefix.parent.iterdir() if p.name.startswith(prefix.name + "."))


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    rng = np.random.default_rng(7)
    cpu = "/cpu:0"
    expected = {}

    def record(prefix, default, tiled, note, extra_files=()):
        files = files_of(prefix)
        index = f"{prefix.name}.index"
        reader = tf.train.load_checkpoint(str(prefix))
        items = []
        for k, name in enumerate(tiled):
            kernel = reader.get_tensor(name)
            dtype = kernel.dtype.name
            stem = index.replace(".", "_")
            np.save(OUT / f"{stem}.{k}.kernel.npy", kernel.view(np.uint16) if dtype == "bfloat16" else kernel)
            items.append({"tensor": name.removesuffix(SUFFIX), "kernel": f"{stem}.{k}.kernel.npy", "dtype": dtype})
        expected[index] = {"companions": [f for f in files if f != index] + list(extra_files),
                           "default_tensor": default, "tensors": describe(prefix), "tiled": items, "note": note}

    prefix = OUT / "tf1_f32"
    saver_checkpoint(prefix, {
        "embedding/kernel": (filters(rng, (4, 4, 3, 8)), tf.float32, cpu),
        "embedding/bias": (np.zeros(8, np.float32), tf.float32, cpu),
        "conv_root/kernel": (filters(rng, (7, 7, 3, 16)), tf.float32, cpu),
        "head/kernel": (rng.normal(0, 0.02, (8, 10)).astype(np.float32), tf.float32, cpu),
        "global_step": (np.int64(42), tf.int64, cpu),
    }, partitioned=("head/partitioned", rng.normal(0, 0.02, (6, 4)).astype(np.float32)))
    record(prefix, "embedding/kernel", ["embedding/kernel", "conv_root/kernel"],
           "tf.compat.v1.train.Saver, float32, a partitioned variable (2 slices) and an int64 step")

    prefix = OUT / "tf1_half"
    saver_checkpoint(prefix, {
        "embedding/kernel": (filters(rng, (4, 4, 3, 8), np.float16), tf.float16, cpu),
        "stem/conv/kernel": (filters(rng, (3, 3, 3, 4)), tf.bfloat16, cpu),
        "extra/kernel": (filters(rng, (2, 2, 3, 4), np.float64), tf.float64, cpu),
    })
    record(prefix, "embedding/kernel", ["embedding/kernel", "stem/conv/kernel", "extra/kernel"],
           "tf.compat.v1.train.Saver, float16, bfloat16 and float64 kernels")

    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)
    prefix = OUT / "tf1_sharded"
    saver_checkpoint(prefix, {
        "embedding/kernel": (filters(rng, (4, 4, 3, 8)), tf.float32, "/cpu:1"),
        "embedding/bias": (np.zeros(8, np.float32), tf.float32, "/cpu:1"),
        "head/kernel": (rng.normal(0, 0.02, (8, 10)).astype(np.float32), tf.float32, cpu),
    }, sharded=True)
    if len(files_of(prefix)) != 3:
        raise AssertionError(f"tf1_sharded: expected an index and 2 shards, got {files_of(prefix)}")
    record(prefix, "embedding/kernel", ["embedding/kernel"], "tf.compat.v1.train.Saver(sharded=True) on 2 CPUs")

    prefix = OUT / "tf2_keras"
    keras_checkpoint(prefix, rng)
    record(prefix, "model/layer_with_weights-0/kernel", ["model/layer_with_weights-0/kernel" + SUFFIX],
           "tf.train.Checkpoint.save of a tf_keras Sequential model with its (legacy) Adam slots")

    with tempfile.TemporaryDirectory() as tmp:
        tf.saved_model.save(Patches(rng), f"{tmp}/sm")
        for path in Path(tmp, "sm").rglob("*"):
            if path.is_file():
                shutil.copyfile(path, OUT / path.name)
        listed = sorted(p.name for p in Path(tmp, "sm").rglob("*") if p.is_file())
    record(OUT / "variables", "embedding/kernel", ["embedding/kernel" + SUFFIX],
           "tf.saved_model.save of a tf.Module (saved_model.pb, fingerprint.pb, variables/)",
           extra_files=[f for f in listed if not f.startswith("variables.")])
    for name, entry in expected.items():
        entry["format"] = "savedmodel" if name == "variables.index" else "tf-checkpoint"

    (OUT / "checkpoint").unlink(missing_ok=True)  # the Saver's state file, not part of a checkpoint
    check_writer(rng)
    (OUT / "expected.json").write_text(json.dumps({"files": expected}, indent=1) + "\n")
    write_seeds()
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{OUT}: {len(expected)} checkpoints, {total} bytes")


def check_writer(rng):
    """tf_bundle_writer.py must write what TF writes: a ViT-shaped tree and, for a multi-block index, 9000
    small variables (TF1 Saver orders the data file by name, as the writer is given it here)."""
    cases = {
        "vit": {f"Transformer/encoderblock_{i}/{part}": rng.normal(size=shape).astype(np.float32)
                for i in range(3) for part, shape in [("MlpBlock_3/Dense_0/kernel", (8, 16)),
                                                      ("LayerNorm_0/scale", (8,))]},
        "many": {f"layer_{i:05d}/weights_with_a_longer_name": np.full((2,), i, np.float32) for i in range(9000)},
    }
    cases["vit"].update({"embedding/kernel": filters(rng, (4, 4, 3, 8)), "cls": np.zeros((1, 1, 8), np.float32),
                         "scalar": np.float32(3)})
    with tempfile.TemporaryDirectory() as tmp:
        for case, arrays in cases.items():
            saver_checkpoint(Path(tmp, f"tf_{case}"), {n: (v, tf.float32, "/cpu:0") for n, v in arrays.items()})
            tf_bundle_writer.write_bundle(f"{tmp}/py_{case}", [
                (n, "float32", list(np.shape(arrays[n])), [np.asarray(arrays[n]).tobytes()]) for n in sorted(arrays)])
            for ext in ("index", "data-00000-of-00001"):
                real, ours = Path(tmp, f"tf_{case}.{ext}").read_bytes(), Path(tmp, f"py_{case}.{ext}").read_bytes()
                if real != ours:
                    at = next((i for i, (a, b) in enumerate(zip(real, ours)) if a != b), min(len(real), len(ours)))
                    raise AssertionError(f"tf_bundle_writer: {case}.{ext} differs from TF's at byte {at} "
                                         f"({len(ours)} vs {len(real)} bytes)")
        if Path(tmp, "tf_many.index").stat().st_size <= tf_bundle_writer.BLOCK_SIZE:
            raise AssertionError("the many-variable index should span several data blocks, but is "
                                 f"{Path(tmp, 'tf_many.index').stat().st_size} bytes")
    print("tf_bundle_writer: byte for byte equal to TensorFlow's files")


def write_seeds():
    """Fuzz seeds: each small index with its first data shard appended after a 4-byte length (see
    src/fuzzing.rs tf_bundle)."""
    if SEEDS.exists():
        shutil.rmtree(SEEDS)
    SEEDS.mkdir(parents=True)
    for index in sorted(OUT.glob("*.index")):
        shard = sorted(OUT.glob(index.stem + ".data-*"))[0]
        idx, data = index.read_bytes(), shard.read_bytes()
        (SEEDS / index.stem).write_bytes(len(idx).to_bytes(4, "little") + idx + data)
        (SEEDS / f"{index.stem}_index_only").write_bytes(len(idx).to_bytes(4, "little") + idx)


if __name__ == "__main__":
    main()
