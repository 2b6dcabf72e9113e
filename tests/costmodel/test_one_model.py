"""One serving model: a spec that pins a measured row's deployment and recipe reports what `validate` predicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.build import build_surfaces
from costmodel.engines import engine_rules
from costmodel.opdb import open_db
from costmodel.validate import concurrency, predict_row, read_rows, row_launched, row_layout, row_request
from solver.spec import spec_from_raw

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "silicon_dev.csv"


def _sample() -> list[dict]:
    """Every 15th dense agg row of the core systems (all three backends), TP ≤ 8 on one node, PP 1."""
    rows = [
        r
        for r in read_rows(DEV)
        if r["mode"] == "agg"
        and r["system"] in ("h100_sxm", "h200_sxm", "b200_sxm")
        and r["model_path"] in ("Qwen/Qwen3-32B", "meta-llama/Llama-3.1-70B", "Qwen/Qwen3-32B-FP8")
        and r["pp_size"] in ("", "1")
        and r["attention_dp_size"] in ("", "1", "0")
    ]
    return rows[::15]


def _spec_of(row: dict, **search):
    """The spec a user would write to pin this row: layout, concurrency, quantization and the recipe validate infers
    (``search``: more of the layout to pin, e.g. the launched EP)."""
    arch = load_model(row["model_path"])
    req = row_request(row, arch, open_db(row["system"], row["backend"], engine_rules(row["backend"]).version))
    tp = int(row_layout(row).tp)
    return spec_from_raw(
        {
            "model": row["model_path"],
            "system": row["system"],
            "backend": row["backend"],
            "total_gpus": max(tp, 8),
            "workload": {"isl": req.isl, "osl": req.osl, "length_range_ratio": req.length_range_ratio},
            "modes": ["agg"],
            "quantization": {"gemm": req.quant.gemm, "kv_cache": req.quant.kv_cache, "moe": req.quant.moe},
            "speculative": {"mtp_draft_tokens": req.mtp_draft, "mtp_acceptance": req.mtp_accept},
            "serving": {
                "scheduler_recv_interval": req.scheduler_recv_interval,
                "moe_backend": req.moe_backend,
                "batch_wait_iters": req.batch_wait_iters,
                "batch_wait_max_tokens_ratio": req.batch_wait_max_tokens_ratio,
                "max_num_tokens": req.max_num_tokens,
            },
            "search": {"tp": [tp], "batch_sizes": [concurrency(row)], **search},
        }
    ), tp


@pytest.mark.skipif(not DEV.exists(), reason="shared validation set not beside the checkout")
def test_a_spec_pinning_a_dev_row_reports_validates_figures():
    checked = 0
    for row in _sample():
        want = predict_row(row)
        if want.reason:
            continue
        spec, tp = _spec_of(row)
        agg = build_surfaces(spec.request).agg
        hit = np.flatnonzero((agg.tp == tp) & (agg.batch == concurrency(row)))
        if not len(hit):  # concurrency beyond the KV cache: the search drops the row, validate queues the rest
            continue
        i = int(hit[0])
        assert agg.ttft_ms[i] == pytest.approx(want.ttft_ms, rel=1e-3), row["id"]
        assert agg.tpot_ms[i] == pytest.approx(want.tpot_ms, rel=1e-3), row["id"]
        checked += 1
    assert checked >= 20


@pytest.mark.skipif(not DEV.exists(), reason="shared validation set not beside the checkout")
def test_a_spec_pinning_a_launched_moe_row_reports_validates_figures():
    """DeepSeek TRT-LLM rows from before InferenceX listed layouts are priced with the EP their script launched (the
    rows record EP 1): a spec pinning that launched layout (TP, EP), the row's clients and recipe reports the same
    TTFT/TPOT as validate, the TRT-LLM MLA request path included."""
    rows = [
        r
        for r in read_rows(DEV)
        if r["mode"] == "agg"
        and r["backend"] == "trtllm"
        and r["system"] == "h200_sxm"
        and r["model_path"] in ("deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3")
        and "measured=2025-11-02" in r["silicon_data_source"]
    ]
    checked = 0
    for row in rows:
        lay = row_layout(row_launched(row))
        if int(lay.dp) > 1 or int(lay.moe_ep) == int(row_layout(row).moe_ep):
            continue  # attention-DP runs carry the scripts' balance hold, which a spec does not set
        want = predict_row(row)
        spec, tp = _spec_of(row, moe_ep=[int(lay.moe_ep)], dp=[1])
        assert tp == int(lay.tp)
        agg = build_surfaces(spec.request).agg
        hit = np.flatnonzero((agg.tp == tp) & (agg.moe_ep == int(lay.moe_ep)) & (agg.batch == concurrency(row)))
        assert len(hit), row["id"]
        i = int(hit[0])
        assert agg.ttft_ms[i] == pytest.approx(want.ttft_ms, rel=1e-3), row["id"]
        assert agg.tpot_ms[i] == pytest.approx(want.tpot_ms, rel=1e-3), row["id"]
        checked += 1
    assert checked >= 5
