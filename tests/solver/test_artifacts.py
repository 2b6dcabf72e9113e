"""`aicsolve calibrate BUNDLE`: rows read from the aiperf results a real exported bundle's bench script would leave,
factors that move predictions toward them, and one-paragraph errors for bundles without results or with bad files."""

from __future__ import annotations

import csv
import json
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

import solver.cli as cli
from costmodel.validate import predict_row
from costmodel.artifacts import PROFILE, BadArtifactsError, read_artifact_rows
from tests.solver.test_cli import run

SPEC = (
    "model: QWEN3_32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 200}\n"
    "sla: {ttft_ms: 1000, tpot_ms: 30}\nsearch: {tp: [1, 2], max_batch_size: 32}\n"
)
TTFT_BIAS, TPOT_BIAS = 1.6, 0.7  # the "hardware" is this much slower to first token and faster per token


def sweep(deployment: Path) -> list[int]:
    """The concurrencies bench/run_aiperf.sh runs, and a check that it writes each to bench/artifacts/c<N>/."""
    script = (deployment / "bench" / "run_aiperf.sh").read_text()
    assert 'ARTIFACTS="${ARTIFACTS:-$HERE/artifacts}"' in script and '--artifact-dir "$ARTIFACTS/c$c"' in script
    assert "`aicsolve calibrate DIR --out calibration.yaml`" in (deployment / "README.md").read_text()
    return [int(c) for c in re.findall(r"^run (\d+) \d+ \d+$", script, re.M)]


