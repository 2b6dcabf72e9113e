"""Engine settings of one role as data (TRT-LLM engine-YAML values, vLLM/SGLang flags), from the Deployment and
the spec only; per-backend names live in templates/<backend>/backend.yaml."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from costmodel import engine_rules
from costmodel import KV_MEMORY_FRACTION
from costmodel import load_system
from costmodel import priced_moe_kernel, priced_quant
from costmodel import Recipe
from solver.recipes import recipes_of
from solver.result import Deployment

TEMPLATES = Path(__file__).resolve().parent / "templates"
# max_seq_len = the longest request (spec.max_context_tokens, default isl + osl) + this, rounded up to SEQ_ROUND:
# room for chat-template tokens and MTP drafts.
SEQ_MARGIN, SEQ_ROUND = 256, 256


def backend_data(backend: str, version: str) -> dict[str, Any]:
    """templates/<backend>/backend.yaml: its defaults with the engine version's overrides applied."""
    raw = yaml.safe_load((TEMPLATES / backend / "backend.yaml").read_text())
    return {**copy.deepcopy(raw["defaults"]), **((raw.get("versions") or {}).get(version) or {})}


@dataclass(frozen=True)
class RoleEngine:
    """How the workers of one role start: module, engine values, flags and what the backend cannot express."""

    role: str  # agg | prefill | decode
    service: str  # DynamoGraphDeployment service name
    module: str  # python3 -m <module>
    model_flag: str
    count: int  # workers of this role in the whole deployment
    gpus_per_worker: int
    engine_file: bool  # True: `config` is written to an --extra-engine-args YAML
    config: dict  # trtllm: engine YAML values; vllm/sglang: flag -> value (True: bare flag)
    flags: dict  # flags beside the engine file (disaggregation mode)
    port_flags: tuple[str, ...]  # port flags offset per worker sharing a node
    port_env: dict  # env var -> base port, offset per worker sharing a node
    notes: tuple[str, ...]
    kernel_env: dict  # env var -> value selecting the priced kernels (data/engines recipes), on every worker

    def args(self, config_path: Any, port_offset: int = 0) -> list:
        """Worker arguments after the model flags; config_path names the engine YAML where it is used."""
        out: list = ["--extra-engine-args", config_path] if self.engine_file else []
        items = [*(() if self.engine_file else self.config.items()), *self.flags.items()]
        for k, v in items:
            if v is True:
                out.append(f"--{k}")
            elif v is not False and v is not None:
                out += [f"--{k}", str(v + port_offset if k in self.port_flags else v)]
        return out

    def env(self, port_offset: int = 0) -> dict[str, str]:
        """Environment one worker needs: the priced kernels' switches, distinct ports for workers sharing a node."""
        return {**self.kernel_env, **{k: str(base + port_offset) for k, base in self.port_env.items()}}


def role_system(req: Any, role: str) -> str:
    """The system a role's workers run on (decode may run on req.decode_system)."""
    return req.decode_system if role == "decode" and req.decode_system else req.system


