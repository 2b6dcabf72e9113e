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
    return subprocess.run(
        [sys.executable, "-m", "solver.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _assert_names(proc: subprocess.CompletedProcess, path: Path, *words: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: data file {path}") and "internal error" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and all(w in proc.stderr for w in words), proc.stderr


def test_truncated_table(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    f.write_bytes(f.read_bytes()[:20_000])
    # Loading checks the manifest checksum too (as data verify does), before gzip could find the damage.
    _assert_names(
        _aicsolve(env, "specs/qwen3-32b_h200x32.yaml"), f, "does not match its manifest checksum", "reinstall"
    )
    _assert_names(_aicsolve(env, "data", "verify"), f, "does not match its manifest checksum")


def test_bit_flipped_table(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    raw = bytearray(f.read_bytes())
    raw[100:200] = bytes(b ^ 0xFF for b in raw[100:200])
    f.write_bytes(bytes(raw))
    _assert_names(_aicsolve(env, "specs/qwen3-32b_h200x32.yaml"), f, "does not match its manifest checksum")


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


QWEN = "specs/qwen3-32b_h200x32.yaml"


def _ok_or_infeasible(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode in (0, 1) and "error" not in proc.stderr, proc.stderr


def test_missing_manifest_and_missing_perf(data_copy):
    copy, env = data_copy
    m = copy / TABLE.parent / "manifest.json"
    m.unlink()
    _assert_names(_aicsolve(env, "data", "verify"), m, "is missing")
    proc = _aicsolve(env, QWEN)
    assert proc.returncode == 2 and f"no manifest.json in {m.parent}" in proc.stderr, proc.stderr
    shutil.rmtree(copy / "perf")
    proc = _aicsolve(env, "data", "verify")
    assert proc.returncode == 2 and f"data folder {copy / 'perf'} is missing" in proc.stderr, proc.stderr


def test_a_data_file_replaced_by_a_folder(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    f.unlink()
    f.mkdir()
    _assert_names(_aicsolve(env, "data", "verify"), f, "is a folder")
    _assert_names(_aicsolve(env, QWEN), f, "is a folder")


@pytest.mark.parametrize(
    "damage,words",
    [
        (lambda t: t.replace("gpus_per_node: 8", "gpus_per_node: [8"), ["is unreadable"]),
        (lambda t: t.replace("mem_bytes: 151397597184", "mem_bytes: -1"), ["'gpu.mem_bytes'"]),
        (lambda t: t.replace("nccl_version: 2.26.2\n", ""), ["'nccl_version'"]),
        (lambda t: "- just a list\n", ["'name'"]),
    ],
)
def test_a_damaged_system_file(data_copy, damage, words):
    copy, env = data_copy
    f = copy / "systems" / "h200_sxm.yaml"
    f.write_text(damage(f.read_text()))
    _assert_names(_aicsolve(env, QWEN), f, *words)
    _assert_names(_aicsolve(env, "data", "verify"), f, *words)


def test_one_bad_model_file_breaks_only_itself(data_copy):
    copy, env = data_copy
    other = copy / "models" / "llama-3.1-8b.json"  # not the model the Qwen spec solves
    doc = json.loads(other.read_text())
    del doc["hf_id"]
    other.write_text(json.dumps(doc))
    bad = copy / "models" / "mixtral-8x7b.json"
    doc = json.loads(bad.read_text())
    doc["config"]["hidden_size"] = -4096
    bad.write_text(json.dumps(doc))
    (copy / "models" / "zz-not-json.json").write_text("{")
    _ok_or_infeasible(_aicsolve(env, QWEN, "--set", "modes=[agg]", "--time-limit", "2"))
    proc = _aicsolve(env, "models")
    assert proc.returncode == 0 and "Qwen/Qwen3-32B" in proc.stdout and "meta-llama/Llama-3.1-8B" not in proc.stdout
    assert (
        f"note: skipped {other}: a model file holds" in proc.stderr
        and "zz-not-json.json: not valid JSON" in proc.stderr
    ), proc.stderr
    proc = _aicsolve(env, QWEN, "--set", "model=mistralai/Mixtral-8x7B-v0.1")
    assert proc.returncode == 2 and f"{bad}: field 'hidden_size'" in proc.stderr, proc.stderr
    _assert_names(_aicsolve(env, "data", "verify"), other, "no hf_id")


def _rewrite_table(copy: Path, transform) -> Path:
    """Rewrite the gemm table's latencies and (so that only the values are wrong) its manifest checksum."""
    import gzip
    import hashlib

    f = copy / TABLE
    head, *rows = gzip.decompress(f.read_bytes()).decode().rstrip("\n").split("\n")
    col = head.split(",").index("latency_ms")
    rows = [",".join(transform(v) if i == col else v for i, v in enumerate(r.split(","))) for r in rows]
    f.write_bytes(gzip.compress(("\n".join([head, *rows]) + "\n").encode()))
    m = f.parent / "manifest.json"
    doc = json.loads(m.read_text())
    doc["tables"]["gemm"]["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    m.write_text(json.dumps(doc))
    return f


@pytest.mark.parametrize("value", ["nan", "-1.5"])
def test_nan_or_negative_latencies_are_refused_on_load(data_copy, value):
    copy, env = data_copy
    f = _rewrite_table(copy, lambda v: value)
    _assert_names(_aicsolve(env, QWEN), f, "column latency_ms holds values that are not finite latencies")


def test_scaled_latencies_without_a_new_checksum_are_refused_on_load(data_copy):
    copy, env = data_copy
    f = copy / TABLE
    m = (f.parent / "manifest.json").read_text()
    _rewrite_table(copy, lambda v: str(float(v) * 2))
    (f.parent / "manifest.json").write_text(m)  # the old checksum: what data verify would also refuse
    _assert_names(_aicsolve(env, QWEN), f, "does not match its manifest checksum")
    _assert_names(_aicsolve(env, "data", "verify"), f, "does not match its manifest checksum")


def test_the_parse_cache_is_keyed_by_content_and_bounded(tmp_path, monkeypatch):
    from costmodel import tables

    monkeypatch.setenv("AICSOLVE_CACHE", str(tmp_path / "cache"))
    legacy = tmp_path / "cache" / ("ab" * 20 + ".npz")  # the old layout: one file per path and mtime
    legacy.parent.mkdir()
    legacy.write_bytes(b"x" * 10)
    os.utime(legacy, (0, 0))  # removed once a day old
    src = data_dir() / TABLE
    for copy in ("one", "two"):  # the same bytes in two installs: one cache entry
        (tmp_path / copy / TABLE.parent).mkdir(parents=True)
        shutil.copy(src, tmp_path / copy / TABLE)
        shutil.copy(src.parent / "manifest.json", tmp_path / copy / TABLE.parent / "manifest.json")
        t = tables.load_table.__wrapped__(tmp_path / copy / TABLE)
        assert len(t) > 0
    entries = list(tables.cache_dir().glob("*.npz"))
    assert len(entries) == 1 and entries[0].name.startswith(tables._manifest_entry(src.parent, src.name)["sha256"])
    assert not legacy.exists()
    for i in range(3):  # bounded: the least recently used go first
        p = tables.cache_dir() / f"{i:064x}-v1.npz"
        p.write_bytes(b"y" * 1000)
        os.utime(p, (i, i))
    size = entries[0].stat().st_size
    assert tables.prune_cache(size + 1500) == 2000
    assert sorted(p.name[:4] for p in tables.cache_dir().glob("*.npz")) == ["0000", entries[0].name[:4]]


def _moe_table(system: str, backend: str) -> dict[tuple, tuple] | None:
    import csv
    import gzip

    from costmodel.engines import engine_rules

    path = data_dir() / "perf" / system / backend / engine_rules(backend).version / "moe.csv.gz"
    if not path.exists():
        return None
    with gzip.open(path, "rt") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    k, v = head.index("kernel"), head.index("latency_ms")
    return {tuple(r[:k]): (r[k], (float(r[v]),)) for r in rows[1:]}


@pytest.mark.parametrize("backend", ["trtllm", "vllm", "sglang"])
@pytest.mark.parametrize("system", ["b200_sxm", "gb200", "b300_sxm", "gb300"])
def test_no_shipped_moe_cell_runs_far_slower_than_on_its_twin_system(system, backend):
    """The importer's twin check holds in the shipped data: no MoE kernel cell is TWIN_OUTLIER times slower than the
    same cell on the system built on the same GPU die, beyond the two systems' systematic ratio (sources.TWIN_SYSTEMS).
    b200 TRT-LLM's CUTLASS NVFP4 rows carried such cells (DeepSeek's experts at EP 8: 1.8x gb200's)."""
    from costmodel.importer.convert import mend_outliers
    from costmodel.importer.sources import TWIN_SYSTEMS

    own, twin = _moe_table(system, backend), _moe_table(TWIN_SYSTEMS[system], backend)
    if own is None or twin is None:
        pytest.skip("no MoE table on one of the twins")
    mended, ratio = mend_outliers(dict(own), twin)
    assert mended == 0 and 0.8 < ratio < 1.25
