"""A selected MoE kernel whose table measured other experts: read at equal tokens per expert, scaled by the weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from costmodel.arch import load_model
from costmodel.config import Quant
from costmodel.opdb import MissingDataError, open_db
from costmodel.step import Layout, StepModel

MXFP4 = Quant(gemm="bfloat16", kv_cache="bfloat16", moe="w4a16_mxfp4")


def _steps(system: str, arch=None) -> tuple[StepModel, StepModel]:
    db, a = open_db(system, "vllm", "0.24.0"), arch or load_model("openai/gpt-oss-120b")
    return StepModel(db, a, MXFP4), StepModel(db, a, MXFP4, moe_backend="MARLIN")


def _layer_ms(step: StepModel, tp: int, tokens: float) -> float:
    lay = Layout(tp=np.array(tp), pp=np.array(1), dp=np.array(1), moe_tp=np.array(tp), moe_ep=np.array(1))
    return float(step._moe_table_ms(step.moe_table, lay, np.array(tokens), step.moe_cats()))


def test_marlin_is_read_from_kimi_k3_experts_at_gpt_oss_tokens_per_expert():
    default, marlin = _steps("h200_sxm")
    cats, tokens_by, time_by, (floor_read, floor_own) = marlin.moe_transfer(marlin.moe_table, marlin.moe_cats())
    # the table measured Kimi-K3's experts only: 3584 x 3072, 16 of 896; gpt-oss-120b's are 2880 x 2880, 4 of 128
    assert (cats["hidden"], cats["inter"], cats["topk"], cats["experts"]) == (3584, 3072, 16, 896)
    assert tokens_by == pytest.approx((4 / 128) / (16 / 896))
    assert time_by == pytest.approx(128 * 2880 * 2880 / (896 * 3584 * 3072))
    # the fixed cost is not scaled: the read table's smallest time comes off, the model's own (default kernel) goes on
    t = marlin.db.table("moe_marlin").columns
    assert floor_read == pytest.approx(float(np.min(t["latency_ms"][t["distribution"] == cats["distribution"]])))
    assert 0.02 < floor_own < floor_read
    # the default table measured gpt-oss's experts: read as is
    assert default.moe_transfer("moe", default.moe_cats())[1:3] == (1.0, 1.0)


def test_only_a_kernel_the_engine_file_marks_reads_other_experts():
    """The engine's default table prices only the experts it measured: an unmeasured shape is an error there, while
    Marlin (engine file ``other_experts``) reads it from the experts its table measured."""
    odd = replace(load_model("openai/gpt-oss-120b"), num_experts=160)
    default, marlin = _steps("h200_sxm", odd)
    with pytest.raises(MissingDataError, match="experts=160"):
        _layer_ms(default, 8, 8)
    assert _layer_ms(marlin, 8, 8) > 0


@pytest.mark.parametrize("system", ["h100_sxm", "h200_sxm"])
@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_marlin_prefill_runs_at_its_measured_ceiling_and_decode_near_the_default(system, tp):
    """Marlin's measured MXFP4 throughput levels off near 200 TFLOP/s on Hopper where the default (Triton) kernel
    reaches ~560 at MoE TP 1 (balanced routing): under the priced routing a long prompt's expert layers take ~1.6-2x
    as long; a decode batch moves the same weights and pays the same fixed cost, so its time stays within a third."""
    default, marlin = _steps(system)
    a = default.a
    prefill = _layer_ms(marlin, tp, 8192) / _layer_ms(default, tp, 8192)
    assert prefill > 1.4
    assert 8192 * a.topk * 3 * a.hidden * a.moe_intermediate * 2 / tp / (_layer_ms(marlin, tp, 8192) * 1e-3) < 260e12
    for tokens in (1, 4, 8):
        assert 0.67 < _layer_ms(marlin, tp, tokens) / _layer_ms(default, tp, tokens) < 1.33
