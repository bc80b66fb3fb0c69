"""Shared by the Python package's tests: the fixtures real libraries wrote (tests/fixtures/generated, made by
tests/reference/make_fixtures.py) and the Rust CLI, whose PNG every grid must equal byte for byte."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(os.environ.get("PATCHLENS_FIXTURES", ROOT / "tests" / "fixtures" / "generated"))
CLI = Path(os.environ.get("PATCHLENS_CLI", ROOT / "target" / "debug" / "patchlens"))
SAMPLE = ROOT / "www" / "samples" / "dinov2-vits14-patch-embed.npz"


def manifest() -> dict:
    path = FIXTURES / "manifest.json"
    if not path.exists():
        pytest.fail(f"{path} is missing: run tests/reference/make_fixtures.py {FIXTURES} --big (npm test does)")
    return json.loads(path.read_text())


def fixture_files(fixture: dict) -> List[str]:
    return [str(FIXTURES / fixture["file"])] + [str(FIXTURES / c) for c in fixture.get("companions", [])]


def cli(*args: str, tmp: Path, name: str = "cli.png") -> Tuple[Optional[bytes], str]:
    """Runs `patchlens render ARGS -o tmp/name`: the PNG's bytes (None when it failed) and what it said."""
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: cargo build --features cli,http --bin patchlens (npm test does)")
    out = tmp / name
    done = subprocess.run([str(CLI), "render", *args, "-o", str(out)], capture_output=True, text=True)
    return (out.read_bytes() if done.returncode == 0 else None), done.stderr.strip()


def cli_sentence(stderr: str) -> str:
    """The sentence of a CLI failure, without its `patchlens: LABEL: ` prefix (a label has no spaces)."""
    first = stderr.splitlines()[0].removeprefix("patchlens: ")
    label, _, rest = first.partition(": ")
    return rest if rest and " " not in label else first
