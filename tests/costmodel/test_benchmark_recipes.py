"""Benchmark launch-script recipes: which row takes which settings, and a damaged table is named."""

from __future__ import annotations

import pytest

import costmodel.benchmark_recipes as br
from costmodel.benchmark_recipes import BenchmarkRecipe, BenchmarkRecipeError, benchmark_recipe
from costmodel.validate import row_recipe, row_request


def test_first_matching_entry_wins_and_conditions_hold():
    # dsr1_fp8_h200.sh: 512 at 1k/1k, 256 otherwise; no --scheduler-recv-interval
    one_k = benchmark_recipe("sglang", "h200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 64, 1024, 1024)
    eight_k = benchmark_recipe("sglang", "h200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 64, 8192, 1024)
    assert (one_k.max_running, one_k.recv_interval) == (512, 1)
    assert (eight_k.max_running, eight_k.cuda_graph_max_batch) == (256, 256)
    # dsr1_fp4_b200.sh is matched by the row's gemm label before the fp8 script's entries
    fp4 = benchmark_recipe("sglang", "b200_sxm", "deepseek-ai/DeepSeek-R1", "nvfp4", 8, 1, 16, 1024, 1024)
    fp8_tp4 = benchmark_recipe("sglang", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 4, 1, 16, 8192, 1024)
    assert (fp4.max_running, fp8_tp4.max_running, fp8_tp4.recv_interval) == (256, 32, 10)
    assert benchmark_recipe("sglang", "h100_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 64, 1024, 1024) is None


def test_settings_the_script_ties_to_the_concurrency():
    r = benchmark_recipe("trtllm", "h200_sxm", "openai/gpt-oss-120b", "nvfp4", 2, 1, 48, 1024, 1024)
    assert (r.max_running, r.cuda_graph_max_batch, r.max_num_tokens) == (48, 48, 20000)


def test_attention_dp_scripts_turn_the_balance_on():
    # dsr1_fp8_b200_trt.sh / _mtp.sh: attention_dp_config {enable_balance, timeout_iters 60, batching_wait_iters 0}
    dp = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 1, 8, 256, 1024, 1024)
    tp = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 256, 1024, 1024)
    assert (dp.balance_timeout_iters, dp.balance_batching_iters) == (60, None)
    assert tp is None  # without attention DP the b200 DeepSeek TRT-LLM scripts set nothing the model prices
    # gptoss_fp4_b200_trt.sh sets only enable_balance: TRT-LLM's AttentionDpConfig defaults (50, 10)
    oss = benchmark_recipe("trtllm", "b200_sxm", "openai/gpt-oss-120b", "nvfp4", 1, 4, 64, 1024, 1024)
    assert (oss.balance_timeout_iters, oss.balance_batching_iters, oss.max_num_tokens) == (50, 10, 20000)


def _row(**kw):
    base = dict(
        id="x",
        silicon_data_source="source_file=2026-03-25.csv; silicon_concurrency=32; measured=2026-03-25T16:34:14Z",
        backend="sglang",
        model_path="Qwen/Qwen3.5-397B-A17B",
        system="h200_sxm",
        mode="agg",
        isl="1024",
        osl="1024",
        gemm_quant_mode="fp8",
        tp_size="8",
        batch_size="32",
    )
    return base | kw


def test_validate_takes_the_scripts_settings_only_for_benchmark_rows():
    from costmodel.arch import load_model
    from costmodel.opdb import open_db

    a, db = load_model("Qwen/Qwen3.5-397B-A17B"), open_db("h200_sxm", "sglang", "0.5.14")
    req = row_request(_row(), a, db)
    # qwen3.5_fp8_h200.sh passes no --scheduler-recv-interval and --cuda-graph-max-bs $CONC
    assert (req.scheduler_recv_interval, req.cuda_graph_max_batch) == (1, 32)
    sweep = _row(silicon_data_source="source_file=sweep.csv; silicon_concurrency=32")
    assert row_recipe(sweep) is None
    assert row_request(sweep, a, db).scheduler_recv_interval == 30  # the SGLang benchmark rule at 32 clients


def test_a_damaged_table_is_named(tmp_path, monkeypatch):
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "benchmark_recipes.yaml").write_text(
        "recipes:\n  - match: {backend: sglang, system: h200_sxm, model: x}\n    max_runing: 4\n    source: s\n"
    )
    monkeypatch.setattr(br, "data_dir", lambda: tmp_path)
    br._entries.cache_clear()
    try:
        with pytest.raises(BenchmarkRecipeError, match="max_runing"):
            benchmark_recipe("sglang", "h200_sxm", "x", "", 8, 1, 4, 1024, 1024)
    finally:
        br._entries.cache_clear()


def test_trtllm_mtp_depth_follows_attention_dp():
    """dsr1_*_b200_trt_mtp.sh / dsr1_fp8_h200_trt_mtp.sh: MTP=3 without attention DP, MTP=1 with it."""
    from costmodel.validate import _measured_mtp as measured

    def _measured_mtp(r):
        return measured(r, row_recipe(r) or BenchmarkRecipe())

    row = _row(backend="trtllm", system="b200_sxm", model_path="deepseek-ai/DeepSeek-R1", tp_size="1")
    assert _measured_mtp(row | {"attention_dp_size": "8"})[0] == 1
    assert _measured_mtp(row | {"tp_size": "8", "attention_dp_size": "1"})[0] == 3
