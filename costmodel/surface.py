"""The cost model's output and the solver's only input: candidate rows per serving role.

A row is one worker layout (parallelism) at one batch size, evaluated with the full cost
model. Rows that do not fit in memory are never emitted. All arrays of one table have the
same length; per-row values are floats in the units their names carry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Rows of one role: ``agg`` (prefill+decode in one engine), ``prefill`` or ``decode``.

    ``gpus`` = tp * dp * pp GPUs per worker; ``batch`` is the worker's concurrency (agg,
    decode: requests in flight; prefill: requests per prefill batch). For agg rows ttft/tpot
    are what a request sees at that concurrency; prefill rows carry the TTFT a request sees
    (queueing and KV transfer included) and tpot = nan; decode rows carry ttft = nan.
    ``req_per_s`` is the request rate one worker sustains at this operating point.
    """

    role: str
    tp: np.ndarray
    pp: np.ndarray
    dp: np.ndarray
    moe_tp: np.ndarray
    moe_ep: np.ndarray
    gpus: np.ndarray
    batch: np.ndarray
    ttft_ms: np.ndarray
    tpot_ms: np.ndarray
    req_per_s: np.ndarray
    mem_used_frac: np.ndarray
    max_num_tokens: np.ndarray  # engine token budget per step the row was modelled with
    handoff_ms: np.ndarray | None = None  # prefill rows: the KV hand-off share of ttft_ms (transfer + connector)
    kv_transfer_ms: np.ndarray | None = None  # prefill rows: the byte-transfer part of handoff_ms
    # Per-request percentiles (costmodel.latency.PERCENTILES columns: p50, p90, p95, p99), shape (rows, 4), ms;
    # ttft_ms / tpot_ms are the means. Agg rows carry both, prefill rows TTFT, decode rows TPOT.
    ttft_pct: np.ndarray | None = None
    tpot_pct: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.batch)

    def take(self, idx: np.ndarray) -> Candidates:
        """A subset of rows (e.g. those meeting an SLA)."""
        vals = {k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}
        return Candidates(**vals)

    def row(self, i: int) -> dict:
        """One row as plain Python values."""
        return {k: (v[i].tolist() if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Surfaces:
    """Everything the solver needs about one (model, system, backend, workload)."""

    model: str
    system: str
    backend: str
    version: str
    isl: int
    osl: int
    gpus_per_node: int
    agg: Candidates | None
    prefill: Candidates | None
    decode: Candidates | None
    notes: tuple[str, ...] = field(default=())
    decode_system: str | None = None  # disagg decode priced on another system (None: system)
    decode_gpus_per_node: int | None = None  # that system's node size (None: gpus_per_node)
    # The backend's KV connector moves this model's cache only between equal attention TP (costmodel.engines);
    # the source is kv_pair_rule.
    equal_attention_tp: bool = False
    kv_pair_rule: str = ""


class Metrics(TypedDict):
    """Full-deployment figures of one configuration: latencies in ms (means), throughput in output tokens/s and
    requests/s, and per-request percentiles in ms at costmodel.latency.PERCENTILES (empty when not carried)."""

    ttft_ms: float
    tpot_ms: float
    tokens_per_s: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    gpus_used: int
    concurrency: int
    req_per_s: float
    ttft_pct_ms: tuple[float, ...]
    tpot_pct_ms: tuple[float, ...]


def disagg_metrics(
    prefill: Candidates, i: int, decode: Candidates, j: int, n_prefill: int, n_decode: int, osl: int
) -> Metrics:
    """Full-model figures of x prefill workers (row i) feeding y decode workers (row j).

    The system serves the slower side's request rate; TTFT is the prefill row's, TPOT the
    decode row's.
    """
    req = min(n_prefill * prefill.req_per_s[i], n_decode * decode.req_per_s[j])
    gpus = n_prefill * prefill.gpus[i] + n_decode * decode.gpus[j]
    tpot = float(decode.tpot_ms[j])
    return {
        "ttft_ms": float(prefill.ttft_ms[i]),
        "tpot_ms": tpot,
        "tokens_per_s": float(req * osl),
        "tokens_per_s_per_gpu": float(req * osl / gpus),
        "tokens_per_s_per_user": 1000.0 / tpot,
        "gpus_used": int(gpus),
        "concurrency": int(n_decode * decode.batch[j]),
        "req_per_s": float(req),
        "ttft_pct_ms": _pct(prefill.ttft_pct, i),
        "tpot_pct_ms": _pct(decode.tpot_pct, j),
    }


def agg_metrics(agg: Candidates, i: int, replicas: int, osl: int) -> Metrics:
    """Full-model figures of ``replicas`` identical agg workers (row i)."""
    tpot = float(agg.tpot_ms[i])
    req = replicas * float(agg.req_per_s[i])
    gpus = replicas * int(agg.gpus[i])
    return {
        "ttft_ms": float(agg.ttft_ms[i]),
        "tpot_ms": tpot,
        "tokens_per_s": req * osl,
        "tokens_per_s_per_gpu": req * osl / gpus,
        "tokens_per_s_per_user": 1000.0 / tpot,
        "gpus_used": gpus,
        "concurrency": int(replicas * agg.batch[i]),
        "req_per_s": req,
        "ttft_pct_ms": _pct(agg.ttft_pct, i),
        "tpot_pct_ms": _pct(agg.tpot_pct, i),
    }


def _pct(table: np.ndarray | None, i: int) -> tuple[float, ...]:
    """One row's percentiles as a tuple (empty when the table carries none)."""
    return () if table is None else tuple(float(x) for x in table[i])
