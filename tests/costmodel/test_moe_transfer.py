"""A selected MoE kernel whose table measured other experts: read at equal tokens per expert, scaled by the weights."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.opdb import open_db
from costmodel.step import Layout, StepModel

MXFP4 = Quant(gemm="bfloat16", kv_cache="bfloat16", moe="w4a16_mxfp4")


def _steps(system: str) -> tuple[StepModel, StepModel]:
    db, a = open_db(system, "vllm", "0.24.0"), load_model("openai/gpt-oss-120b")
    return StepModel(db, a, MXFP4), StepModel(db, a, MXFP4, moe_backend="MARLIN")


def test_marlin_is_read_from_kimi_k3_experts_at_gpt_oss_tokens_per_expert():
    _, marlin = _steps("h200_sxm")
    cats, tokens_by, time_by = marlin.moe_transfer(marlin.moe_table, marlin.moe_cats())
    # the table measured Kimi-K3's experts only: 3584 x 3072, 16 of 896; gpt-oss-120b's are 2880 x 2880, 4 of 128
    assert (cats["hidden"], cats["inter"], cats["topk"], cats["experts"]) == (3584, 3072, 16, 896)
    assert tokens_by == pytest.approx((4 / 128) / (16 / 896))
    assert time_by == pytest.approx(128 * 2880 * 2880 / (896 * 3584 * 3072))
    # a table that measured the model's own experts is read as is
    default, _ = _steps("h200_sxm")
    assert default.moe_transfer("moe", default.moe_cats())[1:] == (1.0, 1.0)


@pytest.mark.parametrize("system", ["h100_sxm", "h200_sxm"])
def test_marlin_prefill_runs_at_its_measured_ceiling_and_decode_near_the_default(system):
    """Marlin's measured MXFP4 throughput levels off near 200 TFLOP/s on Hopper where the default (Triton) kernel
    reaches ~560 at MoE TP 1 (balanced routing): under the priced routing a long prompt's expert layers take ~1.9x as
    long; a decode batch moves the same weights either way, so its time stays within a third."""
    default, marlin = _steps(system)
    lay = Layout(tp=np.array(1), pp=np.array(1), dp=np.array(1), moe_tp=np.array(1), moe_ep=np.array(1))
    cats = default.moe_cats()
    prefill = [s._moe_table_ms(s.moe_table, lay, np.array(8192.0), cats) for s in (default, marlin)]
    decode = [s._moe_table_ms(s.moe_table, lay, np.array(8.0), cats) for s in (default, marlin)]
    assert float(prefill[1] / prefill[0]) > 1.7
    a = default.a
    assert 8192 * a.topk * 3 * a.hidden * a.moe_intermediate * 2 / (float(prefill[1]) * 1e-3) < 260e12
    assert 0.67 < float(decode[1] / decode[0]) < 1.33
