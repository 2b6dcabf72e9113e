"""Helpers of the web app tests: run the CLI from this checkout, its `--json` answer and its error messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QWEN = ROOT / "specs" / "qwen3-32b_h200x32.yaml"
_CLI: dict = {}


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`aicsolve ARGS` from this checkout, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "solver.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def cli_json(spec: Path = QWEN, *args: str) -> dict:
    """The document `aicsolve SPEC --json` prints (cached per arguments)."""
    key = (str(spec), args)
    if key not in _CLI:
        out = run_cli(str(spec), "--json", *args)
        assert out.returncode in (0, 1), out.stderr
        _CLI[key] = json.loads(out.stdout)
    return _CLI[key]


def cli_error(spec_text: str, tmp_path: Path, *args: str) -> str:
    """The message `aicsolve spec.yaml ARGS` prints for a bad spec (the file is named spec.yaml)."""
    (tmp_path / "spec.yaml").write_text(spec_text)
    out = run_cli("spec.yaml", *args, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("error: "), out.stderr
    return out.stderr[len("error: ") :].strip()


def page_wording(cli_message: str) -> str:
    """A CLI message as the web page words it: no flag to pass (" (or pass --osl)"), an override for a --set."""
    return re.sub(r" \(or pass --[a-z-]+\)", "", cli_message).replace("--set ", "override ")
