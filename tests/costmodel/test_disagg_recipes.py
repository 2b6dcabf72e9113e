"""Disagg benchmark recipes: the InferenceX entry a disagg row ran, and validate reading the row as run."""

from __future__ import annotations

from dataclasses import replace

import pytest

import costmodel.disagg_recipes as dr
import costmodel.validate as validate
from costmodel.benchmark_recipes import BenchmarkRecipe, BenchmarkRecipeError
from costmodel.disagg_recipes import DisaggRecipe, EngineLimits, WorkerRecipe, disagg_recipe
from costmodel.validate import _layout, _measured_mtp, predict_row, row_as_run, row_disagg_recipe

R1 = "deepseek-ai/DeepSeek-R1"
# both roles of the b200 FP4 files run TRT-LLM's TRTLLM MoE kernel (moe_config.backend)
DEP4 = WorkerRecipe(workers=1, gpus=4, ep=4, attention_dp=True, moe_kernel="TRTLLM")
TEP8 = WorkerRecipe(workers=5, gpus=8, ep=8, attention_dp=False, moe_kernel="TRTLLM")


def test_the_entry_listed_on_the_run_day_for_its_clients_and_prefill_worker():
    # dsr1-fp4-b200-dynamo-trt on 2026-01-29: 8k/1k at 100 clients ran ctx1_gen5_tep8_batch8_eplb0_mtp0
    run = disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 8192, 1024, 100, 4, 4, "2026-01-29T00:00:00.000Z")
    assert (run.prefill, run.decode, run.mtp_draft) == (DEP4, TEP8, 0)
    assert "dsr1-fp4-b200-dynamo-trt" in run.source
    # 1k/1k at 10 clients was listed twice, with and without MTP: the workers agree, the depth is not known
    twins = disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 1024, 1024, 10, 4, 4, "2026-01-29")
    assert (twins.prefill, twins.decode, twins.mtp_draft) == (DEP4, TEP8, None)
    # the same run labelled DeepSeek-V3 (the db-dump rows) is the same recipe
    assert disagg_recipe("trtllm", "b200_sxm", "deepseek-ai/DeepSeek-V3", "nvfp4", 8192, 1024, 100, 4, 4, "2026-01-29")
    # not listed before the configuration existed, for another prefill worker, clients or precision, or without a day
    assert disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 8192, 1024, 100, 4, 4, "2025-12-01") is None
    assert disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 8192, 1024, 100, 8, 8, "2026-01-29") is None
    assert disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 8192, 1024, 101, 4, 4, "2026-01-29") is None
    assert disagg_recipe("trtllm", "b200_sxm", R1, "fp8", 8192, 1024, 100, 4, 4, "2026-01-29") is None
    assert disagg_recipe("trtllm", "b200_sxm", R1, "nvfp4", 8192, 1024, 100, 4, 4, "") is None


def test_the_decode_pool_a_row_records_picks_among_entries_for_the_same_clients():
    """dsr1-fp8-h100-dynamo-sglang lists 1k/1k at 4 clients twice from 2026-02-12: two TP-16 decode workers, or one
    DP-16 EP-16 worker. A run that records its decode worker count is that entry; one that records neither count
    nor a size that tells them apart stays unknown."""
    args = ("sglang", "h100_sxm", R1, "fp8", 1024, 1024, 4, 16, 1, "2026-02-13T03:10:06Z")
    assert disagg_recipe(*args) is None
    assert disagg_recipe(*args, decode_gpus=16) is None  # both pools have 16-GPU workers
    two = disagg_recipe(*args, decode_gpus=16, decode_workers=2)
    assert (two.decode.workers, two.decode.gpus, two.decode.attention_dp) == (2, 16, False)
    one = disagg_recipe(*args, decode_workers=1)
    assert (one.decode.workers, one.decode.ep, one.decode.attention_dp) == (1, 16, True)
    # a count no entry lists leaves the disagreement as it was
    assert disagg_recipe(*args, decode_workers=3) is None


