"""Cluster specs: `deployments:` (several models), `pools:` (GPU types and counts), `demand:`, `cost:`.

Every item of `deployments:` is validated as a one-model spec of its own (solver.spec), with
the top-level keys as its defaults; a one-model spec with `demand:` or `pools:` is a cluster of one.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from solver.cluster.problem import Cluster, Member, Pool
from solver.errors import InfeasibleError, UserError
from solver.spec import Spec, spec_from_raw
from solver.validation import Where, bad_value, check_section, scalar_ok
from solver.specfields import FIELDS
from solver.specyaml import clip

CLUSTER_KEYS = ("deployments", "pools", "cost", "objective")  # top level only
_BIG = 1_000_000  # stands in for total_gpus while a member is validated against an unbounded pool


def _field(path: str):
    return next(f for f in FIELDS if f.path == path)


def _merge(base: dict, item: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in item.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _member_where(where: Where, i: int | None) -> Where:
    """Where-lookup for item i: its own lines, else the top-level default's."""
    w = Where(where.source)
    tag = f"deployments[{i}]"
    for p, at in where.at.items():
        if i is not None and p.startswith(tag + "."):
            w.at[p[len(tag) + 1 :]] = at
        elif not p.startswith("deployments") and p not in w.at:
            w.at[p] = at
    # a top-level value a flag or --set gave, which the item does not set itself, is still blamed on that flag
    w.flagged = {p for p in where.flagged if p in w.at and w.at[p] == where.at.get(p)}
    return w


def _section(raw: dict, key: str, where: Where) -> dict[str, Any]:
    """A pools/cost mapping, checked key by key, in the order written (null values kept)."""
    v = raw.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise bad_value(where, key, _field(key), v)
    check_section(v, where, key)
    return dict(v)


def _scalar(raw: dict, key: str, where: Where, default=None):
    """One top-level scalar key checked against its field (type, range, choices) before the cluster uses it."""
    f, v = _field(key), raw.get(key, default)
    if v is None:
        return v
    ok, hint = scalar_ok(f.kind.rstrip("?"), f, v)
    if not ok:
        raise bad_value(where, key, f, v, hint)
    return v


def _objective(raw: dict, where: Where) -> str:
    return _scalar(raw, "objective", where, "auto")


def cluster_from_raw(raw: dict, where: Where, base: Path) -> Cluster:
    """Validate a cluster spec (UserError naming the key on any mistake)."""
    if raw.get("deployments") is not None:
        items = raw["deployments"]
        if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
            raise bad_value(
                where,
                "deployments",
                _field("deployments"),
                items,
                " Write one mapping per item, e.g. - {model: Qwen/Qwen3-32B, workload: {isl: 1000, osl: 200}}.",
            )
        for i, item in enumerate(items):
            for k in CLUSTER_KEYS:
                if k in item:
                    raise UserError(
                        f"{where(f'deployments[{i}].{k}')}deployments[{i}].{k}: {k} is a cluster-wide key; "
                        "write it at the top level of the spec."
                    )
            _flag_not_overridden(item, i, where)
    else:
        items = [{}]
    top = {k: v for k, v in raw.items() if k not in CLUSTER_KEYS}
    pools_raw, cost = _section(raw, "pools", where), _section(raw, "cost", where)
    for k in ("total_gpus", "decode_system"):
        if pools_raw and top.get(k) is not None:
            raise UserError(
                f"{where(k)}{k}: with pools: the pools say which GPUs exist and where each role runs; "
                f"drop {k} (a deployment's own total_gpus caps the GPUs it takes)."
            )
    if not pools_raw:
        _scalar(top, "system", where), _scalar(top, "total_gpus", where)
        if top.get("system") is None:
            raise UserError(
                f"{where('')}missing key 'system' (or pools): name the GPU system, e.g. system: h200_sxm, "
                "or give pools: {h100_sxm: 16, h200_sxm: 16} for a mixed cluster."
            )
        pools_raw = {str(top["system"]): top.get("total_gpus")}
        top = {k: v for k, v in top.items() if k != "total_gpus"}
    for name in cost:
        if name not in pools_raw:
            raise UserError(
                f"{where('cost.' + name)}cost.{name}: {name} is not one of the pools "
                f"({', '.join(pools_raw)}); price only the systems the cluster has."
            )
    members = [
        _member(top, item, i if raw.get("deployments") is not None else None, pools_raw, where, base)
        for i, item in enumerate(items)
    ]
    members = _unique_names(members, where)
    gpn = _node_size(raw, items, pools_raw, where)
    pools = tuple(_pool(name, n, cost.get(name), gpn) for name, n in pools_raw.items())
    first = members[0].spec
    return Cluster(
        members=tuple(members),
        pools=pools,
        objective=_resolve_objective(_objective(raw, where), members, pools, where),
        time_limit_s=first.time_limit_s,
        seed=first.seed,
        source=where.source,
    )


