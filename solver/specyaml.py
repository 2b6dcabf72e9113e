"""Reading a spec file: a safe YAML loader, key path -> line numbers, and clean errors for broken YAML."""

from __future__ import annotations

import json
import re
import reprlib
from pathlib import Path
from typing import Any

import yaml

from solver.errors import UserError


class Loader(yaml.SafeLoader):
    """The safe loader (no Python tags), also reading 1e6 and 1e-06 as numbers, as YAML 1.2 does.

    YAML 1.1 wants 1.0e+6; without this `--time-limit 0.000001` (which arrives as 1e-06) and
    `max_batch_size: 1e6` would be strings.
    """


Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                             list("-+0123456789"))


def _line_map(node: yaml.Node, prefix: str, out: dict[str, int], source: str, seen: set | None = None) -> dict:
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


def read_yaml(path: str | Path) -> tuple[dict, dict[str, int]]:
    """Parse a spec file into (raw dict, key path → line number)."""
    try:  # composing keeps the node marks (line numbers); loading builds the plain values (safe Loader)
        text = Path(path).read_text(encoding="utf-8")
        node, raw = yaml.compose(text, Loader=Loader), yaml.load(text, Loader=Loader)
    except OSError as e:
        raise UserError(f"cannot read spec file {path}: {e.strerror or e}.") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start}); save the spec as UTF-8 YAML.") from None
    except RecursionError:
        raise UserError(f"{path}: nested too deeply to be a spec; a spec is a few levels of key: value.") from None
    except yaml.YAMLError as e:
        mark, problem = getattr(e, "problem_mark", None), str(getattr(e, "problem", None) or e)
        line, col = (f", line {mark.line + 1}", f" at column {mark.column + 1}") if mark else ("", "")
        if isinstance(e, yaml.reader.ReaderError):  # a control character: it carries an offset, not a mark
            before = text[:e.position]
            line, col = f", line {before.count(chr(10)) + 1}", f" at column {len(before.rpartition(chr(10))[2]) + 1}"
            problem = f"control character U+{e.character:04X} is not allowed"
        if "constructor for the tag" in problem:  # !!python/object and other tags the safe loader refuses
            tag = problem.split()[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
            raise UserError(f"{path}{line}: tag {tag}{col} is not allowed; a spec holds plain mappings, lists, "
                            "strings, numbers, true/false and null.") from None
        raise UserError(f"{path}{line}: not valid YAML{col} ({problem}).") from None
    if not isinstance(raw, dict):
        what = "an empty file (or only comments)" if raw is None else show(raw)
        raise UserError(f"{path}: a spec is a YAML mapping (model: …, system: …); got {what}.")
    return raw, _line_map(node, "", {}, str(path))


def show(v: Any) -> str:
    """A value for a message: its text (cut at 120 characters) and its YAML type."""
    kind = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}
    try:
        text = repr(v) if isinstance(v, str) else json.dumps(v, default=str)
    except (ValueError, RecursionError):  # a YAML alias can make a list that contains itself
        text = reprlib.repr(v)
    text = text if len(text) <= 120 else text[:117] + "…"  # a 10,000-item list needs no echo in full
    return "null" if v is None else f"{text} ({kind.get(type(v), type(v).__name__)})"
