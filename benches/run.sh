#!/usr/bin/env bash
# The big-file benchmark (not a test): writes AugReg-shaped B/16 (≈346 MB) and L/16 (≈1.2 GB) .npz
# checkpoints, a DINO ViT-B/16 .pth (343 MB) and a Hugging Face ViT-L/16 .safetensors (1.2 GB) into
# benches/data/, then, in one run, times the reference Python pipeline on them and drops each into the
# page in headless Chromium. The .pth reference needs torch: set TORCH_PYTHON to a Python that has it
# (and numpy, scikit-learn); without it that row is skipped. Then, for each view of the page (filters with each
# scaling and order, R G B apart, principal components, position cosine and P·Pᵀ) on the two AugReg files, the
# reference Python's time for that view beside the page's drop → pixels with that view chosen.
# Then every other format's big file dropped after the sample, each file's reads replayed alone in the browser (the
# floor under its time: benches/read_floor.mjs), a first visit's time to the sample, and the modules' sizes by part
# (benches/fresh.mjs, benches/size.sh).
# Last, URL mode over a slow network (benches/url.mjs, benches/npz_url.mjs): each big file opened by URL from the test host with 50 ms
# before every response and 100 Mbit/s, beside downloading the whole file at the same latency and bandwidth.
# Last of all, the Python package in a notebook (benches/python_notebook.py) beside the reference notebook's cell.
# Usage: bash benches/run.sh [--runs N]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=7
[[ "${1:-}" == "--runs" ]] && runs="$2"

bash scripts/setup.sh --browser
PY="$(bash scripts/python-env.sh)"
bash scripts/build.sh
mkdir -p benches/data
for variant in B/16 L/16; do
    file="benches/data/augreg_$(echo "$variant" | tr -d / | tr A-Z a-z).npz"
    [[ -s "$file" ]] || "$PY" benches/augreg.py "$file" --variant "$variant"
done
"$PY" benches/formats.py benches/data
files=(benches/data/augreg_b16.npz benches/data/augreg_l16.npz benches/data/dino_vitb16.pth
       benches/data/hf_vit_l16.safetensors)
# Every other format's big file, ViT-B/16-sized kernels, written by the tests' own writers (make_fixtures.py --big).
fixtures=benches/data/fixtures
[[ -s "$fixtures/manifest.json" && -s "$fixtures/hdf5_big_gzip.h5" ]] || "$PY" tests/reference/make_fixtures.py "$fixtures" --big >/dev/null
others=("$fixtures"/hdf5_big_contiguous.h5 "$fixtures"/hdf5_big_gzip.h5 "$fixtures"/tf_model_vit_b16.h5
        "$fixtures"/keras3_big.keras "$fixtures"/augreg_b16_tf.index+"$fixtures"/augreg_b16_tf.data-00000-of-00001 "$fixtures"/vit_patch_big.tflite
        "$fixtures"/augreg_b16.msgpack "$fixtures"/detectron2_vitdet_big.pkl "$fixtures"/vit_s16_big.onnx)
[[ -s benches/data/vit_b16_big.gguf ]] || "$PY" benches/formats.py benches/data --gguf
others+=(benches/data/vit_b16_big.gguf)

echo "## Reference pipeline (numpy / torch / safetensors + scikit-learn, $runs runs each, median)"
echo
"$PY" benches/reference.py --runs "$runs" --markdown --json-out benches/data/reference.jsonl \
    ${TORCH_PYTHON:+--torch-python "$TORCH_PYTHON"} "${files[@]}"
echo
echo "## patchlens in headless Chromium (drop → pixels, $runs runs each, median)"
echo
echo "Dropped on a fresh page (the module's first work; its code is not yet optimised by V8):"
echo
node benches/drop.mjs --runs "$runs" "${files[@]}"
echo
echo "Dropped after the page has drawn its sample and sat idle for a second, as a user sees it:"
echo
node benches/drop.mjs --runs "$runs" --after-sample --reference benches/data/reference.jsonl "${files[@]}"
echo
echo "Every other format, dropped after the sample (the tests' big files):"
echo
node benches/drop.mjs --runs "$runs" --after-sample --reference benches/data/reference.jsonl "${others[@]}"
echo
echo "## The browser's floor: each file's reads alone (examples/reads, replayed through FileReaderSync in Chromium)"
echo
cargo build --release --example reads
node benches/read_floor.mjs --runs "$runs" --reference benches/data/reference.jsonl "${files[@]}" "${others[@]}"
echo
echo "## A first visit: the sample drawn on a page opened with an empty cache ($runs runs, median)"
echo
node benches/fresh.mjs --runs "$runs"
echo
echo "## The modules"
echo
bash benches/size.sh
echo
echo "## Each view: reference Python (one BLAS thread) beside the page (drop → pixels after the sample, $runs runs each, median)"
echo
augreg=(benches/data/augreg_b16.npz benches/data/augreg_l16.npz)
"$PY" benches/reference_views.py --runs "$runs" "${augreg[@]}" > benches/data/reference_views.jsonl
node benches/views.mjs --runs "$runs" --reference benches/data/reference_views.jsonl "${augreg[@]}"
echo
echo "## URL mode over a slow network: URL → pixels beside downloading the whole file (50 ms per response, 100 Mbit/s)"
echo
node benches/url.mjs --runs 3 --delay 50 --rate 12500000 benches/data/augreg_b16.npz benches/data/dino_vitb16.pth \
    benches/data/hf_vit_l16.safetensors
echo
echo "## An .npz by URL with its tensor list: the page and the CLI, from an nginx-like and an S3-like host (50 ms per response, 100 Mbit/s)"
echo
cargo build --release --features cli,http --bin patchlens
node benches/npz_url.mjs --build page=www --cli cli=target/release/patchlens --runs 3 benches/data/augreg_b16.npz \
    benches/data/augreg_l16.npz
echo
echo "## In a notebook: patchlens.grid / patchlens.plot beside the reference notebook's cell ($runs fresh processes each, median)"
echo
# The wheel, built and installed as npm test does (maturin, release).
"$PY" -m maturin build --release --manifest-path python/Cargo.toml --out target/wheels --interpreter "$PY" >&2
"$PY" -m pip install --disable-pip-version-check --quiet --force-reinstall --no-deps "$(ls -t target/wheels/patchlens-*.whl | head -1)"
"$PY" benches/python_notebook.py --runs "$runs" --markdown benches/data/augreg_b16.npz benches/data/augreg_l16.npz