def _flag_not_overridden(item: dict, i: int, where: Where) -> None:
    """A top-level value a flag or --set gave would be silently replaced by a deployment's own: refuse it."""
    for path in sorted(where.flagged):
        node: object = item
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            raise UserError(
                f"{where(path)}{path}: deployments[{i}] sets its own {path} ({clip(repr(node), 60)}), "
                f"which would silently replace this value; edit deployments[{i}].{path} in the spec, or "
                "drop it there to use the top-level one."
            )


def _pool(system: str, gpus: int | None, price: float | None, gpus_per_node: int | None) -> Pool:
    from costmodel import node_size

    return Pool(
        system=system,
        gpus=gpus,
        price=None if price is None else float(price),
        gpus_per_node=node_size(system, gpus_per_node),
    )


def _node_size(raw: dict, items: list[dict], pools: dict, where: Where) -> int | None:
    """constraints.topology.gpus_per_node: a property of the one pool (None: each system's own)."""
    for i, item in enumerate(items):
        if ((item.get("constraints") or {}).get("topology") or {}).get("gpus_per_node") is not None and raw.get(
            "deployments"
        ) is not None:
            key = f"deployments[{i}].constraints.topology.gpus_per_node"
            raise UserError(
                f"{where(key)}{key}: the node size belongs to the pool, not to one deployment; set "
                "constraints.topology.gpus_per_node at the top level (one pool only)."
            )
    gpn = ((raw.get("constraints") or {}).get("topology") or {}).get("gpus_per_node")
    if gpn is not None and len(pools) > 1:
        key = "constraints.topology.gpus_per_node"
        raise UserError(
            f"{where(key)}{key}: with several pools each system keeps its own node size "
            f"({', '.join(pools)}); drop the key."
        )
    return gpn  # validated as an integer with the deployments' own keys


def _member(top: dict, item: dict, i: int | None, pools: dict, where: Where, base: Path) -> Member:
    from costmodel import data_dir

    mraw, mwhere = _merge(top, item), _member_where(where, i)
    label = "" if i is None else f"deployments[{i}]: "
    own_system = _scalar(item, "system", mwhere) if i is not None else None
    if own_system is not None and own_system not in pools:
        raise UserError(
            f"{mwhere('system')}{label}system {own_system!r} is not one of the pools "
            f"({', '.join(pools)}); drop it to let the solver pick, or add that pool."
        )
    cap = item.get("total_gpus") if i is not None else None
    mraw["total_gpus"] = cap if cap is not None else min(sum(n or _BIG for n in pools.values()), _BIG)
    spec, systems, first_error, excluded = None, [], None, {}
    for system in [own_system] if own_system else list(pools):
        mraw["system"] = system
        try:  # a model whose weights fit no worker of one pool may still fit another's
            one = spec_from_raw(mraw, source=where.source, base_dir=base, where=mwhere)
        except InfeasibleError as e:
            first_error = first_error or e
            excluded[system] = str(e)
            continue
        except UserError as e:
            raise type(e)(_labelled(str(e), label, where.source)) from None
        r = one.request
        if (data_dir() / "perf" / system / r.backend / r.version).is_dir():
            spec = spec or one
            systems.append(system)
        else:
            excluded[system] = f"no measured data for {r.backend} {r.version} on {system}"
    if spec is None and first_error is not None:
        raise InfeasibleError(_labelled(str(first_error), label, where.source)) from None
    if spec is None:
        raise UserError(
            f"{mwhere('backend')}{label}no pool has measured data for this backend and version "
            f"(pools: {', '.join(pools)}); `aicsolve systems` lists what is measured."
        )
    _unused_keys(spec, mwhere, label)
    return Member(
        name=spec.name or spec.arch.name.split("/")[-1],
        spec=spec,
        demand_rps=spec.demand_rps,
        weight=spec.weight,
        systems=tuple(systems),
        max_gpus=cap,
        excluded=excluded,
    )


