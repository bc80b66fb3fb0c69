"""The widget's Python side: byte ranges served for the front end's read messages, settings synced both
ways, files closed with the widget, and one sentence when the front end was not built.
Run with the package installed (scripts/test-python.sh builds and installs the wheel; the front end comes from
scripts/build-widget.sh, which the wheel carries in patchlens/_static/)."""

import os
import pathlib
import sys

import pytest

pytest.importorskip("anywidget", reason="anywidget is not installed (pip install -r python/requirements.txt)")

REPO = pathlib.Path(__file__).resolve().parents[2]

import traitlets  # noqa: E402
from ipywidgets.widgets.widget import _remove_buffers  # noqa: E402

from patchlens._sources import RangeFile, files_of  # noqa: E402
from patchlens import widget as widget_module  # noqa: E402
from patchlens.widget import FrontEndMissing, Widget  # noqa: E402

FIXTURES = REPO / "tests" / "fixtures" / "generated"
NPZ = FIXTURES / "dinov2_vits14.npz"
STATIC = pathlib.Path(widget_module.__file__).parent / "_static"


@pytest.fixture(autouse=True)
def built_and_generated():
    for path, how in [(STATIC / "widget.js", "run `bash scripts/build-widget.sh`"), (NPZ, "generate the fixtures (scripts/test.sh)")]:
        if not path.exists():
            pytest.fail(f"{path} is missing: {how}.")


class RecordingComm:
    """Stands in for the kernel's comm: keeps what the widget sends to the front end."""

    kernel = object()
    comm_id = "recording"

    def __init__(self):
        self.sent = []

    def send(self, data=None, buffers=None, **_):
        self.sent.append((data, buffers))

    def close(self, *args, **kwargs):
        pass

    def on_msg(self, *_):
        pass


def with_comm(w):
    w.comm = RecordingComm()
    return w.comm


def custom(content, buffers=()):
    """A custom message from the front end, as the kernel hands it to the widget."""
    return {"content": {"data": {"method": "custom", "content": content}}, "buffers": list(buffers)}


def test_a_read_message_is_answered_with_exactly_those_bytes():
    w = Widget(NPZ)
    comm = with_comm(w)
    size = NPZ.stat().st_size
    ranges = [[0, 0, 4096], [0, size - 22, 22], [0, 123_456, 7]]
    w._handle_msg(custom({"type": "read", "id": "v1:3", "ranges": ranges}))
    (data, buffers), = comm.sent
    assert data == {"method": "custom", "content": {"type": "bytes", "id": "v1:3", "ok": True}}
    whole = NPZ.read_bytes()
    assert [bytes(b) for b in buffers] == [whole[o:o + n] for _, o, n in ranges]
    assert whole[:2] == b"PK" and bytes(buffers[1])[:4] == b"PK\x05\x06"  # the zip's end record, at the end
    assert w.bytes_served == 4096 + 22 + 7
    w.close()


def test_a_bad_read_is_a_sentence_not_an_exception():
    w = Widget(NPZ)
    comm = with_comm(w)
    size = NPZ.stat().st_size
    w._handle_msg(custom({"type": "read", "id": 1, "ranges": [[0, size - 10, 20]]}))
    w._handle_msg(custom({"type": "read", "id": 2, "ranges": [[5, 0, 1]]}))
    replies = [data["content"] for data, _ in comm.sent]
    assert replies == [
        {"type": "bytes", "id": 1, "ok": False, "message": f"The range {size - 10}+20 is outside dinov2_vits14.npz ({size} bytes)."},
        {"type": "bytes", "id": 2, "ok": False, "message": "There is no file 5 in this widget."},
    ]
    assert all(buffers == [] for _, buffers in comm.sent)
    w._handle_msg(custom({"type": "something else"}))  # not ours: ignored
    assert len(comm.sent) == 2
    w.close()


def test_several_paths_are_one_checkpoint_and_each_source_its_own():
    shards = sorted(FIXTURES.glob("model-0000?-of-00003.safetensors"))
    assert len(shards) == 3
    w = Widget(NPZ, [str(p) for p in shards])
    assert [f["checkpoint"] for f in w.files] == [0] + [1] * len(shards)
    assert w.files[0] == {"checkpoint": 0, "name": "dinov2_vits14.npz", "size": NPZ.stat().st_size}
    assert w.tensor == [None, None]
    comm = with_comm(w)
    last = len(w.files) - 1
    w._handle_msg(custom({"type": "read", "id": 7, "ranges": [[last, 0, 8]]}))
    assert bytes(comm.sent[0][1][0]) == shards[-1].read_bytes()[:8]
    w.close()


