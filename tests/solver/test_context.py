"""workload.max_context_tokens: the longest request sizes each worker's KV reservation, is the engines' context
limit and is stated in the bundle README; wrong values are one-paragraph errors."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from costmodel.build import build_surfaces, kv_slots
from solver.errors import UserError
from solver.export import bundle_files
from solver.result import Deployment, RoleConfig, SolveResult
from solver.spec import load_spec

FLAGS = dict(model="meta-llama/Llama-3.1-70B", system="h100_sxm", backend="vllm", total_gpus=16, isl=4000, osl=500)


def spec_with(longest: int | None, **flags):
    return load_spec(
        None, [f"workload.max_context_tokens={'null' if longest is None else longest}"], flags={**FLAGS, **flags}
    )


def test_kv_slots_keep_room_for_the_longest_request():
    cap = np.array([4499.0, 4500.0, 9000.0, 20000.0, 40000.0])
    # default (longest = one workload request): floor(cap / 4500), as before the key existed
    assert kv_slots(cap, 4500, 4500).tolist() == [0, 1, 2, 4, 8]
    # one 16k request beside (cap - 16000) / 4500 workload requests; none where 16k alone does not fit
    assert kv_slots(cap, 4500, 16000).tolist() == [0, 0, 0, 1, 6]


def test_longer_context_lowers_the_batches_that_fit():
    base, long = (build_surfaces(spec_with(n).request) for n in (None, 100_000))
    tp2 = lambda s: int(s.agg.batch[s.agg.gpus == 2].max())  # noqa: E731
    # Llama-3.1-70B bf16 on two H100: ~24 requests of 4,500 tokens fit; with room for one 100k request, 4
    assert (tp2(base), tp2(long)) == (24, 4)
    assert len(long.agg) < len(base.agg) and len(long.decode) < len(base.decode)
    assert build_surfaces(spec_with(4500).request).agg.batch.tolist() == base.agg.batch.tolist()


def dep() -> Deployment:
    r = RoleConfig("agg", 1, 4, 1, 1, 1, 1, 4, 16, 8192, 0)
    return Deployment("agg", (r,), 1, 4, 500.0, 20.0, 400.0, 100.0, 50.0, 16, 1.0)


@pytest.mark.parametrize(
    "backend,key", [("trtllm", "max_seq_len"), ("vllm", "max-model-len"), ("sglang", "context-length")]
)
def test_engine_limit_and_readme(backend, key):
    d = dep()
    for longest, limit in ((None, 4864), (32_000, 32_256), (131_072, 131_072)):
        spec = spec_with(longest, backend=backend)
        files = bundle_files(SolveResult(d, None, (d,), (), (d,), (), True, 0, 0), spec, [("agg_1", d)], None)
        engine = yaml.safe_load(files["agg_1/engine/agg.yaml"])
        assert (engine if backend == "trtllm" else engine["flags"])[key] == limit  # margin, capped at the window
        readme = files["agg_1/README.md"]
        assert f"requests of up to {limit} tokens" in readme
        assert f"one {longest or 4500}-token\nrequest beside its planned batch" in readme
        assert spec.summary()["max_context_tokens"] == (longest or 4500)


def test_bad_context_values_are_one_paragraph_errors():
    with pytest.raises(
        UserError,
        match=r"^--set workload.max_context_tokens=4000: workload.max_context_tokens: "
        r"4000 tokens is shorter than one request of the workload \(isl \+ osl = "
        r"4500\); give at least 4500",
    ):
        spec_with(4000)
    with pytest.raises(
        UserError,
        match=r"exceeds meta-llama/Llama-3.1-70B's context window of 131072 "
        r"\(max_position_embeddings\); give at most 131072\.$",
    ):
        spec_with(131_073)
    with pytest.raises(UserError, match="must be an integer ≥ 1"):
        spec_with(0)
