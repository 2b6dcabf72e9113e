"""The web app's JSON API (Starlette TestClient): the CLI's --json answer, its error messages, and the limits."""

from __future__ import annotations

import io
import json
import socket
import time
import warnings
import zipfile

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")  # the TestClient's transport

with warnings.catch_warnings():  # starlette 1.x would rather have httpx2; httpx works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from solver.web import app as web_app
from solver.web import service
from web_helpers import QWEN, cli_error, cli_json, page_wording, run_cli

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
SMALL = {"model": "QWEN3_32B", "system": "h200_sxm", "total_gpus": 8, "workload": {"isl": 1000, "osl": 100}}
QWEN_FORM = {
    "model": "Qwen/Qwen3-32B",
    "system": "h200_sxm",
    "backend": "trtllm",
    "total_gpus": 32,
    "workload": {"isl": 4000, "osl": 500},
    "sla": {"ttft_ms": 300, "tpot_ms": 10},
    "quantization": {"gemm": "fp8_block", "kv_cache": "fp8"},
}


@pytest.fixture(scope="module")
def client():
    with TestClient(web_app.create_app()) as c:
        yield c


def _tps(doc: dict) -> tuple:
    return tuple(None if doc["best"][m] is None else doc["best"][m]["tokens_per_s_per_gpu"] for m in ("agg", "disagg"))


def _same(doc: dict, ref: dict) -> None:
    strip = lambda d: {**d, "solve_seconds": 0, "input": {**d["input"], "source": ""}}  # noqa: E731
    assert strip(doc) == strip(ref)


def test_models_and_systems(client):
    models = client.get("/api/models").json()["models"]
    qwen = next(m for m in models if m["id"] == "Qwen/Qwen3-32B")
    assert "QWEN3_32B" in qwen["aliases"]
    systems = client.get("/api/systems").json()
    h200 = next(s for s in systems["systems"] if s["name"] == "h200_sxm")
    assert "1.3.0rc20" in h200["backends"]["trtllm"] and "nccl" not in h200["backends"]
    assert systems["default_versions"]["trtllm"] == "1.3.0rc20" and "fp8_block" in systems["quantization"]["gemm"]


def test_page_is_served_and_loads_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("index.html", "app.js", "plot.js", "style.css"):
        text = client.get(f"/static/{name}").text
        for bad in ('src="http', 'href="http', "url(http", "@import", "//cdn", 'fetch("http'):
            assert bad not in text, (name, bad)


def test_solve_yaml_equals_cli_json(client):
    doc = client.post("/api/solve", json={"spec_yaml": QWEN.read_text(), "filename": QWEN.name}).json()
    ref = cli_json()
    assert _tps(doc) == _tps(ref) and doc["best"]["agg"] is not None
    assert doc["input"]["source"] == QWEN.name
    _same(doc, ref)


def test_solve_spec_object_and_overrides_equal_cli(client):
    doc = client.post("/api/solve", json={"spec": QWEN_FORM}).json()
    _same(doc, cli_json())
    over = client.post("/api/solve", json={"spec": QWEN_FORM, "overrides": ["sla.ttft_ms=500"]}).json()
    _same(over, cli_json(QWEN, "--set", "sla.ttft_ms=500"))


@pytest.mark.parametrize(
    "text,args",
    [
        (
            "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 100, osl: 10}\nsla: {ttft_ms: -1}\n",
            (),
        ),
        ("model: Qwen/Qwen3-32B\nsystem: h200_sxn\ntotal_gpus: 8\nworkload: {isl: 100, osl: 10}\n", ()),
        ("model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 100}\n", ()),
        ("model: Qwen/Qwen3-33B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 100, osl: 10}\n", ()),
        ("model: [unclosed\n", ()),
        (
            "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 100, osl: 10}\n",
            ("--set", "search.tp=[3]"),
        ),
    ],
)
def test_bad_spec_is_400_with_the_cli_message(client, tmp_path, text, args):
    overrides = [args[1]] if args else []
    r = client.post("/api/solve", json={"spec_yaml": text, "overrides": overrides, "filename": "spec.yaml"})
    assert r.status_code == 400
    # The web app reads no local files, so its unknown-model message does not offer a config.json path.
    cli = cli_error(text, tmp_path, *args).replace(
        "; a path to an HF config.json (relative to the spec file) works too.", "."
    )
    assert r.json() == {"error": page_wording(cli)}
    assert "--" not in r.json()["error"]  # no CLI flag on the page


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"spec_yaml": "x" * (300 * 1024)}, 413, "256 KB"),
        ([1, 2], 400, "JSON object"),
        ({"spec": SMALL, "spec_yaml": "model: x"}, 400, "exactly one"),
        ({"spec": SMALL, "extra": 1}, 400, "unknown request key"),
        ({"spec": "model: x"}, 400, "JSON object of spec keys"),
        ({"spec": SMALL, "overrides": "a=1"}, 400, "list of"),
        ({"spec": SMALL, "overrides": ["demand.requests_per_s=5"]}, 400, "cluster spec"),
        ({"spec_yaml": "pools: {h200_sxm: 8}\ndeployments: [{model: Qwen/Qwen3-8B}]\n"}, 400, "aicsolve SPEC.yaml"),
    ],
)
def test_malformed_requests(client, body, status, words):
    r = client.post("/api/solve", json=body)
    assert r.status_code == status and words in r.json()["error"]


