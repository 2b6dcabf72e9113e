"""why_no_layout names the rule that empties a search space, applying the same rules as layouts()."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from costmodel.layout_rules import layouts, why_no_layout, worker_cap
from solver.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
R1 = load_spec(ROOT / "specs" / "deepseek-r1_h200x64.yaml").request  # MoE, 128 heads, 61 layers, 256 experts


def _req(**search):
    return replace(R1, search=replace(R1.search, **search))


@pytest.mark.parametrize(
    ("search", "caps", "key"),
    [
        ({"tp": (3,)}, {}, "search.tp"),
        ({"pp": (64,)}, {}, "search.pp"),
        ({"tp": (2,), "dp": (2,)}, {}, "search"),  # TRT-LLM runs attention TP or DP, not both
        ({"tp": (1,), "dp": (1,), "moe_ep": (512,)}, {}, "search.moe_ep"),
        ({"tp": (4,), "max_gpus_per_worker": 2}, {"search.max_gpus_per_worker": 2}, "search.max_gpus_per_worker"),
        (
            {"tp": (4,), "max_gpus_per_worker": 2},
            {"search.max_gpus_per_worker": 3, "constraints.topology.gpus_per_node (worker_within_node)": 2},
            "constraints.topology.gpus_per_node",
        ),
    ],
)
def test_each_rule_that_empties_the_space_is_named(search, caps, key):
    req = _req(**search)
    assert layouts(req) == []
    gap = why_no_layout(req, caps)
    assert gap is not None and gap.key == key


def test_no_reason_when_a_layout_exists():
    assert layouts(R1) and why_no_layout(R1, {}) is None


def test_worker_cap_names_every_limit_at_the_minimum():
    cap = worker_cap({"a.x": 4, "b (why)": 2, "c": 2})
    assert (cap.gpus, cap.names, cap.key) == (2, "b (why) = 2 and c = 2", "b")
