"""End-to-end time of the main job (process start to exit) on the example specs, and solve growth with GPUs.

Run: python bench/e2e_speed.py   (uses the `aicsolve` next to this interpreter, else `python -m solver.cli`)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPECS = [
    "specs/qwen3-32b_h200x32.yaml",
    "specs/deepseek-r1_h200x64.yaml",
    "specs/llama3.1-70b_h100x16_topology.yaml",
    "specs/cluster_3models_h100x64_h200x64.yaml",
]


def _cmd() -> list[str]:
    exe = Path(sys.executable).parent / "aicsolve"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "solver.cli"]


def run(args: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run(_cmd() + args, cwd=REPO, capture_output=True, check=False)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    run([SPECS[0]])  # warm the parsed-table cache once
    for spec in SPECS:
        print(f"{spec}: {run([spec]):.2f} s (best of 3, process start to exit)")
    base = None
    for n in (8, 64, 512, 4096):
        t = run([SPECS[0], "--set", f"total_gpus={n}", "--json"])
        base = base or t
        print(f"qwen3-32b total_gpus={n}: {t:.2f} s ({t / base:.2f}x of 8 GPUs)")


if __name__ == "__main__":
    if shutil.which("nproc"):
        print(f"cores: {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()}")
    main()
