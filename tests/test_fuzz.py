"""Fuzzing: mutated specs, random YAML, --set strings, CLI runs and measurement CSVs never crash.

Every bad input must end as a UserError (loader) or exit code 0/1/2 (CLI); never another exception.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import math
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solver.cli as cli
from costmodel.scoring import Prediction, as_json, render, score
from costmodel.validate import COLUMNS, REQUIRED, BadCsvError, predict_row, read_rows
from solver.errors import UserError
from solver.spec import apply_overrides, load_spec
from solver.specfields import FIELDS

sys.path.insert(0, str(Path(__file__).resolve().parent / "solver"))  # the synthetic surfaces of the solver tests
from solver_surfaces import synthetic

ROOT = Path(__file__).resolve().parents[1]
SPECS = {p.name: yaml.safe_load(p.read_text()) for p in sorted((ROOT / "specs").glob("*.yaml"))}
PATHS = [f.path for f in FIELDS]
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

# Values of every type, with the edges that broke things: huge ints, nan/inf, 1e6 (a YAML string), lists, maps.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**25), 10**25),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 3, 8, 64, 512, 1024, 100_000, 10**6, 2**31, -1, 0.5, 1e300, 1e-300]),
    st.sampled_from(
        [
            "h200_sxm",
            "b200_sxm",
            "vllm",
            "sglang",
            "fp8",
            "nvfp4",
            "int4_wo",
            "agg",
            "disagg",
            "1e6",
            "Qwen/Qwen3-8B",
            "DEEPSEEK_R1",
            "config.json",
            "../x",
            "",
            " ",
            "null",
            "~",
            "0.24.0",
        ]
    ),
    st.text(max_size=10),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4), st.dictionaries(st.text(max_size=6), SCALARS, max_size=3))


def _set(raw: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        raw[p] = raw[p] if isinstance(raw.get(p), dict) else {}
        raw = raw[p]
    raw[leaf] = value


def _delete(raw: dict, path: str) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        if not isinstance(raw.get(p), dict):
            return
        raw = raw[p]
    raw.pop(leaf, None)


@st.composite
def mutated_specs(draw, values=VALUES, max_ops: int = 3) -> dict:
    """An example spec after a few edits: set a key (known or not) to any value, delete a key, add a stray key."""
    raw = copy.deepcopy(SPECS[draw(st.sampled_from(sorted(SPECS)))])
    for _ in range(draw(st.integers(0, max_ops))):
        op, path = draw(st.sampled_from(["set", "set", "delete", "unknown"])), draw(st.sampled_from(PATHS))
        if op == "set":
            _set(raw, path, draw(values))
        elif op == "delete":
            _delete(raw, path)
        else:
            parent = path.rpartition(".")[0]
            _set(raw, f"{parent}.{draw(st.text('abcxyz_', min_size=1, max_size=6))}".lstrip("."), draw(values))
    return raw


def _dump(raw, folder: str) -> Path:
    path = Path(folder) / "spec.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True))
    return path


def _load_or_user_error(path: Path, overrides: list[str] = ()) -> None:
    try:
        load_spec(path, overrides)
    except UserError as e:  # InfeasibleError included; anything else fails the test
        assert str(e).strip() and "Traceback" not in str(e)


@settings(FUZZ, max_examples=250)
@given(mutated_specs())
def test_mutated_specs_load_or_raise_user_error(raw):
    with tempfile.TemporaryDirectory() as d:
        _load_or_user_error(_dump(raw, d))


YAML_BITS = [
    "model:",
    "system:",
    "total_gpus:",
    "workload:",
    "sla:",
    "search:",
    " tp:",
    "isl:",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "&a",
    "*a",
    "*b",
    "!!python/object:os.system",
    "!!binary",
    "!!set",
    "? ",
    "'",
    '"',
    "\t",
    "\n",
    "\n  ",
    "#",
    "null",
    "1e6",
    "8",
    "-3",
    ".inf",
    "Qwen/Qwen3-32B",
    "h200_sxm",
    "<<: *a",
    "%YAML 1.1",
    "---",
    "...",
    "|",
    ">",
    "\x00",
    "\ufeff",
    "é",
]


@settings(FUZZ, max_examples=150)
@given(
    st.one_of(
        st.text(max_size=80),
        st.lists(st.sampled_from(YAML_BITS), max_size=30).map("".join),
        st.tuples(st.sampled_from(sorted(SPECS)), st.integers(0, 300), st.integers(0, 12), st.text(max_size=6)),
    )
)
def test_random_and_damaged_yaml_text(text):
    if isinstance(text, tuple):  # an example file with a slice cut out and junk put in its place
        name, at, cut, junk = text
        src = (ROOT / "specs" / name).read_text()
        text = src[:at] + junk + src[at + cut :]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        _load_or_user_error(path)


@settings(FUZZ, max_examples=120)
@given(
    st.lists(
        st.tuples(
            st.one_of(st.sampled_from(PATHS), st.text(".abc_", max_size=8)),
            st.one_of(st.text(max_size=10), VALUES.map(json.dumps)),
        ),
        max_size=3,
    )
)
def test_set_overrides(pairs):
    overrides = [f"{k}={v}" for k, v in pairs]
    try:
        apply_overrides({}, overrides)
    except UserError:
        return
    _load_or_user_error(ROOT / "specs" / "qwen3-32b_h200x32.yaml", overrides)


def _cli(argv: list[str], fake_surfaces: bool) -> tuple[int, str, str]:
    """Run `aicsolve ARGV` in-process; with fake_surfaces the cost model is replaced by synthetic rows."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["aicsolve", *argv])
        if fake_surfaces:
            mp.setattr(
                "costmodel.build.build_surfaces",
                lambda req: synthetic(
                    len(argv), moe=req.model.is_moe, batches=(1, 4, 16, 64), isl=req.isl, osl=req.osl
                ),
            )
        with redirect_stdout(out), redirect_stderr(err), pytest.raises(SystemExit) as info:
            cli.main()
    return info.value.code, out.getvalue(), err.getvalue()


