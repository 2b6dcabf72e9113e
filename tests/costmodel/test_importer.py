"""Importer on a tiny synthetic wheel: medians, older-version fill, units, byte-identical reruns."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from costmodel.importer.run import import_all  # noqa: E402

ROOT = "aiconfigurator_core/systems/"
SYS_YAML = """
gpu: {mem_bw: 4800000000000, mem_capacity: 151397597184, bfloat16_tc_flops: 989000000000000,
      fp8_tc_flops: 1978000000000000, sm_version: 90}
node: {num_gpus_per_node: 8, inter_node_bw: 50000000000, intra_node_bw: 450000000000,
       pcie_bw: 64000000000, p2p_latency: 0.00001}
misc: {nccl_mem: {1: 0, 2: 358612992}, other_mem: 3758096384, nccl_version: '2.26.2'}
"""
IDENT = {"framework": "TRTLLM", "device": "NVIDIA H200"}


def _pq(rows: list[dict]) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()


def _rows(version: str, op: str, kernel: str, **cols) -> list[dict]:
    keys = list(cols)
    return [
        dict(IDENT, version=version, op_name=op, kernel_source=kernel, **dict(zip(keys, vals)))
        for vals in zip(*cols.values())
    ]


def _attn(version: str, stem: str, axis: str) -> list[dict]:
    return _rows(
        version,
        stem,
        "torch_flow",
        batch_size=[1, 2],
        isl=[4096, 1] if axis == "step" else [16, 32],
        num_heads=[8, 8],
        num_key_value_heads=[8, 8],
        head_dim=[128, 128],
        window_size=[0, 0],
        beam_width=[1, 1],
        attn_dtype=["bfloat16"] * 2,
        kv_cache_dtype=["bfloat16"] * 2,
        step=[0, 0] if axis == "isl" else [15, 31],
        latency=[0.1, 0.2],
    )


def _gdn(phase: str, kernel: str, batch: list, seq: list, latency: list) -> list[dict]:
    n = len(batch)
    return _rows(
        "1.3.0rc20",
        "gdn",
        kernel,
        phase=[phase] * n,
        batch_size=batch,
        seq_len=seq,
        num_tokens=[b * q for b, q in zip(batch, seq)],
        d_model=[4096] * n,
        d_conv=[4] * n,
        num_k_heads=[4] * n,
        head_k_dim=[128] * n,
        num_v_heads=[16] * n,
        head_v_dim=[128] * n,
        model_name=["Qwen/Qwen3.5-397B-A17B"] * n,
        latency=latency,
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    d = f"{ROOT}data/h200_sxm/"
    files = {
        f"{ROOT}h200_sxm.yaml": SYS_YAML.encode(),
        # two repeats of (bf16, 1, 32, 32) → median; a second lane measuring the same shape loses (fewer rows)
        f"{d}gemm/trtllm/1.3.0rc20/gemm_perf.parquet": _pq(
            _rows(
                "1.3.0rc20",
                "gemm",
                "torch_flow",
                gemm_dtype=["bfloat16"] * 4,
                m=[1, 1, 1, 2],
                n=[32] * 4,
                k=[32] * 4,
                latency=[0.010, 0.014, 0.999, 0.02],
            )
            + _rows("1.3.0rc20", "gemm", "other_lane", gemm_dtype=["bfloat16"], m=[1], n=[32], k=[32], latency=[5.0])
        ),
        # the older version adds m=4 and must not override m=1
        f"{d}gemm/trtllm/1.3.0rc10/gemm_perf.parquet": _pq(
            _rows(
                "1.3.0rc10",
                "gemm",
                "torch_flow",
                gemm_dtype=["bfloat16"] * 2,
                m=[1, 4],
                n=[32, 32],
                k=[32, 32],
                latency=[7.0, 0.04],
            )
        ),
        # a newer version than the current slot is never read
        f"{d}gemm/trtllm/1.3.0rc23/gemm_perf.parquet": _pq(
            _rows("1.3.0rc23", "gemm", "torch_flow", gemm_dtype=["bfloat16"], m=[8], n=[32], k=[32], latency=[1.0])
        ),
        f"{d}attention/trtllm/1.3.0rc20/context_attention_perf.parquet": _pq(
            _attn("1.3.0rc20", "context_attention", "isl")
        ),
        f"{d}attention/trtllm/1.3.0rc20/generation_attention_perf.parquet": _pq(
            _attn("1.3.0rc20", "generation_attention", "step")
        ),
        f"{d}mla_bmm/trtllm/1.3.0rc20/mla_bmm_perf.parquet": _pq(
            _rows(
                "1.3.0rc20", "mla_gen_pre", "k", bmm_dtype=["bfloat16"], num_tokens=[1], num_heads=[128], latency=[0.01]
            )
        ),
        f"{d}moe/trtllm/1.3.0rc20/moe_perf.parquet": _pq(
            _rows(
                "1.3.0rc20",
                "moe",
                "cutlass",
                moe_dtype=["fp8"] * 2,
                num_tokens=[1, 1],
                hidden_size=[4096, 9999],
                inter_size=[1536, 1],
                topk=[8, 1],
                num_experts=[128, 2],
                moe_tp_size=[1, 1],
                moe_ep_size=[8, 1],
                distribution=["balanced"] * 2,
                latency=[0.05, 0.06],
            )
        ),
        f"{d}comm/trtllm/1.3.0rc20/custom_allreduce_perf.parquet": _pq(
            _rows(
                "1.3.0rc20",
                "all_reduce",
                "TRTLLM",
                allreduce_dtype=["bfloat16"],
                num_gpus=[2],
                message_size=[128],
                latency=[0.003],
                implementation=["trtllm"],
            )
        ),
        f"{d}comm/trtllm/1.3.0rc20/moe_a2a_perf.parquet": _pq(
            _rows(
                "1.3.0rc20",
                "moe_a2a",
                "deepep",
                comm_backend=["deepep_ht"],
                phase=["dispatch"],
                comm_dtype=["bf16"],
                ep_size=[8],
                node_num=[1],
                hidden_size=[4096],
                topk=[8],
                num_experts=[128],
                num_tokens=[16],
                sms=[20],
                transmit_us=[50.0],
                notify_us=[0.0],
                latency=[50.0],
            )
        ),
        # GDN: each shape is two kernels per phase, summed; (b=2, seq=16) lacks its conv kernel: dropped
        f"{d}linear_attention/trtllm/1.3.0rc20/gdn_perf.parquet": _pq(
            _gdn("context", "causal_conv1d_fn", [1, 1], [16, 1024], [0.002, 0.01])
            + _gdn("context", "chunk_gated_delta_rule", [1, 1, 2, 2], [16, 1024, 16, 16], [0.02, 0.08, 0.03, 0.05])
            + _gdn("generation", "causal_conv1d_update", [1, 8], [1, 1], [0.003, 0.004])
            + _gdn("generation", "fused_recurrent_gated_delta_rule", [1, 8], [1, 1], [0.005, 0.009])
        ),
        f"{d}quantize/trtllm/1.3.0rc20/scale_matrix_perf.parquet": _pq(
            _rows(
                "1.3.0rc20",
                "scale_matrix",
                "torch_ops",
                quant_dtype=["fp8"] * 2,
                m=[1, 8],
                k=[1024] * 2,
                latency=[0.0013, 0.0014],
            )
        ),
        f"{d}comm/nccl/2.26.2/nccl_perf.parquet": _pq(
            _rows(
                "2.29.2",
                "all_gather",
                "NCCL",
                nccl_dtype=["half"] * 3,
                num_gpus=[2] * 3,
                message_size=[256] * 3,
                latency=[0.005, 0.007, 0.006],
            )
        ),
    }
    path = tmp_path_factory.mktemp("whl") / "fake-0.12.0.whl"
    with zipfile.ZipFile(path, "w") as z:
        for name, blob in sorted(files.items()):
            z.writestr(name, blob)
    return path


def _run(wheel: Path, out: Path) -> Path:
    import_all(
        str(wheel),
        out,
        log=lambda m: None,
        systems=("h200_sxm",),
        backends={"trtllm": "1.3.0rc20"},
        shapes=frozenset({(4096, 1536, 8, 128)}),
    )
    return out


def _read(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))


def test_rerun_is_byte_identical(wheel, tmp_path):
    a, b = _run(wheel, tmp_path / "a"), _run(wheel, tmp_path / "b")
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 8
    for f in files_a:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_median_lane_and_fill(wheel, tmp_path):
    out = _run(wheel, tmp_path / "d")
    rows = {int(r["m"]): r for r in _read(out / "perf/h200_sxm/trtllm/1.3.0rc20/gemm.csv.gz")}
    assert sorted(rows) == [1, 2, 4]  # m=8 came from a newer version: not admitted
    assert float(rows[1]["latency_ms"]) == pytest.approx(0.014)  # median of 0.010, 0.014, 0.999
    assert rows[1]["kernel"] == "torch_flow"
    assert float(rows[4]["latency_ms"]) == pytest.approx(0.04)  # filled from 1.3.0rc10
    manifest = json.loads((out / "perf/h200_sxm/trtllm/1.3.0rc20/manifest.json").read_text())
    srcs = manifest["tables"]["gemm"]["sources"]
    assert [s["version"] for s in srcs] == ["1.3.0rc20", "1.3.0rc10"] and srcs[1]["rows_added"] == 1
    assert all(len(s["sha256"]) == 64 for s in srcs)


def test_units_shapes_and_system(wheel, tmp_path):
    out = _run(wheel, tmp_path / "e")
    a2a = _read(out / "perf/h200_sxm/trtllm/1.3.0rc20/moe_a2a.csv.gz")
    assert float(a2a[0]["latency_ms"]) == pytest.approx(0.05)  # 50 µs
    moe = _read(out / "perf/h200_sxm/trtllm/1.3.0rc20/moe.csv.gz")
    assert [r["hidden"] for r in moe] == ["4096"]  # shapes of models we do not ship are dropped
    quantize = _read(out / "perf/h200_sxm/trtllm/1.3.0rc20/quantize.csv.gz")
    assert [(r["dtype"], r["m"], r["k"]) for r in quantize] == [("fp8", "1", "1024"), ("fp8", "8", "1024")]
    assert float(quantize[0]["latency_ms"]) == pytest.approx(0.0013)
    nccl = _read(out / "perf/h200_sxm/nccl/2.26.2/nccl.csv.gz")
    assert len(nccl) == 1 and float(nccl[0]["latency_ms"]) == pytest.approx(0.006)
    import yaml

    sysrec = yaml.safe_load((out / "systems/h200_sxm.yaml").read_text())
    assert sysrec["gpu"]["mem_bw_bytes_per_s"] == 4.8e12 and sysrec["node"]["gpus_per_node"] == 8


def test_gdn_kernels_are_summed_per_phase(wheel, tmp_path):
    out = _run(wheel, tmp_path / "g")
    rows = _read(out / "perf/h200_sxm/trtllm/1.3.0rc20/gdn.csv.gz")
    got = {(r["phase"], int(r["batch"]), int(r["seq"])): float(r["latency_ms"]) for r in rows}
    # conv + delta rule; the shape missing one of its kernels is dropped rather than priced too fast
    assert got == pytest.approx(
        {
            ("context", 1, 16): 0.022,
            ("context", 1, 1024): 0.09,
            ("generation", 1, 1): 0.008,
            ("generation", 8, 1): 0.013,
        }
    )
    assert {r["kernel"] for r in rows if r["phase"] == "context"} == {"causal_conv1d_fn+chunk_gated_delta_rule"}
    assert {(r["k_heads"], r["v_heads"], r["k_dim"], r["d_model"]) for r in rows} == {("4", "16", "128", "4096")}
    manifest = json.loads((out / "perf/h200_sxm/trtllm/1.3.0rc20/manifest.json").read_text())
    entry = manifest["tables"]["gdn"]
    assert entry["rows"] == 4
    assert entry["sources"][0]["path"].endswith("linear_attention/trtllm/1.3.0rc20/gdn_perf.parquet")
    assert len(entry["sources"][0]["sha256"]) == 64


class _Wheel:
    """Just enough of convert.Wheel: one moe_perf file per backend folder."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def versions(self, system, family, backend, stem):
        return sorted(v for p in self.files if (v := p.split("/")[-2]) and f"/{system}/{family}/{backend}/" in p)

    def read(self, path):
        return self.files[path]


