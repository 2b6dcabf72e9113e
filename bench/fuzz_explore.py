"""Explorer fuzz profile (issue 17): ≥ 10,000 random cases across specs (mutated keys, YAML aliases, long
strings, deep nesting), --set strings, local model config.json files, calibration files and damaged data.

Run: python bench/fuzz_explore.py [--seed N] [--scale F]
Each case runs in-process; its wall time and peak traced memory (tracemalloc: Python and numpy allocations)
are recorded. Prints per kind: cases, faults (an outcome other than loading or a one-line UserError), the
slowest and the most memory-hungry case; then reruns the worst inputs through the CLI in a child process
under the limits of tests/bounded.py and reports their wall time and peak RSS. Exit 1 when any case faulted.
The CI profile of the same generators (few examples, fixed seed) is in tests/test_fuzz.py.

Measured (seed 17, 2 shared cores): 10,650 cases, 0 faults, 573 s. Slowest case in-process 4.4 s (damaged
data: copying the 36 MB data folder included), peak traced memory 103 MiB; worst input through the CLI: a
priced local config.json (126 layers, hidden 16,384) 1.85 s / 181 MiB RSS; worst refused input 0.91 s / 35 MiB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "solver")]

import fuzz_inputs as fi  # noqa: E402
import test_fuzz as tf  # noqa: E402
from bounded import run_cli  # noqa: E402

KINDS = {  # kind: (strategy, check, cases at scale 1)
    "spec (mutated keys)": (tf.mutated_specs(), lambda raw: fi.check_spec_text(json.dumps(raw)), 2500),
    "spec (aliases, long, deep)": (fi.alias_yaml(), fi.check_spec_text, 2000),
    "--set strings": (fi.set_strings(), fi.check_set, 2000),
    "model config.json": (fi.model_configs(), fi.check_model_config, 2200),
    "model config.json, priced": (fi.model_configs(), lambda c: fi.check_model_config(c, solve=True), 150),
    "calibration file": (fi.calibration_texts(), fi.check_calibration, 1500),
    "damaged data": (fi.data_damage(), None, 300),
}


def explore(kind: str, strategy, check, n: int, seed_: int, pristine: Path) -> dict:
    rec = {"cases": 0, "faults": [], "slowest": (0.0, None), "largest": (0, None)}

    @seed(seed_)
    @settings(max_examples=n, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case):
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        fault = fi.check_data_damage(case, pristine) if check is None else check(case)
        dt = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        rec["cases"] += 1
        if dt > rec["slowest"][0]:
            rec["slowest"] = (dt, case)
        if peak > rec["largest"][0]:
            rec["largest"] = (peak, case)
        if fault:
            rec["faults"].append((fault, case))

    run()
    return rec


def _brief(case) -> str:
    text = repr(case)
    return text if len(text) < 160 else text[:157] + "..."


def _cli_rerun(kind: str, case) -> tuple[int, float, int, str] | None:
    """(exit code, wall s, peak RSS KiB, stderr) of the case run as `aicsolve` under the 500 MB / CPU limits."""
    with tempfile.TemporaryDirectory() as d:
        spec, args = Path(d) / "spec.yaml", []
        if kind.startswith("spec (mutated"):
            spec.write_text(json.dumps(case))
        elif kind.startswith("spec"):
            spec.write_text(case, encoding="utf-8", errors="surrogatepass")
        elif kind == "--set strings":
            spec, args = ROOT / "specs" / "qwen3-32b_h200x32.yaml", [a for o in case for a in ("--set", o)]
        elif kind.startswith("model config"):
            (Path(d) / "ckpt").mkdir()
            (Path(d) / "ckpt" / "config.json").write_text(case[0])
            if case[1] is not None:
                (Path(d) / "ckpt" / "hf_quant_config.json").write_text(case[1])
            spec.write_text(fi.BASE.replace("Qwen/Qwen3-8B", "ckpt"))
        elif kind == "calibration file":
            (Path(d) / "cal.yaml").write_text(case, encoding="utf-8", errors="surrogatepass")
            spec.write_text(fi.BASE + "calibration: cal.yaml\n")
        else:
            return None
        if any(len(x) > 100_000 for x in args):  # past the OS limit on one argument: not a CLI input
            return None
        t0 = time.perf_counter()
        code, _, err, rss = run_cli(str(spec), "--time-limit", "5", *args, max_rss_mb=None)
        return code, time.perf_counter() - t0, rss, err


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every kind's case count")
    ap.add_argument("--only", default="", help="run only the kinds whose name contains this text")
    ap.add_argument("--save", type=Path, help="write the faults and the worst inputs to this JSON file")
    a = ap.parse_args()
    pristine = Path(tempfile.mkdtemp()) / "data"
    shutil.copytree(fi.data_dir(), pristine)
    tracemalloc.start()
    total, faults, results = 0, 0, {}
    t_all = time.perf_counter()
    for kind, (strategy, check, n) in KINDS.items():
        if a.only not in kind:
            continue
        t0 = time.perf_counter()
        rec = results[kind] = explore(kind, strategy, check, max(1, int(n * a.scale)), a.seed, pristine)
        total += rec["cases"]
        faults += len(rec["faults"])
        print(
            f"{kind:28s} {rec['cases']:6,d} cases {len(rec['faults']):4d} faults  {time.perf_counter() - t0:6.1f} s"
            f"  slowest {rec['slowest'][0]:.2f} s  peak {rec['largest'][0] / 2**20:.0f} MiB",
            flush=True,
        )
        for fault, case in rec["faults"][:5]:
            print(f"    FAULT {fault}\n      input: {_brief(case)}")
    tracemalloc.stop()
    shutil.rmtree(pristine.parent, ignore_errors=True)
    print(f"total {total:,} cases, {faults} faults, {time.perf_counter() - t_all:.0f} s (seed {a.seed})")
    if a.save:
        a.save.write_text(
            json.dumps(
                {
                    k: {"cases": r["cases"], "faults": r["faults"], "slowest": r["slowest"], "largest": r["largest"]}
                    for k, r in results.items()
                },
                default=repr,
            )
        )
    print("worst inputs rerun through the CLI (tests/bounded.py limits):")
    for kind, rec in results.items():
        for label, (_, case) in (("slowest", rec["slowest"]), ("largest", rec["largest"])):
            got = _cli_rerun(kind, case) if case is not None else None
            if got:
                print(
                    f"  {kind:28s} {label:8s} exit {got[0]}  {got[1]:.2f} s  {got[2] / 1024:.0f} MiB  "
                    f"{_brief(case)[:90]}"
                )
                if got[0] not in (0, 1, 2):
                    faults += 1
                    print(f"    FAULT through the CLI: {got[3][-300:]}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
