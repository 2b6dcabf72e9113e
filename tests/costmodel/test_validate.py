"""`aicsolve validate`: rows predicted per group, reasons for the rest, the closing line."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from costmodel.scoring import render, score
from costmodel.validate import COLUMNS, BadCsvError, predict_row, read_rows

DEV = Path(__file__).resolve().parents[2].parent / "shared" / "validation" / "silicon_dev.csv"
COLS = list(COLUMNS)


def _row(**kw) -> dict:
    r = dict.fromkeys(COLS, "")
    r.update(
        dict(
            id="x",
            silicon_data_source="silicon_concurrency=16",
            backend="trtllm",
            model_path="Qwen/Qwen3-32B",
            system="h100_sxm",
            mode="agg",
            isl="1024",
            osl="512",
            gemm_quant_mode="fp8",
            batch_size="16",
            tp_size="2",
            pp_size="1",
            silicon_ttft_ms="300",
            silicon_tpot_ms="12",
        )
    )
    r.update({k: str(v) for k, v in kw.items()})
    return r


def test_agg_and_disagg_rows_are_predicted_with_plausible_figures():
    p = predict_row(_row())
    assert p.reason is None and 10 < p.ttft_ms < 5000 and 2 < p.tpot_ms < 100
    d = predict_row(
        _row(mode="disagg", prefill_tp_size=2, decode_tp_size=2, prefill_num_workers=1, decode_num_workers=1)
    )
    assert d.reason is None and d.tpot_ms > 0 and d.ttft_ms > 0


def test_unpredictable_rows_carry_a_reason():
    assert predict_row(_row(model_path="acme/NoSuchModel")).reason == "unsupported model"
    assert predict_row(_row(system="a100_sxm")).reason == "no data for system/backend"
    assert "fit" in predict_row(_row(model_path="meta-llama/Llama-3.1-405B", tp_size=1, gemm_quant_mode="")).reason


def test_render_last_line(tmp_path):
    f = tmp_path / "rows.csv"
    with open(f, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLS)
        w.writeheader()
        w.writerows([_row(), _row(id="y", system="a100_sxm")])
    groups, total = score([predict_row(r) for r in read_rows(f)])
    last = render(groups, total).splitlines()[-1]
    assert re.fullmatch(r"overall: rows=2 predicted=1 ttft_mdape=\d+\.\d% tpot_mdape=\d+\.\d%", last)


def test_bad_csv(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(BadCsvError, match="missing column"):
        read_rows(f)


@pytest.mark.skipif(not DEV.exists(), reason="shared validation set not beside the checkout")
def test_dev_set_coverage_on_in_scope_systems():
    rows = [r for r in read_rows(DEV) if r["system"] in ("h100_sxm", "h200_sxm") and r["mode"] == "agg"][::10]
    preds = [predict_row(r) for r in rows]
    assert sum(p.reason is None for p in preds) / len(preds) > 0.7


def test_layout_reads_n_squared_tp_ep_rows_as_n_gpus():
    from costmodel.validate import _layout

    row = {"tp_size": "64", "pp_size": "1", "attention_dp_size": "1", "moe_tp_size": "8", "moe_ep_size": "8"}
    lay = _layout(row)
    assert (int(lay.tp), int(lay.dp), int(lay.moe_tp), int(lay.moe_ep)) == (8, 1, 1, 8)
    row = {**row, "tp_size": "1", "attention_dp_size": "64"}
    lay = _layout(row)
    assert (int(lay.tp), int(lay.dp), int(lay.moe_ep)) == (1, 8, 8)
    # a genuine 4-GPU moe_tp 2 × moe_ep 2 layout, and every disagg pool, keep their reading
    small = {"tp_size": "4", "pp_size": "1", "attention_dp_size": "1", "moe_tp_size": "2", "moe_ep_size": "2"}
    assert int(_layout(small).tp) == 4
    pool = {
        "decode_tp_size": "16",
        "decode_attention_dp_size": "1",
        "decode_moe_tp_size": "4",
        "decode_moe_ep_size": "4",
    }
    assert int(_layout(pool, "decode_").tp) == 16


def test_the_2026_04_06_export_of_a_tp_ep_worker_prices_like_its_2026_03_25_twin():
    """The same MiniMax-M2.5 run on 4 H100s (InferenceX lists tp 4, ep 4, no attention DP) is written tp 4, dp 4,
    moe_ep 16 by one export and tp 4, moe_ep 4 by the other: both are read as TP 4, EP 4 on one node, not as a
    16-GPU worker over two nodes, and price alike. A genuine 4-GPU attention-DP worker (tp 1, dp 4) keeps its reading."""
    from costmodel.validate import _layout

    kw = dict(
        backend="vllm",
        model_path="MiniMaxAI/MiniMax-M2.5",
        gemm_quant_mode="fp8",
        isl="1024",
        osl="1024",
        pp_size="1",
        moe_tp_size="1",
        silicon_data_source="silicon_concurrency=4",
    )
    flat = _row(**kw, batch_size="1", tp_size="4", attention_dp_size="4", moe_ep_size="16")
    twin = _row(**kw, batch_size="4", tp_size="4", attention_dp_size="1", moe_ep_size="4")
    lay = _layout(flat)
    assert (int(lay.tp), int(lay.dp), int(lay.moe_tp), int(lay.moe_ep)) == (4, 1, 1, 4)
    a, b = predict_row(flat), predict_row(twin)
    assert a.reason is None and (a.ttft_ms, a.tpot_ms) == (b.ttft_ms, b.tpot_ms)
    dep = _layout({"tp_size": "1", "pp_size": "1", "attention_dp_size": "4", "moe_tp_size": "1", "moe_ep_size": "4"})
    assert (int(dep.tp), int(dep.dp), int(dep.moe_ep)) == (1, 4, 4)


def test_a_re_export_of_inferencex_runs_is_read_with_the_benchmarks_length_spread():
    """Two gap-analysis files re-export InferenceX runs without their dates: their rows ran benchmark_serving with
    --random-range-ratio 0.8, so an SGLang row of them is not priced as an exact-length synchronized loop; the
    aiconfigurator sweeps' own files keep exact lengths."""
    from costmodel.validate import BENCHMARK_RANGE_RATIO, _range_ratio, row_recipe

    kw = dict(
        backend="sglang",
        model_path="Qwen/Qwen3.5-397B-A17B",
        system="b200_sxm",
        gemm_quant_mode="fp8",
        isl="1024",
        osl="1024",
        batch_size="32",
        tp_size="8",
        moe_tp_size="8",
        moe_ep_size="1",
    )
    reexport = _row(**kw, silicon_data_source="source_file=qwen3.5-397b-gap-analysis.csv; silicon_concurrency=32")
    sweep = _row(**kw, silicon_data_source="source_file=/data/b200_sxm/sglang/0.5.9/Qwen.csv; silicon_concurrency=32")
    dated = _row(**kw, silicon_data_source="source_file=2026-03-25.csv; silicon_concurrency=32; measured=2026-03-24")
    assert [_range_ratio(r) for r in (reexport, sweep, dated)] == [BENCHMARK_RANGE_RATIO, 1.0, BENCHMARK_RANGE_RATIO]
    a, b = predict_row(reexport), predict_row(sweep)
    assert a.reason is None and b.reason is None and a.ttft_ms != b.ttft_ms
    # a re-exported run takes the launch-script settings that hold on every day: qwen3.5_fp8_h200.sh leaves SGLang's
    # inbox poll at 1 and caps the graphs at the clients, as for its dated twin; an aiconfigurator sweep gets none
    h200 = dict(kw, system="h200_sxm", tp_size="8", moe_ep_size="8", batch_size="16")
    re16 = _row(**h200, silicon_data_source="source_file=qwen3.5-397b-gap-analysis.csv; silicon_concurrency=16")
    dated16 = _row(
        **h200, silicon_data_source="source_file=2026-04-06.csv; silicon_concurrency=16; measured=2026-04-01"
    )
    got, twin = row_recipe(re16), row_recipe(dated16)
    assert got is not None and (got.recv_interval, got.cuda_graph_max_batch) == (twin.recv_interval, 16)
    assert row_recipe(dict(re16, silicon_data_source="source_file=Qwen.csv; silicon_concurrency=16")) is None


