"""The DynamoGraphDeployment fields the exporter writes as a JSON-Schema subset (type, enum, required,
properties, additionalProperties, items, minimum, pattern) and a validator for just those keywords."""

from __future__ import annotations

import re
from typing import Any

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_STRINGS = {"type": "array", "items": {"type": "string"}}
_CONTAINER = {
    "type": "object",
    "required": ["image", "command", "args"],
    "additionalProperties": False,
    "properties": {
        "image": {"type": "string", "pattern": r"^\S+$"},
        "command": _STRINGS,
        "args": _STRINGS,
        "workingDir": {"type": "string"},
        "volumeMounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "mountPath"],
                "properties": {"name": {"type": "string"}, "mountPath": {"type": "string"}},
            },
        },
        # a Kubernetes container's environment (name/value pairs): the priced kernels' switches
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": r"^[A-Z_][A-Z0-9_]*$"},
                    "value": {"type": "string"},
                },
            },
        },
    },
}
_SERVICE = {
    "type": "object",
    "required": ["componentType", "replicas", "extraPodSpec"],
    "additionalProperties": False,
    "properties": {
        "componentType": {"enum": ["frontend", "worker", "planner"]},
        "subComponentType": {"enum": ["prefill", "decode"]},
        "replicas": {"type": "integer", "minimum": 1},
        "envFromSecret": {"type": "string"},
        # Kubernetes quantities are strings: gpu: "8"
        "resources": {
            "type": "object",
            "required": ["limits"],
            "properties": {
                "limits": {
                    "type": "object",
                    "required": ["gpu"],
                    "properties": {"gpu": {"type": "string", "pattern": r"^[1-9]\d*$"}},
                }
            },
        },
        "multinode": {
            "type": "object",
            "required": ["nodeCount"],
            "additionalProperties": False,
            "properties": {"nodeCount": {"type": "integer", "minimum": 2}},
        },
        "sharedMemory": {"type": "object", "required": ["size"], "properties": {"size": {"type": "string"}}},
        "extraPodSpec": {
            "type": "object",
            "required": ["mainContainer"],
            "additionalProperties": False,
            "properties": {
                "mainContainer": _CONTAINER,
                "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
                "volumes": {
                    "type": "array",
                    "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
                },
            },
        },
    },
}
DGD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"enum": ["nvidia.com/v1alpha1"]},
        "kind": {"enum": ["DynamoGraphDeployment"]},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string", "pattern": DNS_LABEL}},
        },
        "spec": {
            "type": "object",
            "required": ["services"],
            "additionalProperties": False,
            "properties": {
                "backendFramework": {"enum": ["trtllm", "vllm", "sglang"]},
                "services": {"type": "object", "required": ["Frontend"], "additionalProperties": _SERVICE},
            },
        },
    },
}
_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "integer": int,
    "number": (int, float),
    "boolean": bool,
}


def validate(doc: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every violation of schema in doc, as 'path: problem' lines (empty when valid)."""
    t = schema.get("type")
    if t and (not isinstance(doc, _TYPES[t]) or (t in ("integer", "number") and isinstance(doc, bool))):
        return [f"{path}: expected {t}, got {type(doc).__name__}"]
    errs = [f"{path}: {doc!r} not one of {schema['enum']}"] if "enum" in schema and doc not in schema["enum"] else []
    if "minimum" in schema and isinstance(doc, (int, float)) and doc < schema["minimum"]:
        errs.append(f"{path}: {doc} < {schema['minimum']}")
    if "pattern" in schema and isinstance(doc, str) and not re.search(schema["pattern"], doc):
        errs.append(f"{path}: {doc!r} does not match {schema['pattern']}")
    if isinstance(doc, dict):
        errs += [f"{path}: missing {k!r}" for k in schema.get("required", ()) if k not in doc]
        props, extra = schema.get("properties", {}), schema.get("additionalProperties", True)
        for k, v in doc.items():
            if k in props:
                errs += validate(v, props[k], f"{path}.{k}")
            elif extra is False:
                errs.append(f"{path}: unexpected key {k!r}")
            elif isinstance(extra, dict):
                errs += validate(v, extra, f"{path}.{k}")
    if isinstance(doc, list) and "items" in schema:
        for i, v in enumerate(doc):
            errs += validate(v, schema["items"], f"{path}[{i}]")
    return errs
