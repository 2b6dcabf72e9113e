"""One engine iteration's latency: the model's op graph priced with measured op timings.

An iteration runs ``nd`` decode sequences (KV length ``ctx``) and ``npf`` prefill
sequences of ``lpf`` new tokens each, per attention-DP rank. Every argument broadcasts, so
one call prices a whole grid of layouts × batch sizes. Layout conventions: attention runs
with tensor parallel ``tp`` on each of ``dp`` data-parallel ranks; MoE experts are split
``moe_tp`` × ``moe_ep`` over the same tp·dp GPUs; ``pp`` pipeline stages each hold
layers/pp and work on pp micro-batches in flight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from costmodel.arch import ModelArch
from costmodel.config import Quant
from costmodel.engines import engine_rules
from costmodel.opdb import MissingDataError, OpDB

# Memory passes of hidden-size activations per layer not covered by tables (norms, residual, rope, act).
ELEMENTWISE_PASSES = 8.0
# Host launches per decoder layer when a step runs eagerly, outside a CUDA graph: one per op the layer runs (op
# count). Attention block 6 (norm, QKV, rope, cache write, attention, output) or MLA 9 (down projection, two
# norms, Q up-projection, absorb BMM, rope, attention, BMM, output); residual add + norm 1; dense FFN 3 (gate/up,
# activation, down) or MoE 7 (router, top-k, permute, two expert GEMMs, activation, combine) plus 3 for shared
# experts; 2 collectives where the layer is split over GPUs (all-reduces, or a gather and a scatter).
EAGER_LAUNCHES = {
    "attention": 6,
    "mla": 9,
    "residual": 1,
    "dense_ffn": 3,
    "moe": 7,
    "shared_experts": 3,
    "collectives": 2,
    # the small kernels StepModel._pass prices: q and k norms of an attention layer (ModelArch.qk_norm, plus the
    # all-reduce of norms over all heads where split), a GDN layer's gating and gated norm (gating inside the
    # decode kernel where the engine fuses it), a gated shared expert's gate GEMM and scaling
    "qk_norm": 2,
    "gdn_side": 2,
    "shared_expert_gate": 2,
}


def eager_launch_ms(db: OpDB) -> float | None:
    """Host time (ms) of one eager op launch, from the op tables: the all-reduce measured eagerly minus the same
    all-reduce replayed in a CUDA graph at the smallest message (where both are latency, not bandwidth), median
    over the measured GPU counts. None when the backend's tables measure no eager variant (TRT-LLM)."""
    if not db.has("custom_allreduce"):
        return None
    variants = db.options("custom_allreduce", "variant")
    eager = next((v for v in variants if v.endswith("_eager")), None)
    graph = next((v for v in variants if v.endswith("_graph")), None)
    if eager is None or graph is None:
        return None
    msg = np.asarray(1.0)  # below the smallest measured message: the tables' floor
    gaps = [
        float(
            db.latency_ms("custom_allreduce", np.asarray(g), msg, dtype="bfloat16", variant=eager)
            - db.latency_ms("custom_allreduce", np.asarray(g), msg, dtype="bfloat16", variant=graph)
        )
        for g in (2, 4, 8)
    ]
    return max(float(np.median(gaps)), 0.0)


@dataclass(frozen=True)
class Layout:
    """Parallel layout arrays (broadcastable)."""

    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    moe_tp: np.ndarray
    moe_ep: np.ndarray


