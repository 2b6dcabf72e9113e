"""Byte-for-byte snapshot of `aicsolve SPEC --json` for the bundled specs, to check a refactor changes no output.

Run: python bench/json_snapshot.py save DIR     writes one file per case (stdout, stderr tail and exit code)
     python bench/json_snapshot.py compare DIR  reruns every case and lists each that differs (exit 1 if any)

Cases: every specs/*.yaml, plus --set backend=vllm and backend=sglang on the two main examples. Fields that vary
run to run (timings) are listed in VARYING; their values are masked, the rest of stdout compared byte for byte;
stderr too, less the progress lines that only a slow run prints.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = ["specs/qwen3-32b_h200x32.yaml", "specs/deepseek-r1_h200x64.yaml"]
VARYING = {"solve_seconds"}  # the only field that differs between two runs of every case (checked by diffing raw runs)


def cases() -> dict[str, list[str]]:
    out = {Path(s).stem: [str(s.relative_to(REPO))] for s in sorted((REPO / "specs").glob("*.yaml"))}
    for spec in MAIN:
        for backend in ("vllm", "sglang"):
            out[f"{Path(spec).stem}__{backend}"] = [spec, "--set", f"backend={backend}"]
    return out


def _mask(stdout: str) -> str:
    """stdout byte for byte, each VARYING field's number replaced by "*"."""
    for key in VARYING:
        stdout = re.sub(rf'("{key}": )[-0-9.eE+]+', r'\1"*"', stdout)
    return stdout


def run(args: list[str]) -> str:
    exe = Path(sys.executable).parent / "aicsolve"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "solver.cli"]
    p = subprocess.run(cmd + args + ["--json"], cwd=REPO, capture_output=True, text=True, check=False)
    # A progress line ("pricing …") reaches stderr only when a step runs past a second, so it depends on the load.
    err = "".join(line for line in p.stderr.splitlines(keepends=True) if not line.rstrip().endswith("…"))
    return f"exit {p.returncode}\n{_mask(p.stdout)}\n--- stderr\n{err}"


def main() -> int:
    mode, folder = sys.argv[1], Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    bad = []
    for name, args in cases().items():
        text = run(args)
        path = folder / f"{name}.txt"
        if mode == "save":
            path.write_text(text)
        elif path.read_text() != text:
            bad.append(name)
            (folder / f"{name}.new").write_text(text)
        print(f"{name}: {'DIFFERS' if name in bad else 'ok'}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