def test_body_limit_without_content_length_and_content_type(client):
    chunks = (b"x" * 65536 for _ in range(8))  # streamed: no Content-Length
    r = client.post("/api/solve", content=chunks, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert client.post("/api/solve", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.post("/api/solve", content=b"{nope", headers={"Content-Type": "application/json"}).status_code == 400


@pytest.mark.parametrize(
    "model",
    ["/etc/hosts", "../config.json", "config.json", "a/b/config", "~/m", "spec.yaml", "C:\\models\\config.json"],
)
def test_model_paths_are_refused(client, model):
    for body in (
        {"spec": {**SMALL, "model": model}},
        {
            "spec_yaml": f"model: {json.dumps(model)}\nsystem: h200_sxm\ntotal_gpus: 8\n"
            "workload: {isl: 100, osl: 10}\n"
        },
        {"spec": SMALL, "overrides": [f"model={json.dumps(model)}"]},
    ):
        r = client.post("/api/solve", json=body)
        assert r.status_code == 400 and "only model ids and aliases" in r.json()["error"], (body, r.json())


def test_calibration_refused_and_time_limit_capped():
    with pytest.raises(service.UserError, match="calibration"):
        service.load({"spec": {**SMALL, "calibration": "cal.yaml"}})
    spec = service.load({"spec": {**SMALL, "solver": {"time_limit_s": 3600}}})
    assert spec.time_limit_s == service.MAX_TIME_LIMIT_S and spec.arch.name == "Qwen/Qwen3-32B"


def test_slow_solve_is_504_and_server_stays_responsive(client, monkeypatch):
    monkeypatch.setattr(web_app, "WALL_LIMIT_S", 0.3)
    monkeypatch.setattr(service, "solve", lambda body: time.sleep(1.5))
    t0 = time.monotonic()
    r = client.post("/api/solve", json={"spec": SMALL})
    assert r.status_code == 504 and time.monotonic() - t0 < 1.4
    assert client.get("/api/models").status_code == 200


def test_bundle_zip_holds_the_manifest(client):
    r = client.post("/api/bundle", json={"spec_yaml": QWEN.read_text()})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].endswith('.zip"')
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = z.namelist()
    deploy = [n for n in names if n.endswith("agg_1/k8s/deploy.yaml")]
    assert deploy and "DynamoGraphDeployment" in z.read(deploy[0]).decode()
    result = json.loads(z.read(next(n for n in names if n.endswith("/result.json"))))
    assert _tps(result) == _tps(cli_json())


def test_bundle_of_infeasible_spec_is_422(client):
    body = {"spec": {**SMALL, "sla": {"ttft_ms": 0.001}}}
    doc = client.post("/api/solve", json=body).json()
    assert doc["best"] == {"agg": None, "disagg": None} and doc["stats"]["infeasible"]
    r = client.post("/api/bundle", json=body)
    assert r.status_code == 422 and "no deployment meets the SLA" in r.json()["error"]
    assert client.post("/api/bundle", json={**body, "export_top": 0}).status_code == 400


def test_webapp_command(tmp_path):
    out = run_cli("webapp", "--help", cwd=tmp_path)
    assert out.returncode == 0 and "--port" in out.stdout and "--host" in out.stdout
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = run_cli("webapp", "--port", str(taken.getsockname()[1]), cwd=tmp_path)
    assert out.returncode == 2 and "cannot listen on 127.0.0.1" in out.stderr, out.stderr


def test_trace_refused_and_percentiles_answered(client):
    """The page reads no trace file (a local path); distributions and percentile SLAs go through, and the answer
    carries the mean and percentiles of every deployment, as the CLI's --json does."""
    for body in (
        {"spec": {**SMALL, "workload": {"trace": "/etc/passwd"}}},
        {"spec": SMALL, "overrides": ["workload.trace=t.csv"]},
    ):
        r = client.post("/api/solve", json=body)
        assert r.status_code == 400 and "workload.trace: the web app reads no local files" in r.json()["error"]
    spec = {
        **SMALL,
        "workload": {"isl": {"lognormal": {"mean": 1000, "p90": 1800}}, "osl": 100},
        "sla": {"ttft_ms": {"p90": 2000}},
        "modes": ["agg"],
    }
    r = client.post("/api/solve", json={"spec": spec})
    assert r.status_code == 200, r.json()
    best = r.json()["best"]["agg"]
    lp = best["latency_percentiles"]["ttft_ms"]
    assert lp["mean"] == best["ttft_ms"] and lp["p50"] <= lp["p90"] <= 2000 and lp["p90"] <= lp["p99"]
    assert r.json()["input"]["sla"]["ttft_pct"] == [[90, 2000.0]]