def _moe(backend: str, version: str, dtypes: list[str]) -> tuple[str, bytes]:
    n = len(dtypes)
    rows = _rows(
        version,
        "moe",
        f"{backend}_kernel",
        moe_dtype=dtypes,
        distribution=["balanced"] * n,
        hidden_size=[2880] * n,
        inter_size=[2880] * n,
        topk=[4] * n,
        num_experts=[128] * n,
        moe_tp_size=[1] * n,
        moe_ep_size=[1] * n,
        num_tokens=[8] * n,
        latency=[0.1 * (i + 1) for i in range(n)],
    )
    return f"{ROOT}data/b200_sxm/moe/{backend}/{version}/moe_perf.parquet", _pq(rows)


@pytest.mark.parametrize("sm,shared", [(100, True), (90, False)])
def test_a_kernel_both_engines_call_fills_the_table_that_lacks_it(sm, shared):
    """vLLM's table gets SGLang's MXFP8-activation rows of the FlashInfer MoE kernel (sources.SHARED_KERNELS) on
    Blackwell, never over its own rows and only for that dtype; the provenance names the donor."""
    from costmodel.engines import engine_rules
    from costmodel.importer.convert import convert_table
    from costmodel.importer.sources import TABLES

    wheel = _Wheel(
        dict(
            [
                _moe("vllm", "0.24.0", ["w4a16_mxfp4"]),
                _moe("sglang", engine_rules("sglang").version, ["w4a16_mxfp4", "w4a8_mxfp4_mxfp8", "bfloat16"]),
            ]
        )
    )
    spec = next(t for t in TABLES if t.name == "moe")
    merged, prov = convert_table(wheel, spec, "b200_sxm", "vllm", "0.24.0", sm, frozenset())
    dtypes = sorted(k[0] for k in merged)
    assert dtypes == (["w4a16_mxfp4", "w4a8_mxfp4_mxfp8"] if shared else ["w4a16_mxfp4"])
    own = next(v for k, v in merged.items() if k[0] == "w4a16_mxfp4")
    assert own[0] == "vllm_kernel"  # the engine's own measurement wins
    assert ("shared_kernel" in prov[-1]) == shared