SMALL = st.one_of(st.none(), st.sampled_from([0, 1, 2, 4, 8, 16, 24, 0.5, 300, 3000, -2, "x", [1, 2], [3], True]))


@settings(FUZZ, max_examples=30)
@given(mutated_specs(values=SMALL, max_ops=2), st.booleans())
def test_cli_exit_codes_on_mutated_specs(raw, as_json_out):
    with tempfile.TemporaryDirectory() as d:
        code, out, err = _cli([str(_dump(raw, d)), "--time-limit", "2", *["--json"] * as_json_out], True)
    assert code in (0, 1, 2), err
    assert "internal error" not in err and "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ") or "Usage" in err, err
    elif as_json_out:
        assert json.loads(out)["proven_optimal"] in (True, False)


@settings(FUZZ, max_examples=4)
@given(
    st.sampled_from(["qwen3-32b_h200x32.yaml", "llama3.1-70b_h100x16_topology.yaml"]),
    st.sampled_from(
        [
            ["--total-gpus", "4"],
            ["--tpot", "5"],
            ["--set", "modes=[agg]"],
            ["--ttft", "50"],
            ["--set", "constraints.topology.max_nodes=1"],
        ]
    ),
)
def test_cli_real_cost_model(name, extra):
    code, out, err = _cli([str(ROOT / "specs" / name), "--json", "--time-limit", "5", *extra], False)
    assert code in (0, 1) and "internal error" not in err, err
    assert json.loads(out)["input"]["model"]


# ---- measurement CSVs for `aicsolve validate` ----
COLS = list(COLUMNS)
ROWS = [
    dict(
        id="a",
        silicon_data_source="silicon_concurrency=16",
        backend="trtllm",
        model_path="Qwen/Qwen3-32B",
        system="h100_sxm",
        mode="agg",
        isl="1024",
        osl="512",
        gemm_quant_mode="fp8",
        batch_size="16",
        tp_size="2",
        pp_size="1",
        silicon_ttft_ms="300",
        silicon_tpot_ms="12",
    ),
    dict(
        id="d",
        backend="trtllm",
        model_path="Qwen/Qwen3-32B",
        system="h200_sxm",
        mode="disagg",
        isl="4000",
        osl="500",
        batch_size="64",
        prefill_tp_size="2",
        decode_tp_size="4",
        prefill_num_workers="1",
        decode_num_workers="1",
        silicon_ttft_ms="500",
        silicon_tpot_ms="20",
    ),
    dict(
        id="m",
        backend="sglang",
        model_path="deepseek-ai/DeepSeek-R1",
        system="h200_sxm",
        mode="agg",
        isl="2000",
        osl="1000",
        gemm_quant_mode="fp8_block",
        moe_quant_mode="fp8_block",
        batch_size="32",
        tp_size="8",
        attention_dp_size="8",
        moe_ep_size="8",
        silicon_ttft_ms="900",
        silicon_tpot_ms="30",
    ),
]
CELLS = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-1",
            "1.5",
            "1e12",
            "nan",
            "inf",
            "-inf",
            "abc",
            "9" * 30,
            "agg",
            "disagg",
            "vllm",
            "b200_sxm",
            "fp8",
            "nvfp4",
            "silicon_concurrency=x",
            " 4 ",
        ]
    ),
    st.integers(-5, 5000).map(str),
    st.text(max_size=8),
)


