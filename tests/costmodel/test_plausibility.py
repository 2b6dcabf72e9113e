"""Host-bound GEMM tables: flagged by `data verify`, read through their twin dtype by the op database."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.opdb import open_db
from costmodel.plausibility import gemm_warnings, host_bound_gemm_dtypes, twin_latency


def _cols(rows):
    dt, m, n, k, lat = zip(*rows)
    return {
        "dtype": np.array(dt, dtype=object),
        "m": np.array(m),
        "n": np.array(n),
        "k": np.array(k),
        "latency_ms": np.array(lat, float),
    }


def test_a_flat_floor_far_above_the_kernel_floor_is_flagged_and_read_through_the_twin():
    rows = [("bfloat16", m, 512, 512, 0.003) for m in (1, 8, 16)]
    rows += [("fp8", m, 512, 512, 0.004) for m in (1, 8, 16)] + [("fp8", 4096, 4096, 4096, 0.08)]
    rows += [("fp8_block", m, 512, 512, 0.06) for m in (1, 8, 16)] + [("fp8_block", 4096, 4096, 4096, 0.07)]
    cols = _cols(rows)
    assert list(host_bound_gemm_dtypes(cols)) == ["fp8_block"]
    mask = cols["dtype"] == "fp8_block"
    assert twin_latency(cols, mask, "fp8_block").tolist() == [0.004, 0.004, 0.004, 0.07]  # min(row, fp8 twin)
    assert twin_latency(cols, cols["dtype"] == "fp8", "fp8").tolist() == [0.004] * 3 + [0.08]
    assert "gemm fp8_block is flat at 60 µs" in gemm_warnings(cols, "x")[0]
    # a floor within the kernel's own is no flag
    cols["latency_ms"][mask] = 0.005
    assert host_bound_gemm_dtypes(cols) == {}


def test_vllm_fp8_block_reads_like_fp8_at_small_m_and_other_tables_as_measured():
    """H200 vLLM fp8_block rows sit at ~60 µs for M ≤ 16 (5120 × 5120: 0.06 ms, fp8 0.013 ms, roofline 0.005)."""
    m = np.array([1.0, 8.0, 16.0, 64.0])
    v = open_db("h200_sxm", "vllm", "0.24.0")
    block, fp8 = (
        v.latency_ms("gemm", m, 5120, 5120, dtype="fp8_block"),
        v.latency_ms("gemm", m, 5120, 5120, dtype="fp8"),
    )
    assert np.all(block <= fp8 + 1e-9) and np.all(block < 0.03)
    s = open_db("h200_sxm", "sglang", "0.5.14")
    cols = s.table("gemm").columns
    sel = (cols["dtype"] == "fp8_block") & (cols["m"] == 16) & (cols["n"] == 5120) & (cols["k"] == 5120)
    assert float(s.latency_ms("gemm", 16.0, 5120, 5120, dtype="fp8_block")) == pytest.approx(cols["latency_ms"][sel][0])


def test_data_verify_flags_the_host_bound_tables(capsys):
    from typer.testing import CliRunner

    from solver.cli import app

    res = CliRunner().invoke(app, ["data", "verify"])
    assert res.exit_code == 0
    flagged = [line for line in res.output.splitlines() if line.startswith("warning:")]
    assert any("h200_sxm/vllm/0.24.0: gemm fp8_block is flat at" in line for line in flagged)
    assert not any("/trtllm/" in line for line in flagged)