def test_a_lane_table_keeps_only_its_kernel_and_is_absent_where_unmeasured():
    """moe_trtllm_gen takes only the TRTLLM-gen lane (moe_torch_flow_min_latency) of moe_perf; the moe table keeps
    the engine default's lane for the same shape; a system whose files lack the lane has no such table."""
    from costmodel.importer.convert import convert_table
    from costmodel.importer.sources import TABLES

    def lane(kernel: str, latency: float) -> list[dict]:
        return _rows(
            "1.3.0rc20",
            "moe",
            kernel,
            moe_dtype=["nvfp4"],
            distribution=["balanced"],
            hidden_size=[7168],
            inter_size=[2048],
            topk=[8],
            num_experts=[256],
            moe_tp_size=[4],
            moe_ep_size=[1],
            num_tokens=[8],
            latency=[latency],
        )

    path = f"{ROOT}data/b200_sxm/moe/trtllm/1.3.0rc20/moe_perf.parquet"
    both = _Wheel({path: _pq(lane("moe_torch_flow_cutlass", 0.24) * 2 + lane("moe_torch_flow_min_latency", 0.065))})
    spec = {t.name: t for t in TABLES}
    gen, _ = convert_table(both, spec["moe_trtllm_gen"], "b200_sxm", "trtllm", "1.3.0rc20", 100, frozenset())
    default, _ = convert_table(both, spec["moe"], "b200_sxm", "trtllm", "1.3.0rc20", 100, frozenset())
    assert [v for v in gen.values()] == [("moe_torch_flow_min_latency", (0.065,))]
    assert [v for v in default.values()] == [("moe_torch_flow_cutlass", (0.24,))]
    only_cutlass = _Wheel({path: _pq(lane("moe_torch_flow_cutlass", 0.24))})
    assert (
        convert_table(only_cutlass, spec["moe_trtllm_gen"], "b200_sxm", "trtllm", "1.3.0rc20", 100, frozenset()) is None
    )
    # the same TRT-LLM-gen kernel as SGLang measured it (its flashinfer_trtllm lane) fills the dtypes TRT-LLM's own
    # lane lacks; SGLang's other lanes and its rows for shapes TRT-LLM measured are not taken
    sg = f"{ROOT}data/b200_sxm/moe/sglang/0.5.14/moe_perf.parquet"
    fp8 = [r | {"moe_dtype": "fp8_block"} for r in lane("sglang_flashinfer_trtllm_moe", 0.07)]
    triton = [r | {"moe_dtype": "fp8_block", "num_tokens": 16} for r in lane("sglang_fused_moe_triton", 0.5)]
    shared = _Wheel({path: both.files[path], sg: _pq(fp8 + triton + lane("sglang_flashinfer_trtllm_moe", 0.06))})
    gen, prov = convert_table(shared, spec["moe_trtllm_gen"], "b200_sxm", "trtllm", "1.3.0rc20", 100, frozenset())
    by_dtype = {k[0]: v for k, v in gen.items()}
    assert len(gen) == 2
    assert by_dtype == {
        "nvfp4": ("moe_torch_flow_min_latency", (0.065,)),
        "fp8_block": ("sglang_flashinfer_trtllm_moe", (0.07,)),
    }
    assert any("shared_kernel" in p and p["rows_added"] == 1 for p in prov)
    # Hopper runs no TRT-LLM-gen kernel: nothing is shared below SM 100
    hopper, _ = convert_table(shared, spec["moe_trtllm_gen"], "b200_sxm", "trtllm", "1.3.0rc20", 90, frozenset())
    assert [k[0] for k in hopper] == ["nvfp4"]