def _write_csv(folder: str, header: list[str], rows: list[list[str]]) -> Path:
    path = Path(folder) / "rows.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8", errors="surrogatepass")
    return path


def _check_predictions(rows: list[dict]) -> None:
    preds = [predict_row(r) for r in rows]
    for p in preds:
        assert isinstance(p, Prediction)
        if p.reason is None:  # a predicted row has usable numbers
            assert math.isfinite(p.ttft_ms) and p.ttft_ms > 0 and math.isfinite(p.tpot_ms) and p.tpot_ms > 0, p
    groups, total = score(preds)
    render(groups, total)
    json.dumps(as_json(groups, total))


@settings(FUZZ, max_examples=150)
@given(
    st.lists(
        st.tuples(st.sampled_from(ROWS), st.dictionaries(st.sampled_from(COLS), CELLS, max_size=3), st.integers(0, 40)),
        min_size=1,
        max_size=3,
    ),
    st.sets(st.sampled_from(COLS), max_size=2),
)
def test_mutated_csv_rows(rows, dropped):
    header = [c for c in COLS if c not in dropped]
    cells = [
        [{**dict.fromkeys(COLS, ""), **base, **edits}[c] for c in header][: len(header) - cut // 30 * 5]
        for base, edits, cut in rows
    ]  # a few rows lose their last cells
    with tempfile.TemporaryDirectory() as d:
        path = _write_csv(d, header, cells)
        if set(dropped) & set(REQUIRED):
            with pytest.raises(BadCsvError, match="missing column"):
                read_rows(path)
            return
        _check_predictions(read_rows(path))


@settings(FUZZ, max_examples=80)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.lists(
            st.sampled_from([",".join(COLS), ",", "\n", '"', "\x00", "\ufeff", "agg", "1", "\r\n"]), max_size=12
        ).map(lambda x: "".join(x).encode()),
    )
)
def test_random_csv_files(data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rows.csv"
        path.write_bytes(data)
        try:
            rows = read_rows(path)
        except BadCsvError as e:
            assert str(path) in str(e)
            return
        _check_predictions(rows[:3])


def test_validate_cli_bad_files(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,backend\n1,trtllm\n")
    code, out, err = _cli(["validate", str(bad)], False)
    assert (code, out) == (2, "") and "missing column(s) model_path, system, mode" in err
    for path in (tmp_path, tmp_path / "missing.csv"):  # a folder, a missing file
        code, _, err = _cli(["validate", str(path)], False)
        assert code == 2 and err.startswith(f"error: {path}: cannot read as CSV")


# ---- issue 17: aliases, long strings, --set values, model configs, calibration files, damaged data ----
# The same generators run ≥ 10,000 random cases in bench/fuzz_explore.py; here a few fixed-seed ones each.
import fuzz_inputs as fi  # noqa: E402


@settings(FUZZ, max_examples=40)
@given(fi.alias_yaml())
def test_aliases_long_strings_and_deep_nesting(text):
    assert fi.check_spec_text(text) is None


@settings(FUZZ, max_examples=40)
@given(fi.set_strings())
def test_set_values_with_aliases_and_long_strings(overrides):
    assert fi.check_set(overrides) is None


@settings(FUZZ, max_examples=60)
@given(fi.model_configs())
def test_local_model_configs(case):
    assert fi.check_model_config(case) is None


@settings(FUZZ, max_examples=40)
@given(fi.calibration_texts())
def test_calibration_files(text):
    assert fi.check_calibration(text) is None


@pytest.fixture(scope="module")
def pristine_data(tmp_path_factory):
    import shutil

    from costmodel.paths import data_dir

    root = tmp_path_factory.mktemp("pristine") / "data"
    shutil.copytree(data_dir(), root)
    return root


@settings(FUZZ, max_examples=12)
@given(case=fi.data_damage())
def test_damaged_data(pristine_data, case):
    assert fi.check_data_damage(case, pristine_data) is None
