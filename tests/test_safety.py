"""Safety: specs go through a safe YAML loader, and paths in a spec resolve against the spec's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from costmodel.paths import data_dir
from solver.errors import UserError
from solver.spec import Loader, load_spec
from test_fuzz import _cli

ROOT = Path(__file__).resolve().parents[1]
BASE = "model: Qwen/Qwen3-32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 100}\n"


@pytest.mark.parametrize(
    "payload",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/new:os.system ['touch {marker}']",
        "!!python/object:pathlib.Path {{}}",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_python_tags_are_refused_without_running(tmp_path, payload):
    marker = tmp_path / "ran"
    text = payload.format(marker=marker)
    for body in (f"{BASE}sla: {text}\n", f"{text}\n"):  # nested and as the whole document
        spec = tmp_path / "spec.yaml"
        spec.write_text(body)
        with pytest.raises(UserError, match=r"tag !!python/\S+ at column \d+ is not allowed"):
            load_spec(spec)
    with pytest.raises(UserError, match="is not valid YAML"):
        load_spec(None, [f"model={text}"])
    assert not marker.exists()


def test_the_loader_is_safe():
    assert issubclass(Loader, yaml.SafeLoader)
    tags = [*Loader.yaml_constructors, *Loader.yaml_multi_constructors]
    assert not [t for t in tags if t and "python" in t]


def test_model_path_resolves_against_the_spec_folder_not_the_cwd(tmp_path, monkeypatch):
    cfg = json.loads((data_dir() / "models" / "qwen3-8b.json").read_text())["config"]
    (tmp_path / "project" / "ckpt").mkdir(parents=True)
    (tmp_path / "project" / "ckpt" / "config.json").write_text(json.dumps(cfg))
    spec = tmp_path / "project" / "spec.yaml"
    spec.write_text(BASE.replace("Qwen/Qwen3-32B", "ckpt/config.json"))
    (tmp_path / "elsewhere" / "ckpt").mkdir(parents=True)  # a decoy next to the cwd must not be picked
    monkeypatch.chdir(tmp_path / "elsewhere")
    loaded = load_spec(Path("..") / "project" / "spec.yaml")
    assert loaded.model == str((tmp_path / "project" / "ckpt" / "config.json").resolve())
    assert loaded.arch.hidden == cfg["hidden_size"]
    code, out, err = _cli(["../project/spec.yaml", "--json"], True)  # the CLI from another folder too
    assert code == 0, err
    assert json.loads(out)["input"]["source"] == "../project/spec.yaml"


def test_a_missing_relative_model_path_is_a_clean_error(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE.replace("Qwen/Qwen3-32B", "ckpt/config.json"))
    with pytest.raises(UserError, match=r"line 1: model: .*a path to an HF config.json \(relative to the spec file\)"):
        load_spec(spec)