def test_settings_set_in_python_reach_the_front_end_and_the_panels_come_back():
    w = Widget(NPZ, count=64)
    comm = with_comm(w)
    w.view = "pca"
    w.count = 32
    updates = [data for data, _ in comm.sent if data["method"] == "update"]
    assert [u["state"] for u in updates] == [{"view": "pca"}, {"count": 32}]
    # What the panel sets arrives as an update message.
    w._handle_msg({"content": {"data": {"method": "update", "state": {"view": "positions", "zoom": 6, "channels": True,
                                                                     "selected": {"checkpoint": 0, "filter": 3}}, "buffer_paths": []}},
                   "buffers": []})
    assert (w.view, w.zoom, w.channels, w.selected) == ("positions", 6, True, {"checkpoint": 0, "filter": 3})
    with pytest.raises(traitlets.TraitError):
        w.view = "histogram"
    with pytest.raises(traitlets.TraitError):
        w.count = 0
    with pytest.raises(traitlets.TraitError, match="one per checkpoint"):
        w.tensor = ["a", "b"]
    w.tensor = ["embedding/kernel"]
    with pytest.raises(traitlets.TraitError, match="The difference view needs two checkpoints; this widget shows 1."):
        w.view = "difference"
    w.close()
    pair = Widget(FIXTURES / "compare_a.npz", FIXTURES / "compare_b.npz", view="difference")
    assert pair.view == "difference"
    pair.close()


def test_the_wasm_module_is_sent_as_a_binary_buffer():
    w = Widget(NPZ)
    state, buffer_paths, buffers = _remove_buffers(w.get_state())
    assert ["_module"] in buffer_paths
    assert bytes(buffers[buffer_paths.index(["_module"])]) == (STATIC / "patchlens_bg.wasm").read_bytes()
    assert state["_esm"] == (STATIC / "widget.js").read_text(encoding="utf-8")
    assert set(state) >= {"files", "view", "normalize", "channels", "order", "count", "columns", "zoom", "gap",
                          "components", "mode", "tensor", "selected", "hovered"}
    w.close()


def test_close_closes_the_files():
    w = Widget(NPZ)
    (file,) = w._sources[0]
    w.close()
    assert file._fd is None
    reply, buffers = w.serve({"type": "read", "id": 1, "ranges": [[0, 0, 4]]})
    assert reply["ok"] is False and reply["message"] == "dinov2_vits14.npz is closed (the widget was closed)."


def test_a_missing_front_end_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(widget_module, "_STATIC", tmp_path)
    with pytest.raises(FrontEndMissing) as raised:
        Widget(NPZ)
    assert str(raised.value) == "The widget's front end was not built; run `bash scripts/build-widget.sh`."


def test_bad_sources_are_sentences():
    with pytest.raises(TypeError, match="at least one checkpoint"):
        Widget()
    with pytest.raises(OSError, match="Could not open .*no-such.npz"):
        Widget(FIXTURES / "no-such.npz")
    with pytest.raises(TypeError, match="Widget has no option 'colour'; the options are view, normalize"):
        Widget(NPZ, colour="red")
    with pytest.raises(traitlets.TraitError, match="The difference view needs two checkpoints; this widget shows 1."):
        Widget(NPZ, view="difference")
    with pytest.raises(traitlets.TraitError, match="zoom must be at least 1, not 0."):
        Widget(NPZ, zoom=0)
    with pytest.raises(TypeError, match="not int"):
        files_of(3)


def test_range_file_reads_by_offset():
    f = RangeFile(NPZ)
    assert (f.name, f.size) == ("dinov2_vits14.npz", os.path.getsize(NPZ))
    assert f.read(10, 5) == NPZ.read_bytes()[10:15]
    assert f.read(f.size, 0) == b""
    f.close()


def test_a_folder_and_an_index_bring_their_files_as_open_finds_them(tmp_path):
    import shutil

    for name in ["model.safetensors.index.json"] + [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]:
        shutil.copy(FIXTURES / name, tmp_path / name)
    (tmp_path / "README.md").write_text("not a checkpoint")
    by_index = files_of(tmp_path / "model.safetensors.index.json")
    assert [f.name for f in by_index] == ["model.safetensors.index.json"] + [
        f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    by_folder = files_of(tmp_path)
    assert sorted(f.name for f in by_folder) == sorted([f.name for f in by_index] + ["README.md"])
    for file in by_index + by_folder:
        file.close()


def test_an_object_in_memory_is_served_as_a_safetensors_file():
    import numpy as np

    import patchlens

    kernel = np.load(NPZ)["embedding/kernel"]
    (file,) = files_of({"embedding": {"kernel": kernel}})
    assert file.name == "dict of 1 entry (in memory).safetensors"
    assert patchlens.grid(file.read(0, file.size)).png() == patchlens.grid(NPZ).png()
