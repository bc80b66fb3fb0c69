"""Writes the committed fuzz seeds of the `remote` target (src/fuzzing.rs::remote): text a user pastes or a
server sends (part 0), the hub's JSON (part 1), and small real-library checkpoints behind a scripted server
(part 2: a script length byte, the script, then the file), one honest and some with bent replies, so
libFuzzer starts inside the reply checks and the formats read over them.
Usage: seeds_remote.py — writes fuzz/seeds/remote/ from the other targets' committed seeds."""
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "fuzz" / "seeds"
CHECKPOINTS = ["checkpoint/bf16.npz", "checkpoint/safetensors-dinov2_f16.safetensors", "checkpoint/torch-legacy_f16.pt",
               "checkpoint/gguf-clip_f32.gguf", "checkpoint/onnx-cnn_typed.onnx", "checkpoint/views_vit.npz"]
# Script bytes (src/fuzzing.rs::ScriptedServer): low nibble 1 whole file, 2 a status, 3–6 a lying range,
# total or length, 7 no Content-Range, 8 no reply; 0x10 another ETag.
BENT = {"changed_etag": [0, 0x10], "short_body": [0, 6], "whole": [1], "no_range_header": [7, 7, 7], "dropped": [0, 8]}


def main():
    out = SEEDS / "remote"
    out.mkdir(parents=True, exist_ok=True)
    texts = ["bytes 0-499/1234", "bytes 5-5/*", "https://huggingface.co/google/vit-base-patch16-224",
             "https://huggingface.co/a/b/blob/main/sub/model.safetensors?download=true", "facebook/dinov2-small",
             "hf.co/timm/vit_base.augreg_in21k/tree/v1.0"]
    for i, text in enumerate(texts):
        (out / f"text_{i}").write_bytes(b"\x00" + text.encode())
    listing = {"id": "o/m", "siblings": [{"rfilename": "model.safetensors", "size": 346}, {"rfilename": "config.json"},
                                         {"rfilename": "onnx/model.onnx", "size": 12}]}
    index = {"metadata": {"total_size": 10}, "weight_map": {"a": "model-00002-of-00002.safetensors",
                                                            "b": "model-00001-of-00002.safetensors"}}
    (out / "json_listing").write_bytes(b"\x01" + json.dumps(listing).encode())
    (out / "json_index").write_bytes(b"\x01" + json.dumps(index).encode())
    for path in CHECKPOINTS:
        file = (SEEDS / path).read_bytes()
        name = Path(path).name
        (out / f"server_{name}").write_bytes(b"\x02\x00" + file)
    npz = (SEEDS / "checkpoint/bf16.npz").read_bytes()
    for label, script in BENT.items():
        (out / f"server_bent_{label}").write_bytes(b"\x02" + bytes([len(script)]) + bytes(script) + npz)


if __name__ == "__main__":
    main()
