"""Which of our functions sla.ttft_ms passes through, from the YAML to the printed report (docs/architecture.md).

Run: python bench/trace_value.py specs/qwen3-32b_h200x32.yaml   (prints the report, then the functions to stderr)

Writes a copy of SPEC whose sla.ttft_ms is the marker V and runs `aicsolve COPY` in-process under sys.setprofile.
A function of costmodel/ or solver/ is on the path when it receives or returns V (looked for in its arguments, up to 5 levels into dicts,
lists, records and objects) and either reads it (its code names sla or ttft, or it holds V itself), returns it
to its caller, or hands it to a function on the path. Lambdas and comprehensions are not counted.
"""

import dataclasses
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import yaml

V = 1234.5678
ROOT = str(Path(__file__).resolve().parents[1])
holding: dict[str, str] = {}
codes: dict[str, object] = {}
bare: set[str] = set()
returns: set[str] = set()
callers: dict[str, set[str]] = defaultdict(set)  # callee -> callers that handed it V


def holds(x, depth=0):
    if depth > 5:
        return False
    if isinstance(x, float):
        return x == V
    if x is None or isinstance(x, (str, int, bool, bytes, type)) or type(x).__module__.startswith(("numpy", "ortools")):
        return False
    if isinstance(x, dict):
        return any(holds(v, depth + 1) for v in list(x.values())[:200])
    if isinstance(x, (list, tuple)):
        return any(holds(v, depth + 1) for v in x[:50])
    if dataclasses.is_dataclass(x):
        return any(holds(getattr(x, f.name, None), depth + 1) for f in dataclasses.fields(x))
    if type(x).__module__.split(".")[0] in ("solver", "costmodel") and hasattr(x, "__dict__"):
        return any(holds(v, depth + 1) for v in list(vars(x).values())[:50])
    return False


def ours(co) -> bool:
    f = co.co_filename
    return f.startswith(ROOT) and "/.venv/" not in f and not f.endswith("trace_value.py")


def label(co) -> str:
    return f"{co.co_filename[len(ROOT) + 1 :]}:{co.co_qualname}"


def prof(frame, event, arg):
    co = frame.f_code
    if not ours(co) or co.co_name.startswith("<"):
        return
    name = label(co)
    if event == "call":
        n = co.co_argcount + co.co_kwonlyargcount
        for a in co.co_varnames[:n]:
            if a in frame.f_locals and holds(frame.f_locals[a]):
                holding.setdefault(name, f"arg {a}")
                codes[name] = co
                bare.update([name] if holds(frame.f_locals[a], 5) else [])
                up = frame.f_back
                while up is not None and (not ours(up.f_code) or up.f_code.co_name.startswith("<")):
                    up = up.f_back  # through lambdas, comprehensions and library code (typer, click)
                if up is not None:
                    callers[name].add(label(up.f_code))
                break
    elif event == "return" and holds(arg):
        holding.setdefault(name, "returns it")
        codes[name] = co
        returns.add(name)


def names_sla(co) -> bool:
    """The function's code (nested functions included) names sla or ttft: it reads or writes the value."""
    words = set(co.co_names) | {c for c in co.co_consts if isinstance(c, str)}
    if any(w in ("sla", "ttft_ms", "ttft_pct", "ttft") or w.startswith(("sla.", "ttft")) for w in words):
        return True
    return any(names_sla(c) for c in co.co_consts if hasattr(c, "co_code"))


spec = Path(sys.argv[1]).resolve()
raw = yaml.safe_load(spec.read_text())
raw["sla"] = {**(raw.get("sla") or {}), "ttft_ms": V}
copy = Path(tempfile.mkdtemp()) / spec.name  # relative paths in the spec (traces) are read from beside it
for p in spec.parent.iterdir():
    if p != spec:
        (copy.parent / p.name).symlink_to(p)
copy.write_text(yaml.safe_dump(raw, sort_keys=False))
sys.argv = ["aicsolve", str(copy), "--time-limit", "2"]
sys.path.insert(0, ROOT)
from solver.cli import main  # noqa: E402

sys.setprofile(prof)
try:
    main()
except SystemExit:
    pass
finally:
    sys.setprofile(None)
path = {k for k in holding if k in bare or k in returns or names_sla(codes[k])}
grew = True
while grew:  # a caller that handed V to a function on the path is on it too
    new = {c for k in path for c in callers[k] if c in holding} - path
    path |= new
    grew = bool(new)
order = [k for k in holding if k in path]
print(f"\n{len(holding)} functions receive or return something holding the value", file=sys.stderr)
print(f"{len(order)} on its path:", file=sys.stderr)
for k in order:
    why = (
        "returns it"
        if k in returns
        else "holds it"
        if k in bare
        else "names sla/ttft"
        if names_sla(codes[k])
        else "hands it on"
    )
    print(f"  {k}  ({holding[k]}; {why})", file=sys.stderr)
