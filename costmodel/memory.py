"""GPU memory per worker GPU: weights, KV cache per token, activations, runtime reserve.

Weights that do not fit make a layout infeasible; KV cache capacity then caps how many
requests run at once (real engines admit what fits and queue the rest).
"""

from __future__ import annotations

import numpy as np

from costmodel.arch import ModelArch
from costmodel.config import Quant
from costmodel.system import DTYPE_BYTES, System

KV_MEMORY_FRACTION = 0.9  # engines hand ~90 % of free memory to the KV cache
ACT_BYTES_PER_TOKEN_HIDDEN = 24.0  # live activations per token per hidden unit during a step (fp16)


def weight_bytes_per_gpu(a: ModelArch, q: Quant, tp, pp, dp, moe_tp, moe_ep) -> np.ndarray:
    """Weight bytes one GPU holds: each group at q.gemm, or bf16 where the checkpoint keeps it so
    (a.high_precision); routed experts at q.moe; embeddings bf16."""
    wb = {
        g: 2.0 if g in a.high_precision else DTYPE_BYTES.get(q.gemm, 2.0)
        for g in ("attn_qkv", "attn_out", "linear_attn", "dense_mlp", "shared_experts")
    }
    out = a.attn_out_params_per_layer()
    attn = (
        a.num_full_attn_layers * ((a.attn_params_per_layer() - out) * wb["attn_qkv"] + out * wb["attn_out"])
        + a.num_linear_layers * a.linear_attn_params_per_layer() * wb["linear_attn"]
    ) / tp
    if a.is_moe:
        expert = 3.0 * a.hidden * a.moe_intermediate * a.num_experts * a.num_moe_layers / (moe_tp * moe_ep)
        shared_i = a.shared_intermediate or a.moe_intermediate * a.num_shared_experts
        shared = 3.0 * a.hidden * shared_i * a.num_moe_layers / tp
        dense = 3.0 * a.hidden * a.intermediate * a.num_dense_layers / tp
        ffn = expert * DTYPE_BYTES.get(q.moe, 2.0) + shared * wb["shared_experts"] + dense * wb["dense_mlp"]
    else:
        ffn = 3.0 * a.hidden * a.intermediate * a.num_layers / tp * wb["dense_mlp"]
    embed = a.embed_params * 2.0 / tp
    return (attn + ffn) / pp + embed


def kv_bytes_per_token_per_gpu(a: ModelArch, q: Quant, tp, pp, context_len) -> np.ndarray:
    """KV bytes one GPU stores per token of one of its requests.

    Hybrid models (GDN linear attention) also hold a fixed state per request; it is spread over the
    request's context_len tokens, so that capacity / context_len still counts the requests that fit."""
    b = DTYPE_BYTES.get(q.kv_cache, 2.0)
    if a.num_linear_layers:
        kv = (
            a.kv_bytes_per_token_at(int(np.max(context_len)), b) * np.maximum(a.num_kv_heads / tp, 1.0) / a.num_kv_heads
        )
        state = a.linear_state_bytes_per_request() * np.maximum(a.linear_v_heads / tp, 1.0) / a.linear_v_heads
        return (kv + state / float(np.max(context_len))) / pp
    if a.is_mla:  # the latent is not split across TP ranks
        return np.broadcast_to(a.kv_bytes_per_token_at(int(np.max(context_len)), b) / pp, np.shape(tp)).astype(float)
    kv_heads_gpu = np.maximum(a.num_kv_heads / tp, 1.0)
    return a.kv_bytes_per_token_at(int(np.max(context_len)), b) * (kv_heads_gpu / a.num_kv_heads) / pp


def kv_capacity_tokens(
    system: System, a: ModelArch, q: Quant, tp, pp, dp, moe_tp, moe_ep, max_num_tokens, context_len
) -> tuple[np.ndarray, np.ndarray]:
    """(tokens of KV one GPU can hold, fraction of memory the weights take). Negative = does not fit."""
    w = weight_bytes_per_gpu(a, q, tp, pp, dp, moe_tp, moe_ep)
    gpus = np.asarray(tp * dp * pp)
    nccl = np.vectorize(lambda g: system.nccl_reserved_bytes.get(int(min(g, 8)), 0))(gpus)
    act = max_num_tokens * a.hidden * ACT_BYTES_PER_TOKEN_HIDDEN / pp
    free = (system.mem_bytes - system.other_reserved_bytes - nccl - w - act) * KV_MEMORY_FRACTION
    per_tok = kv_bytes_per_token_per_gpu(a, q, tp, pp, context_len)
    return free / per_tok, w / system.mem_bytes
