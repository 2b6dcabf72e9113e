"""Benchmark launch-script recipes: which row takes which settings, and a damaged table is named."""

from __future__ import annotations

import pytest

import costmodel.benchmark_recipes as br
from costmodel.benchmark_recipes import BenchmarkRecipe, BenchmarkRecipeError, benchmark_recipe
from costmodel.validate import row_recipe, row_request


def test_each_setting_comes_from_the_first_entry_that_sets_it():
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
    # the fp4 script passes no recv interval: the fp8 TP4 entry's 10 does not leak into its runs
    fp4_tp4 = benchmark_recipe("sglang", "b200_sxm", "deepseek-ai/DeepSeek-R1", "nvfp4", 4, 1, 16, 8192, 1024)
    assert (fp4_tp4.recv_interval, fp4_tp4.max_num_tokens) == (None, 16384)
    # an H200 attention-DP TRT-LLM run: its balance, the H200 scripts' graph cap and the non-MTP script's depth,
    # from three entries
    h200 = benchmark_recipe("trtllm", "h200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 1, 8, 256, 1024, 1024)
    assert (h200.balance_timeout_iters, h200.cuda_graph_max_batch, h200.mtp_draft) == (60, 128, 0)


def test_settings_the_script_ties_to_the_concurrency():
    r = benchmark_recipe("trtllm", "h200_sxm", "openai/gpt-oss-120b", "nvfp4", 2, 1, 48, 1024, 1024)
    assert (r.max_running, r.cuda_graph_max_batch, r.max_num_tokens) == (48, 48, 20000)


def test_attention_dp_scripts_turn_the_balance_on():
    # dsr1_fp8_b200_trt.sh / _mtp.sh: attention_dp_config {enable_balance, timeout_iters 60, batching_wait_iters 0}
    dp = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 1, 8, 256, 1024, 1024)
    tp = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 256, 1024, 1024)
    assert (dp.balance_timeout_iters, dp.balance_batching_iters) == (60, None)
    assert tp.balance_timeout_iters is None  # no balance without attention DP
    # gptoss_fp4_b200_trt.sh sets only enable_balance: TRT-LLM's AttentionDpConfig defaults (50, 10)
    oss = benchmark_recipe("trtllm", "b200_sxm", "openai/gpt-oss-120b", "nvfp4", 1, 4, 64, 1024, 1024)
    assert (oss.balance_timeout_iters, oss.balance_batching_iters, oss.max_num_tokens) == (50, 10, 20000)


def test_scripts_batch_waiting_by_lengths_tp_and_run_day():
    # 70b_*_trt_slurm.sh (2025-10-29): batch waiting 20 iterations / 0.9 at 1k/1k below TP 8 only
    llama = ("trtllm", "b200_sxm", "meta-llama/Llama-3.1-70B", "fp8")
    held = benchmark_recipe(*llama, 4, 1, 4, 1024, 1024, "2025-10-29")
    assert (held.batch_wait_timeout_iters, held.batch_wait_max_tokens_ratio, held.max_num_tokens) == (20, 0.9, 16384)
    assert benchmark_recipe(*llama, 8, 1, 4, 1024, 1024, "2025-10-29").batch_wait_timeout_iters is None
    assert benchmark_recipe(*llama, 4, 1, 4, 1024, 8192, "2025-10-29").batch_wait_timeout_iters is None
    # dsr1_fp8_b200_trt.sh from 2026-01-29: 40 / 0.8 at 1k/1k from 64 clients; its MTP twin never
    dsr1 = ("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1)
    assert benchmark_recipe(*dsr1, 64, 1024, 1024, "2026-03-25").batch_wait_timeout_iters == 40
    assert benchmark_recipe(*dsr1, 32, 1024, 1024, "2026-03-25").batch_wait_timeout_iters is None
    assert benchmark_recipe(*dsr1, 64, 1024, 1024, "2026-01-28").batch_wait_timeout_iters is None
    assert benchmark_recipe(*dsr1, 64, 1024, 1024, "2026-02-05").batch_wait_timeout_iters == 0  # an MTP run


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


@pytest.mark.parametrize(
    ("setting", "named"),
    # an unknown key; a layout not true/false; a KV-cache dtype no table has
    [("max_runing: 4", "max_runing"), ("attention_dp: 8", "attention_dp"), ("kv_cache: fp16", "kv_cache")],
)
def test_a_damaged_table_is_named(tmp_path, monkeypatch, setting, named):
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "benchmark_recipes.yaml").write_text(
        f"recipes:\n  - match: {{backend: sglang, system: h200_sxm, model: x}}\n    {setting}\n    source: s\n"
    )
    monkeypatch.setattr(br, "data_dir", lambda: tmp_path)
    br._entries.cache_clear()
    try:
        with pytest.raises(BenchmarkRecipeError, match=named):
            benchmark_recipe("sglang", "h200_sxm", "x", "", 8, 1, 4, 1024, 1024)
    finally:
        br._entries.cache_clear()


