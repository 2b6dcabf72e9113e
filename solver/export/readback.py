"""Read an exported deployment back into engine recipes: the engine files as each engine reads them, the
worker counts from the manifest. The round trip export -> read back -> price must give the report's figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from costmodel import ROLES, Recipe, engine_rules


@dataclass(frozen=True)
class ReadBack:
    """One exported deployment as the engines will run it: mode, a recipe per role, workers per role (all replicas),
    and the MoE kernel each role runs: what its engine file selects (TRT-LLM ``moe_config.backend``) or its worker's
    environment switches select (vLLM, engine file ``tables.moe_backends``); None: the engine's default."""

    mode: str
    recipes: tuple[Recipe, ...]
    workers: dict[str, int]
    moe_kernels: dict[str, str | None]


def read_deployment(folder: Path) -> ReadBack:
    """Read ``folder`` (e.g. out/agg_1) of a bundle whose result.json is in its parent.

    Raises OSError / KeyError / ValueError on a folder that is not an aicsolve deployment.
    """
    folder = Path(folder)
    inp = json.loads((folder.parent / "result.json").read_text())["input"]
    mode = "agg" if (folder / "engine" / "agg.yaml").is_file() else "disagg"
    manifest = next(
        d
        for d in yaml.safe_load_all((folder / "k8s" / "deploy.yaml").read_text())
        if d and d.get("kind") == "DynamoGraphDeployment"
    )
    services = {
        s.get("subComponentType") or "agg": s
        for s in manifest["spec"]["services"].values()
        if s["componentType"] == "worker"
    }
    workers = {role: int(s["replicas"]) for role, s in services.items()}
    accept = float(inp["mtp"][mode]["acceptance"])
    docs = {role: yaml.safe_load((folder / "engine" / f"{role}.yaml").read_text()) for role in ROLES[mode]}
    recipes = tuple(_recipe(inp["backend"], role, docs[role], bool(inp["moe"]), accept) for role in ROLES[mode])
    switched = engine_rules(inp["backend"]).moe_backend_envs
    kernels = {}
    for role, d in docs.items():
        env = {e["name"]: e["value"] for e in services[role]["extraPodSpec"]["mainContainer"].get("env", [])}
        by_env = next((k for k, sw in switched if all(env.get(n) == v for n, v in sw)), None)
        kernels[role] = (d.get("moe_config") or {}).get("backend") or by_env
    return ReadBack(mode, recipes, {r: workers[r] for r in ROLES[mode]}, kernels)


def _recipe(backend: str, role: str, doc: dict[str, Any], moe: bool, accept: float) -> Recipe:
    if backend == "trtllm":  # tensor_parallel_size is the worker's world; attention DP, when on, spans it all
        world, pp = int(doc["tensor_parallel_size"]), int(doc["pipeline_parallel_size"])
        dp = world if doc["enable_attention_dp"] else 1
        mtp, ep = int(doc.get("moe_tensor_parallel_size", 1)), int(doc.get("moe_expert_parallel_size", 1))
        per_rank, tokens = int(doc["max_batch_size"]), int(doc["max_num_tokens"])
        draft = int((doc.get("speculative_config") or {}).get("num_nextn_predict_layers", 0))
        return _make(role, world // dp, pp, dp, mtp, ep, per_rank, tokens, draft, accept)
    f = doc["flags"]
    pp, dp, n = int(f["pipeline-parallel-size"]), int(f["data-parallel-size"]), int(f["tensor-parallel-size"])
    if backend == "vllm":  # --tensor-parallel-size is per DP rank; the experts span all dp x tp ranks
        world, per_rank, tokens = n * dp, int(f["max-num-seqs"]), int(f["max-num-batched-tokens"])
        ep = world if f.get("enable-expert-parallel") else 1
        spec = json.loads(f["speculative-config"]) if "speculative-config" in f else {}
        draft = int(spec.get("num_speculative_tokens", 0))
    else:  # SGLang: --tp is the worker's world, --max-running-requests and --chunked-prefill-size count the worker
        world, per_rank, tokens = n, int(f["max-running-requests"]) // dp, int(f["chunked-prefill-size"]) // dp
        ep, draft = int(f.get("expert-parallel-size", 1)), int(f.get("speculative-num-steps", 0))
    mtp, ep = (world // ep, ep) if moe else (1, 1)
    return _make(role, world // dp, pp, dp, mtp, ep, per_rank, tokens, draft, accept)


def _make(
    role: str,
    tp: int,
    pp: int,
    dp: int,
    moe_tp: int,
    moe_ep: int,
    per_rank: int,
    tokens: int,
    draft: int,
    accept: float,
) -> Recipe:
    batch = per_rank if role == "prefill" else per_rank * dp
    return Recipe(
        role=role,
        tp=tp,
        pp=pp,
        dp=dp,
        moe_tp=moe_tp,
        moe_ep=moe_ep,
        batch=batch,
        max_num_tokens=tokens,
        mtp_draft=draft,
        mtp_accept=accept if draft else 0.0,
    )
