"""A MoE TP the op table did not measure reads the measured EP of the same per-GPU weight share."""

from __future__ import annotations

import numpy as np

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.engines import engine_rules
from costmodel.opdb import open_db
from costmodel.step import Layout, StepModel

MXFP4_H200 = Quant(gemm="bfloat16", kv_cache="fp8", attention="bfloat16", moe="w4a16_mxfp4")
FP8_BLOCK = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")
TOKENS = np.array([1.0, 4.0, 16.0, 64.0, 256.0, 4096.0])


def _lay(moe_tp: float, moe_ep: float) -> Layout:
    tp = np.array(moe_tp * moe_ep)
    return Layout(tp, np.array(1.0), np.array(1.0), np.array(moe_tp), np.array(moe_ep))


def test_unmeasured_moe_tp_reads_the_same_share_measured_as_ep():
    # TRT-LLM's MXFP4 MoE table (gpt-oss) measures MoE TP 1 only, EP 1-128
    db = open_db("h200_sxm", "trtllm", engine_rules("trtllm").version)
    step = StepModel(db, load_model("openai/gpt-oss-120b"), MXFP4_H200)
    c = step.moe_cats()
    assert set(db.grid("moe", **c).axes[0].tolist()) == {1.0}
    for tp, ep in ((8, 1), (4, 1), (2, 2), (4, 2)):
        got = step._moe_table_ms("moe", _lay(tp, ep), TOKENS, c)
        want = db.latency_ms("moe", np.array(1.0), np.array(float(tp * ep)), TOKENS, **c)
        assert np.allclose(got, want)
    # the held-utilisation reading this replaces scaled the MoE TP 1 kernel, floor included, down 8x
    held = db.latency_ms("moe", np.array(8.0), np.array(1.0), TOKENS, **c)
    ep8 = step._moe_table_ms("moe", _lay(8, 1), TOKENS, c)
    assert (ep8[:3] > 2.5 * held[:3]).all()


def test_measured_moe_tp_is_read_as_measured():
    db = open_db("h200_sxm", "trtllm", engine_rules("trtllm").version)
    step = StepModel(db, load_model("deepseek-ai/DeepSeek-R1"), FP8_BLOCK)
    c = step.moe_cats()
    assert {1.0, 8.0} <= set(db.grid("moe", **c).axes[0].tolist())
    got = step._moe_table_ms("moe", _lay(8, 1), TOKENS, c)
    assert np.allclose(got, db.latency_ms("moe", np.array(8.0), np.array(1.0), TOKENS, **c))
    assert not np.allclose(got, db.latency_ms("moe", np.array(1.0), np.array(8.0), TOKENS, **c))
