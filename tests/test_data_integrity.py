"""The shipped data matches its manifests; a damaged or missing data file is named in a clean exit 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from costmodel.paths import data_dir
from costmodel.tables import read_manifest, verify_folder

ROOT = Path(__file__).resolve().parents[1]
TABLE = Path("perf/h200_sxm/trtllm/1.3.0rc20/gemm.csv.gz")  # read by every solve of the Qwen example


def test_every_shipped_table_matches_its_manifest():
    manifests = sorted((data_dir() / "perf").rglob("manifest.json"))
    assert len(manifests) >= 6
    checked = 0
    for m in manifests:
        names = verify_folder(m.parent)
        listed = {e["file"] for e in read_manifest(m.parent)["tables"].values()}
        assert names and set(names) == set(read_manifest(m.parent)["tables"])
        assert {p.name for p in m.parent.glob("*.csv.gz")} == listed, f"{m.parent}: files not in the manifest"
        checked += len(names)
    assert checked > 100


@pytest.fixture
def data_copy(tmp_path):
    """A private copy of the data folder, and an environment that reads it with an empty parse cache."""
    copy = tmp_path / "data"
    shutil.copytree(data_dir(), copy)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AICSOLVE_DATA": str(copy), "AICSOLVE_CACHE": str(tmp_path / "c")}
    return copy, env


def _aicsolve(env: dict, *args: str) -> subprocess.CompletedProcess:
    # A separate process: data_dir() and load_table are cached per process.
    return subprocess.run([sys.executable, "-m", "solver.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _assert_names(proc: subprocess.CompletedProcess, path: Path, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: data file {path}") and "internal error" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and all(w in proc.stderr for w in words), proc.stderr


def test_truncated_table(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    f.write_bytes(f.read_bytes()[:20_000])
    _assert_names(_aicsolve(env, "specs/qwen3-32b_h200x32.yaml"), f, "unreadable", "reinstall")
    _assert_names(_aicsolve(env, "data", "verify"), f, "does not match its manifest checksum")


def test_bit_flipped_table(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    raw = bytearray(f.read_bytes())
    raw[100:200] = bytes(b ^ 0xFF for b in raw[100:200])
    f.write_bytes(bytes(raw))
    _assert_names(_aicsolve(env, "specs/qwen3-32b_h200x32.yaml"), f, "unreadable")


def test_missing_table(data_copy):
    copy, env = data_copy
    (copy / TABLE).unlink()
    _assert_names(_aicsolve(env, "data", "verify"), copy / TABLE, "listed in the manifest is missing")
    proc = _aicsolve(env, "specs/qwen3-32b_h200x32.yaml")
    assert proc.returncode == 2 and "gemm" in proc.stderr and "internal error" not in proc.stderr, proc.stderr


def test_broken_manifest(data_copy):
    copy, env = data_copy
    m = copy / TABLE.parent / "manifest.json"
    m.write_text(json.dumps({"tables": "nope"}))
    _assert_names(_aicsolve(env, "data", "verify"), m, "has no 'tables' mapping")
    m.write_text("{not json")
    _assert_names(_aicsolve(env, "data", "verify"), m, "unreadable")