def _labelled(msg: str, label: str, source: str) -> str:
    """A member's validation message with "deployments[i]: " after its location prefix."""
    if not label:
        return msg
    at = re.match(re.escape(source) + r"(, line \d+)?: ", msg)
    cut = at.end() if at else 0
    return msg[:cut] + label + msg[cut:]


def _unused_keys(spec: Spec, where: Where, label: str) -> None:
    """Constraint keys a cluster does not model: an error, never silently ignored."""
    k, t = spec.constraints, spec.constraints.topology
    given = [
        ("constraints.topology.max_nodes", t is not None and t.max_nodes is not None),
        ("constraints.topology.separate_prefill_decode_nodes", t is not None and t.separate_prefill_decode_nodes),
        ("constraints.role_gpu_budget", bool(k.role_gpu_budget)),
        ("constraints.replicas", k.replicas_min != 1 or k.replicas_max is not None),
        ("decode_system", spec.request.decode_system is not None),
    ]
    for key, on in given:
        if on:
            raise UserError(
                f"{where(key)}{label}{key}: not used in a cluster spec (demand, pools or deployments): "
                "pools give the GPUs and nodes, the solver places prefill and decode; drop the key, "
                "or a deployment's own total_gpus caps its GPUs."
            )


def _unique_names(members: list[Member], where: Where) -> list[Member]:
    """Each deployment's name, unique as a bundle folder: two given names that share a folder are an error
    (before the solve, not at export); a name taken from the model gets the first free -2, -3, …"""
    import dataclasses

    from solver.cluster.export import folder_name

    taken: dict[str, int] = {}
    for i, m in enumerate(members):
        if m.spec.name is not None:
            key = folder_name(m.name)
            if key in taken:
                raise UserError(
                    f"{where(f'deployments[{i}].name')}deployments[{i}].name: {m.name!r} names the same "
                    f"folder ({key}) as deployments[{taken[key]}]; give each deployment its own name."
                )
            taken[key] = i
    out = []
    for i, m in enumerate(members):
        if m.spec.name is None:
            name, n = m.name, 1
            while folder_name(name) in taken:
                n += 1
                name = f"{m.name}-{n}"
            taken[folder_name(name)] = i
            m = dataclasses.replace(m, name=name)
        out.append(m)
    return out


def _resolve_objective(objective: str, members: list[Member], pools: tuple[Pool, ...], where: Where) -> str:
    unmet = [m.name for m in members if m.demand_rps is None]
    if objective == "auto":
        objective = "max_goodput" if unmet else "min_cost" if all(p.price for p in pools) else "min_gpus"
    if objective in ("min_cost", "min_gpus") and unmet:
        raise UserError(
            f"{where('objective')}objective {objective}: every deployment needs a demand to be sized "
            f"to; {', '.join(unmet)} {'has' if len(unmet) == 1 else 'have'} none. Give each a "
            "demand.requests_per_s, or use max_goodput."
        )
    if objective == "min_cost" and not all(p.price for p in pools):
        missing = [p.system for p in pools if not p.price]
        at = where("cost" if "cost" in where.at else "objective")
        raise UserError(
            f"{at}objective min_cost: no price for {', '.join(missing)}; give cost.{missing[0]} "
            "(per GPU-hour), or use min_gpus."
        )
    if objective == "max_goodput":
        open_pools = [p.system for p in pools if p.gpus is None]
        if open_pools and unmet:
            raise UserError(
                f"{where('pools')}{', '.join(unmet)} {'has' if len(unmet) == 1 else 'have'} no demand, so "
                f"{'it' if len(unmet) == 1 else 'they'} would grow without bound on the "
                f"uncounted pool {open_pools[0]}; give pools.{open_pools[0]} a GPU count, or give every "
                "deployment a demand to size the cluster to it."
            )
    return objective
