"""Cluster solve speed: 3 models on 2 pools (64 H100 + 64 H200 = 128 GPUs), three objectives.

Run: python bench/cluster_speed.py [repeats]
Prints per variant: cost-model pricing time (all models x system pairs), CP-SAT time (all
lexicographic stages), whether the result is proven optimal, rows in the model and GPUs used.
The last variant (6 models on 3 pools, 320 GPUs) is a scale check beyond the target.
Target (issue 8): proven optimal in under 10 s.
"""

from __future__ import annotations

import copy
import sys
import tempfile
import time
from pathlib import Path

import yaml

from solver.cluster.solve import price_members, solve_cluster
from solver.pipeline import load as spec_or_cluster

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = yaml.safe_load((ROOT / "specs" / "cluster_3models_h100x64_h200x64.yaml").read_text())


def variants() -> dict[str, dict]:
    """The bundled example (2 demands + leftover), all leftover with weights, all demands at least cost."""
    leftover = copy.deepcopy(EXAMPLE)
    for item, w in zip(leftover["deployments"], (2, 3, 1)):
        item.pop("demand", None)
        item["weight"] = w
    demands = copy.deepcopy(EXAMPLE)
    demands["deployments"][2]["demand"] = {"requests_per_s": 10}
    demands["deployments"][2].pop("weight")
    demands["constraints"] = {}  # let DeepSeek-R1 span two H100 nodes
    return {
        "example (2 demands + leftover)": EXAMPLE,
        "max_goodput, 3 weighted": leftover,
        "min_cost, 3 demands": demands,
        "6 models, 3 pools, 320 GPUs": SIX,
    }


def _dep(model: str, isl: int, osl: int, ttft: float, tpot: float, **load) -> dict:
    return {"model": model, "workload": {"isl": isl, "osl": osl}, "sla": {"ttft_ms": ttft, "tpot_ms": tpot}, **load}


# A scale check beyond the target: two demands, four models sharing what is left.
SIX = {
    "pools": {"h100_sxm": 128, "h200_sxm": 128, "b200_sxm": 64},
    "cost": {"h100_sxm": 2.2, "h200_sxm": 3.5, "b200_sxm": 5.5},
    "backend": "trtllm",
    "deployments": [
        _dep("Qwen/Qwen3-32B", 4000, 500, 1000, 20, weight=2),
        _dep("meta-llama/Llama-3.1-70B", 2000, 500, 1500, 30, weight=3),
        _dep("deepseek-ai/DeepSeek-R1", 4000, 1000, 2000, 50, weight=1),
        _dep("Qwen/Qwen3-8B", 1000, 300, 500, 15, demand={"requests_per_s": 50}),
        _dep("openai/gpt-oss-120b", 2000, 1000, 1000, 20, weight=1.5),
        _dep("Qwen/Qwen3-235B-A22B-FP8", 4000, 800, 2000, 40, demand={"requests_per_s": 5}),
    ],
}


def main(repeats: int = 3) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in variants().items():
            path = Path(tmp) / "c.yaml"
            path.write_text(yaml.safe_dump(spec))
            c = spec_or_cluster(path)
            best_price = best_solve = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                surfaces = price_members(c)
                t1 = time.perf_counter()
                r = solve_cluster(c, surfaces)
                best_price, best_solve = min(best_price, t1 - t0), min(best_solve, time.perf_counter() - t1)
            print(
                f"{name:32s} pricing {best_price:5.2f} s  solve {best_solve:5.2f} s  "
                f"proven={r.proven_optimal}  rows={r.stats.get('rows')}  gpus={r.gpus_used}/{sum(p.gpus for p in c.pools)}  "
                f"solves={sum(r.stats['solver_status'].values())}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
