"""The bundle replays the spec's workload in aiperf (lengths, prefix, open-loop arrivals), and calibrate reads the
percentiles of those runs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from solver import cli
from costmodel.artifacts import percentile_table, read_artifact_rows
from tests.solver.test_artifacts import aiperf_summary, write_run

SPEC = (
    "model: QWEN3_32B\nsystem: h200_sxm\ntotal_gpus: 8\n"
    "workload: {isl: {lognormal: {mean: 1000, p90: 1800}}, osl: {histogram: [[100, 0.5], [300, 0.5]]},\n"
    "           prefix_hit_rate: 0.25, distribution_points: 4, arrival: {process: gamma, cv: 2}}\n"
    "sla: {ttft_ms: {p90: 2000}, tpot_ms: 30}\nsearch: {tp: [1, 2], max_batch_size: 32}\nmodes: [agg]\n"
)


def _solve(tmp: Path, spec: str, *args: str) -> int:
    (tmp / "s.yaml").write_text(spec)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["aicsolve", str(tmp / "s.yaml"), *args])
        with pytest.raises(SystemExit) as info:
            cli.main()
    return info.value.code


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("open")
    assert _solve(base, SPEC, "--save-dir", str(base / "b")) == 0
    return base / "b"


def test_script_replays_lengths_prefix_and_bursts(bundle):
    script = (bundle / "agg_1" / "bench" / "run_aiperf.sh").read_text()
    dist = re.search(r"^SEQ_DIST='([^']+)'$", script, re.M)[1]
    pairs = [re.fullmatch(r"(\d+),(\d+):(0\.\d+|1\.0+)", p).groups() for p in dist.split(";")]
    total = sum(float(p) for _, _, p in pairs)
    assert total == pytest.approx(1.0, abs=1e-9) and all(float(p) <= 1 for _, _, p in pairs)  # aiperf: fractions
    assert {int(o) for _, o, _ in pairs} == {100, 300} and len(pairs) == 8  # 4 ISL points x 2 OSL points
    res = json.loads((bundle / "result.json").read_text())
    w = res["input"]["workload"]
    prefix = round(0.25 * w["isl"]["mean"])
    assert f"--prefix-prompt-pool-size 1 --prefix-prompt-length {prefix})" in script
    mean_isl = sum(int(i) * float(p) for i, _, p in pairs) + prefix
    assert mean_isl == pytest.approx(w["isl"]["mean"], rel=0.01)
    assert "--arrival-pattern gamma --arrival-smoothness 0.25 " in script  # shape 1 / CV^2
    rates = [float(r) for r in re.findall(r"^run_rate (\S+) \d+ \d+$", script, re.M)]
    best = res["best"]["agg"]
    assert len(rates) == 3 and max(rates) == pytest.approx(0.9 * best["req_per_s"], rel=1e-2)
    assert '--artifact-dir "$ARTIFACTS/r$r"' in script and "--concurrency" not in script


def test_calibrate_reads_rate_runs_and_their_percentiles(bundle, tmp_path):
    res = json.loads((bundle / "result.json").read_text())
    inp, best = res["input"], res["best"]["agg"]
    script = (bundle / "agg_1" / "bench" / "run_aiperf.sh").read_text()
    for r in re.findall(r"^run_rate (\S+) \d+ \d+$", script, re.M):
        doc = aiperf_summary(inp["model"], 8, inp["isl"], inp["osl"], 300.0, 12.0)
        del doc["input_config"]["loadgen"]["concurrency"]  # a rate run sets no concurrency
        write_run(bundle / "agg_1" / "bench" / "artifacts" / f"r{r}", doc)
    rows, notes = read_artifact_rows(bundle)
    assert len(rows) == 3 and not [n for n in notes if "skipped" in n]
    doc = json.loads(
        (bundle / "agg_1/bench/artifacts" / rows[0]["id"].rsplit("/", 1)[1] / "profile_export_aiperf.json").read_text()
    )
    little = doc["request_throughput"]["avg"] * doc["request_latency"]["avg"] / 1000.0
    assert f"total_concurrency={round(little)}" in rows[0]["silicon_data_source"]
    pct = rows[0]["percentiles"]
    assert pct["ttft"]["measured_p90"] == pytest.approx(doc["time_to_first_token"]["p90"])
    assert pct["ttft"]["predicted_p90"] == pytest.approx(best["latency_percentiles"]["ttft_ms"]["p90"])
    assert pct["tpot"]["predicted_p99"] == pytest.approx(best["latency_percentiles"]["tpot_ms"]["p99"])
    table = percentile_table(rows)
    assert "TTFT p90" in table and rows[0]["id"] in table


def test_fixed_closed_loop_bundle_is_unchanged_in_kind(tmp_path):
    spec = SPEC.replace(
        "workload: {isl: {lognormal: {mean: 1000, p90: 1800}}, osl: {histogram: [[100, 0.5], "
        "[300, 0.5]]},\n           prefix_hit_rate: 0.25, distribution_points: 4, arrival: "
        "{process: gamma, cv: 2}}",
        "workload: {isl: 1000, osl: 200}",
    )
    assert _solve(tmp_path, spec.replace("{p90: 2000}", "2000"), "--save-dir", str(tmp_path / "b")) == 0
    script = (tmp_path / "b" / "agg_1" / "bench" / "run_aiperf.sh").read_text()
    assert "--synthetic-input-tokens-mean 1000 " in script and "SEQ_DIST" not in script
    assert "--prefix-prompt" not in script and "run_rate" not in script and re.search(r"^run \d+ ", script, re.M)
