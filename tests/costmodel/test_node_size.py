"""The node size the workers are placed on reaches the cost model: a worker larger than a node pays the
inter-node link for its collectives and pipeline hand-offs (issue 12, item 5)."""

from __future__ import annotations

import numpy as np

from costmodel.arch import load_model
from costmodel.build import build_surfaces
from costmodel.config import Quant, SearchSpace, SurfaceRequest
from costmodel.opdb import open_db
from costmodel.step import Layout, StepModel
from solver.export.placement import gpus_per_node
from solver.spec import load_spec

Q = Quant(gemm="fp8_block", kv_cache="fp8", attention="bfloat16", moe="fp8_block")
SYSTEM, BACKEND, VERSION = "h200_sxm", "trtllm", "1.3.0rc20"


def _req(tp: tuple[int, ...], gpn: int | None, pp: tuple[int, ...] = (1,)) -> SurfaceRequest:
    return SurfaceRequest(
        load_model("QWEN3_32B"),
        SYSTEM,
        BACKEND,
        VERSION,
        4000,
        500,
        Q,
        SearchSpace(tp=tp, pp=pp, batch_sizes=(1, 8, 64)),
        gpus_per_node=gpn,
    )


def _lay(tp: int, pp: int = 1) -> Layout:
    return Layout(*(np.array(float(x)) for x in (tp, pp, 1, 1, 1)))


def test_tp8_over_two_nodes_of_four_pays_nccls_all_reduce_over_the_inter_node_link():
    db, a = open_db(SYSTEM, BACKEND, VERSION), load_model("QWEN3_32B")
    batch = np.array([1.0, 8.0, 64.0])
    one_node, two_nodes = StepModel(db, a, Q, gpus_per_node=8), StepModel(db, a, Q, gpus_per_node=4)
    t8 = one_node.iteration_ms(_lay(8), batch, 4000, 0, 0)
    t4 = two_nodes.iteration_ms(_lay(8), batch, 4000, 0, 0)
    # A dense layer all-reduces twice (after attention, after the FFN). Across nodes the engine's custom kernel is
    # off: each all-reduce is NCCL's measured in-node time, plus the ring's bytes, 2(n-1)/n of the bf16 message, at
    # the inter-node bandwidth (50 GB/s) instead of NVLink's (450 GB/s), plus one more hop's latency.
    s, msg, g = db.system, batch * a.hidden, np.array(8.0)
    nccl = db.latency_ms("nccl", g, msg, op="all_reduce", dtype="half")
    custom = db.latency_ms("custom_allreduce", g, msg, dtype="bfloat16", variant=one_node.ar_variant)
    ring_bytes = 2 * 7 / 8 * batch * a.hidden * 2.0
    per_ar = (
        nccl
        - custom
        + ring_bytes * (1 / s.inter_node_bw_bytes_per_s - 1 / s.intra_node_bw_bytes_per_s) * 1e3
        + s.p2p_latency_s * 1e3
    )
    np.testing.assert_allclose(t4 - t8, 2 * a.num_layers * per_ar, rtol=1e-9)
    assert np.all(nccl > custom) and np.all(t4 > t8)
    # A worker within a node is priced the same whatever the node size
    np.testing.assert_allclose(
        two_nodes.iteration_ms(_lay(4), batch, 4000, 0, 0), one_node.iteration_ms(_lay(4), batch, 4000, 0, 0), rtol=0
    )


def test_an_nvlink_rack_keeps_the_custom_all_reduce_across_its_nodes():
    """gb200's trays of four GPUs share one NVLink domain (inter-node link as fast as NVLink): a TP-8 worker over two
    trays keeps the engine's custom all-reduce, as on one node, and pays only the extra hop's latency."""
    db, a = open_db("gb200", BACKEND, VERSION), load_model("QWEN3_32B")
    batch, g = np.array([1.0, 8.0]), np.array(8.0)
    tray, node = StepModel(db, a, Q, gpus_per_node=4), StepModel(db, a, Q, gpus_per_node=8)
    hop = db.system.p2p_latency_s * 1e3
    np.testing.assert_allclose(tray._allreduce(g, batch) - node._allreduce(g, batch), hop, rtol=1e-9)
    nccl = db.latency_ms("nccl", g, batch * a.hidden, op="all_reduce", dtype="half")
    assert np.all(tray._allreduce(g, batch) < nccl + hop)


def test_pipeline_boundary_between_nodes_uses_the_inter_node_link():
    db, a = open_db(SYSTEM, BACKEND, VERSION), load_model("QWEN3_32B")
    s, tokens = db.system, np.array([8.0, 64.0])
    per_link = tokens * a.hidden * 2.0 * 1e3 * (1 / s.inter_node_bw_bytes_per_s - 1 / s.intra_node_bw_bytes_per_s)

    def step(tp, pp, gpn):
        return StepModel(db, a, Q, gpus_per_node=gpn).iteration_ms(_lay(tp, pp), tokens * pp, 4000, 0, 0)

    # TP2 x PP2 on nodes of 2: the one stage boundary is the node boundary; the TP pairs stay within a node
    np.testing.assert_allclose(step(2, 2, 2) - step(2, 2, 8), per_link, rtol=1e-9)
    np.testing.assert_array_equal(step(2, 2, 4), step(2, 2, 8))  # 4 GPUs fit one node of 4
    # TP4 x PP4 (16 GPUs) on nodes of 8 holds two stages per node: one of its three boundaries crosses nodes,
    # against none when all sixteen GPUs share one 16-GPU node
    np.testing.assert_allclose(step(4, 4, 8) - step(4, 4, 16), per_link, rtol=1e-9)


def test_surfaces_price_the_node_size_of_the_request():
    default, eight, four = (build_surfaces(_req((4, 8), g)) for g in (None, 8, 4))
    assert (default.gpus_per_node, eight.gpus_per_node, four.gpus_per_node) == (8, 8, 4)
    for role in ("agg", "prefill", "decode"):
        d, e, f = (getattr(s, role) for s in (default, eight, four))
        # Nodes of 8 are today's pricing (the system's own node size) exactly
        np.testing.assert_array_equal(d.tpot_ms, e.tpot_ms)
        np.testing.assert_array_equal(d.ttft_ms, e.ttft_ms)
        tp8, tp4 = f.tp == 8, f.tp == 4
        assert tp8.any() and tp4.any()
        lat = "ttft_ms" if role == "prefill" else "tpot_ms"
        assert np.all(getattr(f, lat)[tp8] > getattr(e, lat)[e.tp == 8])  # spans two nodes of 4
        np.testing.assert_array_equal(getattr(f, lat)[tp4], getattr(e, lat)[e.tp == 4])  # fits one node


def test_spec_topology_node_size_reaches_the_request_and_the_export(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "model: Qwen/Qwen3-32B\nsystem: h200_sxm\nbackend: trtllm\ntotal_gpus: 16\n"
        "workload: {isl: 4000, osl: 500}\nsla: {tpot_ms: 30}\n"
    )
    assert load_spec(spec).request.gpus_per_node is None
    assert gpus_per_node(load_spec(spec)) == 8
    four = load_spec(spec, ["constraints.topology.gpus_per_node=4"])
    assert four.request.gpus_per_node == 4 == four.constraints.topology.gpus_per_node == gpus_per_node(four)