def test_a_run_matches_the_clients_its_recipe_file_benchmarks():
    # dsr1-fp8-h200-dynamo-trt lists conc-list [4] with 11 MTP-3 decode workers (and [4] with 9 without MTP); the files
    # c4_ctx1_gen11_tep8_batch128_eplb0_mtp3.yaml and c4_ctx1_gen9_tep8_batch256_eplb0_mtp0.yaml benchmark 44 and 36
    mtp = disagg_recipe("trtllm", "h200_sxm", R1, "fp8", 1024, 1024, 44, 8, 8, "2026-02-14")
    assert (mtp.decode.workers, mtp.mtp_draft, mtp.limits.decode_batch) == (11, 3, 128)
    stp = disagg_recipe("trtllm", "h200_sxm", R1, "fp8", 1024, 1024, 36, 8, 8, "2026-02-14")
    assert (stp.decode.workers, stp.mtp_draft, stp.limits.decode_batch) == (9, 0, 256)
    # the conc-list figure is not what those runs ran: 4 clients and 9 or 11 decode workers disagree, so no recipe
    assert disagg_recipe("trtllm", "h200_sxm", R1, "fp8", 1024, 1024, 4, 8, 8, "2026-02-14") is None


def test_each_role_runs_the_attention_dp_its_recipe_file_sets():
    # the h200 entries label the prefill worker's attention DP off until 2026-03-23 and on from then, for the same
    # file, which turns it on: a run on the day both were listed has one recipe, a DEP-8 prefill worker
    run = disagg_recipe("trtllm", "h200_sxm", R1, "fp8", 1024, 1024, 352, 8, 8, "2026-03-23")
    assert run is not None and run.prefill.attention_dp and not run.decode.attention_dp
    assert (run.decode.workers, run.mtp_draft) == (11, 3)


def _sglang_b200_row() -> dict:
    """An SGLang b200 FP8 1k/1k disagg run at 32 clients on 2026-03-01: low-latency-tep8-1p3d.yaml's entry."""
    return _scraped_row(
        backend="sglang",
        gemm_quant_mode="fp8",
        moe_quant_mode="fp8",
        isl="1024",
        prefill_tp_size="8",
        prefill_moe_ep_size="8",
        silicon_data_source="source_file=x.csv; silicon_concurrency=32; measured=2026-03-01T00:00:00Z",
    )


def test_an_sglang_recipe_file_gives_its_prefill_budget_and_batch_caps(monkeypatch):
    # recipes/b200-fp8/1k1k/stp/low-latency-tep8-1p3d.yaml (and its MTP twin): max-prefill-tokens and
    # chunked-prefill-size 32768 on the prefill worker, max-running-requests 512 on both, no attention DP
    run = disagg_recipe("sglang", "b200_sxm", R1, "fp8", 1024, 1024, 32, 8, 8, "2026-03-01")
    assert run.limits == EngineLimits(prefill_batch=512, prefill_tokens=32768, decode_batch=512)
    assert (run.decode.workers, run.prefill.attention_dp, run.decode.attention_dp) == (3, False, False)
    row = _sglang_b200_row()
    read = predict_row(row)
    # without the file's limits a prefill step holds SGLang's default 8,192 tokens: 8 prompts, not 32, so the 32
    # clients' prompts queue for shorter steps
    monkeypatch.setattr(validate, "row_disagg_recipe", lambda r: replace(run, limits=None))
    assert read.ttft_ms > predict_row(row).ttft_ms
    assert read.tpot_ms == pytest.approx(predict_row(row).tpot_ms)


def test_the_prefill_worker_reserves_activations_for_its_recipe_files_step(monkeypatch):
    # the prefill worker of low-latency-tep8-1p3d.yaml runs 32,768-token steps: its memory check reserves their
    # activations, the decode worker's the engine default budget
    row = _sglang_b200_row()
    budgets = []
    real = validate.kv_capacity_tokens

    def spy(system, arch, q, tp, pp, dp, moe_tp, moe_ep, max_num_tokens, context_len):
        budgets.append((int(max_num_tokens), int(context_len)))
        return real(system, arch, q, tp, pp, dp, moe_tp, moe_ep, max_num_tokens, context_len)

    monkeypatch.setattr(validate, "kv_capacity_tokens", spy)
    assert predict_row(row).ttft_ms is not None
    assert budgets == [(32768, 1024), (8192, 2048)]


def test_a_run_on_the_day_the_configuration_changed_ran_the_new_entries():
    # dsr1-fp8-h200-dynamo-sglang: commit fcc04aaa2 replaced the 1k/1k entries on 2026-02-07 (9 TP-8 decode workers);
    # the ones it dropped (listed 2026-02-05 to 2026-02-07) disagree among themselves, so the day before has no recipe
    assert disagg_recipe("sglang", "h200_sxm", R1, "fp8", 1024, 1024, 16, 8, 1, "2026-02-06") is None
    for day in ("2026-02-07", "2026-02-08"):
        run = disagg_recipe("sglang", "h200_sxm", R1, "fp8", 1024, 1024, 16, 8, 1, day)
        assert (run.decode.workers, run.decode.gpus, run.source) == (
            9,
            8,
            "InferenceX dsr1-fp8-h200-dynamo-sglang (commit fcc04aaa2)",
        )