def test_trtllm_mtp_follows_the_script_the_run_date_names():
    """The MTP configs ran on 2026-01-14, 2026-02-05 and 2026-02-06 (dsr1_*_trt_mtp.sh: MTP=3 without attention
    DP, MTP=1 with it); every other run of these models is a non-MTP script's."""
    from costmodel.validate import _measured_mtp as measured

    def _measured_mtp(r):
        return measured(r, row_recipe(r) or BenchmarkRecipe())

    def on(day: str) -> str:
        return f"source_file=2026-04-06.csv; silicon_concurrency=32; measured={day}T00:00:00.000Z"

    row = _row(backend="trtllm", system="b200_sxm", model_path="deepseek-ai/DeepSeek-R1", tp_size="1")
    mtp_run, plain_run, early_run = (
        row | {"silicon_data_source": on(d)} for d in ("2026-02-06", "2026-03-25", "2025-11-02")
    )
    assert _measured_mtp(mtp_run | {"attention_dp_size": "8"})[0] == 1
    assert _measured_mtp(mtp_run | {"tp_size": "8", "attention_dp_size": "1"}) == (3, 0.6)
    assert _measured_mtp(plain_run | {"tp_size": "8", "attention_dp_size": "1"}) == (0, 0.0)
    assert _measured_mtp(early_run | {"attention_dp_size": "8"}) == (0, 0.0)
    # a disagg row's decode workers are not the agg scripts': it keeps the backend's recipe
    disagg = mtp_run | {"mode": "disagg", "decode_tp_size": "8", "decode_num_workers": "", "tp_size": ""}
    assert row_recipe(disagg) is None or row_recipe(disagg).mtp_draft is None


def test_sglang_qwen35_mtp_script_is_named_by_its_layout():
    """qwen3.5_fp8_b200_mtp.sh (EAGLE, 3 steps) ran TP 4 with EP 1, a layout no non-MTP Qwen3.5 FP8 b200 config
    listed; its rows, dated or re-exported without a date, are priced drafting 3 tokens with the script's running
    cap of $CONC. The non-MTP TP 4 EP 4 runs and the NVFP4 script's TP 4 EP 1 runs draft nothing."""
    from costmodel.validate import _measured_mtp as measured

    def mtp(r):
        return measured(r, row_recipe(r) or BenchmarkRecipe())[0]

    b200 = _row(system="b200_sxm", tp_size="4", moe_ep_size="1", batch_size="64")
    mtp_run = b200 | {"silicon_data_source": "source_file=2026-03-25.csv; silicon_concurrency=64; measured=2026-03-20"}
    reexport = b200 | {"silicon_data_source": "source_file=qwen3.5-397b-gap-analysis.csv; silicon_concurrency=64"}
    assert (mtp(mtp_run), mtp(reexport), row_recipe(mtp_run).max_running) == (3, 3, 64)
    assert mtp(mtp_run | {"moe_ep_size": "4"}) == 0
    assert mtp(mtp_run | {"gemm_quant_mode": "nvfp4"}) == 0
    assert mtp(_row()) == 0  # the H200 runs predate its MTP script (2026-04-06)
    # from 2026-05-03 the non-MTP config sweeps TP 4 EP 1 too: a run of that layout keeps the non-MTP reading
    may = b200 | {"silicon_data_source": "source_file=x.csv; silicon_concurrency=64; measured=2026-05-20"}
    assert (mtp(may), row_recipe(may).max_running) == (0, 128)