def stats(unit: str, values: list[float]) -> dict:
    """A record-metric stats block as aiperf writes it (schema 1.3)."""
    s = sorted(values)
    mean = sum(s) / len(s)
    return {
        "unit": unit,
        "avg": mean,
        "p50": s[len(s) // 2],
        "p90": s[int(0.9 * (len(s) - 1))],
        "p99": s[-1],
        "min": s[0],
        "max": s[-1],
        "std": (sum((v - mean) ** 2 for v in s) / max(len(s) - 1, 1)) ** 0.5,
        "count": len(s),
        "sum": sum(s),
    }


def aiperf_summary(
    model: str, conc: int, isl: int, osl: int, ttft_ms: float, itl_ms: float, *, ttft_unit: str = "ms"
) -> dict:
    """profile_export_aiperf.json of one `aiperf profile --concurrency conc` run, with aiperf's field names."""
    n = 4 * conc
    scale = {"ms": 1.0, "s": 1e-3}[ttft_unit]
    ttft = [ttft_ms * (0.9 + 0.2 * i / n) for i in range(n)]
    itl = [itl_ms * (0.95 + 0.1 * i / n) for i in range(n)]
    latency = [a + (osl - 1) * b for a, b in zip(ttft, itl)]
    duration = sum(latency) / conc / 1000.0
    return {
        "schema_version": "1.3",
        "aiperf_version": "0.10.0",
        "benchmark_id": f"run{conc:06d}",
        "request_throughput": {"unit": "requests/sec", "avg": n / duration},
        "request_latency": stats("ms", latency),
        "request_count": {"unit": "requests", "avg": float(n)},
        "time_to_first_token": stats(ttft_unit, [t * scale for t in ttft]),
        "inter_token_latency": stats("ms", itl),
        "output_token_throughput": {"unit": "tokens/sec", "avg": n * osl / duration},
        "output_token_throughput_per_user": stats("tokens/sec/user", [1000.0 / t for t in itl]),
        "input_sequence_length": stats("tokens", [float(isl)] * n),
        "output_sequence_length": stats("tokens", [float(osl)] * n),
        "benchmark_duration": {"unit": "sec", "avg": duration},
        "start_time": "2026-06-13T05:11:41.465270",
        "end_time": "2026-06-13T05:21:53.616416",
        "was_cancelled": False,
        "error_summary": [],
        "input_config": {
            "endpoint": {"model_names": [model], "type": "chat", "streaming": True, "url": "http://localhost:8000"},
            "input": {
                "prompt": {"input_tokens": {"mean": isl, "stddev": 0}, "output_tokens": {"mean": osl, "stddev": 0}}
            },
            "loadgen": {"concurrency": conc, "request_count": n, "warmup_request_count": conc},
            "cli_command": f"aiperf profile --model {model} --streaming --concurrency {conc} "
            f"--artifact-dir bench/artifacts/c{conc}",
        },
    }


def write_run(folder: Path, doc: dict | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inputs.json").write_text('{"data": []}\n')  # aiperf writes these beside the summary
    (folder / "profile_export.jsonl").write_text("")
    f = folder / PROFILE
    f.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
    return f


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A real bundle (agg_1, agg_2, disagg_1, disagg_2) of a small spec, exported by the CLI."""
    base = tmp_path_factory.mktemp("export")
    (base / "small.yaml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            sys, "argv", ["aicsolve", str(base / "small.yaml"), "--save-dir", str(base / "bundle"), "--export-top", "2"]
        )
        with pytest.raises(SystemExit) as info:
            cli.main()
    assert info.value.code == 0
    return base / "bundle"


@pytest.fixture(scope="module")
def measured(bundle, tmp_path_factory) -> Path:
    """The bundle after its four bench scripts ran: TTFT TTFT_BIAS and TPOT TPOT_BIAS times the model's figures,
    ±4 % per run."""
    root = tmp_path_factory.mktemp("measured") / "bundle"
    shutil.copytree(bundle, root)
    inp = json.loads((root / "result.json").read_text())["input"]
    for dep in sorted(p for p in root.iterdir() if (p / "bench").is_dir()):
        for conc in sweep(dep):
            write_run(
                dep / "bench" / "artifacts" / f"c{conc}",
                aiperf_summary(inp["model"], conc, inp["isl"], inp["osl"], 100.0, 10.0),
            )
    rows, _ = read_artifact_rows(root)
    for k, row in enumerate(rows):  # now the measurements, from the rows the reader made of the placeholders
        p = predict_row(row)
        assert p.reason is None, (row["id"], p.reason)
        jitter = 1.0 + 0.04 * ((k % 3) - 1)
        f = root / row["id"].split("/", 1)[1] / PROFILE
        write_run(
            f.parent,
            aiperf_summary(
                inp["model"],
                int(re.search(r"c(\d+)$", row["id"])[1]),
                inp["isl"],
                inp["osl"],
                p.ttft_ms * TTFT_BIAS * jitter,
                p.tpot_ms * TPOT_BIAS / jitter,
            ),
        )
    return root


def exported(root: Path) -> dict[str, dict]:
    with open(root / "top.csv", newline="") as fh:
        return {r["exported"]: r for r in csv.DictReader(fh) if r["exported"]}


def test_rows_carry_the_deployment_configuration_and_the_measurements(measured):
    rows, notes = read_artifact_rows(measured)
    assert notes == []
    inp = json.loads((measured / "result.json").read_text())["input"]
    top = exported(measured)
    assert sorted(top) == ["agg_1", "agg_2", "disagg_1", "disagg_2"]
    by_id = {r["id"]: r for r in rows}
    expected_ids = {f"bundle/{d}/bench/artifacts/c{c}" for d in top for c in sweep(measured / d)}
    assert set(by_id) == expected_ids and len(rows) == 12
    for rid, row in by_id.items():
        folder, conc = rid.split("/")[1], int(rid.rsplit("c", 1)[1])
        cfg = top[folder]
        assert (row["model_path"], row["system"], row["backend"], row["backend_version"]) == (
            "Qwen/Qwen3-32B",
            "h200_sxm",
            "trtllm",
            inp["backend_version"],
        )
        assert (row["isl"], row["osl"], row["mode"]) == ("1000", "200", cfg["mode"])
        doc = json.loads((measured / rid.split("/", 1)[1] / PROFILE).read_text())
        assert float(row["silicon_ttft_ms"]) == pytest.approx(doc["time_to_first_token"]["avg"])
        assert float(row["silicon_tpot_ms"]) == pytest.approx(doc["inter_token_latency"]["avg"])
        src = dict(p.strip().split("=") for p in row["silicon_data_source"].split(";")[1:])
        replicas = int(cfg["replicas"])
        if cfg["mode"] == "agg":
            for col, key in (
                ("tp_size", "tp"),
                ("pp_size", "pp"),
                ("attention_dp_size", "attention_dp"),
                ("moe_ep_size", "ep"),
                ("batch_size", "batch"),
            ):
                assert row[col] == cfg[f"agg_{key}"]
            # the frontend spreads the aiperf concurrency over every agg worker of every replica
            assert int(src["silicon_concurrency"]) == round(conc / (int(cfg["agg_workers"]) * replicas))
            assert row["prefill_num_workers"] == row["decode_num_workers"] == ""
        else:
            for role in ("prefill", "decode"):
                assert row[f"{role}_num_workers"] == str(int(cfg[f"{role}_workers"]) * replicas)
                assert row[f"{role}_tp_size"] == cfg[f"{role}_tp"]
                assert row[f"{role}_batch_size"] == cfg[f"{role}_batch"]
            assert int(src["silicon_concurrency"]) == conc
            assert row["tp_size"] == ""
        assert src["total_concurrency"] == str(conc)
    loads = [r["silicon_data_source"].split(";")[1] for r in rows if "/agg_1/" in r["id"]]
    assert len(set(loads)) == 3  # three loads of one deployment, three rows


def test_calibrate_a_bundle_recovers_the_bias_and_helps_held_out_runs(measured, tmp_path, monkeypatch, capsys):
    out = tmp_path / "cal.yaml"
    code, text, err = run(monkeypatch, capsys, "calibrate", str(measured), "--out", str(out))
    assert code == 0, err
    assert f"{measured}: 12 aiperf run(s)" in err
    factors = {f["mode"]: f for f in yaml.safe_load(out.read_text())["factors"]}
    assert set(factors) == {"agg", "disagg"}
    for f in factors.values():
        assert (f["system"], f["backend"]) == ("h200_sxm", "trtllm")
        assert f["ttft_factor"] == pytest.approx(TTFT_BIAS, rel=0.05)
        assert f["tpot_factor"] == pytest.approx(TPOT_BIAS, rel=0.05)
    held = int(re.search(r"held-out rows \((\d+) of 12\)", text)[1])
    assert held >= 1
    before, after = re.findall(r"overall: rows=\d+ predicted=\d+ ttft_mdape=([\d.]+)% tpot_mdape=([\d.]+)%", text)
    assert float(before[0]) > 30 and float(before[1]) > 20  # the model is off by the bias before
    assert float(after[0]) < 5 and float(after[1]) < 5  # and within the ±4 % jitter after

    # the same runs named as deployment folders, an artifacts folder and one run: the same factors
    again = tmp_path / "again.yaml"
    parts = [
        measured / "agg_1",
        measured / "agg_2" / "bench" / "artifacts",
        measured / "disagg_1",
        measured / "disagg_2" / "bench",
    ]
    code, _, err = run(monkeypatch, capsys, "calibrate", *map(str, parts), "--out", str(again))
    assert code == 0, err
    assert yaml.safe_load(again.read_text()) == yaml.safe_load(out.read_text())


def test_one_run_folder_or_summary_file_is_one_row(measured):
    run_dir = measured / "disagg_2" / "bench" / "artifacts" / f"c{sweep(measured / 'disagg_2')[0]}"
    for path in (run_dir, run_dir / PROFILE):
        rows, _ = read_artifact_rows(path)
        assert [r["id"] for r in rows] == [f"bundle/disagg_2/bench/artifacts/{run_dir.name}"]


def test_units_concurrency_from_the_folder_and_skipped_runs(bundle, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(bundle, root)
    art = root / "agg_1" / "bench" / "artifacts"
    a, b, c = sweep(root / "agg_1")
    in_s = aiperf_summary("Qwen/Qwen3-32B", a, 1000, 200, 250.0, 12.5, ttft_unit="s")  # TTFT in seconds
    assert in_s["time_to_first_token"]["unit"] == "s" and in_s["time_to_first_token"]["avg"] < 1
    write_run(art / f"c{a}", in_s)
    no_loadgen = aiperf_summary("Qwen/Qwen3-32B", b, 1000, 200, 300.0, 14.0)
    del no_loadgen["input_config"]["loadgen"]  # an aiperf that records no loadgen: the folder name says c<N>
    write_run(art / f"c{b}", no_loadgen)
    failed = aiperf_summary("Qwen/Qwen3-32B", c, 1000, 200, 1.0, 1.0)
    for k in ("time_to_first_token", "inter_token_latency", "request_latency"):
        del failed[k]
    failed["error_request_count"] = {"unit": "requests", "avg": 48.0}
    write_run(art / f"c{c}", failed)
    (art / "c999").mkdir()  # a run that never finished
    rows, notes = read_artifact_rows(root / "agg_1")
    by_conc = {r["id"].rsplit("/c", 1)[1]: r for r in rows}
    assert sorted(by_conc) == sorted([str(a), str(b)])
    assert float(by_conc[str(a)]["silicon_ttft_ms"]) == pytest.approx(1000 * in_s["time_to_first_token"]["avg"])
    assert float(by_conc[str(b)]["silicon_tpot_ms"]) == pytest.approx(no_loadgen["inter_token_latency"]["avg"])
    assert f"total_concurrency={b}" in by_conc[str(b)]["silicon_data_source"]
    assert any(
        f"c{c}/{PROFILE}: no time_to_first_token / inter_token_latency (48 request(s) failed" in n for n in notes
    )
    assert any(n.endswith(f"c999: no {PROFILE} (the aiperf run did not finish?); skipped.") for n in notes)
    rows, notes = read_artifact_rows(root)  # the whole bundle: only agg_1 was measured
    assert len(rows) == 2 and all("/agg_1/" in r["id"] for r in rows)
    assert [n for n in notes if "no aiperf results yet" in n] == [
        f"{root / d}: no aiperf results yet (bench/run_aiperf.sh writes them)."
        for d in ("agg_2", "disagg_1", "disagg_2")
    ]


def test_disagg_across_two_systems_is_skipped(measured, tmp_path):
    root = tmp_path / "b"
    shutil.copytree(measured, root)
    doc = json.loads((root / "result.json").read_text())
    doc["input"]["decode_system"] = "b200_sxm"  # decode workers on another GPU type than prefill
    (root / "result.json").write_text(json.dumps(doc))
    rows, notes = read_artifact_rows(root)
    assert len(rows) == 6 and {r["mode"] for r in rows} == {"agg"}
    assert len(notes) == 6 and all("decode ran on b200_sxm, prefill on h200_sxm" in n for n in notes)


def test_a_bundle_without_results(bundle, tmp_path, monkeypatch, capsys):
    code, out, err = run(monkeypatch, capsys, "calibrate", str(bundle), "--out", str(tmp_path / "c.yaml"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert err.startswith(
        f"error: {bundle}: no aiperf results with TTFT and TPOT to calibrate from (looked for {PROFILE} under "
    )
    assert "agg_1/bench/artifacts" in err and "disagg_2/bench/artifacts" in err and "bench/run_aiperf.sh" in err
    assert err.count("\n") == 1 and not (tmp_path / "c.yaml").exists()


def test_corrupt_and_misplaced_inputs(bundle, tmp_path, monkeypatch, capsys):
    root = tmp_path / "b"
    shutil.copytree(bundle, root)
    conc = sweep(root / "agg_2")[1]
    bad = write_run(
        root / "agg_2" / "bench" / "artifacts" / f"c{conc}",
        json.dumps(aiperf_summary("Qwen/Qwen3-32B", conc, 1000, 200, 100.0, 9.0))[:300],
    )  # cut short
    code, out, err = run(monkeypatch, capsys, "calibrate", str(root), "--out", str(tmp_path / "c.yaml"))
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"error: {bad}: not valid JSON (line ")
    assert "rerun that concurrency with the deployment's bench/run_aiperf.sh, or delete its folder" in err

    bad.write_text("[1, 2]")
    with pytest.raises(BadArtifactsError, match=rf"{PROFILE}: expected a JSON object, got list"):
        read_artifact_rows(root)
    bad.write_text('{"time_to_first_token": {"unit": "fortnights", "avg": 3}, "inter_token_latency": {"avg": 1}}')
    with pytest.raises(BadArtifactsError, match="time_to_first_token is in unit 'fortnights'; expected one of ns, us"):
        read_artifact_rows(root)

    (root / "agg_9").mkdir()
    with pytest.raises(
        BadArtifactsError,
        match="agg_9 is not an exported deployment of the bundle .* names agg_1, agg_2, disagg_1, disagg_2",
    ):
        read_artifact_rows(root / "agg_9")

    (root / "result.json").write_text('{"input": {"model": "Qwen/Qwen3-32B"}}')
    with pytest.raises(
        BadArtifactsError,
        match=r"result.json: not a result written by `aicsolve SPEC --save-dir` \(its "
        r'"input" lacks system, backend, backend_version, isl, osl\)',
    ):
        read_artifact_rows(root)

    lone = tmp_path / "loose" / "c8"  # results copied out of their bundle
    write_run(lone, aiperf_summary("Qwen/Qwen3-32B", 8, 1000, 200, 100.0, 9.0))
    code, _, err = run(monkeypatch, capsys, "calibrate", str(lone), "--out", str(tmp_path / "c.yaml"))
    assert code == 2 and err.startswith(
        f"error: {lone}: not a bundle folder: no result.json in it or in a folder above it;"
    )


def test_one_deployment_calibrates_in_sample_and_fewer_runs_say_what_to_do(measured, tmp_path, monkeypatch, capsys):
    from costmodel.calibrate import held_out, load

    # row ids decide the held-out quarter: a deployment that loses one of its three runs to it is fitted in-sample
    short = [
        d
        for d in ("agg_1", "agg_2", "disagg_1", "disagg_2")
        if any(held_out(r["id"]) for r in read_artifact_rows(measured / d)[0])
    ]
    assert short, "no deployment has a held-out run"
    code, out, err = run(monkeypatch, capsys, "calibrate", str(measured / short[0]), "--out", str(tmp_path / "c.yaml"))
    assert code == 0, err
    assert "in-sample rows (3: groups with too few rows to hold a quarter out" in out and "held-out rows" not in out
    (f,) = load(tmp_path / "c.yaml").factors.values()
    assert f.in_sample and f.rows == 3 and f.ttft == pytest.approx(1.6, rel=0.08)
    one = next((measured / short[0] / "bench" / "artifacts").iterdir())
    code, _, err = run(monkeypatch, capsys, "calibrate", str(one), "--out", str(tmp_path / "d.yaml"))
    assert code == 2 and "Traceback" not in err
    assert "no (system, backend, mode) group has the 3 predictable rows a fit needs (1 row(s) read, 1 predicted)" in err
    assert "add `run` lines to it, or export more deployments with --export-top" in err