def test_measured_mtp_recipes():
    from costmodel.benchmark_recipes import BenchmarkRecipe
    from costmodel.validate import MEASURED_MTP_ACCEPTANCE
    from costmodel.validate import _measured_mtp as measured

    def _measured_mtp(row):  # rows from no launch script: the engine's recipe alone
        return measured(row, BenchmarkRecipe())

    agg = {"mode": "agg", "backend": "trtllm"}
    assert _measured_mtp(agg) == (3, MEASURED_MTP_ACCEPTANCE)
    assert _measured_mtp({**agg, "backend": "sglang"}) == (0, 0.0)
    dis = {"mode": "disagg", "backend": "trtllm", "decode_attention_dp_size": "8", "decode_num_workers": "1"}
    assert _measured_mtp(dis) == (0, 0.0)  # attention-DP decode: the max-throughput recipe
    assert _measured_mtp({**dis, "decode_attention_dp_size": "1"})[0] == 3
    sgl = {"mode": "disagg", "backend": "sglang", "decode_attention_dp_size": "1"}
    assert _measured_mtp({**sgl, "decode_num_workers": "2"}) == (0, 0.0)
    assert _measured_mtp(sgl)[0] == 3  # blank decode columns: the backend's recipe


def test_mla_kv_cache_stays_bf16_where_fp8_kv_has_no_fast_kernel():
    from costmodel.arch import load_model
    from costmodel.engines import engine_rules
    from costmodel.opdb import open_db
    from costmodel.quant import recipe_kv_cache

    a = load_model("DEEPSEEK_R1")
    kv = {
        (s, b): recipe_kv_cache(open_db(s, b, engine_rules(b).version), a)
        for s in ("h200_sxm", "b200_sxm")
        for b in ("trtllm", "sglang")
    }
    assert kv == {
        ("h200_sxm", "trtllm"): "fp8",
        ("h200_sxm", "sglang"): "bfloat16",
        ("b200_sxm", "trtllm"): "fp8",
        ("b200_sxm", "sglang"): "fp8",
    }
    assert recipe_kv_cache(open_db("h200_sxm", "sglang", "0.5.14"), load_model("QWEN3_32B")) == "fp8"
    row = _row(model_path="deepseek-ai/DeepSeek-R1", system="h200_sxm", backend="sglang", gemm_quant_mode="fp8_block")
    from costmodel.validate import row_request

    assert row_request(row, a, open_db("h200_sxm", "sglang", "0.5.14")).quant.kv_cache == "bfloat16"


