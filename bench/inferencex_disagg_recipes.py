"""Regenerate data/validation/disagg_recipes.yaml from the history of InferenceX's benchmark configuration.

Usage: python bench/inferencex_disagg_recipes.py INFERENCEX_GIT_DIR [--srt-slurm SRT_SLURM_GIT_DIR]
       [--since 2026-01-01] [--until 2026-04-30]

Not part of the product (it needs a clone of github.com/SemiAnalysisAI/InferenceX). The disaggregated rows of
the measurement CSV record a deployment's layouts and clients, often without its worker counts or MTP depth; the
benchmark's own configuration (``.github/configs/nvidia-master.yaml``, one entry per Dynamo recipe: clients,
prefill and decode workers, TP, EP, attention DP, and the srt-slurm recipe file whose name carries the MTP depth)
changed commit by commit. This script walks that file's history and writes every distinct disaggregated entry
once, with the first and last day it was listed, so ``costmodel.disagg_recipes`` can find the recipe a row ran on
its run day. With a clone of github.com/NVIDIA/srt-slurm it also reads each entry's recipe file (at the
``sa-submission-q2-2026`` branch, else the last commit that added or changed it) for the engine limits the
benchmark ran with: the prefill worker's batch and token budget and the decode worker's batch cap, per attention-DP
rank (TRT-LLM ``max_batch_size``, ``max_num_tokens``; SGLang ``max-running-requests``, ``max-prefill-tokens``), and
each role's expert parallelism and attention DP (what the engine ran where the configuration entry's labels differ)
and TRT-LLM MoE kernel (``moe_config.backend``); and the client counts its benchmark runs
(``benchmark.concurrencies``). The file names' ``batchN`` is not used: it can differ from the file (``ctx1_gen5_tep8_batch8`` sets ``max_batch_size: 16``).
Deterministic: entries are sorted; re-running on the same histories writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

CONFIG = ".github/configs/nvidia-master.yaml"
OUT = Path(__file__).resolve().parents[1] / "data" / "validation" / "disagg_recipes.yaml"
# InferenceX config-key parts -> the measurement CSV's names
FRAMEWORKS = {"dynamo-trt": "trtllm", "dynamo-sglang": "sglang", "dynamo-vllm": "vllm"}
SYSTEMS = {
    "b200": "b200_sxm",
    "b300": "b300_sxm",
    "h100": "h100_sxm",
    "h200": "h200_sxm",
    "gb200": "gb200",
    "gb300": "gb300",
}
GEMM = {"fp4": "nvfp4", "fp8": "fp8"}
# the measurement rows label the DeepSeek-R1 runs R1 or V3 (same architecture)
MODELS = {
    "dsr1": ["deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-V3"],
    "gptoss": ["openai/gpt-oss-120b"],
    "kimik2.5": ["moonshotai/Kimi-K2.5"],
    "glm5": ["zhipuai/GLM-5"],
}
KEY = re.compile(r"^(?P<model>[a-z0-9.]+)-(?P<prec>fp4|fp8)-(?P<gpu>[a-z0-9]+)-(?P<fw>dynamo-[a-z]+)(?P<mtp>-mtp\d*)?$")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def config_name(key: str) -> dict | None:
    m = KEY.match(key)
    if not m or m["fw"] not in FRAMEWORKS or m["gpu"] not in SYSTEMS or m["model"] not in MODELS:
        return None
    return {
        "backend": FRAMEWORKS[m["fw"]],
        "system": SYSTEMS[m["gpu"]],
        "model": m["model"],
        "gemm": GEMM[m["prec"]],
        "mtp_key": bool(m["mtp"]),
    }


def mtp_depth(entry: dict, mtp_key: bool) -> int | bool | None:
    """Drafted tokens per step: the srt-slurm recipe file's ``mtpN`` where named; True where the entry says MTP
    without a depth; False for none; None when the entry records nothing."""
    files = " ".join(
        s
        for role in ("prefill", "decode")
        for s in (entry.get(role, {}).get("additional-settings") or [])
        if "mtp" in s
    )
    named = re.findall(r"_mtp(\d+)", files)
    if named and len(set(named)) == 1:
        return int(named[0])
    spec = entry.get("spec-decoding")
    if spec == "mtp" or mtp_key:
        return True
    if spec == "none":
        return False
    return None


SRT_REVISION = "sa-submission-q2-2026"


def recipe_file(entry: dict) -> str | None:
    """The srt-slurm recipe file an entry launches (its ``CONFIG_FILE``), when it names a whole file."""
    for r in ("prefill", "decode"):
        for s in entry.get(r, {}).get("additional-settings") or []:
            if s.startswith("CONFIG_FILE=") and ":" not in s:
                return s.split("=", 1)[1]
    return None


def recipe_yaml(srt: Path | None, path: str | None, cache: dict) -> dict | None:
    """An srt-slurm recipe file as parsed YAML (at ``sa-submission-q2-2026``, else the last commit that added or
    changed it); None when there is no srt-slurm clone or no such file."""
    if srt is None or path is None:
        return None
    if path not in cache:
        cache[path] = None
        revs = [SRT_REVISION, git(srt, "log", "--all", "-1", "--diff-filter=AM", "--format=%H", "--", path).strip()]
        for rev in filter(None, revs):
            try:
                cache[path] = yaml.safe_load(git(srt, "show", f"{rev}:{path}")) or None
            except subprocess.CalledProcessError:
                continue
            break
    return cache[path]


def sglang_limits(cfg: dict) -> dict | None:
    """An SGLang recipe file's per-rank limits (``sglang_config``): the prefill worker's tokens per step
    (``max-prefill-tokens``, at most ``chunked-prefill-size``) and ``max-running-requests``, the decode worker's
    ``max-running-requests``, each batch cap divided over the role's attention-DP ranks where ``enable-dp-attention``
    is on (SGLang's scheduler divides it by the DP size), and each role's attention DP and ``expert-parallel-size``;
    None unless the file sets the three limits."""
    pre, dec = cfg.get("prefill") or {}, cfg.get("decode") or {}
    if "max-prefill-tokens" not in pre or "max-running-requests" not in pre or "max-running-requests" not in dec:
        return None

    def ranks(r: dict) -> int:
        return int(r.get("data-parallel-size") or r.get("dp-size") or 1) if r.get("enable-dp-attention") else 1

    out: dict = {
        "prefill_batch": max(1, int(pre["max-running-requests"]) // ranks(pre)),
        # a step holds what both budgets allow: PrefillAdder stops at either
        "prefill_tokens": min(int(pre["max-prefill-tokens"]), int(pre.get("chunked-prefill-size") or 1 << 30)),
        "decode_batch": max(1, int(dec["max-running-requests"]) // ranks(dec)),
    }
    for name, r in (("prefill", pre), ("decode", dec)):
        out[f"{name}_adp"] = bool(r.get("enable-dp-attention", False))
        if r.get("expert-parallel-size") or r.get("ep-size"):
            out[f"{name}_ep"] = int(r.get("expert-parallel-size") or r.get("ep-size"))
    return out


def engine_limits(raw: dict | None) -> dict | None:
    """A recipe file's per-rank limits: ``prefill_batch``, ``prefill_tokens``, ``decode_batch``, and each role's
    expert parallelism, attention DP and (TRT-LLM) MoE kernel (``moe_config.backend``) where the file sets them
    (``prefill_ep``, ``decode_ep``, ``prefill_adp``, ``decode_adp``, ``prefill_moe``, ``decode_moe``); SGLang files
    through ``sglang_limits``. None when there is no file or it is neither a TRT-LLM nor an SGLang recipe."""
    backend = (raw or {}).get("backend") or {}
    if backend.get("sglang_config"):
        return sglang_limits(backend["sglang_config"])
    cfg = backend.get("trtllm_config")
    if not cfg:
        return None
    out = {
        "prefill_batch": int(cfg["prefill"]["max_batch_size"]),
        "prefill_tokens": int(cfg["prefill"]["max_num_tokens"]),
        "decode_batch": int(cfg["decode"]["max_batch_size"]),
    }
    # the engine runs the file's expert parallelism, attention DP and MoE kernel, whatever the configuration entry
    # says (the h200 entries label prefill attention DP off for files that turn it on)
    for r in ("prefill", "decode"):
        if "enable_attention_dp" in cfg[r]:
            out[f"{r}_adp"] = bool(cfg[r]["enable_attention_dp"])
        if cfg[r].get("moe_expert_parallel_size"):
            out[f"{r}_ep"] = int(cfg[r]["moe_expert_parallel_size"])
        if (cfg[r].get("moe_config") or {}).get("backend"):
            out[f"{r}_moe"] = str(cfg[r]["moe_config"]["backend"])
    return out


def file_clients(raw: dict | None) -> list[int] | None:
    """The client counts the recipe file's benchmark runs (``benchmark.concurrencies``: "44", "10x15x25", or a
    list), sorted; None where the file sets none. The h200 TRT-LLM entries list clients per decode worker
    (``conc-list: [4]`` with 11 decode workers runs a file that benchmarks 44)."""
    c = ((raw or {}).get("benchmark") or {}).get("concurrencies")
    if c is None:
        return None
    parts = c if isinstance(c, list) else str(c).split("x")
    return sorted({int(str(v).strip()) for v in parts})


def role(x: dict) -> list:
    return [int(x["num-worker"]), int(x["tp"]), int(x.get("ep", 1)), bool(x.get("dp-attn", False))]


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path)
    ap.add_argument("--srt-slurm", type=Path, default=None)
    ap.add_argument("--since", default="2026-01-01")
    ap.add_argument("--until", default="2026-06-30")
    a = ap.parse_args(argv)
    log = git(a.repo, "log", "--reverse", "--format=%H %ad", "--date=short", "--", CONFIG).split("\n")
    commits = [line.split() for line in log if line and a.since <= line.split()[1] <= a.until]
    # entry (canonical JSON) -> [first day listed, day a commit dropped it (or the window's end), first commit]
    listed: dict[str, list] = {}
    before: set[str] = set()
    files: dict = {}
    for sha, day in commits:
        raw = yaml.safe_load(git(a.repo, "show", f"{sha}:{CONFIG}"))
        now = set()
        for key, cfg in raw.items():
            name = config_name(key)
            if not isinstance(cfg, dict) or not cfg.get("disagg") or name is None:
                continue
            for seq in cfg.get("seq-len-configs") or []:
                for e in seq.get("search-space") or []:
                    raw_file = recipe_yaml(a.srt_slurm, recipe_file(e), files)
                    rec = {
                        "config": key,
                        "isl": int(seq["isl"]),
                        "osl": int(seq["osl"]),
                        "conc": sorted(int(c) for c in e["conc-list"]),
                        "prefill": role(e["prefill"]),
                        "decode": role(e["decode"]),
                        "mtp": mtp_depth(e, name["mtp_key"]),
                        "limits": engine_limits(raw_file),
                        "clients": file_clients(raw_file),
                    }
                    now.add(json.dumps(rec, sort_keys=True))
        for j in now:
            listed.setdefault(j, [day, a.until, sha[:9]])
            listed[j][1] = a.until
        for j in before - now:
            listed[j][1] = day
        before = now
    configs = sorted({json.loads(j)["config"] for j in listed})
    srt_sha = git(a.srt_slurm, "rev-parse", "--short=9", SRT_REVISION).strip() if a.srt_slurm else "not read"
    lines = [
        "# Generated by bench/inferencex_disagg_recipes.py; do not edit. The disaggregated (Dynamo) recipes of the",
        "# InferenceX benchmark (github.com/SemiAnalysisAI/InferenceX, Apache-2.0), from the history of",
        f"# {CONFIG} between {commits[0][1]} and {commits[-1][1]} ({len(commits)} commits):",
        "# every distinct entry once, with the days it was listed (`listed`: the first, and the day a commit dropped it",
        "# or the window's end; a run on either day may have used it) and the commit that first listed it.",
        "# prefill / decode: [workers, GPUs per worker (TP), EP, attention DP]; conc: the entry's conc-list; clients:",
        "# the client counts its srt-slurm recipe file benchmarks where they differ (h200 TRT-LLM entries list clients",
        "# per decode worker); mtp: drafted tokens per step from the srt-slurm recipe file's name (true: MTP, depth not",
        "# named; false: none; absent: not recorded); limits: the recipe file's per-rank batch cap of the prefill",
        "# (prefill_batch) and decode (decode_batch) workers and the prefill step's tokens (prefill_tokens): TRT-LLM",
        "# max_batch_size and max_num_tokens; SGLang max-running-requests over the attention-DP ranks and",
        "# max-prefill-tokens at most chunked-prefill-size; and each role's expert parallelism, attention DP and",
        "# TRT-LLM moe_config.backend where the file sets them (prefill_ep, decode_ep, prefill_adp, decode_adp,",
        "# prefill_moe, decode_moe: what the engine ran),",
        f"# from github.com/NVIDIA/srt-slurm (Apache-2.0) at {SRT_REVISION} ({srt_sha}; absent: no such file).",
        "# Read by costmodel/disagg_recipes.py.",
        "configs:",
    ]
    for key in configs:
        n = config_name(key)
        assert n is not None
        lines.append(
            f"  {key}: {{backend: {n['backend']}, system: {n['system']}, gemm: {n['gemm']}, "
            f"models: [{', '.join(MODELS[n['model']])}]}}"
        )
    lines.append("recipes:")
    for j, (first, last, sha) in sorted(listed.items(), key=lambda kv: (json.loads(kv[0])["config"], kv[1][0], kv[0])):
        r = json.loads(j)
        mtp = "" if r["mtp"] is None else f", mtp: {json.dumps(r['mtp'])}"
        if r["clients"] and r["clients"] != r["conc"]:
            mtp += f", clients: {r['clients']}"
        if r["limits"]:
            shown = (f"{k}: {json.dumps(v) if isinstance(v, bool) else v}" for k, v in sorted(r["limits"].items()))
            mtp += ", limits: {" + ", ".join(shown) + "}"
        lines.append(
            f'  - {{config: {r["config"]}, listed: [{first}, {last}], commit: "{sha}", isl: {r["isl"]}, '
            f"osl: {r['osl']}, conc: {r['conc']}, prefill: {json.dumps(r['prefill'])}, "
            f"decode: {json.dumps(r['decode'])}{mtp}}}"
        )
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: {len(listed)} recipes from {len(commits)} commits")


if __name__ == "__main__":
    main(sys.argv[1:])