def max_seq_len(spec: Any) -> int:
    """Longest sequence the engines admit: the spec's longest request with margin, within the model's window."""
    n = -(-(spec.max_context_tokens + SEQ_MARGIN) // SEQ_ROUND) * SEQ_ROUND
    return min(n, spec.arch.max_context) if spec.arch.max_context > 0 else n


def cuda_graph_sizes(batch: int) -> list[int]:
    """Powers of two below the batch, then the batch itself."""
    return [*(1 << k for k in range(batch.bit_length()) if 1 << k < batch), batch]


def engine_batch(data: dict, rec: Recipe) -> int:
    """The engine's batch cap: per attention-DP rank, or per worker, as the backend counts it."""
    return rec.batch_per_rank if data["batch_per"] == "rank" else rec.batch_per_rank * rec.dp


def engine_tokens(data: dict, rec: Recipe) -> int:
    """The engine's token budget per iteration: per attention-DP rank, or per worker (SGLang divides its
    --chunked-prefill-size among the DP ranks), as the backend counts it; priced per rank."""
    return rec.max_num_tokens * (rec.dp if data.get("tokens_per") == "worker" else 1)


def role_engines(dep: Deployment, spec: Any) -> list[RoleEngine]:
    """One RoleEngine per role of the deployment, in the deployment's role order."""
    req = spec.request
    data = backend_data(req.backend, req.version)
    build = {"trtllm": _trtllm, "vllm": _vllm, "sglang": _sglang}[req.backend]
    out = []
    rules = engine_rules(req.backend)
    for r, rec in zip(dep.roles, recipes_of(dep, req)):
        kernel_env = _kernel_env(req, spec.arch, role_system(req, r.role)) if spec.arch.is_moe else {}
        if not rules.layout_ok(r.tp, r.dp, r.moe_tp, r.moe_ep):  # the search admits only runnable layouts
            raise RuntimeError(
                f"{r.role} layout TP {r.tp} x DP {r.dp}, MoE TP {r.moe_tp} x EP {r.moe_ep} is not one "
                f"{req.backend} runs; refusing to export a different layout than was priced."
            )
        config, notes = build(rec, spec, data)
        kernel = priced_moe_kernel(
            role_system(req, r.role), req.backend, req.version, spec.arch, req.quant, req.moe_backend, r.moe_ep
        )
        switches = rules.moe_backend_env(kernel)
        if switches:  # engine switches select the kernel priced (vLLM MARLIN, TRITON)
            kernel_env = {**kernel_env, **switches}
        elif kernel is not None:  # the MoE kernel priced on this role's system (costmodel.quant.moe_kernel)
            config["moe_config"] = {"backend": kernel}
        flags = (
            {} if r.role == "agg" else {k: str(v).replace("{role}", r.role) for k, v in data["disagg_flags"].items()}
        )
        if not data["engine_file"]:  # vLLM/SGLang: every setting is a flag
            config, flags = {**config, **flags, **(data.get("prefill_flags", {}) if r.role == "prefill" else {})}, {}
        out.append(
            RoleEngine(
                role=r.role,
                service=data["services"][r.role],
                module=data["module"],
                model_flag=data["model_flag"],
                count=r.workers * dep.replicas,
                gpus_per_worker=r.gpus_per_worker,
                engine_file=data["engine_file"],
                config=config,
                flags=flags,
                port_flags=tuple(data.get("worker_port_flags") or ()),
                port_env=dict(data.get("worker_port_env") or {}),
                notes=tuple(notes),
                kernel_env=kernel_env,
            )
        )
    return out


def _kernel_env(req: Any, arch: Any, system: str) -> dict[str, str]:
    """The switches a worker on ``system`` needs to run the MoE kernel priced there: the dtype the cost model
    resolves the request's quantization to on that system (costmodel.priced_quant), not the dtype requested."""
    moe = priced_quant(system, req.backend, req.version, arch, req.quant)[0].moe
    return engine_rules(req.backend).kernel_env(arch, load_system(system).sm_version, moe)


def _kv_dtype(spec: Any, data: dict) -> str:
    return data["kv_cache_dtype"].get(spec.request.quant.kv_cache, "auto")


def _trtllm(r: Recipe, spec: Any, data: dict) -> tuple[dict, list[str]]:
    batch, seq = engine_batch(data, r), max_seq_len(spec)
    notes: list[str] = []
    cfg: dict[str, Any] = {"tensor_parallel_size": r.tp * r.dp, "pipeline_parallel_size": r.pp}
    if spec.arch.is_moe:  # TRT-LLM requires moe_tp x moe_ep == tensor_parallel_size; dense models set neither
        cfg |= {"moe_expert_parallel_size": r.moe_ep, "moe_tensor_parallel_size": r.moe_tp}
    cfg |= {
        "enable_attention_dp": r.dp > 1,
        "max_batch_size": batch,
        "max_num_tokens": r.max_num_tokens,
        "max_seq_len": seq,
        # the overlap scheduler is not supported by prefill-only workers (Dynamo's prefill.yaml)
        "disable_overlap_scheduler": r.role == "prefill",
        "kv_cache_config": {
            "free_gpu_memory_fraction": KV_MEMORY_FRACTION,
            "dtype": _kv_dtype(spec, data),
            "tokens_per_block": data["tokens_per_block"],
        },
        "cuda_graph_config": {"enable_padding": True, "batch_sizes": cuda_graph_sizes(batch)},
    }
    if r.role != "agg":  # the buffer must hold a whole prompt's KV and be a multiple of the block size
        cfg["cache_transceiver_config"] = {"backend": data["cache_transceiver_backend"], "max_tokens_in_buffer": seq}
    if r.mtp_draft > 0:
        cfg["speculative_config"] = {"decoding_type": "MTP", "num_nextn_predict_layers": r.mtp_draft}
    req = spec.request
    if r.role == "agg" and (req.batch_wait_iters or req.batch_wait_max_tokens_ratio):  # priced: render it
        cfg |= {
            "batch_wait_timeout_iters": req.batch_wait_iters,
            "batch_wait_max_tokens_ratio": req.batch_wait_max_tokens_ratio,
        }
    return cfg, notes


def _common_flags(r: Recipe, spec: Any, data: dict, batch_flag: str, tokens_flag: str) -> dict[str, Any]:
    return {
        "pipeline-parallel-size": r.pp,
        "data-parallel-size": r.dp,
        batch_flag: engine_batch(data, r),
        tokens_flag: engine_tokens(data, r),
        "kv-cache-dtype": _kv_dtype(spec, data),
    }


def _vllm(r: Recipe, spec: Any, data: dict) -> tuple[dict, list[str]]:
    notes: list[str] = []
    flags = {
        "tensor-parallel-size": r.tp,
        **_common_flags(r, spec, data, "max-num-seqs", "max-num-batched-tokens"),
        "enable-expert-parallel": spec.arch.is_moe and r.moe_ep > 1,
        "max-model-len": max_seq_len(spec),
        "gpu-memory-utilization": KV_MEMORY_FRACTION,
        "trust-remote-code": True,
    }
    if r.mtp_draft > 0:
        flags["speculative-config"] = json.dumps(
            {"method": data["mtp_method"], "num_speculative_tokens": r.mtp_draft}, separators=(",", ":")
        )
    return flags, notes


def _sglang(r: Recipe, spec: Any, data: dict) -> tuple[dict, list[str]]:
    # SGLang's --tp is the worker's world size; with --enable-dp-attention attention runs TP tp/dp x DP dp.
    flags = {
        "tensor-parallel-size": r.tp * r.dp,
        **_common_flags(r, spec, data, "max-running-requests", "chunked-prefill-size"),
        "enable-dp-attention": r.dp > 1,
        "expert-parallel-size": r.moe_ep,
        "context-length": max_seq_len(spec),
        "mem-fraction-static": KV_MEMORY_FRACTION,
        "trust-remote-code": True,
    }
    # captured CUDA graphs up to the rank's batch cap, as priced (the default stops at 256 on H100/H200 below TP 4:
    # data/engines/sglang.yaml cuda_graph); SGLang counts the capture batch per attention-DP rank
    flags["cuda-graph-max-bs"] = r.batch_per_rank
    if spec.request.scheduler_recv_interval != 1:  # priced by the serving model: render it
        flags["scheduler-recv-interval"] = spec.request.scheduler_recv_interval
    if r.mtp_draft > 0:  # SGLang serves DeepSeek MTP through its EAGLE speculative path
        flags |= {
            "speculative-algorithm": "EAGLE",
            "speculative-num-steps": r.mtp_draft,
            "speculative-eagle-topk": 1,
            "speculative-num-draft-tokens": r.mtp_draft + 1,
        }
    return flags, []