def _moe_rows(cells: dict[tuple, list[float]], lane: str = "cutlass") -> dict[tuple, tuple]:
    """Rows keyed (dtype, ep, tokens) of cells keyed (dtype, ep): latencies at tokens 8, 64, 256."""
    return {(*cell, t): (lane, (ms,)) for cell, vals in cells.items() for t, ms in zip((8, 64, 256), vals)}


def test_a_cell_slower_than_its_twin_beyond_the_systems_ratio_takes_the_twins_rows():
    from costmodel.importer.convert import mend_outliers

    twin = _moe_rows({("nvfp4", ep): [0.1 * ep, 0.2 * ep, 0.3 * ep] for ep in (1, 2, 4, 8, 16)})
    # the system runs 4 % slower than its twin everywhere, except one cell at 1.8x (EP 8) and one at 1.3x (EP 16)
    own = {k: (lane, (v[0] * 1.04,)) for k, (lane, v) in twin.items()}
    for t in (8, 64, 256):
        own[("nvfp4", 8, t)] = ("cutlass", (twin[("nvfp4", 8, t)][1][0] * 1.8,))
        own[("nvfp4", 16, t)] = ("cutlass", (twin[("nvfp4", 16, t)][1][0] * 1.3,))
    own[("nvfp4", 8, 1024)] = ("cutlass", (9.0,))  # a token count the twin did not measure stays
    before16 = {t: own[("nvfp4", 16, t)] for t in (8, 64, 256)}
    mended, ratio = mend_outliers(own, twin, outlier=1.5)
    assert (mended, ratio) == (1, pytest.approx(1.04))
    for t in (8, 64, 256):
        assert own[("nvfp4", 8, t)][1][0] == pytest.approx(twin[("nvfp4", 8, t)][1][0] * 1.04)
        assert own[("nvfp4", 16, t)] == before16[t]  # within 1.5x of the systematic ratio: kept
    assert own[("nvfp4", 8, 1024)] == ("cutlass", (9.0,))


