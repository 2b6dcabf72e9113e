"""What a new user meets first: -h/--version, complete help texts, errors that name the flag the value came from,
quantization flags, AICSOLVE_DATA, and `aicsolve validate` on the bundled measurement sample."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
import typer.main

import solver.cli as cli
from costmodel.paths import data_dir, measurement_sample
from test_cli import FLAGS, QWEN, fakes, run  # noqa: F401 - fakes is a fixture

SMALL = ["--model", "Qwen/Qwen3-32B", "--system", "h200_sxm", "--total-gpus", "8", "--isl", "1000", "--osl", "100"]


@pytest.mark.parametrize(
    "argv",
    [
        ["-h"],
        ["--help"],
        ["solve", "-h"],
        [QWEN, "-h"],
        ["data", "-h"],
        ["data", "import", "-h"],
        ["validate", "-h"],
        ["calibrate", "-h"],
    ],
)
def test_short_and_long_help(monkeypatch, capsys, argv):
    code, out, err = run(monkeypatch, capsys, *argv)
    assert (code, err) == (0, "") and out.startswith("Usage: aicsolve")


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(monkeypatch, capsys, flag):
    assert run(monkeypatch, capsys, flag) == (0, f"aicsolve {version('aicsolve')}\n", "")


def _commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_every_bracketed_word_of_a_help_text_is_printed(monkeypatch, capsys):
    """Help texts are not rich markup: "[import]" and the like print as written, in every command's help."""
    checked = 0
    for path, cmd in _commands(typer.main.get_command(cli.app)):
        texts = [cmd.help or ""] + [getattr(p, "help", None) or "" for p in cmd.params]
        words = {w for t in texts for w in re.findall(r"\[[^\]\s]+\]", t)}
        if not words:
            continue
        code, out, _ = run(monkeypatch, capsys, *path, "--help")
        flat = " ".join(out.split())
        assert code == 0 and all(w in flat for w in words), (path, words, out)
        checked += len(words)
    assert checked >= 2  # "[import]" of data import, "[1,2]" of solve --set


def test_solve_help_gives_every_exit_code_and_debug(monkeypatch, capsys):
    for argv in (["solve", "--help"], ["--help"]):
        flat = " ".join(run(monkeypatch, capsys, *argv)[1].split())
        assert "--debug" in flat and "3 internal error" in flat and "1 " in flat and "2 bad input" in flat


@pytest.mark.parametrize(
    "argv, blamed",
    [
        ([QWEN, "--isl", "200000"], "--isl 200000: workload: isl + osl"),
        ([QWEN, "--set", "workload.osl=200000"], "--set workload.osl=200000: workload: isl + osl"),
        ([*SMALL[:-2], "--osl", "40000"], "--isl 1000, --osl 40000: workload: isl + osl"),
        (
            [QWEN, "--set", "constraints.replicas.min=3", "--set", "constraints.replicas.max=2"],
            "--set constraints.replicas.min=3, --set constraints.replicas.max=2: constraints.replicas: min 3 exceeds max 2",
        ),
        ([*SMALL, "--quant-gemm", "nvfp4"], "--quant-gemm nvfp4: quantization.gemm: nvfp4 needs FP4 tensor cores"),
        ([*SMALL, "--quant-kv-cache", "fp4"], "--quant-kv-cache fp4: quantization.kv_cache must be one of"),
        ([QWEN, "--set", "search.tp=[128]"], "--set search.tp=[128]: search: no search.tp value in [128]"),
    ],
)
def test_a_value_from_a_flag_is_blamed_on_that_flag(monkeypatch, capsys, fakes, argv, blamed):  # noqa: F811
    code, out, err = run(monkeypatch, capsys, *argv)
    assert (code, out) == (2, "") and err.startswith(f"error: {blamed}"), err
    assert "line " not in err.split(":")[0]


def test_a_flag_that_makes_the_file_s_value_wrong_is_blamed(monkeypatch, capsys, fakes, tmp_path):  # noqa: F811
    spec = tmp_path / "q.yaml"
    spec.write_text(
        "model: Qwen/Qwen3-32B\nsystem: b200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 100}\n"
        "quantization: {gemm: nvfp4}\nbackend_version: 1.3.0rc20\n"
    )
    code, _, err = run(monkeypatch, capsys, str(spec), "--system", "h200_sxm")
    assert code == 2 and err.startswith("error: --system h200_sxm: quantization.gemm: nvfp4 needs FP4"), err
    code, _, err = run(monkeypatch, capsys, str(spec), "--backend", "vllm")
    assert code == 2 and err.startswith("error: --backend vllm: backend_version: no measured data for vllm"), err
    code, _, err = run(monkeypatch, capsys, str(spec), "--set", "backend_version=v9")
    assert code == 2 and err.startswith("error: --set backend_version=v9: backend_version: no measured data"), err