def test_sglang_recv_interval_recipe_is_inferred_from_concurrency():
    from costmodel.arch import load_model
    from costmodel.engines import engine_rules
    from costmodel.opdb import open_db
    from costmodel.validate import row_request

    def interval(backend, conc):
        row = _row(backend=backend, silicon_data_source=f"silicon_concurrency={conc}")
        db = open_db("h100_sxm", backend, engine_rules(backend).version)
        return row_request(row, load_model("QWEN3_32B"), db).scheduler_recv_interval

    assert interval("sglang", 4) == 10 and interval("sglang", 15) == 10
    assert interval("sglang", 16) == 30 and interval("sglang", 1024) == 30
    assert interval("trtllm", 64) == 1 and interval("vllm", 4) == 1


def test_a_row_of_an_unknown_backend_is_unsupported():
    assert predict_row(_row(backend="tgi")).reason == "unsupported backend"


def test_disagg_row_without_recorded_concurrency_runs_every_decode_slot():
    from costmodel.validate import concurrency

    # h100 SGLang Qwen3-32B dev row with no silicon_concurrency: 11 decode workers × batch 48 per rank
    blank = _row(
        mode="disagg",
        silicon_data_source="source_file=x.csv",
        batch_size="",
        prefill_tp_size=2,
        decode_tp_size=2,
        prefill_num_workers=1,
        decode_num_workers=11,
        decode_batch_size=48,
    )
    assert concurrency(blank) == 528
    assert concurrency({**blank, "decode_attention_dp_size": "4"}) == 2112
    assert concurrency({**blank, "silicon_data_source": "silicon_concurrency=64"}) == 64
    recorded = predict_row({**blank, "silicon_data_source": "silicon_concurrency=528"})
    assert predict_row(blank).tpot_ms == recorded.tpot_ms and predict_row(blank).ttft_ms == recorded.ttft_ms
    assert predict_row({**blank, "silicon_data_source": "silicon_concurrency=1"}).tpot_ms < recorded.tpot_ms


def test_signed_error_is_reported_by_concurrency_bin():
    from costmodel.scoring import Prediction, concurrency_bin

    assert [concurrency_bin(c) for c in (1, 4, 5, 16, 17, 64, 65, 256, 257)] == [
        "1-4",
        "1-4",
        "5-16",
        "5-16",
        "17-64",
        "17-64",
        "65-256",
        "65-256",
        ">256",
    ]
    g = ("h200_sxm", "trtllm", "agg")
    preds = [
        Prediction("a", g, 120.0, 9.0, 100.0, 10.0, concurrency=2),
        Prediction("b", g, 80.0, 11.0, 100.0, 10.0, concurrency=3),
        Prediction("c", g, 50.0, 10.0, 100.0, 10.0, concurrency=512),
    ]
    groups, total = score(preds)
    assert total.summary()["signed_error_by_concurrency"] == {
        "1-4": {"rows": 2, "ttft_signed_median": 0.0, "tpot_signed_median": 0.0},
        ">256": {"rows": 1, "ttft_signed_median": -50.0, "tpot_signed_median": 0.0},
    }
    assert "1-4 (2) +0.0% / +0.0%; >256 (1) -50.0% / +0.0%" in render(groups, total)


def test_fp8_label_reads_the_checkpoint_format():
    """The engine picks FP8 kernels from the checkpoint: an "fp8" row of a block-scaled checkpoint ran block-scaled
    GEMM and MoE kernels (as the search prices it); a per-tensor FP8 checkpoint keeps per-tensor fp8."""
    from costmodel.arch import load_model
    from costmodel.opdb import open_db
    from costmodel.validate import row_request

    db = open_db("h200_sxm", "vllm", "0.24.0")
    block = load_model("Qwen/Qwen3-235B-A22B-FP8")
    row = _row(model_path="Qwen/Qwen3-235B-A22B-FP8", system="h200_sxm", backend="vllm", moe_quant_mode="fp8")
    q = row_request(row, block, db).quant
    assert (q.gemm, q.moe) == ("fp8_block", "fp8_block")
    tensor = load_model("nvidia/Llama-3.1-8B-Instruct-FP8")
    row = _row(model_path="nvidia/Llama-3.1-8B-Instruct-FP8", system="h200_sxm", backend="vllm")
    assert row_request(row, tensor, db).quant.gemm == "fp8"
