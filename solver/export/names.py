"""Kubernetes names of a bundle: the DynamoGraphDeployment name, kept within the Grove pod-name budget.

The Dynamo operator's admission webhook (Grove pathway) rejects a DynamoGraphDeployment when, for any
service, len(DGD name) + len(lowercase(service name)) exceeds 45 characters; for a multinode service the
longest PodClique name, lowercase(service name) + "-ldr" (or "-wkr"), counts as well (ai-dynamo/dynamo issue
#8480, webhook validation from PR #5449: `dgdComponentResourceNameLength`, `maxCombinedResourceNameLength`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

GROVE_NAME_LIMIT = 45  # Grove's maxCombinedResourceNameLength
LEADER_SUFFIX = "-ldr"  # longest PodClique suffix of a multinode service ("-ldr" / "-wkr")
FRONTEND_SERVICE = "Frontend"
HASH_CHARS = 4


def slug(text: str, limit: int = 40) -> str:
    """A DNS-1123 label fragment: lowercase letters, digits and dashes, at most limit characters."""
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")[:limit].strip("-") or "model"


def combined_length(dgd: str, service: str, multinode: bool) -> int:
    """The length the webhook checks for one service of the DGD named dgd."""
    svc = service.lower()
    return len(dgd) + len(svc) + (len(svc + LEADER_SUFFIX) if multinode else 0)


def name_budget(services: Iterable[tuple[str, bool]]) -> int:
    """Longest DGD name every (service name, multinode) fits with (the frontend included)."""
    return GROVE_NAME_LIMIT - max(combined_length("", s, m) for s, m in [(FRONTEND_SERVICE, False), *services])


def dgd_name(model: str, backend: str, folder: str, services: Iterable[tuple[str, bool]]) -> str:
    """`<model>-<backend>-<folder>`, the model part cut short and tagged with a hash of the full name where the
    whole would pass the Grove budget of these services (same inputs, same name; distinct long names stay distinct).

    model: the served model name (its last path segment is used); folder: e.g. "disagg_1".
    """
    budget = name_budget(services)
    tail = f"-{slug(backend, 12)}-{slug(folder, 12)}"
    head = slug(model.rstrip("/").rsplit("/", 1)[-1], 24)
    if len(head) + len(tail) <= budget:
        return head + tail
    tag = hashlib.sha256(f"{model}|{backend}|{folder}".encode()).hexdigest()[:HASH_CHARS]
    room = budget - len(tail) - HASH_CHARS - 1
    head = head[: max(room, 0)].strip("-")
    return f"{head}-{tag}{tail}" if head else f"{tag}{tail}"


def grove_name_errors(dgd: dict) -> list[str]:
    """The webhook's verdict on a DynamoGraphDeployment document: one message per service over the budget."""
    name = dgd["metadata"]["name"]
    out = []
    for svc, body in dgd["spec"]["services"].items():
        n = combined_length(name, svc, body.get("multinode", {}).get("nodeCount", 1) > 1)
        if n > GROVE_NAME_LIMIT:
            out.append(f"DGD name {name!r} + service {svc!r} = {n} characters > {GROVE_NAME_LIMIT}")
    return out
