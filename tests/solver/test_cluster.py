"""Cluster solves: CP-SAT placements equal brute force on small instances; spec keys; CLI, JSON and export."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from solver.cluster.solve import price_members, solve_cluster
from solver.pipeline import load as spec_or_cluster
from solver.errors import InfeasibleError, UserError
from tests.solver.cluster_brute import brute_force

SMALL = {"search": {"tp": [1, 2, 4], "batch_sizes": [16, 64]}, "backend": "trtllm"}
Q8 = {"model": "Qwen/Qwen3-8B", "workload": {"isl": 2000, "osl": 300}, "sla": {"ttft_ms": 1500, "tpot_ms": 25}}
L8 = {
    "model": "meta-llama/Llama-3.1-8B",
    "workload": {"isl": 1000, "osl": 500},
    "sla": {"ttft_ms": 1000, "tpot_ms": 20},
}


def cluster(tmp_path: Path, spec: dict):
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(spec))
    return spec_or_cluster(path)


def key_of(c, r, surfaces) -> tuple:
    """The brute-force key of a result: objective, then its tie-break (see cluster_brute)."""
    good = sum(p.weight * p.deployment.tokens_per_s for p in r.placements if p.demand_rps is None)
    cost = r.cost_per_hour or 0.0
    spare = 0
    for p in r.placements:
        if p.demand_rps is None:
            continue
        pair = (p.systems.get("agg", p.systems.get("prefill")), p.systems.get("agg", p.systems.get("decode")))
        s = surfaces[p.member][pair]
        spare += min(
            math.floor(1000 * role.workers * float(getattr(s, role.role).req_per_s[role.row]) / p.demand_rps)
            for role in p.deployment.roles
        )
    tie = -cost if all(p.price for p in c.pools) else -r.gpus_used
    return {"min_gpus": (-r.gpus_used, spare), "min_cost": (-cost, spare), "max_goodput": (good, tie)}[c.objective]


CASES = {
    "fewest GPUs, two pools": dict(
        pools={"h100_sxm": 8, "h200_sxm": 8},
        deployments=[{**Q8, "demand": {"requests_per_s": 3}}, {**L8, "demand": {"requests_per_s": 6}}],
    ),
    "least cost, prices favour h100": dict(
        pools={"h100_sxm": 16, "h200_sxm": 8},
        cost={"h100_sxm": 1.0, "h200_sxm": 3.0},
        deployments=[{**Q8, "demand": {"requests_per_s": 4}}, {**L8, "demand": {"tokens_per_s": 2500}}],
    ),
    "demand plus leftover (agg)": dict(
        pools={"h100_sxm": 8, "h200_sxm": 4},
        deployments=[{**Q8, "demand": {"requests_per_s": 2}}, {**L8, "weight": 2, "modes": ["agg"]}],
    ),
    "leftover disagg, request latency": dict(
        pools={"h200_sxm": 6},
        deployments=[
            {**L8, "demand": {"requests_per_s": 2}},
            {
                **Q8,
                "weight": 1,
                "modes": ["disagg"],
                "search": {"batch_sizes": [64]},
                "sla": {"ttft_ms": 1500, "tpot_ms": 25, "max_request_latency_ms": 6000},
            },
        ],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_cp_sat_equals_brute_force(tmp_path, name):
    c = cluster(tmp_path, {**SMALL, **CASES[name]})
    surfaces = price_members(c)
    r = solve_cluster(c, surfaces)
    want = brute_force(c, surfaces)
    assert want is not None and r.infeasible is None and r.proven_optimal
    got = key_of(c, r, surfaces)
    assert got[0] == pytest.approx(want[0], rel=1e-6), (got, want)
    if got[0] == pytest.approx(want[0], rel=1e-9):  # same objective: the tie-break is optimal too
        assert got[1] == pytest.approx(want[1], rel=1e-9), (got, want)


def test_placements_meet_demand_pools_and_sla(tmp_path):
    c = cluster(tmp_path, {**SMALL, **CASES["least cost, prices favour h100"]})
    r = solve_cluster(c)
    for p in r.placements:
        m = c.members[p.member]
        assert p.deployment.req_per_s >= m.demand_rps and p.margin >= 0
        assert p.deployment.ttft_ms <= m.spec.sla.ttft_ms and p.deployment.tpot_ms <= m.spec.sla.tpot_ms
    used = {u.system: u.used for u in r.pools}
    assert used == {s: sum(p.gpus_by_system.get(s, 0) for p in r.placements) for s in used}
    assert all(u.used <= u.available for u in r.pools)
    assert r.cost_per_hour == pytest.approx(sum(u.used * u.price for u in r.pools))
    # tokens/s demand is output tokens: 2500 / osl 500 = 5 requests/s
    assert c.members[1].demand_rps == pytest.approx(5.0)


def test_more_demand_never_needs_fewer_gpus(tmp_path):
    used = []
    for rps in (1, 10, 40):
        spec = {**SMALL, "pools": {"h200_sxm": None}, **Q8, "demand": {"requests_per_s": rps}}
        used.append(solve_cluster(cluster(tmp_path, spec)).gpus_used)
    assert used == sorted(used) and used[0] < used[-1]


def test_mixed_pool_beats_either_pool_alone_or_matches(tmp_path):
    base = {**SMALL, **Q8, "demand": {"requests_per_s": 6}}
    alone = [solve_cluster(cluster(tmp_path, {**base, "pools": {s: None}})).gpus_used for s in ("h100_sxm", "h200_sxm")]
    mixed = solve_cluster(cluster(tmp_path, {**base, "pools": {"h100_sxm": None, "h200_sxm": None}}))
    assert mixed.gpus_used <= min(alone)


def test_infeasible_pools_say_what_each_model_needs(tmp_path):
    # alone: 1 GPU for Qwen3-8B, 2 for Llama-3.1-8B; together more than the pool's 2
    c = cluster(
        tmp_path,
        {
            **SMALL,
            "pools": {"h200_sxm": 2},
            "deployments": [{**Q8, "demand": {"requests_per_s": 12}}, {**L8, "demand": {"requests_per_s": 20}}],
        },
    )
    r = solve_cluster(c)
    assert r.infeasible and not r.placements
    assert "Qwen3-8B" in r.infeasible and "Llama-3.1-8B" in r.infeasible


def test_decode_system_prices_decode_rows_on_that_system(tmp_path):
    from costmodel.build import build_surfaces
    from solver.spec import load_spec

    path = tmp_path / "one.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **Q8, "system": "h100_sxm", "total_gpus": 8}))
    same = build_surfaces(load_spec(path).request)
    cross = build_surfaces(load_spec(path, ["decode_system=b200_sxm"]).request)
    assert cross.decode_system == "b200_sxm" and same.decode_system is None
    # B200 decodes faster than H100 at every common row; agg stays on h100
    assert (cross.decode.tpot_ms < same.decode.tpot_ms).all()
    assert (cross.agg.tpot_ms == same.agg.tpot_ms).all()


@pytest.mark.parametrize(
    "spec, words",
    [
        (
            {"pools": {"h100_sxm": 8}, "deployments": ["Qwen/Qwen3-8B"]},
            "deployments must be a non-empty list of mappings",
        ),
        (
            {"pools": {"h100_sxm": 8}, "cost": {"b200_sxm": 2}, **Q8, "demand": {"requests_per_s": 1}},
            "cost.b200_sxm: b200_sxm is not one of the pools",
        ),
        ({"pools": {"h100": 8}, **Q8, "demand": {"requests_per_s": 1}}, "unknown key 'pools.h100'"),
        (
            {"pools": {"h100_sxm": 8}, "objective": "min_cost", **Q8, "demand": {"requests_per_s": 1}},
            "objective min_cost: no price for h100_sxm",
        ),
        ({"pools": {"h100_sxm": None}, "deployments": [{**Q8, "weight": 1}]}, "would grow without bound"),
        (
            {"pools": {"h100_sxm": 8}, "objective": "min_gpus", "deployments": [{**Q8, "weight": 1}]},
            "every deployment needs a demand",
        ),
        ({"system": "h100_sxm", **Q8, "demand": {"requests_per_s": 1, "tokens_per_s": 5}}, "not both"),
        ({"pools": {"h100_sxm": 8}, "total_gpus": 8, **Q8, "demand": {"requests_per_s": 1}}, "total_gpus: with pools"),
        ({"pools": {"h100_sxm": 8}, "deployments": [{**Q8, "pools": {"h100_sxm": 8}}]}, "cluster-wide key"),
        (
            {"pools": {"h100_sxm": 8}, "deployments": [{**Q8, "system": "b200_sxm", "weight": 1}]},
            "system 'b200_sxm' is not one of the pools",
        ),
        (
            {"pools": {"h100_sxm": 8}, "deployments": [{**Q8, "weight": 1}, {"model": "Qwen/Qwen3-8B"}]},
            "deployments[1]: missing required key 'workload'",
        ),
        (
            {
                "system": "h100_sxm",
                **Q8,
                "demand": {"requests_per_s": 1},
                "constraints": {"topology": {"max_nodes": 1}},
            },
            "constraints.topology.max_nodes: not used in a cluster spec",
        ),
        (
            {"pools": {"h100_sxm": 8}, "deployments": [{**Q8, "weight": 1, "constraints": {"replicas": {"min": 2}}}]},
            "deployments[0]: constraints.replicas: not used",
        ),
        (
            {
                "pools": {"h100_sxm": 8, "h200_sxm": 8},
                **Q8,
                "demand": {"requests_per_s": 1},
                "constraints": {"topology": {"gpus_per_node": 4}},
            },
            "each system keeps its own node size",
        ),
        (
            {"system": "h200_sxm", "total_gpus": "abc", **Q8, "demand": {"requests_per_s": 1}},
            "total_gpus must be an integer ≥ 1; got 'abc'",
        ),
        (
            {"system": "h200_sxm", "total_gpus": 0, **Q8, "demand": {"requests_per_s": 1}},
            "total_gpus must be an integer",
        ),
        ({"system": ["h200_sxm"], **Q8, "demand": {"requests_per_s": 1}}, "system must be one of"),
        (
            {"pools": {"h200_sxm": 8}, "deployments": [{**Q8, "weight": 1, "system": {"h200_sxm": 1}}]},
            "system must be one of",
        ),
    ],
)
def test_spec_errors_name_the_key(tmp_path, spec, words):
    with pytest.raises(UserError) as e:
        cluster(tmp_path, spec)
    assert words in str(e.value)


def test_one_pool_takes_the_topology_node_size(tmp_path):
    spec = {
        **SMALL,
        "system": "h200_sxm",
        **Q8,
        "demand": {"requests_per_s": 20},
        "constraints": {"topology": {"gpus_per_node": 2, "worker_within_node": True}},
    }
    c = cluster(tmp_path, spec)
    assert c.pools[0].gpus_per_node == 2
    r = solve_cluster(c)
    assert all(role.gpus_per_worker <= 2 for p in r.placements for role in p.deployment.roles)


def test_weights_that_fit_no_pool_is_infeasible(tmp_path):
    with pytest.raises(InfeasibleError):
        cluster(
            tmp_path,
            {
                "pools": {"h100_sxm": 8},
                "model": "deepseek-ai/DeepSeek-R1",
                "workload": {"isl": 1000, "osl": 100},
                "demand": {"requests_per_s": 1},
                "constraints": {"topology": {"worker_within_node": True}},
            },
        )


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "solver.cli", *args], capture_output=True, text=True, timeout=300)


def test_cli_report_json_and_export(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **CASES["least cost, prices favour h100"]}))
    text = run_cli(str(path))
    assert text.returncode == 0, text.stderr
    assert "proven optimal" in text.stdout and "per million output tokens" in text.stdout
    a, b = (json.loads(run_cli(str(path), "--json").stdout) for _ in range(2))
    a.pop("solve_seconds"), b.pop("solve_seconds")
    assert a == b  # same spec, same output
    assert a["gpus_used"] == sum(p["deployment"]["gpus_used"] for p in a["placements"])
    out = tmp_path / "bundle"
    assert run_cli(str(path), "--save-dir", str(out)).returncode == 0
    summary = json.loads((out / "cluster.json").read_text())
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == sorted(["qwen3-8b", "llama-3-1-8b"])
    for p in summary["placements"]:
        folder = out / ("qwen3-8b" if p["name"] == "Qwen3-8B" else "llama-3-1-8b")
        mode = p["deployment"]["mode"]
        docs = [d for d in yaml.safe_load_all((folder / f"{mode}_1" / "k8s" / "deploy.yaml").read_text()) if d]
        dgd = next(d for d in docs if d.get("kind") == "DynamoGraphDeployment")
        workers = [s for s in dgd["spec"]["services"].values() if s["componentType"] == "worker"]
        assert (
            sum(s["replicas"] * int(s["resources"]["limits"]["gpu"]) for s in workers) == p["deployment"]["gpus_used"]
        )
        mixed = len(set(p["systems"].values())) > 1
        assert all(("nodeSelector" in s["extraPodSpec"]) == mixed for s in workers)
    again = run_cli(str(path), "--save-dir", str(out))
    assert again.returncode == 2 and "--force" in again.stderr


def test_cli_infeasible_exits_1(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "pools": {"h200_sxm": 1}, **Q8, "demand": {"requests_per_s": 50}}))
    r = run_cli(str(path))
    assert r.returncode == 1 and "No placement" in r.stdout and "Traceback" not in r.stderr


def test_bundled_128_gpu_example_is_proven_and_every_placement_checks_out():
    from solver.cluster.verify import check_cluster
    from solver.verify import check

    root = Path(__file__).resolve().parents[2]
    c = spec_or_cluster(root / "specs" / "cluster_3models_h100x64_h200x64.yaml")
    surfaces = price_members(c)
    r = solve_cluster(c, surfaces)
    assert r.proven_optimal and r.infeasible is None and check_cluster(c, r) == []
    from solver.cluster.options import build_combos

    combos, _ = build_combos(c, surfaces)
    for p in r.placements:  # re-check each against its own one-model rules with the full cost model
        combo = next(
            x
            for x in combos
            if x.member == p.member
            and dict(zip(("agg",) if x.mode == "agg" else ("prefill", "decode"), x.systems)) == p.systems
            and x.mode == p.deployment.mode
        )
        assert check(combo.problem, p.deployment) == []


@pytest.mark.parametrize("seed", range(12))
def test_random_small_clusters_equal_brute_force(tmp_path, seed):
    import random

    rng = random.Random(seed)
    pools = {s: rng.choice([4, 8, 12]) for s in rng.sample(["h100_sxm", "h200_sxm", "b200_sxm"], 2)}
    cost = {s: rng.choice([1.0, 2.5, 4.0]) for s in pools} if rng.random() < 0.5 else {}
    first = {**Q8, "demand": {"requests_per_s": round(rng.uniform(1, 8), 2)}}
    if rng.random() < 0.5:
        second = {**L8, "demand": {"requests_per_s": round(rng.uniform(1, 8), 2)}}
    else:
        second = {**L8, "weight": rng.choice([0.5, 1, 2]), "modes": ["agg"]}
    spec = {**SMALL, "pools": pools, "deployments": [first, second], **({"cost": cost} if cost else {})}
    c = cluster(tmp_path, spec)
    surfaces = price_members(c)
    r = solve_cluster(c, surfaces)
    want = brute_force(c, surfaces)
    if want is None:
        assert r.infeasible
        return
    assert r.infeasible is None and r.proven_optimal
    got = key_of(c, r, surfaces)
    assert got[0] == pytest.approx(want[0], rel=1e-6), (spec, got, want)
    if got[0] == pytest.approx(want[0], rel=1e-9):
        assert got[1] == pytest.approx(want[1], rel=1e-9), (spec, got, want)


def test_cli_flags_that_do_not_apply_to_a_cluster(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "pools": {"h200_sxm": 8}, **Q8, "demand": {"requests_per_s": 1}}))
    for flag in (["--top", "3"], ["--export-top", "2"]):
        r = run_cli(str(path), *flag)
        assert r.returncode == 2 and f"{flag[0]}: a cluster spec" in r.stderr


MUTANTS = [None, 0, -1, 1.5, "x", [], [1], {}, {"a": 1}, True, "h200_sxm", 10**9, {"h200_sxm": "a"}, [{"model": "x"}]]
MUTABLE = [
    ("pools",),
    ("pools", "h100_sxm"),
    ("cost",),
    ("cost", "h200_sxm"),
    ("objective",),
    ("deployments",),
    ("deployments", 0),
    ("deployments", 0, "demand"),
    ("deployments", 0, "demand", "requests_per_s"),
    ("deployments", 2, "weight"),
    ("deployments", 1, "name"),
    ("deployments", 1, "system"),
    ("deployments", 0, "total_gpus"),
    ("constraints",),
    ("constraints", "topology"),
    ("backend",),
    ("deployments", 0, "modes"),
    ("deployments", 0, "sla"),
    ("demand",),
    ("weight",),
    ("system",),
    ("total_gpus",),
]


def test_mutated_cluster_example_reads_or_says_why(tmp_path):
    """150 mutations of the bundled cluster spec: each is a Cluster or a UserError, never another exception."""
    import copy
    import random

    root = Path(__file__).resolve().parents[2]
    base = yaml.safe_load((root / "specs" / "cluster_3models_h100x64_h200x64.yaml").read_text())
    outcomes = {"ok": 0, "error": 0}
    for seed in range(150):
        rng = random.Random(seed)
        spec = copy.deepcopy(base)
        for _ in range(rng.choice([1, 2])):
            *parents, leaf = rng.choice(MUTABLE)
            node = spec
            try:
                for k in parents:
                    node = node[k]
                node[leaf] = copy.deepcopy(rng.choice(MUTANTS))
            except (KeyError, IndexError, TypeError):
                pass
        try:
            cluster(tmp_path, spec)
            outcomes["ok"] += 1
        except UserError as e:
            assert str(e) and "\n" not in str(e), (seed, str(e))
            outcomes["error"] += 1
    assert outcomes["ok"] > 10 and outcomes["error"] > 50, outcomes


def test_a_flag_a_deployment_overrides_is_refused_not_ignored():
    # Before: `--isl 1000` on a cluster spec whose deployments set their own workload solved with their ISL and
    # said nothing about the flag.
    from solver.errors import UserError

    spec = Path(__file__).resolve().parents[2] / "specs" / "cluster_3models_h100x64_h200x64.yaml"
    with pytest.raises(
        UserError,
        match=r"^--isl 1000: workload.isl: deployments\[0\] sets its own workload.isl "
        r"\(4000\)",
    ):
        spec_or_cluster(spec, flags={"isl": 1000})
    with pytest.raises(UserError, match=r"^--set sla.ttft_ms=50: sla.ttft_ms: deployments\[0\]"):
        spec_or_cluster(spec, ["sla.ttft_ms=50"])
    spec_or_cluster(spec, ["backend=vllm"])  # a key no deployment sets applies to all of them
