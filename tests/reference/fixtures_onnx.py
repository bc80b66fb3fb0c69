"""ONNX fixtures for patchlens, written with the onnx package (helper / numpy_helper), checked with
onnx.checker and read back with onnx.load + numpy_helper.to_array for the manifest. Used by make_fixtures.py
(`build(outdir, big)`); `python fixtures_onnx.py --seeds DIR` writes the fuzz seed corpus (small valid models)."""
import shutil
import sys
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fixtures import filters, fixture_entry, weights  # noqa: E402

OPSET = 21


def oihw(rng, n, c, kh, kw, dtype=np.float32):
    """A PyTorch-layout (n, c, kh, kw) conv weight with weight-like filters."""
    return np.ascontiguousarray(filters(rng, (kh, kw, c, n), np.float64).transpose(3, 2, 0, 1)).astype(dtype)


def make_model(nodes, initializers, inputs, outputs, name="main_graph", **kw):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers, **kw)
    model = helper.make_model(graph, producer_name="patchlens-fixtures", producer_version="1.0",
                              opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return model


def value(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _walk_graph(graph, out):
    """Weights in the order patchlens lists them: file order, i.e. nodes (a Constant's `value`, named
    after its output; subgraphs where their node is) first, then initializers, then sparse ones."""
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                _walk_graph(sub, out)
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out.append((node.output[0], attr.t))
                elif attr.name == "sparse_value":
                    out.append((node.output[0], attr.sparse_tensor))
    out.extend((t.name, t) for t in graph.initializer)
    out.extend((t.values.name, t) for t in graph.sparse_initializer)
    return out


def describe(path, base_dir=None):
    """[{"name", "dtype", "shape"}] and {name: array} read back from the written file by onnx itself."""
    model = onnx.load(str(path), load_external_data=False)
    if base_dir is not None:
        onnx.external_data_helper.load_external_data_for_model(model, str(base_dir))
    tensors, arrays = [], {}
    for name, t in _walk_graph(model.graph, []):
        if isinstance(t, onnx.SparseTensorProto):
            continue  # listed by patchlens with a reason, never with an info: kept out of the manifest
        dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        tensors.append({"name": name, "dtype": dtype.name, "shape": list(t.dims)})
        if t.data_location != TensorProto.EXTERNAL or base_dir is not None:
            arrays[name] = numpy_helper.to_array(t)
    return tensors, arrays


def hwcn(array):
    """The notebook's view of a PyTorch-layout weight; float8 widened to float32 (exact) for tiles.py."""
    if array.dtype in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e5m2):
        array = array.astype(np.float32)
    return array.transpose(2, 3, 1, 0)


def entry(outdir, file, default, tiled, note, base_dir=None, **extra):
    tensors, arrays = describe(outdir / file, base_dir)
    return fixture_entry(outdir, file, default, tensors, [(n, hwcn(arrays[n])) for n in tiled], note, **extra)


# --- models ---

def vit_tiny(rng, width=32, patch=16, image=32):
    """ViT-like: Conv patch embedding (raw_data initializer), Reshape/Transpose, + pos_embed, one MatMul."""
    tokens = (image // patch) ** 2
    inits = [
        numpy_helper.from_array(weights(rng, (1, tokens, width)), "pos_embed"),
        numpy_helper.from_array(oihw(rng, width, 3, patch, patch), "patch_embed.proj.weight"),
        numpy_helper.from_array(weights(rng, (width,)), "patch_embed.proj.bias"),
        numpy_helper.from_array(np.array([1, width, tokens], np.int64), "onnx::Reshape_7"),
        numpy_helper.from_array(weights(rng, (width, 3 * width)), "onnx::MatMul_301"),
        numpy_helper.from_array(weights(rng, (3 * width,)), "blocks.0.attn.qkv.bias"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "patch_embed.proj.weight", "patch_embed.proj.bias"], ["/patch_embed/proj/Conv_output_0"],
                         kernel_shape=[patch, patch], strides=[patch, patch], name="/patch_embed/proj/Conv"),
        helper.make_node("Reshape", ["/patch_embed/proj/Conv_output_0", "onnx::Reshape_7"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
        helper.make_node("Add", ["t", "pos_embed"], ["a"]),
        helper.make_node("MatMul", ["a", "onnx::MatMul_301"], ["m"]),
        helper.make_node("Add", ["m", "blocks.0.attn.qkv.bias"], ["qkv"]),
    ]
    return make_model(nodes, inits, [value("x", TensorProto.FLOAT, [1, 3, image, image])],
                      [value("qkv", TensorProto.FLOAT, [1, tokens, 3 * width])])


def typed(name, array, data_type):
    """A tensor in its typed repeated field (float_data, int32_data bits, double_data), not raw_data."""
    return helper.make_tensor(name, data_type, array.shape, array, raw=False)


def cnn_typed(rng):
    """CNN-like, every weight in float_data; an If whose branches are Constant nodes (subgraphs)."""
    conv1, conv2 = oihw(rng, 16, 3, 7, 7), oihw(rng, 16, 16, 3, 3)
    inits = [typed("conv1.weight", conv1, TensorProto.FLOAT),
             typed("bn1.weight", weights(rng, (16,)), TensorProto.FLOAT),
             typed("layer1.0.conv1.weight", conv2, TensorProto.FLOAT)]
    branch = lambda tag, v: helper.make_graph(  # noqa: E731
        [helper.make_node("Constant", [], [f"{tag}_out"], value=numpy_helper.from_array(v, f"{tag}_value"))],
        f"{tag}_branch", [], [value(f"{tag}_out", TensorProto.FLOAT, [2])])
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight"], ["c1"], kernel_shape=[7, 7], pads=[3, 3, 3, 3]),
        helper.make_node("Mul", ["c1", "bn1.weight_4d"], ["b1"]),
        helper.make_node("Conv", ["b1", "layer1.0.conv1.weight"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("If", ["flag"], ["scale"], then_branch=branch("then", weights(rng, (2,))),
                         else_branch=branch("else", weights(rng, (2,)))),
        helper.make_node("Reshape", ["bn1.weight", "bn_shape"], ["bn1.weight_4d"]),
    ]
    # topological order: the Reshape feeding Mul comes first
    nodes = [nodes[4], nodes[0], nodes[1], nodes[2], nodes[3]]
    inits.append(numpy_helper.from_array(np.array([1, 16, 1, 1], np.int64), "bn_shape"))
    return make_model(nodes, inits, [value("x", TensorProto.FLOAT, [1, 3, 16, 16]), value("flag", TensorProto.BOOL, [])],
                      [value("c2", TensorProto.FLOAT, [1, 16, 16, 16]), value("scale", TensorProto.FLOAT, [2])])


def conv_model(weights_, dtype=TensorProto.FLOAT, cast=False):
    """x → Conv(first weight) [→ Conv(second weight)]; float8 weights are Cast to float first."""
    nodes, feeds = [], []
    for t in weights_:
        feed = t.name
        if cast:
            feed = t.name + "_f32"
            nodes.append(helper.make_node("Cast", [t.name], [feed], to=TensorProto.FLOAT))
        feeds.append((feed, t))
    elem = TensorProto.FLOAT if cast else dtype
    (feed, t) = feeds[0]
    nodes.append(helper.make_node("Conv", ["x", feed], ["y0"], kernel_shape=list(t.dims[2:])))
    out = [1, t.dims[0], 17 - t.dims[2], 17 - t.dims[3]]
    return make_model(nodes, list(weights_), [value("x", elem, [1, 3, 16, 16])], [value("y0", elem, out)])


def nan_at(array, index):
    array = array.copy()
    array[index] = np.nan
    return array


def constant_node(rng):
    kernel = oihw(rng, 16, 3, 8, 8)
    nodes = [
        helper.make_node("Constant", [], ["/patch_embed/proj/Constant_output_0"],
                         value=numpy_helper.from_array(kernel, "")),
        helper.make_node("Conv", ["x", "/patch_embed/proj/Constant_output_0", "patch_embed.proj.bias"], ["y"],
                         kernel_shape=[8, 8], strides=[8, 8]),
    ]
    inits = [numpy_helper.from_array(weights(rng, (16,)), "patch_embed.proj.bias")]
    return make_model(nodes, inits, [value("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                      [value("y", TensorProto.FLOAT, [1, 16, 2, 2])])


def sparse_only(rng):
    dense = oihw(rng, 4, 3, 3, 3)
    flat = dense.reshape(-1)
    idx = np.arange(0, flat.size, 5, dtype=np.int64)
    sparse = helper.make_sparse_tensor(numpy_helper.from_array(flat[idx], "stem.weight"),
                                       numpy_helper.from_array(idx, ""), list(dense.shape))
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [value("x", TensorProto.FLOAT, [1])], [value("y", TensorProto.FLOAT, [1])],
                              sparse_initializer=[sparse])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    return model


def save(model, path, **kw):
    onnx.save_model(model, str(path), **kw)
    return path


def save_external(model, path, location):
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=location, size_threshold=0)
    return path


def varint(v):
    out = bytearray()
    while True:
        byte, v = v & 0x7F, v >> 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


# --- the manifest ---

def build(outdir, big=False):
    rng = np.random.default_rng(500)
    fixtures, errors = [], []

    def add(file, model, default, tiled, note, **extra):
        save(model, outdir / file)
        fixtures.append(entry(outdir, file, default, tiled, note, **extra))

    add("vit_tiny.onnx", vit_tiny(rng), "patch_embed.proj.weight", ["patch_embed.proj.weight"],
        "ViT-like graph: Conv patch embedding (32, 3, 16, 16) as a raw_data initializer, Reshape/Transpose/MatMul; "
        "an int64 Reshape shape is listed, not drawn")
    add("cnn_typed.onnx", cnn_typed(rng), "conv1.weight", ["conv1.weight"],
        "CNN-like, every float weight in float_data (packed); an If whose branches hold Constant nodes")
    f16 = nan_at(oihw(rng, 24, 3, 8, 8, np.float16), (5, 1, 2, 3))
    add("f16_raw.onnx", conv_model([numpy_helper.from_array(f16, "conv1.weight")], TensorProto.FLOAT16),
        "conv1.weight", ["conv1.weight"], "float16 kernel (one NaN) in raw_data")
    add("f16_int32.onnx", conv_model([typed("conv1.weight", f16, TensorProto.FLOAT16)], TensorProto.FLOAT16),
        "conv1.weight", ["conv1.weight"], "the same float16 kernel as uint16 bits in int32_data")
    bf16 = [typed("conv1.weight", nan_at(oihw(rng, 24, 3, 8, 8, ml_dtypes.bfloat16), (0, 0, 0, 0)), TensorProto.BFLOAT16),
            numpy_helper.from_array(oihw(rng, 8, 3, 3, 3, ml_dtypes.bfloat16), "conv2.weight")]
    add("bf16.onnx", conv_model(bf16, cast=True), "conv1.weight", ["conv1.weight", "conv2.weight"],
        "bfloat16: conv1.weight (one NaN) as bits in int32_data, conv2.weight in raw_data")
    add("f64_typed.onnx", conv_model([typed("conv1.weight", oihw(rng, 12, 3, 5, 5, np.float64), TensorProto.DOUBLE)],
                                     TensorProto.DOUBLE),
        "conv1.weight", ["conv1.weight"], "float64 kernel in double_data, scaled in float64")
    f8 = [numpy_helper.from_array(oihw(rng, 16, 3, 4, 4, ml_dtypes.float8_e4m3fn), "conv1.weight"),
          numpy_helper.from_array(oihw(rng, 8, 3, 4, 4, ml_dtypes.float8_e5m2), "conv2.weight")]
    add("f8_raw.onnx", conv_model(f8, cast=True), "conv1.weight", ["conv1.weight", "conv2.weight"],
        "float8 e4m3fn and e5m2 kernels in raw_data, Cast to float before the Conv")
    add("constant_node.onnx", constant_node(rng), "/patch_embed/proj/Constant_output_0",
        ["/patch_embed/proj/Constant_output_0"],
        "the kernel is a Constant node's value (constant folding), named after the node's output")

    # External data: the data file beside the model; patchlens needs it given as a companion.
    external = vit_tiny(rng)
    save_external(external, outdir / "vit_external.onnx", "vit_external.onnx.data")
    fixtures.append(entry(outdir, "vit_external.onnx", "patch_embed.proj.weight", ["patch_embed.proj.weight"],
                          "the ViT-like model saved with save_as_external_data (one file, size_threshold=0)",
                          base_dir=outdir, companions=["vit_external.onnx.data"]))
    errors += broken(outdir, rng)
    if big:
        fixtures.append(build_big(outdir))
    return fixtures, errors


def broken(outdir, rng):
    errors = []

    def add(file, stage, reason, data=None):
        if data is not None:
            (outdir / file).write_bytes(data)
        errors.append({"file": file, "stage": stage, "reason": reason})

    shutil.copyfile(outdir / "vit_external.onnx", outdir / "vit_external_nodata.onnx")
    add("vit_external_nodata.onnx", "draw", "vit_external.onnx without its vit_external.onnx.data: lists, cannot draw")
    good = vit_tiny(rng).SerializeToString()
    add("onnx_truncated.onnx", "open", "vit_tiny cut at 60%, inside the graph", good[: len(good) * 6 // 10])
    # The kernel's raw_data length prefix made 1000 bytes longer (same varint width): past its TensorProto.
    kernel = numpy_helper.from_array(np.zeros((32, 3, 16, 16), np.float32)).raw_data
    prefix = b"\x4a" + varint(len(kernel))
    at = good.index(prefix)
    lying = good[:at] + b"\x4a" + varint(len(kernel) + 1000) + good[at + len(prefix):]
    add("onnx_lying_length.onnx", "open", "patch_embed.proj.weight's raw_data length prefix +1000", lying)
    model = vit_tiny(rng)
    model.graph.initializer[1].dims[0] = 64  # raw_data still holds 32 filters
    add("onnx_dims_mismatch.onnx", "draw", "patch_embed.proj.weight dims (64, 3, 16, 16), raw_data holds 32 filters",
        model.SerializeToString())
    model = vit_tiny(rng)
    kernel_tensor = model.graph.initializer[1]
    del model.graph.initializer[1]
    model.graph.initializer.append(kernel_tensor)  # the kernel last, so a cut lands in its raw_data
    data = model.SerializeToString()
    add("onnx_raw_past_end.onnx", "open", "kernel's raw_data (last in the file) runs 1000 bytes past the end",
        data[:-1000])
    save_external(vit_tiny(rng), outdir / "onnx_external_past_end.onnx", "onnx_external_past_end.onnx.data")
    data_file = outdir / "onnx_external_past_end.onnx.data"
    data_file.write_bytes(data_file.read_bytes()[:20000])
    add("onnx_external_past_end.onnx", "draw",
        "external data file cut to 20000 bytes: offsets past its end (no companion given here either)")
    # Loop bodies nested 10 000 deep around a real graph (hand-framed: protobuf refuses to nest that deep).
    graph = vit_tiny(rng).graph.SerializeToString()
    for _ in range(10_000):
        attribute = field(1, b"body") + field(6, graph)
        graph = field(1, field(4, b"Loop") + field(5, attribute))
    add("onnx_deep_nesting.onnx", "draw", "a graph nested 10 000 Loop bodies deep: skipped past depth 16, no weights",
        b"\x08\x08" + field(7, graph))
    save(sparse_only(rng), outdir / "onnx_sparse_only.onnx")
    add("onnx_sparse_only.onnx", "draw", "the only weight is a sparse_initializer: listed as not drawable")
    return errors


def build_big(outdir):
    """A ViT-S/16-shaped model (width 384, 12 blocks, timm names, raw_data float32, ~88 MB), fast fill."""
    width, mlp, blocks = 384, 1536, 12
    fill = np.linspace(-0.05, 0.05, 1 << 20, dtype=np.float32)

    def w(*shape):
        n = int(np.prod(shape))
        return np.resize(fill, n).reshape(shape)

    arrays = {"cls_token": w(1, 1, width), "pos_embed": w(1, 197, width),
              "patch_embed.proj.weight": w(width, 3, 16, 16), "patch_embed.proj.bias": w(width)}
    for i in range(blocks):
        p = f"blocks.{i}."
        arrays.update({p + "norm1.weight": w(width), p + "norm1.bias": w(width),
                       p + "attn.qkv.weight": w(3 * width, width), p + "attn.qkv.bias": w(3 * width),
                       p + "attn.proj.weight": w(width, width), p + "attn.proj.bias": w(width),
                       p + "norm2.weight": w(width), p + "norm2.bias": w(width),
                       p + "mlp.fc1.weight": w(mlp, width), p + "mlp.fc1.bias": w(mlp),
                       p + "mlp.fc2.weight": w(width, mlp), p + "mlp.fc2.bias": w(width)})
    arrays.update({"norm.weight": w(width), "norm.bias": w(width), "head.weight": w(1000, width), "head.bias": w(1000)})
    inits = [numpy_helper.from_array(a, n) for n, a in arrays.items()]
    nodes = [helper.make_node("Conv", ["x", "patch_embed.proj.weight", "patch_embed.proj.bias"], ["y"],
                              kernel_shape=[16, 16], strides=[16, 16])]
    graph = helper.make_graph(nodes, "main_graph", [value("x", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [value("y", TensorProto.FLOAT, [1, width, 14, 14])], inits)
    model = helper.make_model(graph, producer_name="patchlens-fixtures", opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(model)
    file = "vit_s16_big.onnx"
    save(model, outdir / file)
    tensors, _ = describe(outdir / file)
    return fixture_entry(outdir, file, "patch_embed.proj.weight", tensors, [],
                         "ViT-S/16-shaped ONNX (timm names, 12 blocks, raw_data float32, ~88 MB)", big=True,
                         kernel_bytes=width * 3 * 16 * 16 * 4, extra_budget=4 << 20)


def external_in_itself(model, path):
    """A model saved with external data named data.bin, then the data appended to the model itself as an
    unknown field (number 1000, which readers skip) with the offsets moved onto it: the fuzz target passes its
    input as the companion data.bin as well."""
    scratch = path.with_suffix(".scratch")
    scratch.mkdir(exist_ok=True)
    save_external(model, scratch / "m.onnx", "data.bin")
    data = (scratch / "data.bin").read_bytes()
    model = onnx.load(str(scratch / "m.onnx"), load_external_data=False)
    shutil.rmtree(scratch)
    entries = [e for t in model.graph.initializer for e in t.external_data if e.key == "offset"]
    offsets = [int(e.value) for e in entries]
    for e in entries:
        e.value = "0" * 12  # fixed width, so the model's length does not change when the real ones go in
    unknown = field(1000, data)
    head = len(model.SerializeToString()) + len(unknown) - len(data)
    for e, offset in zip(entries, offsets):
        e.value = str(head + offset).zfill(12)
    path.write_bytes(model.SerializeToString() + unknown)


def write_seeds(outdir):
    """Small valid models for the `onnx` fuzz target, each < 64 KiB."""
    outdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(900)
    save(vit_tiny(rng, width=8, patch=4, image=8), outdir / "vit_tiny.onnx")
    save(cnn_typed(rng), outdir / "cnn_typed.onnx")
    save(conv_model([typed("conv1.weight", oihw(rng, 4, 3, 3, 3, np.float16), TensorProto.FLOAT16)],
                    TensorProto.FLOAT16), outdir / "f16_int32.onnx")
    save(conv_model([typed("conv1.weight", oihw(rng, 4, 3, 3, 3, np.float64), TensorProto.DOUBLE)],
                    TensorProto.DOUBLE), outdir / "f64_typed.onnx")
    save(constant_node(rng), outdir / "constant_node.onnx")
    save(sparse_only(rng), outdir / "sparse.onnx")
    external_in_itself(vit_tiny(rng, width=8, patch=4, image=8), outdir / "external_data_bin.onnx")
    for path in outdir.iterdir():
        if path.stat().st_size >= 64 << 10:
            raise AssertionError(f"{path}: seed larger than 64 KiB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seeds"]:
        write_seeds(Path(sys.argv[2]))
    else:
        print(__doc__)
