"""The op database on the shipped data: exact at measured rows, monotone, never under the roofline."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.opdb import MissingDataError, OpDB, open_db
from costmodel.tables import verify_folder

CASES = [
    ("h200_sxm", "trtllm", "1.3.0rc20"),
    ("h100_sxm", "vllm", "0.24.0"),
    ("b200_sxm", "sglang", "0.5.14"),
    ("gb200", "trtllm", "1.3.0rc20"),
]


@pytest.fixture(scope="module", params=CASES, ids=lambda c: "-".join(c))
def db(request) -> OpDB:
    return open_db(*request.param)


def _sample(db: OpDB, table: str, n: int = 400, seed: int = 0):
    t = db.table(table)
    idx = np.random.default_rng(seed).choice(len(t), size=min(n, len(t)), replace=False)
    return {k: v[idx] for k, v in t.columns.items()}


def test_manifests_match(db):
    assert "gemm" in verify_folder(db.folder)


def test_gemm_exact_at_measured_points(db):
    """Measured points read back exactly (a host-bound dtype's rows through their twin: costmodel.plausibility)."""
    from costmodel.plausibility import twin_latency

    rows = _sample(db, "gemm")
    cols = db.table("gemm").columns
    for dt in np.unique(rows["dtype"]):
        sel = rows["dtype"] == dt
        got = db.latency_ms("gemm", rows["m"][sel], rows["n"][sel], rows["k"][sel], dtype=str(dt))
        floor = db.floor_ms("gemm", rows["m"][sel], rows["n"][sel], rows["k"][sel], dtype=str(dt))
        mine = cols["dtype"] == dt
        read = dict(zip(zip(cols["m"][mine], cols["n"][mine], cols["k"][mine]), twin_latency(cols, mine, str(dt))))
        want = np.array([read[x] for x in zip(rows["m"][sel], rows["n"][sel], rows["k"][sel])])
        assert np.all(want <= rows["latency_ms"][sel])
        np.testing.assert_allclose(got, np.maximum(want, floor), rtol=1e-9)


def test_attention_exact_at_measured_points(db):
    rows = _sample(db, "generation_attention", seed=1)
    cats = ("attn_dtype", "kv_dtype", "window", "head_dim")
    for i in range(0, len(rows["batch"]), 7):
        c = {k: rows[k][i] for k in cats}
        got = db.latency_ms(
            "generation_attention", rows["heads"][i], rows["kv_heads"][i], rows["batch"][i], rows["step"][i], **c
        )
        floor = db.floor_ms(
            "generation_attention", rows["heads"][i], rows["kv_heads"][i], rows["batch"][i], rows["step"][i], **c
        )
        assert got == pytest.approx(max(rows["latency_ms"][i], floor), rel=1e-9)


def test_between_neighbours_and_monotone_in_size(db):
    m = np.arange(1, 32769)
    lat = db.latency_ms("gemm", m, 8192, 8192, dtype="bfloat16")
    # every interpolated value lies between the measured values around it
    t = db.table("gemm").columns
    sel = (t["dtype"] == "bfloat16") & (t["n"] == 8192) & (t["k"] == 8192)
    mm, vv = t["m"][sel], t["latency_ms"][sel]
    order = np.argsort(mm)
    mm, vv = mm[order], vv[order]
    for a, b, va, vb in zip(mm[:-1], mm[1:], vv[:-1], vv[1:]):
        seg = lat[(m > a) & (m < b)]
        assert np.all(seg >= min(va, vb) * (1 - 1e-9)) and np.all(seg <= max(va, vb) * (1 + 1e-9))
    # large GEMMs grow with m (tiny ones are launch-bound and may wobble within measurement noise)
    big = lat[m >= 1024]
    assert np.all(np.diff(big) >= -1e-9 * big[1:]) or np.corrcoef(np.arange(len(big)), big)[0, 1] > 0.99


def test_extrapolation_never_beats_the_roofline(db):
    m = np.array([65536, 131072, 1 << 20])
    for dt in ("bfloat16", "fp8"):
        lat = db.latency_ms("gemm", m, 16384, 16384, dtype=dt)
        assert np.all(lat >= db.floor_ms("gemm", m, 16384, 16384, dtype=dt))
        assert np.all(np.diff(lat) > 0)
    c = dict(attn_dtype="bfloat16", kv_dtype="bfloat16", window=0, head_dim=128)
    steps = np.array([1 << 17, 1 << 18, 1 << 20])
    g = db.latency_ms("generation_attention", 8, 1, 4096, steps, **c)
    assert np.all(g >= db.floor_ms("generation_attention", 8, 1, 4096, steps, **c)) and np.all(np.diff(g) > 0)


def test_missing_dtype_names_what_exists():
    db = open_db("h100_sxm", "trtllm", "1.3.0rc20")
    with pytest.raises(MissingDataError, match="measured: .*bfloat16"):
        db.latency_ms("gemm", 1, 1024, 1024, dtype="nvfp4")
