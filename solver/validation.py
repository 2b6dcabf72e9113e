"""The spec-validation engine: a raw mapping checked against the table of keys (solver.specfields.FIELDS).

`check(raw, where)` walks a whole spec and returns a `Checked` record (its keys as typed records,
solver.speckeys.SpecKeys, defaults filled in, and the key paths the user gave); `check_section` checks one section
on its own. Every mistake is a one-paragraph UserError that names the key path, where it was
given (`Where`: a file line, a flag or an override) and what would work. `scalar_ok` and `bad_value` check and word
one value; solver.spec (one model) and solver.cluster.spec (pools and deployments) both use them.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from typing import Any

from solver.errors import UserError
from solver.speckeys import SpecKeys, read_record
from solver.specfields import FLAGS, PERCENTILE_KEYS, Field, children
from solver.specyaml import brief, clip, show


class Where:
    """Where each key path came from ("spec.yaml, line 7", "--set a.b=1", "--tpot 10"): where(path) gives the
    prefix of a message about that key."""

    def __init__(self, source: str, lines: dict[str, int] | None = None):
        self.source, self.at = source, {p: f"{source}, line {n}" for p, n in (lines or {}).items()}
        self.flagged: set[str] = set()  # key paths whose value came from a flag or --set (they override the file)
        self.cli = False  # whether the spec is read by the CLI, so a message may suggest a flag

    def __call__(self, path: str, *context: str) -> str:
        """Where the value checked came from: the flags or --set items that gave path (a section stands for every
        key under it: "--isl 1000, --osl 40000: …"), else those that gave a context key which made the file's value
        wrong ("--system h200_sxm: quantization.gemm: …"), else the line of path."""
        for paths in ((path,), context):
            flags = list(dict.fromkeys(self.at[p] for p in self._given(paths) if p in self.flagged))
            if flags:
                return f"{', '.join(flags)}: "
        return self.key_line(path)

    def _given(self, paths: tuple[str, ...]) -> list[str]:
        # A section path stands for the keys under it ("workload" for workload.isl and workload.osl).
        return [k for p in paths for k in self.at if p and (k == p or k.startswith(p + "."))]

    def key_line(self, path: str) -> str:
        """The prefix naming path's own line (or its enclosing key's), ignoring flags: "spec.yaml, line 7: "."""
        if path not in self.at:  # "search.tp[3]" has no line of its own; "deployments[0].pools" has
            path = path.split("[")[0]
        while path and path not in self.at:  # fall back to the enclosing key's line
            path = path.rpartition(".")[0]
        return f"{self.at[path]}: " if path else (f"{self.source}: " if self.source != "<flags>" else "")


@dataclass(frozen=True)
class Checked:
    """A whole spec after check: every key's value (defaults filled in; lengths and bounds as numbers or mappings,
    lists sorted and de-duplicated) and the dotted key paths the user gave a value for."""

    keys: SpecKeys
    given: frozenset[str]


def check(raw: dict, where: Where) -> Checked:
    """A whole spec, raw, checked against FIELDS. Raises UserError naming the first unknown key, missing required
    key or bad value."""
    values: dict[str, Any] = {}
    given: set[str] = set()
    _check_keys(raw, "", where, values, given)
    return Checked(read_record(SpecKeys, values), frozenset(given))


def check_section(raw: dict, where: Where, prefix: str) -> None:
    """raw, the mapping at key path prefix (e.g. "pools"), checked against FIELDS on its own: UserError as check."""
    _check_keys(raw, prefix, where, {}, set())


def expect(f: Field) -> str:
    kind = f.kind.rstrip("?")
    bound = f" ≥ {f.ge:g}" if f.ge is not None else f" > {f.gt:g}" if f.gt is not None else ""
    bound += f" and ≤ {f.le:g}" if f.le is not None else ""
    bound += ", a power of two" if f.pow2 else ""
    # Lambdas: only the kind asked for is formatted (a scalar default would break the "ints" example).
    return {
        "str": lambda: f"one of: {', '.join(f.choices)}" if f.choices else "a string",
        "bool": lambda: "true or false",
        "int": lambda: f"an integer{bound}",
        "number": lambda: f"a number{bound}",
        "strs": lambda: f"a list of: {', '.join(f.choices)}",
        "list": lambda: "a non-empty list of mappings",
        "ints": lambda: f"a list of integers{bound}, e.g. [{', '.join(map(str, f.default or [1, 2, 4]))}]",
        "section": lambda: f"a mapping of: {', '.join(children(f.path))}",
        "length": lambda: (
            "a whole number of tokens ≥ 1, or a distribution: {lognormal: {mean: 4000, p90: 8000}} "
            "or {histogram: [[512, 0.6], [4096, 0.4]]} ([tokens, weight] pairs)"
        ),
        "bound": lambda: (
            f"a number{bound}, or a mapping such as {{p90: 500}} (keys: " + ", ".join(PERCENTILE_KEYS) + ")"
        ),
    }[kind]() + ", or null" * ("?" in f.kind)


def nearest(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    # difflib's ratio ties "modle" between "model" and "modes"; transposed letters should win.
    if len(word) > 100:  # no option is that long; difflib's cost grows with the length
        return None
    score = lambda o: difflib.SequenceMatcher(None, word, o).ratio() + 0.2 * (sorted(word) == sorted(o))  # noqa: E731
    best = max(options, key=score, default=None)
    return best if best is not None and score(best) >= 0.5 else None


_SCALAR_TYPES: dict[str, type | tuple[type, ...]] = {"str": str, "bool": bool, "int": int, "number": (int, float)}


def scalar_ok(kind: str, f: Field, v: Any) -> tuple[bool, str]:
    """(valid?, did-you-mean hint) for one scalar value v of field f read as kind ("str", "bool", "int", "number")."""
    numeric, typed = kind in ("int", "number"), isinstance(v, _SCALAR_TYPES[kind])
    if not typed or (numeric and (isinstance(v, bool) or not math.isfinite(v))):
        if kind == "int" and isinstance(v, float) and v.is_integer() and abs(v) < 1e18:  # 1e6 reads as a float
            return False, f" Write it as a whole number: {int(v)}."
        quotable = kind == "str" and isinstance(v, (int, float)) and (not f.choices or str(v) in f.choices)
        return False, f' Quote it: "{v}".' if quotable else ""
    if numeric and f.cap is not None and v > f.cap:
        return False, f" The most accepted is {f.cap:,}."
    if f.choices and v not in f.choices:
        same = next((c for c in f.choices if str(c).lower() == str(v).lower()), None)  # choices are case-sensitive
        return False, f" Did you mean {near!r}?" if (near := same or nearest(str(v), f.choices)) else ""
    low = (
        (f.ge is None or v >= f.ge) and (f.gt is None or v > f.gt) and (f.le is None or v <= f.le) if numeric else True
    )
    return low and (not f.pow2 or (v & (v - 1)) == 0), ""


def bad_value(where: Where, path: str, f: Field, given: Any, extra: str = "") -> UserError:
    """The one-paragraph error for a value of field f that is not what it must be."""
    return UserError(f"{where(path)}{f.path} must be {expect(f)}; got {show(given)}.{extra} ({f.path}: {f.doc}.)")


def _check_keys(raw: dict, prefix: str, where: Where, values: dict, given: set) -> None:
    """Check the mapping raw, found at key path prefix, against FIELDS; put each value in values (by dotted path)
    and each path the user gave in given. Raises UserError naming the first unknown key or bad value."""
    kids = children(prefix)
    for key in raw:
        if str(key) not in kids:
            path = f"{prefix}.{key}" if prefix else str(key)
            near = nearest(str(key), list(kids))
            hint = f" — did you mean '{prefix + '.' if prefix else ''}{near}'?" if near else "."
            scope = f"under '{prefix}'" if prefix else "at the top level"
            raise UserError(f"{where(path)}unknown key '{path}'{hint} Keys allowed {scope}: {', '.join(kids)}.")
    for name, f in kids.items():
        v = raw.get(name)
        if v is None and f.required and not any(raw.get(k) is not None for k in f.unless):
            flag = next(
                (f" (or pass --{k.replace('_', '-')})" for k, p in FLAGS.items() if p == f.path and where.cli), ""
            )
            alt = (
                " To size the deployment to a load instead, give demand.requests_per_s or demand.tokens_per_s."
                if f.unless
                else ""
            )
            raise UserError(
                f"{where.key_line(prefix)}missing required key '{f.path}'{flag}: {expect(f)} ({f.doc}).{alt}"
            )
        given |= {f.path} if v is not None else set()
        if f.kind == "section":
            if not isinstance(v, (dict, type(None))):
                raise bad_value(where, f.path, f, v)
            _check_keys(v or {}, f.path, where, values, given)
        elif v is None:
            values[f.path] = copy.deepcopy(f.default)
        elif f.kind.rstrip("?") in ("length", "bound"):
            values[f.path] = _number_or_mapping(f, v, where)
        elif f.kind.rstrip("?") == "list":  # its items are specs of their own: solver.cluster.spec checks them
            if not isinstance(v, list) or not v or not all(isinstance(x, dict) for x in v):
                raise bad_value(where, f.path, f, v, " Write one mapping per item, e.g. - {model: …, workload: …}.")
            values[f.path] = v
        else:
            kind = f.kind.rstrip("?")
            many = kind in ("ints", "strs")
            if many and (not isinstance(v, list) or not v):
                one = clip(str(v), 40) if isinstance(v, (str, int, float)) else (f.default or ["…"])[0]
                raise bad_value(where, f.path, f, v, f" Write a non-empty YAML list, e.g. [{one}] for one value.")
            for i, x in enumerate(v if many else [v]):
                ok, hint = scalar_ok(kind.rstrip("s"), f, x)  # ints → int, strs → str; scalar kinds unchanged
                if not ok:
                    item = f" Offending item: {brief(x)}." if many else ""
                    raise bad_value(where, f"{f.path}[{i}]" if many else f.path, f, v, item + hint)
            values[f.path] = (sorted(set(v), key=v.index) if kind == "strs" else sorted(set(v))) if many else v


def _number_or_mapping(f: Field, v: Any, where: Where) -> Any:
    """A length (tokens, {lognormal: {mean, p90}} or {histogram: [[tokens, weight], …]}) or a bound (ms, or
    {p90: ms, …}), checked; returned as given (numbers as numbers)."""
    kind = f.kind.rstrip("?")
    num = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)  # noqa: E731
    if kind == "bound":
        if num(v) and v > 0:
            return float(v)
        if isinstance(v, dict) and v and all(k in PERCENTILE_KEYS and num(x) and x > 0 for k, x in v.items()):
            return {k: float(x) for k, x in v.items()}
        bad = next((k for k in v if k not in PERCENTILE_KEYS), None) if isinstance(v, dict) else None
        raise bad_value(where, f.path, f, v, f" Unknown key {bad!r}." if bad is not None else "")
    if not isinstance(v, dict):
        ok, hint = scalar_ok("int", f, v)
        if not ok:
            raise bad_value(where, f.path, f, v, hint)
        return v
    if (
        list(v) == ["lognormal"]
        and isinstance(v["lognormal"], dict)
        and sorted(v["lognormal"]) == ["mean", "p90"]
        and all(num(x) and 1 <= x <= f.cap for x in v["lognormal"].values())
    ):
        return {"lognormal": {k: float(x) for k, x in v["lognormal"].items()}}
    h = v.get("histogram") if list(v) == ["histogram"] else None
    if (
        isinstance(h, list)
        and 0 < len(h) <= 4096
        and all(
            isinstance(p, list) and len(p) == 2 and all(num(x) for x in p) and 1 <= p[0] <= f.cap and p[1] >= 0
            for p in h
        )
        and sum(p[1] for p in h) > 0
    ):
        return {"histogram": [[float(a), float(b)] for a, b in h]}
    raise bad_value(
        where,
        f.path,
        f,
        v,
        " A lognormal takes mean and p90 in tokens; a histogram up to 4,096 "
        "[tokens, weight] pairs with some weight > 0.",
    )
