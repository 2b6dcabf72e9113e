"""Issue 17, web app: no local file is read for a posted spec, half-sent requests and floods stay bounded,
deep JSON, repeated bodies, any --host, 500s and a small solve behind large ones."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("httpx")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from costmodel.paths import data_dir
from solver.web import app as web_app
from solver.web import service

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
ROOT = Path(__file__).resolve().parents[2]
SMALL = {"model": "QWEN3_32B", "system": "h200_sxm", "total_gpus": 8, "workload": {"isl": 1000, "osl": 100}}


@pytest.fixture()
def client():
    with TestClient(web_app.create_app(["testserver"])) as c:
        yield c


def test_model_names_never_reach_the_servers_disk(client, tmp_path, monkeypatch):
    cfg = json.loads((data_dir() / "models" / "qwen3-8b.json").read_text())["config"]
    for folder in ("secretmodel", "org/m"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "notjson").mkdir()
    (tmp_path / "notjson" / "config.json").write_text("{not json")
    monkeypatch.chdir(tmp_path)  # relative names would resolve here
    answers = {}
    for name in ("secretmodel", "secretmodel/", "org/m", "notjson", "missing"):
        for body in (
            {"spec": {**SMALL, "model": name}},
            {
                "spec_yaml": "model: QWEN3_32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 100}\n",
                "overrides": [f"model={name}"],
            },
        ):
            r = client.post("/api/solve", json=body)
            assert r.status_code == 400, r.text
            answers[name] = r.json()["error"].replace(repr(name), "NAME").replace(f"={name}:", "=NAME:")
    # an existing config, a non-JSON one and a missing one read alike: no answer tells what is on the disk
    assert answers["notjson"] == answers["missing"] and "Unknown model NAME" in answers["missing"]
    assert "config.json" not in answers["missing"]


def test_deeply_nested_json_is_400(client):
    spec: dict = {}
    for _ in range(900):  # within json's own limit, past what the spec checks recurse through
        spec = {"a": spec}
    r = client.post("/api/solve", json={"spec": {**SMALL, "search": spec}})
    assert r.status_code == 400 and "nested more than 64 levels" in r.json()["error"], r.text


def test_yaml_alias_bomb_is_400(client):
    laughs = (
        "[&a [l, l, l, l, l, l, l, l, l], "
        + ", ".join(f"&{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi"))
        + "]"
    )
    r = client.post("/api/solve", json={"spec_yaml": f"model: QWEN3_32B\ntotal_gpus: {laughs}\n"})
    assert r.status_code == 400 and "aliases" in r.json()["error"], r.text


def test_a_repeated_body_is_validated_every_time(client, monkeypatch):
    calls = []
    real = service.load
    monkeypatch.setattr(service, "load", lambda body: calls.append(1) or real(body))
    monkeypatch.setattr(service, "is_light", lambda body: True)
    for _ in range(2):
        assert client.post("/api/solve", json={"spec": SMALL}).status_code == 200
    assert len(calls) == 2


def test_the_host_check_holds_for_any_host():
    hosts = web_app.allowed_hosts("127.0.0.2")
    assert "127.0.0.2" in hosts and "localhost" in hosts and "*" not in hosts
    with TestClient(web_app.create_app(hosts)) as c:
        assert c.get("/api/systems", headers={"host": "127.0.0.2:7860"}).status_code == 200
        assert c.get("/api/systems", headers={"host": "evil.example:7860"}).status_code == 400
    assert socket.gethostname() in web_app.allowed_hosts("0.0.0.0")


def test_an_internal_error_shows_no_server_path(client, monkeypatch):
    def broken(body):
        raise RuntimeError("/tmp/aicsolve-web-abc123/spec.yaml exploded")

    monkeypatch.setattr(service, "solve", broken)
    monkeypatch.setattr(service, "is_light", lambda body: True)
    r = client.post("/api/solve", json={"spec": SMALL})
    assert r.status_code == 500 and "/tmp" not in r.text and "RuntimeError" in r.text, r.text


def test_a_small_solve_does_not_wait_behind_large_ones(live_url, monkeypatch):
    import httpx

    release = threading.Event()
    real = service.solve

    def solve(body):
        if body["spec"]["total_gpus"] > 8:
            release.wait(60)  # a large solve that holds its lane
            return real({**body, "spec": SMALL})
        return real(body)

    monkeypatch.setattr(service, "solve", solve)
    monkeypatch.setattr(service, "is_light", lambda body: body.get("spec", {}).get("total_gpus", 0) <= 8)
    heavy = [
        threading.Thread(
            target=httpx.post,
            args=(f"{live_url}/api/solve",),
            kwargs={"json": {"spec": {**SMALL, "total_gpus": 64 + i}}, "timeout": 90},
        )
        for i in range(3)
    ]
    for t in heavy:
        t.start()
    try:
        time.sleep(0.5)
        r = httpx.post(f"{live_url}/api/solve", json={"spec": SMALL}, timeout=60)
        assert r.status_code == 200 and not release.is_set()
    finally:
        release.set()
        for t in heavy:
            t.join(90)


def test_half_sent_requests_neither_exhaust_the_server_nor_flood_its_log(tmp_path):
    port_sock = socket.socket()
    port_sock.bind(("127.0.0.1", 0))
    port = port_sock.getsockname()[1]
    port_sock.close()
    code = f"import solver.web.app as a; a.READ_TIMEOUT_S = 2; a.MAX_CONNECTIONS = 100; a.serve('127.0.0.1', {port})"
    log = open(tmp_path / "log", "w")

    def few_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    server = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=log,
        stderr=log,
        preexec_fn=few_files,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    socks = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "log").read_text()
                time.sleep(0.1)
        for _ in range(400):  # more than the server has file descriptors
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=2)
                s.sendall(b"POST /api/solve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
                socks.append(s)
            except OSError:
                pass
        time.sleep(3)  # past READ_TIMEOUT_S: the half-sent ones are dropped
        import httpx

        r = httpx.get(f"http://127.0.0.1:{port}/api/systems", timeout=20)
        assert r.status_code == 200
    finally:
        for s in socks:
            s.close()
        server.terminate()
        server.wait(20)
        log.close()
    assert (tmp_path / "log").stat().st_size < 20_000, (tmp_path / "log").read_text()[-2000:]