class StepModel:
    """Prices iterations of one model with one quantization on one OpDB."""

    def __init__(
        self,
        db: OpDB,
        arch: ModelArch,
        quant: Quant,
        mtp_draft: int = 0,
        mtp_accept: float = 0.0,
        gpus_per_node: int | None = None,
        graph_max_batch: int | None = None,
        moe_backend: str | None = None,
    ):
        self.db, self.a, self.q = db, arch, quant
        # decode batches per attention-DP rank above this run eagerly (no captured CUDA graph); None: all captured
        self.graph_max_batch = graph_max_batch
        self.launch_ms = eager_launch_ms(db)
        # node size the workers are placed on (None: the system's); groups beyond it cross the inter-node link
        self.gpus_per_node = gpus_per_node or db.system.gpus_per_node
        # multi-token prediction: each decode step verifies mtp_draft drafted tokens per request
        self.mtp_draft, self.mtp_accept = (mtp_draft, mtp_accept) if arch.mtp_layers else (0, 0.0)
        # the backend's constants (data/engines/<backend>.yaml): host time per iteration, the all-reduce it runs,
        # and the gap its quantized GEMM rows carry that the engine does not pay
        rules = engine_rules(db.backend)
        self.gdn_gating_fused = rules.gdn_decode_gating_fused
        self.overhead_ms = rules.step_overhead_ms
        opts = db.options("custom_allreduce", "variant")
        self.ar_variant = next((v for v in rules.allreduce_variants if v in opts), opts[0])
        self.gemm_gap_ms = rules.quant_gemm_gap_ms
        self.moe_dist = "power_law_1.01"
        # the MoE kernel the recipe runs (None: the engine's default), as the op table that measured it
        self.moe_table = rules.moe_table(moe_backend) if arch.is_moe else "moe"
        self.moe_backend = moe_backend if arch.is_moe else None
        self.attn_dtypes = ("bfloat16", "bfloat16") if arch.is_mla else self._attention_dtypes()
        # The measured MLA module runs all its projections in one dtype: usable unless the checkpoint keeps
        # only some of them in bf16 (then each projection is priced as its own GEMM).
        mla_gemm = {self.gemm_dtype("attn_qkv"), self.gemm_dtype("attn_out")}
        self.mla_module = (
            arch.is_mla
            and db.has("mla_context_module")
            and len(mla_gemm) == 1
            and mla_gemm <= set(db.options("mla_context_module", "gemm_dtype"))
        )

    def gemm_dtype(self, group: str) -> str:
        """The GEMM dtype of a weight group (costmodel.precision.HIGH_PRECISION_GROUPS): bf16 where the
        checkpoint keeps the group unquantized, else the priced GEMM quantization."""
        return "bfloat16" if group in self.a.high_precision else self.q.gemm

    # ---- op helpers: zero where the op has no work ----
    def _gemm(self, m, n, k, dtype=None):
        m = np.asarray(m, float)
        dtype = dtype or self.q.gemm
        lat = self.db.latency_ms("gemm", np.maximum(m, 1), n, k, dtype=dtype)
        if dtype in self.gemm_gap_ms:
            lat = np.maximum(lat - self.gemm_gap_ms[dtype], 0.5 * lat)
        return np.where(m > 0, lat, 0.0)

    def _collective(self, kind: str, gpus, tokens, **cats):
        """A TP/EP collective over hidden-size token vectors; groups beyond one node use the slower link."""
        gpus, tokens = np.broadcast_arrays(np.asarray(gpus, float), np.asarray(tokens, float))
        msg = np.maximum(tokens * self.a.hidden, 1.0)
        lat = self.db.latency_ms(kind, np.clip(gpus, 2, 8), msg, **cats)
        s = self.db.system
        # beyond one node the slower link carries the ring traffic: the measured in-node time plus the extra
        # bandwidth time of the ring's bytes on that link (2(n−1)/n of the bf16 message for an all-reduce,
        # (n−1)/n for a gather or scatter) and one more hop's latency. Small decode messages stay latency-bound.
        ring = (2.0 if kind == "custom_allreduce" or cats.get("op") == "all_reduce" else 1.0) * (gpus - 1) / gpus
        extra = ring * msg * 2.0 * (1.0 / s.inter_node_bw_bytes_per_s - 1.0 / s.intra_node_bw_bytes_per_s) * 1e3
        lat = lat + np.where(gpus > self.gpus_per_node, extra + s.p2p_latency_s * 1e3, 0.0)
        return np.where((gpus > 1) & (tokens > 0), lat, 0.0)

    def _allreduce(self, gpus, tokens):
        """A TP all-reduce (ms): the engine's custom kernel within one NVLink domain, NCCL's beyond it. The custom
        kernels reduce through peer-mapped GPU memory, so the engines turn them off for a group that spans nodes
        joined by a slower link (vLLM and SGLang custom_all_reduce.py: "Custom allreduce is disabled because this
        process group spans across nodes"); an NVL72 rack (inter-node link as fast as NVLink) keeps them."""
        custom = self._collective("custom_allreduce", gpus, tokens, dtype="bfloat16", variant=self.ar_variant)
        s = self.db.system
        cross = np.asarray(gpus, float) > self.gpus_per_node
        if s.inter_node_bw_bytes_per_s >= s.intra_node_bw_bytes_per_s or not np.any(cross):
            return custom
        return np.where(cross, self._nccl("all_reduce", gpus, tokens), custom)

    def _nccl(self, op, gpus, tokens):
        return self._collective("nccl", gpus, tokens, op=op, dtype="half")

    def _mem_ms(self, nbytes):
        s = self.db.system
        return nbytes / (s.mem_bw_bytes_per_s * s.mem_bw_efficiency) * 1e3

    def _attn(self, lay: Layout, nd, ctx, npf, lpf):
        """Attention core (no projections) for one layer, GQA/MHA, window layers apart."""
        a = self.a
        heads = a.num_heads / lay.tp
        kvh = np.maximum(a.num_kv_heads / lay.tp, 1)
        windows = [(0, a.num_layers - a.num_sliding_layers)]
        if a.num_sliding_layers:
            windows.append((a.sliding_window, a.num_sliding_layers))
        attn_dt, kv_dt = self.attn_dtypes
        out: np.ndarray | float = 0.0
        for window, n_layers in windows:
            if n_layers == 0:
                continue
            c = dict(kv_dtype=kv_dt, window=self._window(window), head_dim=a.head_dim)
            ctx_l = self.db.latency_ms(
                "context_attention", heads, kvh, np.maximum(npf, 1), np.maximum(lpf, 1), attn_dtype=attn_dt, **c
            )
            gen_l = self.db.latency_ms(
                "generation_attention", heads, kvh, np.maximum(nd, 1), np.maximum(ctx, 1), attn_dtype="bfloat16", **c
            )
            out = out + n_layers * (np.where(npf > 0, ctx_l, 0.0) + np.where(nd > 0, gen_l, 0.0))
        return out

    def _pass(self, t, width, bytes_per_value: float = 4.0) -> np.ndarray:
        """One small elementwise kernel over a [t, width] bf16 activation (a norm, a gate), in ms: the engine's own
        one-pass kernel at one token, whose fixed cost the op tables measure in the static FP8 quantize of an
        activation (``quantize`` table at decode widths on H100/H200/B200: TRT-LLM 1.2-2.1 us, vLLM 1.8-2.5 us,
        SGLang 5.7-8 us), plus the pass's bytes at the memory bandwidth (``bytes_per_value``: read and written per
        value, 4 for one bf16 tensor in and out). Only the one-token row is read: SGLang's quantize rows at
        thousands of tokens run several times slower than a memory pass."""
        t, width = np.asarray(t, float), np.asarray(width, float)
        fixed = self.db.latency_ms("quantize", np.ones_like(width), width, dtype="fp8")
        return np.where(t > 0, fixed + self._mem_ms(bytes_per_value * t * width), 0.0)

    def _qk_norm(self, lay: Layout, t) -> np.ndarray:
        """The q and k RMSNorm of one attention layer (ModelArch.qk_norm) over t tokens, in ms: a pass over the
        layer's q and one over its k activations, and for norms over all heads (ModelArch.qk_norm_across_heads) the
        all-reduce of the partial sums under TP."""
        a = self.a
        if not a.qk_norm:
            return np.zeros_like(np.asarray(t, float))
        kvh = np.maximum(a.num_kv_heads / lay.tp, 1)
        out = self._pass(t, a.num_heads / lay.tp * a.head_dim) + self._pass(t, kvh * a.head_dim)
        if a.qk_norm_across_heads:
            # one all-reduce of each token's two fp32 partial sums (q and k) over the attention TP group, as wide as
            # 4 bf16 values per token (vLLM MiniMaxText01RMSNormTP.forward_qk); _allreduce sizes by hidden-wide tokens
            t = np.asarray(t, float)
            out = out + np.where(t > 0, self._allreduce(lay.tp, 4.0 * t / a.hidden), 0.0)
        return out

    def _attention_dtypes(self) -> tuple[str, str]:
        """(attention, KV) dtypes with prefill measurements for this head size: the requested pair if
        measured, else the fp8 kernel that reads an fp8 cache, else bf16 throughout."""
        q, t = self.q, self.db.table("context_attention").columns
        wanted = [(q.attention, q.kv_cache), (q.kv_cache, q.kv_cache), ("bfloat16", "bfloat16")]
        hd = (t["head_dim"] == self.a.head_dim) & (t["window"] == 0)  # as the full-attention layers query
        for attn, kv in wanted:
            if ((t["attn_dtype"] == attn) & (t["kv_dtype"] == kv) & hd).any():
                return attn, kv
        return "bfloat16", "bfloat16"

    def _window(self, w: int) -> int:
        if w == 0:
            return 0
        have = [int(x) for x in self.db.options("context_attention", "window") if int(x) > 0]
        return min(have, key=lambda h: abs(h - w)) if have else 0

    def _mla(self, lay: Layout, nd, ctx, npf, lpf, t):
        """MLA attention block (projections included) for one layer."""
        a, q = self.a, self.q
        heads = a.num_heads / lay.tp
        kv_dt = q.kv_cache if q.kv_cache in ("bfloat16", "fp8") else "bfloat16"
        if self.mla_module:
            c = dict(gemm_dtype=self.gemm_dtype("attn_qkv"), mla_dtype="bfloat16", kv_dtype=kv_dt)
            ctx_l = self.db.latency_ms("mla_context_module", heads, np.maximum(npf, 1), np.maximum(lpf, 1), **c)
            gen_l = self.db.latency_ms("mla_generation_module", heads, np.maximum(nd, 1), np.maximum(ctx, 1), **c)
            return np.where(npf > 0, ctx_l, 0.0) + np.where(nd > 0, gen_l, 0.0)
        tokens_pf = npf * lpf
        qkv_dt, o_dt = self.gemm_dtype("attn_qkv"), self.gemm_dtype("attn_out")
        down = self._gemm(t, a.q_lora_rank + a.kv_lora_rank + a.qk_rope_head_dim, a.hidden, qkv_dt)
        q_b = self._gemm(t, heads * (a.qk_nope_head_dim + a.qk_rope_head_dim), a.q_lora_rank, qkv_dt)
        kv_b = self._gemm(tokens_pf, heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank, qkv_dt)
        o = self._gemm(t, a.hidden, heads * a.v_head_dim, o_dt)
        c = dict(mla_dtype="bfloat16", kv_dtype=kv_dt)
        ctx_l = self.db.latency_ms("context_mla", heads, np.maximum(npf, 1), np.maximum(lpf, 1), **c)
        gen_l = self.db.latency_ms("generation_mla", heads, np.maximum(nd, 1), np.maximum(ctx, 1), **c)
        bmm = sum(
            self.db.latency_ms("mla_bmm", heads, np.maximum(nd, 1), op=op, dtype="bfloat16")
            for op in ("mla_gen_pre", "mla_gen_post")
        )
        return down + q_b + kv_b + o + np.where(npf > 0, ctx_l, 0.0) + np.where(nd > 0, gen_l + bmm, 0.0)

    def moe_cats(self) -> dict:
        """The MoE op tables' categorical keys for this model and quantization (dtype, routing distribution,
        hidden and expert sizes, top-k, expert count)."""
        a = self.a
        return dict(
            dtype=self.q.moe,
            distribution=self.moe_dist,
            hidden=a.hidden,
            inter=a.moe_intermediate,
            topk=a.topk,
            experts=a.num_experts,
        )

    def _moe(self, lay: Layout, t, ranks):
        a = self.a
        tokens = t * ranks  # experts see the tokens of every busy attention-DP rank
        c = self.moe_cats()
        lat = self._moe_table_ms(self.moe_table, lay, tokens, c)
        beyond = ~engine_rules(self.db.backend).moe_runs_at(self.moe_backend, lay.moe_ep)
        if beyond.any():  # an EP the selected kernel does not run at keeps the engine's default kernel
            lat = np.where(beyond, self._moe_table_ms("moe", lay, tokens, c), lat)
        router = self._gemm(t, a.num_experts, a.hidden, "bfloat16")
        shared = 0.0
        if a.num_shared_experts:
            si = a.shared_intermediate or a.moe_intermediate * a.num_shared_experts
            dt = self.gemm_dtype("shared_experts")
            shared = self._gemm(t, 2 * si / lay.tp, a.hidden, dt) + self._gemm(t, a.hidden, si / lay.tp, dt)
            if a.shared_expert_gate:  # its gate's [hidden, 1] projection, then the sigmoid scaling of its output
                shared = shared + self._gemm(t, 1, a.hidden, "bfloat16") + self._pass(t, a.hidden)
        return np.where(tokens > 0, lat, 0.0) + router + shared

    def moe_transfer(self, table: str, c: dict) -> tuple[dict, float, float, tuple[float, float]]:
        """How a MoE table is read for this model: the categorical keys read, the factor on the tokens, the factor
        on the time above the fixed cost, and the fixed costs (ms): the read table's smallest time for the shape read
        and the model's own, its default kernel's smallest time (nan where that table lacks the model's experts).
        ``c``: this model's keys (moe_cats). As is, (c, 1, 1, (0, 0)), unless the recipe's kernel is one whose table
        measured other models' experts only (engine file ``other_experts``) and not this model's.

        One kernel at the same tokens per expert (tokens x top-k / experts) runs every expert's GEMMs at the same
        M, so the time its GEMMs take scales with the experts' weights (experts x hidden x inter): a layer of
        ``tokens`` here costs what the measured shape costs at tokens x (top-k / experts) / (top-k' / experts'),
        its part above the kernel's smallest measured time (launches and routing, which no weights scale) times
        (experts x hidden x inter) / (experts' x hidden' x inter'). Of the measured shapes, the one nearest in
        hidden x inter is read. (vLLM's Marlin MXFP4 table measured Kimi-K3's experts, 3584 x 3072, 16 of 896;
        gpt-oss-120b's are 2880 x 2880, 4 of 128: tokens x 1.75, time above the floor x 0.108.)"""
        shape = ("hidden", "inter", "topk", "experts")
        own = tuple(c[k] for k in shape)
        key = (table, c["dtype"], c["distribution"], own)
        cache = self.__dict__.setdefault("_moe_transfer_cache", {})
        if key not in cache:
            cache[key] = ({}, 1.0, 1.0, (0.0, 0.0))
            if self.moe_backend in engine_rules(self.db.backend).moe_backend_transfers:
                floors = self._moe_floors(table, c)
                have = sorted(floors)
                if have and own not in have:
                    h, i, k, e = min(have, key=lambda s: (abs(np.log(s[0] * s[1] / (own[0] * own[1]))), s))
                    scale = own[3] * own[0] * own[1] / (e * h * i)
                    fixed = (floors[(h, i, k, e)], self._moe_floors("moe", c).get(own, float("nan")))
                    cache[key] = (dict(zip(shape, (h, i, k, e))), (own[2] / own[3]) / (k / e), scale, fixed)
        read_at, tokens_by, time_by, fixed = cache[key]
        return {**c, **read_at}, tokens_by, time_by, fixed

    def _moe_floors(self, table: str, c: dict) -> dict[tuple, float]:
        """A MoE table's smallest measured time (ms) per expert shape (hidden, inter, top-k, experts) it measured at
        the dtype and routing of ``c``: the kernel's launches and routing, which no expert weights scale."""
        t = self.db.table(table).columns
        sel = (t["dtype"] == c["dtype"]) & (t["distribution"] == c["distribution"])
        out: dict[tuple, float] = {}
        for *shape, ms in zip(*(t[k][sel].tolist() for k in ("hidden", "inter", "topk", "experts", "latency_ms"))):
            out[tuple(shape)] = min(ms, out.get(tuple(shape), ms))
        return out

    def _moe_table_ms(self, table: str, lay: Layout, tokens, c: dict) -> np.ndarray:
        """One MoE layer's measured kernel time (ms), broadcast over the layout's MoE TP x EP and ``tokens`` (the
        tokens entering the layer); ``c`` the table's categorical keys. A table that did not measure this model's
        experts is read at another shape (moe_transfer).

        A MoE TP the table did not measure reads the measured EP of the same per-GPU share (tp·ep at MoE TP 1):
        each GPU then holds 1/(tp·ep) of every expert's weights either way and moves the same bytes. The
        held-utilisation reading from MoE TP 1 (costmodel.interp) would scale the small-batch kernel floor down by
        tp: TRT-LLM's MXFP4 tables (gpt-oss) measure MoE TP 1 only, and its H200 TP-8 rows run at the EP-8 price,
        not at an eighth of the TP-1 one (B200's TRTLLM-gen kernel sits between the two: docs/serving-constants.md)."""
        c, tokens_by, time_by, (floor_read, floor_own) = self.moe_transfer(table, c)
        tp, ep = np.broadcast_arrays(np.asarray(lay.moe_tp, float), np.asarray(lay.moe_ep, float))
        grid = self.db.grid(table, **c)
        tps, eps = grid.axes[0], grid.axes[1]
        alias = ~np.isin(tp, tps) & np.isin(1.0, tps) & np.isin(tp * ep, eps)
        tp, ep = np.where(alias, 1.0, tp), np.where(alias, tp * ep, ep)
        lat = self.db.latency_ms(table, tp, ep, np.maximum(tokens * tokens_by, 1), **c)
        return (floor_own if np.isfinite(floor_own) else floor_read) + time_by * np.maximum(lat - floor_read, 0.0)

    # ---- hybrid models (Qwen3.5): gated delta-net (GDN) linear attention on most layers ----
    def _gdn_cats(self, k_heads: float, v_heads: float) -> tuple[dict, float]:
        """Measured GDN shape nearest to this model's per-GPU heads, and the factor from it to ours.

        The exact (hidden, heads) shape when measured (every Qwen3.5 at TP 1-16 on sglang/vllm),
        else the nearest heads; the state work scales with the value heads."""
        cache = self.__dict__.setdefault("_gdn_shape_cache", {})
        key = (k_heads, v_heads)
        if key in cache:
            return cache[key]
        a, t = self.a, self.db.table("gdn").columns
        shapes = set(zip(*(t[c].tolist() for c in ("d_model", "k_dim", "v_dim", "k_heads", "v_heads"))))
        same_dims = [s for s in shapes if s[1:3] == (a.linear_k_dim, a.linear_v_dim)] or list(shapes)
        dm, kd, vd, mk, mv = min(
            same_dims,
            key=lambda s: (
                round(abs(np.log(s[4] / v_heads)) + abs(np.log(s[3] / k_heads)), 9),
                s[0] != a.hidden,
                abs(np.log(s[0] / a.hidden)),
                s,
            ),
        )
        hit = (dict(d_model=dm, k_dim=kd, v_dim=vd, k_heads=mk, v_heads=mv), v_heads / mv)
        cache[key] = hit
        return hit

    def _gdn(self, lay: Layout, n_tok_dec, npf, lpf):
        """GDN core (conv + delta rule) of one linear layer: prefill of npf sequences × lpf new tokens,
        decode of n_tok_dec single-token state updates. No KV length: the state has a fixed size."""
        a = self.a
        tp = np.asarray(lay.tp, float)
        out = np.zeros(np.broadcast_shapes(tp.shape, np.shape(n_tok_dec), np.shape(npf), np.shape(lpf)))
        for tpv in np.unique(tp):
            cats, scale = self._gdn_cats(a.linear_k_heads / tpv, a.linear_v_heads / tpv)
            ctx_l = self.db.latency_ms("gdn", np.maximum(npf, 1), np.maximum(lpf, 1), phase="context", **cats)
            gen_l = self.db.latency_ms("gdn", np.maximum(n_tok_dec, 1), 1.0, phase="generation", **cats)
            val = scale * (np.where(npf > 0, ctx_l, 0.0) + np.where(n_tok_dec > 0, gen_l, 0.0))
            out = np.where(tp == tpv, val, out)
        return out

    def _hybrid_attn(self, lay: Layout, nd, ctx, npf, lpf, t):
        """Token mixing of all layers of a hybrid model: full (gated-output) attention on
        num_full_attn_layers, GDN with its in/out projections on num_linear_layers."""
        a = self.a
        heads = a.num_heads / lay.tp
        kvh = np.maximum(a.num_kv_heads / lay.tp, 1)
        gate = 2 if a.attn_output_gate else 1
        qkv = self._gemm(t, (gate * heads + 2 * kvh) * a.head_dim, a.hidden, self.gemm_dtype("attn_qkv"))
        o = self._gemm(t, a.hidden, heads * a.head_dim, self.gemm_dtype("attn_out"))
        # _attn prices every non-window layer as full attention; keep the full-attention share
        share = a.num_full_attn_layers / max(a.num_layers - a.num_sliding_layers, 1)
        core = self._attn(lay, nd, ctx, npf, lpf) * share
        full = (qkv + o + self._qk_norm(lay, t)) * a.num_full_attn_layers + core
        kh, vh = a.linear_k_heads / lay.tp, a.linear_v_heads / lay.tp
        lin = self.gemm_dtype("linear_attn")
        in_qkvz = self._gemm(t, 2 * kh * a.linear_k_dim + 2 * vh * a.linear_v_dim, a.hidden, lin)
        in_ba = self._gemm(t, 2 * vh, a.hidden, "bfloat16")
        out = self._gemm(t, a.hidden, vh * a.linear_v_dim, lin)
        core_lin = self._gdn(lay, nd * (1 + self.mtp_draft), npf, lpf)
        # around the measured GDN kernels (conv + delta rule): the gating kernel (g and beta from a and b, one value
        # per value head; in decode only where the engine's decode kernel does not compute it) and the gated RMSNorm
        # of the output (norm(o) * silu(z): o and z read, one written), each a kernel of its own (transformers
        # Qwen3NextGatedDeltaNet: RMSNormGated after the core; SGLang fused_gdn_gating)
        gated = np.asarray(npf, float) * lpf if self.gdn_gating_fused else t
        side = self._pass(gated, vh) + self._pass(t, vh * a.linear_v_dim, bytes_per_value=6.0)
        return full + (in_qkvz + in_ba + out + core_lin + side) * a.num_linear_layers

    def iteration_ms(self, lay: Layout, nd, ctx, npf, lpf, busy=None) -> np.ndarray:
        """Latency of one iteration over all layers and stages, in ms. ``busy``: attention-DP ranks that
        carry the batch (default all); a lightly loaded DP prefill worker runs a lone prompt on one rank,
        and its experts and gathers then see that rank's tokens only."""
        a = self.a
        ranks = lay.dp if busy is None else np.minimum(np.maximum(busy, 1.0), lay.dp)
        nd, ctx, npf, lpf = (np.asarray(x, float) for x in (nd, ctx, npf, lpf))
        pp = np.asarray(lay.pp, float)
        # pp micro-batches in flight: each op sees 1/pp of the tokens, all layers run once per micro-batch
        nd_m, npf_m = nd / pp, npf / pp
        t = nd_m * (1 + self.mtp_draft) + npf_m * lpf
        heads = a.num_heads / lay.tp
        kvh = np.maximum(a.num_kv_heads / lay.tp, 1)
        if a.is_mla:
            attn = self._mla(lay, nd_m, ctx, npf_m, lpf, t) * a.num_layers
        elif a.num_linear_layers:
            attn = self._hybrid_attn(lay, nd_m, ctx, npf_m, lpf, t)
        else:
            qkv = self._gemm(t, (heads + 2 * kvh) * a.head_dim, a.hidden, self.gemm_dtype("attn_qkv"))
            o = self._gemm(t, a.hidden, heads * a.head_dim, self.gemm_dtype("attn_out"))
            attn = (qkv + o + self._qk_norm(lay, t)) * a.num_layers + self._attn(lay, nd_m, ctx, npf_m, lpf)
        dense_ffn = 0.0
        if a.num_dense_layers or not a.is_moe:
            n_dense = a.num_dense_layers if a.is_moe else a.num_layers
            inter = a.intermediate / lay.tp
            dt = self.gemm_dtype("dense_mlp")
            dense_ffn = (self._gemm(t, 2 * inter, a.hidden, dt) + self._gemm(t, a.hidden, inter, dt)) * n_dense
        moe = self._moe(lay, t, ranks) * a.num_moe_layers if a.is_moe else 0.0
        ar = self._allreduce(lay.tp, t)
        comm = ar * a.num_layers  # after attention
        if a.is_moe:
            group = lay.tp * lay.dp
            gathered = self._nccl("all_gather", group, t * ranks) + self._nccl("reduce_scatter", group, t * ranks)
            comm = comm + np.where(lay.dp > 1, gathered, ar) * a.num_moe_layers + ar * a.num_dense_layers
        else:
            comm = comm + ar * a.num_layers  # after the FFN
        elem = self._mem_ms(t * a.hidden * 2.0 * ELEMENTWISE_PASSES) * a.num_layers
        logits = self._gemm(nd_m + npf_m, a.vocab / lay.tp, a.hidden, "bfloat16")
        per_micro = attn + dense_ffn + moe + comm + elem + logits
        if self.mtp_draft:  # the draft module is one more decoder layer run once per drafted token
            per_micro = per_micro * (1.0 + self.mtp_draft / a.num_layers)
        out = per_micro * pp + self._p2p_ms(lay, t) + self.overhead_ms
        if self.graph_max_batch is None or self.launch_ms is None:
            return out
        # A decode step beyond the captured batches launches every kernel from the host; the GPU runs them as they
        # come, so the step takes the longer of its GPU work and the host's launches.
        eager = (nd > self.graph_max_batch) & (npf <= 0)
        host = self.eager_launches(lay) * self.launch_ms + self.overhead_ms
        return np.where(eager, np.maximum(out, host), out)

    def eager_launches(self, lay: Layout) -> np.ndarray:
        """Kernel launches of one eager forward pass over all layers (EAGER_LAUNCHES), per GPU; broadcasts over
        the layout."""
        a, e = self.a, EAGER_LAUNCHES
        split = np.asarray(lay.tp * lay.dp, float) > 1
        per_layer = e["attention" if not a.is_mla else "mla"] + e["residual"] + np.where(split, e["collectives"], 0)
        ffn = e["dense_ffn"] * (a.num_dense_layers if a.is_moe else a.num_layers)
        if a.is_moe:
            ffn = ffn + (e["moe"] + (e["shared_experts"] if a.num_shared_experts else 0)) * a.num_moe_layers
            ffn = ffn + (e["shared_expert_gate"] if a.shared_expert_gate else 0) * a.num_moe_layers
        small: np.ndarray | float = 0.0
        if a.qk_norm:
            small = (e["qk_norm"] + np.where(split & a.qk_norm_across_heads, 1, 0)) * a.num_full_attn_layers
        if a.num_linear_layers:  # an eager step is a decode step: its gating runs in the decode kernel where fused
            side = e["gdn_side"] - (1 if self.gdn_gating_fused else 0)
            small = small + side * a.num_linear_layers
        return per_layer * a.num_layers + ffn + small

    def _p2p_ms(self, lay: Layout, t) -> np.ndarray:
        """Activation hand-offs between pipeline stages: pp - 1 per micro-batch round. Stages are placed in
        order on nodes of gpus_per_node GPUs, so the boundaries between nodes use the inter-node link."""
        s, gpn = self.db.system, self.gpus_per_node
        pp, stage = np.asarray(lay.pp, float), np.asarray(lay.tp * lay.dp, float)
        cross = np.where(stage >= gpn, pp - 1, np.minimum(pp - 1, np.ceil(stage * pp / gpn) - 1))
        nbytes = t * self.a.hidden * 2.0
        ms = (pp - 1) * s.p2p_latency_s * 1e3 + (
            (pp - 1 - cross) / s.intra_node_bw_bytes_per_s + cross / s.inter_node_bw_bytes_per_s
        ) * nbytes * 1e3
        return np.where(pp > 1, ms, 0.0)

    def tokens_per_decode_step(self) -> float:
        """Expected tokens a request gains per decode step (1 without MTP)."""
        return float(sum(self.mtp_accept**i for i in range(self.mtp_draft + 1)))

    def check(self) -> None:
        """Fail early, naming what is missing, when the backend lacks data this model needs."""
        q, db = self.q, self.db
        if q.gemm not in db.options("gemm", "dtype"):
            raise MissingDataError(
                f"{db.system.name}/{db.backend} has no GEMM data for gemm dtype {q.gemm}; "
                f"measured: {', '.join(db.options('gemm', 'dtype'))}"
            )
        if self.a.num_linear_layers and not db.has("gdn"):
            raise MissingDataError(f"{db.system.name}/{db.backend} {db.version} has no gdn (linear attention) table")
        a = self.a
        if (a.qk_norm or a.num_linear_layers or a.shared_expert_gate) and not db.has("quantize"):
            raise MissingDataError(
                f"{db.system.name}/{db.backend} {db.version} has no quantize table (the one-pass activation kernel "
                "that prices this model's norms and gates)"
            )
        if self.a.is_moe and q.moe not in db.options(self.moe_table, "dtype"):
            raise MissingDataError(
                f"{db.system.name}/{db.backend} has no {self.moe_table} data for MoE dtype {q.moe}; "
                f"measured: {', '.join(db.options(self.moe_table, 'dtype'))}"
            )
