"""Reading a spec file: a safe YAML loader, key path -> line numbers, and clean errors for broken YAML."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import yaml

from solver.errors import UserError


class Loader(yaml.SafeLoader):
    """The safe loader (no Python tags), also reading 1e6 and 1e-06 as numbers, as YAML 1.2 does.

    YAML 1.1 wants 1.0e+6; without this `--time-limit 0.000001` (which arrives as 1e-06) and
    `max_batch_size: 1e6` would be strings.
    """


def _line_map(
    node: yaml.Node | None, prefix: str, out: dict[str, int], source: str, seen: set[int] | None = None
) -> dict[str, int]:
    seen = set() if seen is None else seen
    if isinstance(node, yaml.MappingNode) and id(node) not in seen:
        seen.add(id(node))  # an aliased node is walked once: nested aliases would otherwise blow up exponentially
        for k, v in node.value:
            path = f"{prefix}.{k.value}" if prefix else str(k.value)
            if path in out:  # PyYAML silently keeps the last duplicate; say so instead
                raise UserError(f"{source}, line {k.start_mark.line + 1}: key '{path}' appears twice; keep one.")
            out[path] = k.start_mark.line + 1
            _line_map(v, path, out, source, seen)
    elif isinstance(node, yaml.SequenceNode) and id(node) not in seen:
        seen.add(id(node))
        for i, v in enumerate(node.value):  # items of `deployments:` are specs of their own
            out[f"{prefix}[{i}]"] = v.start_mark.line + 1
            _line_map(v, f"{prefix}[{i}]", out, source, seen)
    return out


# A spec is a few hundred bytes and a few dozen values. These bounds keep any input cheap to refuse: the
# expanded size counts an aliased node once per reference ("billion laughs": nine nested aliases of nine
# items each expand to 387 million values from 400 bytes).
MAX_SPEC_BYTES = MAX_YAML_BYTES = 256 * 1024
MAX_VALUES = 100_000  # scalars, lists and mappings after alias expansion (20,000 batch sizes are 20,002)
MAX_DEPTH = 64  # lists and mappings inside each other (a cluster spec nests 5 deep)
_PY_ERRORS_BELOW = 64 * 1024  # re-parse bad YAML this small with the Python parser, whose messages are clearer


try:  # libyaml parses ~6x faster, same resolver
    from yaml import CSafeLoader as _FastBase
except ImportError:  # PyYAML built without libyaml
    from yaml import SafeLoader as _FastBase  # type: ignore[assignment]


class _Fast(_FastBase):
    pass


for _cls in (Loader, _Fast):
    _cls.add_implicit_resolver(
        "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
    )


class YamlLimitError(UserError):
    """YAML past a bound of this module (size, values after alias expansion, depth, self-reference)."""


def _expanded_size(node: yaml.Node, label: str) -> int:
    """Values the node stands for once every alias is expanded (each shared node counted once per use)."""
    sizes: dict[int, int] = {}
    stack: set[int] = set()

    def size(n: yaml.Node) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in stack:
            raise YamlLimitError(
                f"{label}: an alias refers to the list or mapping that contains it; a spec cannot hold itself."
            )
        if len(stack) >= MAX_DEPTH:
            raise RecursionError
        stack.add(id(n))
        kids = (
            n.value
            if isinstance(n, yaml.SequenceNode)
            else [x for kv in n.value for x in kv]
            if isinstance(n, yaml.MappingNode)
            else []
        )
        total = 1
        for k in kids:
            total += size(k)
            if total > MAX_VALUES:
                break
        stack.discard(id(n))
        sizes[id(n)] = total
        return total

    return size(node)


def _yaml_error(e: yaml.YAMLError, text: str, label: str) -> UserError:
    mark, problem = getattr(e, "problem_mark", None), str(getattr(e, "problem", None) or e)
    line, col = (f", line {mark.line + 1}", f" at column {mark.column + 1}") if mark else ("", "")
    if isinstance(e, yaml.reader.ReaderError):  # a control character: it carries an offset, not a mark
        before = text[: e.position]
        line, col = f", line {before.count(chr(10)) + 1}", f" at column {len(before.rpartition(chr(10))[2]) + 1}"
        problem = (
            f"control character U+{e.character:04X} is not allowed"
            if isinstance(e.character, int)
            else "a control character is not allowed"
        )
    if "constructor for the tag" in problem:  # !!python/object and other tags the safe loader refuses
        tag = problem.split()[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
        return UserError(
            f"{label}{line}: tag {tag}{col} is not allowed; a spec holds plain mappings, lists, "
            "strings, numbers, true/false and null."
        )
    return UserError(f"{label}{line}: not valid YAML{col} ({clip(problem, 200)}).")


def parse(text: str, label: str) -> tuple[Any, yaml.Node | None]:
    """(value, node) of YAML text, bounded: UserError (naming label) past MAX_YAML_BYTES or MAX_VALUES,
    for an alias cycle, for nesting too deep, and for anything the safe loader refuses."""
    if len(text) > MAX_YAML_BYTES:
        raise YamlLimitError(
            f"{label}: {len(text):,} characters is more than the {MAX_YAML_BYTES:,} a spec may have; "
            "a spec is a few dozen keys (list long batch sizes as search.max_batch_size instead)."
        )
    try:
        loader = _Fast(text)
        try:
            node = loader.get_single_node()
            if node is not None and _expanded_size(node, label) > MAX_VALUES:
                raise YamlLimitError(
                    f"{label}: more than {MAX_VALUES:,} values once its aliases (*name) are expanded; "
                    "a spec is a few dozen keys, so write the values out instead of nesting aliases."
                )
            return (loader.construct_document(node) if node is not None else None), node
        finally:
            loader.dispose()
    except RecursionError:
        raise YamlLimitError(
            f"{label}: nested too deeply to be a spec; a spec is a few levels of key: value."
        ) from None
    except yaml.YAMLError as fast:
        err: yaml.YAMLError = fast
        if "maximum nesting depth" in str(err):  # libyaml stops at 1,000 levels (the Python parser would recurse)
            raise YamlLimitError(
                f"{label}: nested too deeply to be a spec; a spec is a few levels of key: value."
            ) from None
        if len(text) <= _PY_ERRORS_BELOW and _Fast is not Loader:  # the same error, worded by the Python parser
            try:
                yaml.compose(text, Loader=Loader)
            except yaml.YAMLError as py:
                err = py
            except RecursionError:
                pass
        raise _yaml_error(err, text, label) from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise UserError(f"{label}: {clip(str(e), 200)}; numbers in a spec are a few digits long.") from None


def read_yaml(path: str | os.PathLike[str]) -> tuple[dict, dict[str, int]]:
    """Parse a spec file into (raw dict, key path → line number); UserError for anything but a small
    regular file of YAML mapping (see parse for the bounds)."""
    from costmodel import BadInputFileError, read_bytes

    try:
        data = read_bytes(path, MAX_SPEC_BYTES, "spec file")
    except BadInputFileError as e:
        msg = str(e)
        if "more than the" in msg:
            msg += " A spec is a few dozen keys (list long batch sizes as search.max_batch_size instead)."
        raise UserError(msg) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); save the spec as UTF-8 YAML.") from None
    raw, node = parse(text, str(path))
    if not isinstance(raw, dict):
        what = "an empty file (or only comments)" if raw is None else show(raw)
        raise UserError(f"{path}: a spec is a YAML mapping (model: …, system: …); got {what}.")
    return raw, _line_map(node, "", {}, str(path))


def clip(text: str, limit: int) -> str:
    """text cut to limit characters (an ellipsis marks the cut), control characters and newlines escaped so
    that a message stays one line."""
    text = text if len(text) <= limit else text[: limit - 3] + "…"
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Full(Exception):
    pass


def brief(v: Any, limit: int = 120) -> str:
    """v as JSON text (a string as its repr), cut once limit characters are out: the walk stops there, so
    a value of a billion items (aliases) costs as little as one of three."""
    out: list[str] = []
    used = 0

    def emit(s: str) -> None:
        nonlocal used
        out.append(s)
        used += len(s)
        if used > limit:
            raise _Full

    def scalar(x: Any) -> str:
        if isinstance(x, bool) or x is None:
            return json.dumps(x)
        if isinstance(x, int):
            return str(x) if x.bit_length() < 4000 else f"<an integer of {x.bit_length():,} bits>"
        if isinstance(x, float):
            return json.dumps(x)
        return json.dumps(x[: limit + 2] if isinstance(x, str) else str(x)[: limit + 2], ensure_ascii=False)

    def walk(x: Any, depth: int) -> None:
        if depth > 40:
            emit("…")
        elif isinstance(x, dict):
            emit("{")
            for i, (k, val) in enumerate(x.items()):
                emit(
                    (", " if i else "")
                    + (json.dumps(str(k)[: limit + 2], ensure_ascii=False) if not isinstance(k, str) else scalar(k))
                    + ": "
                )
                walk(val, depth + 1)
            emit("}")
        elif isinstance(x, (list, tuple)):
            emit("[")
            for i, val in enumerate(x):
                emit(", " if i else "")
                walk(val, depth + 1)
            emit("]")
        else:
            emit(scalar(x))

    try:
        if isinstance(v, str):
            emit(repr(v[: limit + 2]))
        else:
            walk(v, 0)
    except _Full:
        pass
    return clip("".join(out), limit)


def show(v: Any) -> str:
    """A value for a message: its text (cut at 120 characters) and its YAML type."""
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    return "null" if v is None else f"{brief(v, 120)} ({kind.get(type(v), type(v).__name__)})"