def test_fp4_b200_scripts_moe_backend_by_era_and_attention_dp():
    """dsr1_fp4_b200_trt.sh from 2026-02-03 and the MTP script: TRTLLM, CUTLASS (the default) with attention DP;
    before 2026-02-03: TRTLLM except at 256+ clients (1k ISL) or above 32 (8k ISL). The FP8 scripts: TRTLLM at every
    layout; H200 runs name no kernel."""

    def moe(gemm: str, tp: int, dp: int, conc: int, isl: int, day: str) -> str | None:
        r = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", gemm, tp, dp, conc, isl, 1024, day)
        return r.moe_backend

    assert moe("nvfp4", 8, 1, 128, 1024, "2026-02-03T17:34:19Z") == "TRTLLM"
    assert moe("nvfp4", 1, 8, 128, 1024, "2026-02-03T17:34:19Z") == "default"
    assert moe("nvfp4", 8, 1, 64, 8192, "2025-11-02T00:00:00Z") == "default"
    assert moe("nvfp4", 8, 1, 32, 8192, "2025-11-02T00:00:00Z") == "TRTLLM"
    assert moe("nvfp4", 8, 1, 256, 1024, "2025-11-02T00:00:00Z") == "default"
    assert moe("nvfp4", 8, 1, 64, 8192, "2026-01-14T00:00:00Z") == "TRTLLM"  # the MTP script: no era rule
    assert moe("fp8", 8, 1, 64, 1024, "2026-02-05T00:00:00Z") == "TRTLLM"
    assert moe("fp8", 1, 8, 64, 1024, "2026-02-05T00:00:00Z") == "TRTLLM"
    h200 = benchmark_recipe("trtllm", "h200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 64, 1024, 1024, "2026-02-05")
    assert h200.moe_backend is None


def test_validate_prices_the_scripts_moe_kernel():
    """A run the script gave TRTLLM is priced with moe_backend TRTLLM; every other row with the engine's default."""
    from costmodel.arch import load_model
    from costmodel.opdb import open_db

    a, db = load_model("deepseek-ai/DeepSeek-R1"), open_db("b200_sxm", "trtllm", "1.3.0rc20")
    row = _row(
        backend="trtllm",
        system="b200_sxm",
        model_path="deepseek-ai/DeepSeek-R1",
        gemm_quant_mode="nvfp4",
        silicon_data_source="source_file=2026-03-25.csv; silicon_concurrency=64; measured=2026-02-03T17:34:19Z",
    )
    assert row_request(row, a, db).moe_backend == "TRTLLM"
    assert row_request(row | {"tp_size": "1", "attention_dp_size": "8"}, a, db).moe_backend == "default"
    # a row whose script names no kernel ran the engine's default, not the product's recipe
    assert row_request(row | {"silicon_data_source": "source_file=sweep.csv"}, a, db).moe_backend == "default"


def test_sglang_dsr1_runs_past_the_non_mtp_sweep_are_the_mtp_scripts():
    """From 2026-02-05 dsr1-fp8-b200-sglang-mtp swept TP 8 to 512 clients (dsr1_fp8_b200_mtp.sh: 2 EAGLE steps,
    batch cap and CUDA-graph limit 512, budget 16384); the non-MTP config swept TP 8 to 64 clients at 1k ISL and 4
    at 8k (cap 128). Runs within both sweeps keep the non-MTP script's settings: the rows do not say which ran."""
    dsr1 = ("sglang", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1)
    day = "2026-03-25T16:34:14Z"
    past = benchmark_recipe(*dsr1, 256, 1024, 1024, day)
    within = benchmark_recipe(*dsr1, 64, 1024, 1024, day)
    eight_k = benchmark_recipe(*dsr1, 8, 8192, 1024, day)
    assert (past.mtp_draft, past.max_running, past.cuda_graph_max_batch, past.max_num_tokens) == (2, 512, 512, 16384)
    assert (within.mtp_draft, within.max_running, within.max_num_tokens) == (None, 128, 32768)
    assert (eight_k.mtp_draft, benchmark_recipe(*dsr1, 4, 8192, 1024, day).mtp_draft) == (2, None)
    # before the MTP config existed every run is the non-MTP script's; TP 4 never ran MTP
    assert benchmark_recipe(*dsr1, 256, 1024, 1024, "2026-01-07T00:00:00Z").mtp_draft is None
    assert benchmark_recipe(*dsr1[:4], 4, 1, 32, 8192, 1024, day).mtp_draft is None


def test_layouts_the_scripts_chose_before_the_configuration_listed_them():
    """Until 2025-11-03 the workflows passed only the TP and the scripts chose EP and attention DP; the export
    records those runs as EP 1 without attention DP. dsr1_fp8_h200_trt_slurm.sh: EP=TP, attention DP above 64
    clients (1k ISL) or 32 (8k ISL); dsr1_fp4_b200_trt_slurm.sh: EP=TP above 8 clients at TP 8 1k/1k only."""

    def layout(gemm, system, tp, conc, isl, osl, day="2025-11-02T00:00:00Z"):
        r = benchmark_recipe("trtllm", system, "deepseek-ai/DeepSeek-R1", gemm, tp, 1, conc, isl, osl, day)
        return r.moe_ep, r.attention_dp

    assert layout("fp8", "h200_sxm", 8, 4, 1024, 1024) == (8, False)
    assert layout("fp8", "h200_sxm", 8, 128, 1024, 1024) == (8, True)
    assert layout("fp8", "h200_sxm", 8, 64, 8192, 1024) == (8, True)
    assert layout("fp8", "h200_sxm", 8, 32, 8192, 1024) == (8, False)
    # once the configuration lists the layout, the row records it
    assert layout("fp8", "h200_sxm", 8, 4, 1024, 1024, "2026-01-14T00:00:00Z") == (None, None)
    assert layout("nvfp4", "b200_sxm", 8, 16, 1024, 1024) == (8, None)
    assert layout("nvfp4", "b200_sxm", 8, 8, 1024, 1024) == (None, None)
    assert layout("nvfp4", "b200_sxm", 4, 16, 1024, 1024) == (None, None)
    assert layout("nvfp4", "b200_sxm", 4, 64, 8192, 1024) == (4, True)
    # the DEEPGEMM kernel of dsr1_fp8_b200_trt_slurm.sh has no table: the default one prices it, not TRTLLM
    early = benchmark_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-R1", "fp8", 8, 1, 4, 1024, 1024, "2025-11-02")
    assert (early.moe_ep, early.moe_backend) == (8, "default")
    # SGLang's FP4 B200 script: --enable-ep-moe, then --ep-size $EP_SIZE from a configuration listing EP = TP; the
    # runs of 2025-11-10 are recorded as EP 1 too, the ones of 2026-03-25 record their EP
    sglang = ("sglang", "b200_sxm", "deepseek-ai/DeepSeek-V3", "nvfp4", 4, 1, 16, 1024, 1024)
    assert benchmark_recipe(*sglang, "2025-11-10T00:00:00Z").moe_ep == 4
    assert benchmark_recipe(*sglang, "2026-03-25T00:00:00Z").moe_ep is None


def test_validate_reads_a_row_with_the_layout_its_script_launched():
    from costmodel.validate import row_launched

    def run(conc: int) -> tuple[dict, BenchmarkRecipe]:
        source = f"source_file=2026-04-06.csv; silicon_concurrency={conc}; measured=2025-11-02T00:00:00.000Z"
        row = _row(
            backend="trtllm",
            model_path="deepseek-ai/DeepSeek-R1",
            silicon_data_source=source,
            attention_dp_size="1",
            moe_tp_size="1",
            moe_ep_size="1",
        )
        as_run = row_launched(row)
        return as_run, row_recipe(as_run) or BenchmarkRecipe()

    row, rec = run(16)
    assert [row[k] for k in ("tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size")] == ["8", "1", "1", "8"]
    assert rec.balance_timeout_iters is None
    # above 64 clients the script turned attention DP on, and with it the balance every DeepSeek script sets
    row, rec = run(128)
    assert [row[k] for k in ("tp_size", "attention_dp_size", "moe_ep_size")] == ["1", "8", "8"]
    assert rec.balance_timeout_iters == 60


def test_minimax_scripts_budget_and_the_attention_dp_runs():
    """minimaxm2.5_*_b200.sh / _b300.sh pass --max-num-batched-tokens 2 x ISL and --max-cudagraph-capture-size 2048
    (runs from 2026-04-04 on); with the configuration of 2026-04-21 the FP4 B200 1k/1k runs from 256 clients are
    attention-DP workers (--tensor-parallel-size 1 --data-parallel-size 2 --enable-expert-parallel)."""
    from costmodel.validate import row_launched, row_layout

    minimax = ("vllm", "b200_sxm", "MiniMaxAI/MiniMax-M2.5")
    r = benchmark_recipe(*minimax, "fp8", 4, 1, 64, 8192, 1024, "2026-04-08T00:00:00Z")
    assert (r.max_num_tokens, r.cuda_graph_max_batch) == (16384, 2048)
    early = benchmark_recipe(*minimax, "fp8", 4, 1, 64, 1024, 1024, "2026-03-11T00:00:00Z")
    assert (early.max_num_tokens, early.cuda_graph_max_batch) == (None, None)  # the engine's defaults
    row = _row(
        backend="vllm",
        system="b200_sxm",
        model_path="MiniMaxAI/MiniMax-M2.5",
        gemm_quant_mode="nvfp4",
        silicon_data_source="db-dump/2026-04-27; silicon_concurrency=512; measured=2026-04-22T00:00:00.000Z",
        tp_size="2",
        attention_dp_size="2",
        moe_tp_size="1",
        moe_ep_size="4",
    )
    run = row_launched(row)
    assert [run[k] for k in ("tp_size", "attention_dp_size", "moe_tp_size", "moe_ep_size")] == ["1", "2", "1", "2"]
    # at 128 clients the configuration lists TP 2 EP 2 without attention DP: the flattened row reads as that
    fewer = row_layout(row_launched(row | {"silicon_data_source": row["silicon_data_source"].replace("=512", "=128")}))
    assert [int(x) for x in (fewer.tp, fewer.dp, fewer.moe_tp, fewer.moe_ep)] == [2, 1, 1, 2]


def test_hopper_gpt_oss_vllm_runs_marlin_from_the_script_day_on():
    """gptoss_fp4_h100.sh / gptoss_fp4_h200.sh export VLLM_MXFP4_USE_MARLIN=1 from 2026-01-02: validate prices those
    runs with vLLM's Marlin MoE kernel, earlier runs and B200 runs with the engine's default MXFP4 kernel."""
    from costmodel.arch import load_model
    from costmodel.opdb import open_db

    a = load_model("openai/gpt-oss-120b")
    row = _row(
        backend="vllm",
        system="h200_sxm",
        model_path="openai/gpt-oss-120b",
        gemm_quant_mode="w4a16_mxfp4",
        tp_size="4",
        silicon_data_source="source_file=2026-04-06.csv; silicon_concurrency=32; measured=2026-03-27T00:00:00.000Z",
    )
    assert row_request(row, a, open_db("h200_sxm", "vllm", "0.24.0")).moe_backend == "MARLIN"
    assert row_request(row | {"system": "h100_sxm"}, a, open_db("h100_sxm", "vllm", "0.24.0")).moe_backend == "MARLIN"
    before = row | {"silicon_data_source": "source_file=x.csv; silicon_concurrency=32; measured=2025-11-02T00:00:00Z"}
    assert row_request(before, a, open_db("h200_sxm", "vllm", "0.24.0")).moe_backend == "default"
    b200 = row | {"system": "b200_sxm"}
    assert row_request(b200, a, open_db("b200_sxm", "vllm", "0.24.0")).moe_backend == "default"


def _minimax_fp8_vllm(**kw):
    """A MiniMax-M2.5 FP8 vLLM agg row recorded with EP 1."""
    return (
        _row(
            backend="vllm",
            model_path="MiniMaxAI/MiniMax-M2.5",
            gemm_quant_mode="fp8",
            moe_quant_mode="fp8",
            moe_ep_size="1",
        )
        | kw
    )


def test_minimax_fp8_b200_runs_before_the_script_fix_ran_triton_ep_and_bf16_kv():
    """minimaxm2.5_fp8_b200.sh before 2026-04-03 switched FlashInfer's and DeepGEMM's MoE off (Triton ran), passed
    --enable-expert-parallel at every EP_SIZE (its `-ge 1` test) and no --kv-cache-dtype (bf16, the model's dtype):
    validate reads those runs so; the script of 2026-04-03 on (fp8 KV, the test fixed) keeps the row's own reading."""
    from costmodel.arch import load_model
    from costmodel.opdb import open_db
    from costmodel.validate import row_launched, row_layout

    a, db = load_model("MiniMaxAI/MiniMax-M2.5"), open_db("b200_sxm", "vllm", "0.24.0")
    row = _minimax_fp8_vllm(
        system="b200_sxm",
        tp_size="4",
        silicon_data_source="source_file=2026-03-25.csv; silicon_concurrency=8; measured=2026-03-11",
    )
    req = row_request(row, a, db)
    assert (req.moe_backend, req.quant.kv_cache) == ("TRITON", "bfloat16")
    assert int(row_layout(row_launched(row)).moe_ep) == 4
    later = row | {"silicon_data_source": "source_file=x.csv; silicon_concurrency=8; measured=2026-04-06"}
    req = row_request(later, a, db)
    assert (req.moe_backend, req.quant.kv_cache, int(row_layout(row_launched(later)).moe_ep)) == ("default", "fp8", 1)


def test_minimax_fp8_hopper_runs_bf16_kv_and_the_h200_script_ep():
    """minimaxm2.5_fp8_h100.sh / _h200.sh pass no --kv-cache-dtype until the H200 script's update of 2026-05-26, and
    the H200 script's `-ge 1` test enabled expert parallelism at every run from 2026-03-13 to then."""
    from costmodel.arch import load_model
    from costmodel.opdb import open_db
    from costmodel.validate import row_launched, row_layout

    a = load_model("MiniMaxAI/MiniMax-M2.5")
    row = _minimax_fp8_vllm(
        silicon_data_source="source_file=2026-04-06.csv; silicon_concurrency=8; measured=2026-03-27"
    )
    h200, h100 = row | {"system": "h200_sxm"}, row | {"system": "h100_sxm", "tp_size": "4"}
    assert row_request(h200, a, open_db("h200_sxm", "vllm", "0.24.0")).quant.kv_cache == "bfloat16"
    assert row_request(h100, a, open_db("h100_sxm", "vllm", "0.24.0")).quant.kv_cache == "bfloat16"
    assert int(row_layout(row_launched(h200)).moe_ep) == 8
    assert int(row_layout(row_launched(h100)).moe_ep) == 1
    march = h200 | {"silicon_data_source": "source_file=x.csv; silicon_concurrency=8; measured=2026-03-01"}
    assert int(row_layout(row_launched(march)).moe_ep) == 1