def _scraped_row(**kw):
    # how the 2026-04-06 export writes that run: no worker counts, the DP-4 prefill worker flattened to TP 4 and the
    # TEP-8 decode worker's EP as 4
    base = dict(
        id="x",
        silicon_data_source="source_file=2026-04-06.csv; model=DeepSeek-R1; silicon_concurrency=100; "
        "measured=2026-01-29T00:00:00.000Z; wip=False",
        backend="trtllm",
        model_path=R1,
        system="b200_sxm",
        mode="disagg",
        isl="8192",
        osl="1024",
        gemm_quant_mode="nvfp4",
        moe_quant_mode="nvfp4",
        prefill_tp_size="4",
        prefill_pp_size="1",
        prefill_attention_dp_size="1",
        prefill_moe_tp_size="1",
        prefill_moe_ep_size="4",
        decode_tp_size="8",
        decode_pp_size="1",
        decode_attention_dp_size="1",
        decode_moe_tp_size="2",
        decode_moe_ep_size="4",
        silicon_ttft_ms="3147.2",
        silicon_tpot_ms="9.78",
    )
    return base | kw


def test_validate_reads_a_disagg_row_as_its_recipe_ran():
    row = _scraped_row()
    run = row_as_run(row, row_disagg_recipe(row))
    assert (run["prefill_num_workers"], run["decode_num_workers"]) == ("1", "5")
    pre, dec = _layout(run, "prefill_"), _layout(run, "decode_")
    assert (int(pre.tp), int(pre.dp), int(pre.moe_ep)) == (1, 4, 4)  # attention DP restored
    assert (int(dec.tp), int(dec.dp), int(dec.moe_tp), int(dec.moe_ep)) == (8, 1, 1, 8)
    # the recipe names no MTP: priced without drafts, where the backend's rule alone would draft 3
    assert _measured_mtp(run, BenchmarkRecipe(), row_disagg_recipe(row)) == (0, 0.0)
    assert _measured_mtp(row, BenchmarkRecipe())[0] == 3
    # a row no entry lists keeps its own columns
    other = _scraped_row(silicon_data_source="source_file=x.csv; silicon_concurrency=100")
    assert row_disagg_recipe(other) is None and row_as_run(other, None) is other
    # and the row is priced as run: the recipe's five decode workers, not the flattened layout the row wrote
    assert predict_row(row).tpot_ms != predict_row(other).tpot_ms


def test_an_mtp_recipe_without_a_depth_drafts_the_engines_depth():
    drec = DisaggRecipe(prefill=DEP4, decode=TEP8, mtp_draft=True, source="s")
    assert _measured_mtp(_scraped_row(), BenchmarkRecipe(), drec)[0] == 3
    named = DisaggRecipe(prefill=DEP4, decode=TEP8, mtp_draft=1, source="s")
    assert _measured_mtp(_scraped_row(), BenchmarkRecipe(), named)[0] == 1


def test_a_damaged_recipe_file_is_named(tmp_path, monkeypatch):
    (tmp_path / "validation").mkdir()
    (tmp_path / "validation" / "disagg_recipes.yaml").write_text(
        "configs:\n  k: {backend: trtllm, system: b200_sxm, gemm: fp8, models: [m]}\nrecipes:\n"
        "  - {config: k, listed: [2026-01-01, 2026-02-01], commit: 'a', isl: 1, osl: 1, conc: [1], "
        "prefill: [1, 8, 8, yes-ish], decode: [1, 8, 8, false]}\n"
    )
    monkeypatch.setattr(dr, "data_dir", lambda: tmp_path)
    dr._entries.cache_clear()
    try:
        with pytest.raises(BenchmarkRecipeError, match="disagg_recipes.yaml is malformed.*attention DP"):
            disagg_recipe("trtllm", "b200_sxm", "m", "fp8", 1, 1, 1, 8, 8, "2026-01-15")
    finally:
        dr._entries.cache_clear()