def test_the_file_is_still_blamed_for_its_own_values(monkeypatch, capsys, fakes, tmp_path):  # noqa: F811
    bad = tmp_path / "s.yaml"
    bad.write_text("model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload:\n  isl: 41000\n  osl: 100\n")
    code, _, err = run(monkeypatch, capsys, str(bad))
    assert code == 2 and err.startswith(f"error: {bad}, line 4: workload: isl + osl = 41100"), err
    code, _, err = run(monkeypatch, capsys, str(bad), "--osl", "10")  # the flag and the file share the blame
    assert code == 2 and err.startswith("error: --osl 10: workload: isl + osl = 41010"), err


def test_quantization_flags_follow_the_spec_keys(monkeypatch, capsys, fakes):  # noqa: F811
    code, out, _ = run(
        monkeypatch,
        capsys,
        *SMALL,
        "--quant-gemm",
        "fp8",
        "--quant-kv-cache",
        "bfloat16",
        "--quant-attention",
        "fp8",
        "--json",
    )
    assert code == 0
    q = fakes["request"].quant
    assert (q.gemm, q.kv_cache, q.attention) == ("fp8", "bfloat16", "fp8")
    assert run(monkeypatch, capsys, QWEN, "--quant-gemm", "bfloat16")[0] == 0  # the flag overrides the file's fp8_block
    assert fakes["request"].quant.gemm == "bfloat16"
    help_text = " ".join(run(monkeypatch, capsys, "solve", "--help")[1].split())
    for key in ("gemm", "kv_cache", "attention", "moe"):
        assert f"--quant-{key.replace('_', '-')} <str>" in help_text and f"(quantization.{key})" in help_text


@pytest.fixture
def fresh_data_dir():
    data_dir.cache_clear()
    yield
    data_dir.cache_clear()


def test_aicsolve_data_without_data_is_an_error_naming_it(monkeypatch, capsys, tmp_path, fresh_data_dir):
    monkeypatch.setenv("AICSOLVE_DATA", str(tmp_path))
    for argv in (["systems"], [QWEN]):
        code, out, err = run(monkeypatch, capsys, *argv)
        assert (code, out) == (2, "") and err.startswith(
            f"error: AICSOLVE_DATA={tmp_path}: that folder holds no aicsolve data"
        ), err
    monkeypatch.setenv("AICSOLVE_DATA", str(tmp_path / "nope"))
    data_dir.cache_clear()
    code, _, err = run(monkeypatch, capsys, "systems")
    assert code == 2 and f"AICSOLVE_DATA={tmp_path / 'nope'}: that folder does not exist" in err


def test_the_measurement_sample_ships_and_reads():
    from costmodel.validate import REQUIRED, read_rows

    path = measurement_sample()
    assert path.is_relative_to(data_dir())
    rows = read_rows(path)
    assert len(rows) == 2512 and all(r[c] for r in rows for c in REQUIRED)
    assert len({r["id"] for r in rows}) == len(rows)
    assert {r["silicon_data_source"].split(";")[0].split("/")[0] for r in rows} <= {
        "source_file=2026-04-06.csv",
        "source_file=2026-03-25.csv",
        "db-dump",
    }  # the published sources only


def test_validate_without_an_argument_scores_the_sample(monkeypatch, capsys):
    import costmodel.validate as validate

    seen = []

    def predict_row(row):  # the real predictor takes ~25 s over the sample; this test is about which rows
        seen.append(row["id"])
        return validate.Prediction(row["id"], (row["system"], row["backend"], row["mode"]), 1.0, 1.0, 1.0, 1.0)

    monkeypatch.setattr(validate, "predict_row", predict_row)
    code, out, err = run(monkeypatch, capsys, "validate")
    assert code == 0 and len(seen) == 2512 and "rows=2512 predicted=2512" in out
    assert f"scoring the bundled measurement sample {measurement_sample()}" in err


def test_a_flag_is_blamed_inside_a_cluster_spec(monkeypatch, capsys, tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text(
        "pools: {h200_sxm: 16}\nworkload: {isl: 1000, osl: 100}\ndeployments:\n"
        "  - model: Qwen/Qwen3-32B\n    demand: {requests_per_s: 1}\n"
    )
    code, _, err = run(monkeypatch, capsys, str(spec), "--isl", "200000")
    assert code == 2 and err.startswith("error: deployments[0]: --isl 200000: workload: isl + osl = 200100"), err
