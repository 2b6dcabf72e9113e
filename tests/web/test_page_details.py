"""The page's details: a favicon, no CLI wording in its messages, and bundles that carry the spec the page submitted."""

from __future__ import annotations

import io
import json
import warnings
import zipfile

import pytest
import yaml

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from solver.web import app as web_app
from web_helpers import run_cli

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
FORM = {
    "model": "QWEN3_32B",
    "system": "h200_sxm",
    "total_gpus": 8,
    "workload": {"isl": 1000, "osl": 100},
    "sla": {"ttft_ms": 1000},
    "solver": {"top_n": 2},
}


@pytest.fixture(scope="module")
def client():
    with TestClient(web_app.create_app()) as c:
        yield c


def test_favicon(client):
    for path in ("/favicon.ico", "/static/favicon.svg"):
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
        assert r.content.startswith(b"<svg")
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/").text


@pytest.mark.parametrize(
    "body, start",
    [
        ({"spec": {k: v for k, v in FORM.items() if k != "system"}}, "missing required key 'system': one of"),
        (
            {"spec_yaml": "model: QWEN3_32B\nsystem: h200_sxm\nworkload: {isl: 10, osl: 10}\n", "filename": "s.yaml"},
            "s.yaml: missing required key 'total_gpus': an integer",
        ),
        ({"spec": FORM, "overrides": ["sla.tpot=5"]}, "override sla.tpot=5: unknown key 'sla.tpot'"),
        (
            {"spec": FORM, "overrides": ["noequals"]},
            "override 'noequals': expected KEY=VALUE with a dotted key, e.g. override sla.ttft_ms=200.",
        ),
    ],
)
def test_messages_use_no_cli_wording(client, body, start):
    r = client.post("/api/solve", json=body)
    assert r.status_code == 400 and r.json()["error"].startswith(start), r.json()
    assert "--" not in r.json()["error"] and "pass " not in r.json()["error"]


def _bundle(client, body) -> dict[str, bytes]:
    r = client.post("/api/bundle", json=body)
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    return {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}


def test_bundle_from_the_form_carries_the_submitted_spec(client, tmp_path):
    files = _bundle(client, {"spec": FORM, "overrides": ["sla.tpot_ms=50"]})
    spec = yaml.safe_load(files["spec.yaml"])
    assert spec == {**FORM, "sla": {"ttft_ms": 1000, "tpot_ms": 50}}  # the form's keys, the override applied
    assert b"<flags>" not in b"".join(files.values())
    assert json.loads(files["result.json"])["input"]["source"] == "spec.yaml"
    assert b"Written by aicsolve from `spec.yaml`" in files["agg_1/README.md"]
    (tmp_path / "spec.yaml").write_bytes(files["spec.yaml"])  # the bundle reproduces: the CLI finds the same best
    again = run_cli("spec.yaml", "--json", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    mine = json.loads(files["result.json"])
    assert json.loads(again.stdout)["best"] == mine["best"]


def test_bundle_from_yaml_carries_it_with_the_overrides(client):
    text = "# mine\nmodel: QWEN3_32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 100}\n"
    files = _bundle(client, {"spec_yaml": text, "overrides": ["workload.osl=200"], "filename": "mine.yaml"})
    assert yaml.safe_load(files["spec.yaml"]) == {**yaml.safe_load(text), "workload": {"isl": 1000, "osl": 200}}
    assert json.loads(files["result.json"])["input"]["source"] == "mine.yaml"