def test_a_faster_cell_or_another_lane_is_never_taken_from_the_twin():
    from costmodel.importer.convert import mend_outliers

    twin = _moe_rows({("nvfp4", ep): [0.1, 0.2, 0.3] for ep in (1, 2, 4)})
    own = dict(twin)
    for t in (8, 64, 256):
        own[("nvfp4", 1, t)] = ("cutlass", (twin[("nvfp4", 1, t)][1][0] / 2,))  # faster than the twin: kept
        own[("nvfp4", 2, t)] = ("other_lane", (twin[("nvfp4", 2, t)][1][0] * 3,))  # not the same kernel: kept
    snapshot = dict(own)
    assert mend_outliers(own, twin, outlier=1.5)[0] == 0
    assert own == snapshot
    assert mend_outliers(own, {}, outlier=1.5) == (0, 1.0)


def test_the_import_mends_a_b200_moe_cell_from_gb200_and_says_so():
    """convert_table reads the twin system's rows of the same table and release: b200's EP-2 cell, measured 2x
    gb200's where EP 1 and EP 4 agree, gets gb200's rows; the provenance counts it."""
    from costmodel.importer.convert import convert_table
    from costmodel.importer.sources import TABLES

    def moe_file(system: str, slow_ep2: float) -> tuple[str, bytes]:
        eps, toks = [1, 1, 2, 2, 4, 4], [8, 64] * 3
        lat = [0.1 * ep * (t / 8) ** 0.5 * (slow_ep2 if ep == 2 else 1.0) for ep, t in zip(eps, toks)]
        rows = _rows(
            "1.3.0rc20",
            "moe",
            "cutlass",
            moe_dtype=["nvfp4"] * 6,
            distribution=["power_law_1.01"] * 6,
            hidden_size=[7168] * 6,
            inter_size=[2048] * 6,
            topk=[8] * 6,
            num_experts=[256] * 6,
            moe_tp_size=[1] * 6,
            moe_ep_size=eps,
            num_tokens=toks,
            latency=lat,
        )
        return f"{ROOT}data/{system}/moe/trtllm/1.3.0rc20/moe_perf.parquet", _pq(rows)

    wheel = _Wheel(dict([moe_file("b200_sxm", 2.0), moe_file("gb200", 1.0)]))
    spec = next(t for t in TABLES if t.name == "moe")
    merged, prov = convert_table(wheel, spec, "b200_sxm", "trtllm", "1.3.0rc20", 100, frozenset())
    ep2 = {k[-1]: v[1][0] for k, v in merged.items() if k[7] == 2}
    assert ep2 == {8: pytest.approx(0.2), 64: pytest.approx(0.2 * 8**0.5)}
    assert prov[-1]["twin_check"].startswith("gb200: 1 cells")
    gb, _ = convert_table(wheel, spec, "gb200", "trtllm", "1.3.0rc20", 100, frozenset())
    assert {k[-1]: v[1][0] for k, v in gb.items() if k[7] == 2} == ep2  # the faster twin keeps its own rows