def test_a_blank_prefill_batch_is_what_the_token_budget_holds():
    # 1k prompts under TRT-LLM's 8,192-token budget: a saturated prefill step carries 8 of them
    row = _scraped_row(isl="1024", osl="1024", silicon_data_source="source_file=x.csv; silicon_concurrency=64")
    blank, eight, one = (predict_row(row | {"prefill_batch_size": b}).ttft_ms for b in ("", "8", "1"))
    assert blank == eight != one


def test_the_recipe_files_limits_cap_the_decode_pool_and_fill_the_prefill_step(monkeypatch):
    # ctx1_gen5_tep8_batch8_eplb0_mtp0.yaml sets decode max_batch_size 16 (not the 8 its name says), prefill 2 prompts
    # in 16,896 tokens: 5 TEP-8 decode workers run 80 of the 100 clients at once
    drec = row_disagg_recipe(_scraped_row())
    assert drec.limits == EngineLimits(prefill_batch=2, prefill_tokens=16896, decode_batch=16)
    capped = predict_row(_scraped_row())

    def unlimited(clients):
        monkeypatch.setattr(validate, "row_disagg_recipe", lambda row: replace(drec, limits=None))
        src = f"source_file=x.csv; silicon_concurrency={clients}; measured=2026-01-29T00:00:00.000Z"
        return predict_row(_scraped_row(silicon_data_source=src, prefill_batch_size="2"))

    # the 80 running requests decode as 80 clients would; the other 20 wait for a slot, so TTFT is longer
    assert capped.tpot_ms == pytest.approx(unlimited(80).tpot_ms)
    assert capped.tpot_ms < unlimited(100).tpot_ms
    assert capped.ttft_ms > unlimited(100).ttft_ms


def test_the_engine_runs_the_recipe_files_expert_parallelism_not_the_entrys_label():
    # dsr1-fp8-b200-dynamo-trt listed its 8k/1k prefill workers as EP 8 until 2026-03-23; the srt-slurm file they
    # launched sets moe_expert_parallel_size 1 for prefill (since 2026-01-27). A row recording the listed EP 8 still
    # finds its entry, and is priced with the EP the engine ran.
    run = disagg_recipe("trtllm", "b200_sxm", R1, "fp8", 8192, 1024, 224, 8, 8, "2026-03-01")
    assert (run.prefill.gpus, run.prefill.ep, run.decode.ep) == (8, 1, 8)
    assert disagg_recipe("trtllm", "b200_sxm", R1, "fp8", 8192, 1024, 224, 8, 1, "2026-03-01") is None


def test_each_role_runs_the_moe_kernel_its_recipe_file_selects(monkeypatch):
    # ctx2_gen1_dep8_batch32_eplb0_mtp3_288.yaml: the EP-1 prefill workers set moe_config.backend TRTLLM, the DEP-8
    # decode worker DEEPGEMM (the engine's default FP8 block-scale table on B200)
    run = disagg_recipe("trtllm", "b200_sxm", R1, "fp8", 8192, 1024, 288, 8, 8, "2026-03-01")
    assert (run.prefill.moe_kernel, run.decode.moe_kernel) == ("TRTLLM", "DEEPGEMM")
    row = _scraped_row(
        gemm_quant_mode="fp8",
        moe_quant_mode="fp8",
        prefill_tp_size="8",
        prefill_moe_tp_size="1",
        prefill_moe_ep_size="8",
        silicon_data_source="source_file=x.csv; silicon_concurrency=288; measured=2026-03-01T00:00:00.000Z",
    )
    seen = []
    real = validate._predict_disagg

    def spy(row, base, steps, *rest):
        seen.append(tuple(s.moe_table for s in steps))
        return real(row, base, steps, *rest)

    monkeypatch.setattr(validate, "_predict_disagg", spy)
    both = predict_row(row)
    assert seen == [("moe_trtllm_gen", "moe")]
    # the decode kernel decides TPOT: pricing the decode role with the prefill's kernel changes it
    one = replace(run, decode=replace(run.decode, moe_kernel="TRTLLM"))
    monkeypatch.setattr(validate, "row_disagg_recipe", lambda r: one)
    assert predict_row(row).tpot_ms != both.tpot_ms
    assert seen[-1] == ("moe_trtllm_gen", "moe_trtllm_gen")


def test_entries_that_disagree_on_a_kernel_keep_their_layout_without_one():
    a = WorkerRecipe(workers=1, gpus=8, ep=8, attention_dp=True, moe_kernel="TRTLLM")
    assert dr._agreed([a, replace(a, moe_kernel="DEEPGEMM")]) == replace(a, moe_kernel=None)
    assert dr._agreed([a, a]) == a
