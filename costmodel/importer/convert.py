"""Convert the source parquet tables into our gzip'd CSV tables (deterministic, rerunnable).

Per table and (system, backend): rows of the current version, then rows of strictly older
versions of the same backend for shapes the newer data lack (first version wins per shape), then
the rows of a kernel another backend measured and this one calls too (sources.SHARED_KERNELS).
Within one version, lanes (``kernel_source``) that measured the same shape are resolved to
one (pinned lane, else the lane with most rows); repeated measurements of one shape in one
lane are reduced to their median; where the lanes are the kernels of one op (GDN), their medians
are summed instead. A MoE kernel cell that runs far slower than on the twin system of the same GPU die is
taken from the twin (mend_outliers, sources.TWIN_SYSTEMS). Values are written in ms with 6 significant digits.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import statistics
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import PurePosixPath

from costmodel.engines import engine_rules
from costmodel.importer.sources import PINNED_LANES, SHARED_KERNELS, TWIN_OUTLIER, TWIN_SYSTEMS, TableSource

ROOT = "aiconfigurator_core/systems/"


def version_key(v: str) -> tuple:
    """Sort key for versions like 1.3.0rc20, 0.5.6.post2, 2.27.3 (rc < final < post)."""
    m = re.match(r"^(\d+(?:\.\d+)*)(?:\.?(rc|a|b|dev)(\d+))?(?:\.post(\d+))?", v)
    if not m:
        return ((0,), 0, 0, 0)
    nums = tuple(int(x) for x in m.group(1).split("."))
    nums = nums + (0,) * (4 - len(nums))
    pre = {"dev": -3, "a": -2, "b": -1, "rc": 0}.get(m.group(2) or "", 1)
    return (nums, pre, int(m.group(3) or 0), int(m.group(4) or 0))


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One parquet file in the wheel, with its checksum."""

    path: str
    version: str
    sha256: str


class Wheel:
    """Read-only view of the source wheel (a .whl zip, or an unpacked folder)."""

    def __init__(self, path: str):
        self._zip = zipfile.ZipFile(path)
        self.names = sorted(n for n in self._zip.namelist() if n.startswith(ROOT))

    def read(self, name: str) -> bytes:
        return self._zip.read(name)

    def versions(self, system: str, family: str, backend: str, stem: str) -> list[str]:
        """Versions (newest first) that hold ``stem`` for this system/family/backend."""
        prefix = f"{ROOT}data/{system}/{family}/{backend}/"
        found = set()
        for n in self.names:
            if n.startswith(prefix) and n.endswith(f"/{stem}.parquet"):
                found.add(n[len(prefix) :].split("/")[0])
        return sorted(found, key=version_key, reverse=True)


def _read_rows(raw: bytes) -> list[dict]:
    import pyarrow.parquet as pq  # optional dependency: only the importer reads parquet

    return pq.read_table(io.BytesIO(raw)).to_pylist()


def _key_getter(spec: TableSource):
    def get(row: dict) -> tuple:
        out = []
        for src, _ in spec.keys:
            names = src if isinstance(src, tuple) else (src,)
            val = next((row[n] for n in names if n in row and row[n] is not None), "")
            out.append(val)
        return tuple(out)

    return get


def _values(spec: TableSource, row: dict) -> tuple[float, ...]:
    return tuple(sum(float(row[s]) for s in v.sources) * v.scale for v in spec.values)


def resolve_lanes(rows: list[dict], spec: TableSource, pinned: tuple[str, ...]) -> dict[tuple, tuple]:
    """Map each shape key to (lane, median values), choosing one lane per key."""
    key_of = _key_getter(spec)
    by_lane: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_lane[row.get("kernel_source") or "default"][key_of(row)].append(_values(spec, row))
    order = sorted(
        by_lane,
        key=lambda ln: (
            ln not in pinned,
            pinned.index(ln) if ln in pinned else 0,
            -sum(len(v) for v in by_lane[ln].values()),
            ln,
        ),
    )
    out: dict[tuple, tuple] = {}
    for lane in order:
        for key, vals in by_lane[lane].items():
            if key not in out:
                med = tuple(statistics.median(col) for col in zip(*vals))
                out[key] = (lane, med)
    return out


def sum_lanes(rows: list[dict], spec: TableSource) -> dict[tuple, tuple]:
    """Map each shape key to ("lane+lane", summed medians) where the lanes are one op's kernels.

    A shape is kept only where every kernel seen for its group (its value of ``spec.sum_lanes_by``)
    was measured: a partial sum would read as a faster op.
    """
    key_of = _key_getter(spec)
    group = [ours for _, ours in spec.keys].index(spec.sum_lanes_by)
    by_key: dict[tuple, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        by_key[key_of(row)][row.get("kernel_source") or "default"].append(_values(spec, row))
    lanes_of_group: dict[object, set[str]] = defaultdict(set)
    for key, lanes in by_key.items():
        lanes_of_group[key[group]].update(lanes)
    out: dict[tuple, tuple] = {}
    for key, lanes in by_key.items():
        if set(lanes) != lanes_of_group[key[group]]:
            continue
        meds = [tuple(statistics.median(col) for col in zip(*lanes[ln])) for ln in sorted(lanes)]
        out[key] = ("+".join(sorted(lanes)), tuple(sum(col) for col in zip(*meds)))
    return out


def _shape_ok(spec: TableSource, moe_shapes: frozenset[tuple[int, int, int, int]]):
    cols = [ours for _, ours in spec.keys]
    idx = {name: cols.index(name) for name in ("hidden", "inter", "topk", "experts") if name in cols}
    allowed = {
        tuple(s[i] for i, n in enumerate(("hidden", "inter", "topk", "experts")) if n in idx) for s in moe_shapes
    }
    order = [idx[n] for n in ("hidden", "inter", "topk", "experts") if n in idx]
    return lambda key: tuple(key[i] for i in order) in allowed


def convert_table(
    wheel: Wheel,
    spec: TableSource,
    system: str,
    backend: str,
    version: str,
    sm_version: int,
    moe_shapes: frozenset,
    twins: dict[str, str] = TWIN_SYSTEMS,
) -> tuple[dict, list[dict]] | None:
    """Merge one table's sources; returns (rows by key, provenance list) or None if absent. A MoE kernel table of a
    system with a twin (sources.TWIN_SYSTEMS) has its outlier cells mended from the twin's rows (mend_outliers)."""
    versions = [
        v for v in wheel.versions(system, spec.family, backend, spec.stem) if version_key(v) <= version_key(version)
    ]
    if not versions:
        return None
    keep = _shape_ok(spec, moe_shapes) if spec.filter_moe_shapes and moe_shapes else (lambda k: True)
    pinned = PINNED_LANES.get((backend, spec.family, sm_version), ())
    merged: dict[tuple, tuple] = {}
    provenance = []
    for v in versions:
        path = f"{ROOT}data/{system}/{spec.family}/{backend}/{v}/{spec.stem}.parquet"
        provenance.append(_merge(wheel, path, v, spec, merged, keep, pinned))
    for share in (s for s in SHARED_KERNELS if (s.table, s.backend) == (spec.name, backend) and sm_version >= s.min_sm):
        col = [ours for _, ours in spec.keys].index(share.key)
        v = engine_rules(share.donor).version
        if v not in wheel.versions(system, spec.family, share.donor, spec.stem):
            continue  # the donor did not measure this system
        path = f"{ROOT}data/{system}/{spec.family}/{share.donor}/{v}/{spec.stem}.parquet"

        def only(key: tuple, c: int = col, want: str = share.value) -> bool:
            return key[c] == want and keep(key)

        provenance.append(
            _merge(wheel, path, v, spec, merged, only, (), share.lane or spec.lane)
            | {"shared_kernel": f"{share.key}={share.value}: {share.why}"}
        )
    if spec.lane and not merged:  # no version measured the kernel on this system
        return None
    twin = twins.get(system)
    if twin and spec.filter_moe_shapes and spec.keys[-1][1] == "tokens":
        other = convert_table(wheel, spec, twin, backend, version, sm_version, moe_shapes, twins={})
        if other is not None:
            mended, ratio = mend_outliers(merged, other[0])
            provenance.append(
                {
                    "twin_check": f"{twin}: {mended} cells slower than the twin by over {TWIN_OUTLIER}x the tables' "
                    f"median ratio {ratio:.3f} taken from the twin's rows times that ratio (sources.TWIN_SYSTEMS)"
                }
            )
    return merged, provenance


def mend_outliers(
    own: dict[tuple, tuple], twin: dict[tuple, tuple], outlier: float = TWIN_OUTLIER
) -> tuple[int, float]:
    """Replace, in place, the cells of ``own`` that run ``outlier`` times slower than ``twin`` beyond the two
    systems' systematic ratio. Keys end in the token count; a cell is the rest of the key and one kernel lane. A
    cell's ratio is the median over the token counts both measured of own / twin (first value column); the systematic
    ratio is the median of the cell ratios. An outlier cell's shared token counts get the twin's values times the
    systematic ratio; its other rows stay. Returns (cells mended, systematic ratio); (0, 1.0) when nothing is shared."""
    shared: dict[tuple, list[tuple]] = defaultdict(list)
    for key, (lane, vals) in own.items():
        other = twin.get(key)
        if other is not None and other[0] == lane and other[1][0] > 0 and vals[0] > 0:
            shared[(key[:-1], lane)].append(key)
    if not shared:
        return 0, 1.0
    cell_ratio = {c: statistics.median(own[k][1][0] / twin[k][1][0] for k in keys) for c, keys in shared.items()}
    ratio = statistics.median(cell_ratio.values())
    mended = 0
    for cell, keys in shared.items():
        if cell_ratio[cell] > outlier * ratio:
            mended += 1
            for k in keys:
                own[k] = (own[k][0], tuple(v * ratio for v in twin[k][1]))
    return mended, ratio


def _merge(
    wheel: Wheel, path: str, version: str, spec: TableSource, merged: dict, keep, pinned, lane: str | None = None
) -> dict:
    """Add one source file's rows for shapes ``merged`` lacks (and ``keep`` admits); return its provenance.
    ``lane``: the only kernel lane to read (None: the table's own, ``spec.lane``; "": all)."""
    raw = wheel.read(path)
    rows = _read_rows(raw)
    lane = spec.lane if lane is None else lane
    if lane:
        rows = [r for r in rows if r.get("kernel_source") == lane]
    resolved = sum_lanes(rows, spec) if spec.sum_lanes_by else resolve_lanes(rows, spec, pinned)
    added = 0
    for key, val in resolved.items():
        if keep(key) and key not in merged:
            merged[key] = val
            added += 1
    return {
        "path": str(PurePosixPath(path).relative_to(ROOT)),
        "version": version,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "rows_read": len(rows),
        "rows_added": added,
    }


def convert_system_wide(wheel: Wheel, spec: TableSource, system: str, nccl_version: str) -> tuple[dict, list[dict]]:
    """NCCL: the one file the system's NCCL version names, never filled from others."""
    path = f"{ROOT}data/{system}/{spec.family}/nccl/{nccl_version}/{spec.stem}.parquet"
    raw = wheel.read(path)
    rows = _read_rows(raw)
    merged = resolve_lanes(rows, spec, ())
    prov = [
        {
            "path": str(PurePosixPath(path).relative_to(ROOT)),
            "version": nccl_version,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "rows_read": len(rows),
            "rows_added": len(merged),
        }
    ]
    return merged, prov


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def write_csv_gz(spec: TableSource, merged: dict[tuple, tuple]) -> bytes:
    """Serialize rows sorted by key; gzip with a zero mtime so reruns are byte-identical."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([ours for _, ours in spec.keys] + ["kernel"] + [v.name for v in spec.values])
    for key in sorted(merged, key=lambda k: tuple((0, x) if isinstance(x, (int, float)) else (1, str(x)) for x in k)):
        lane, vals = merged[key]
        w.writerow([_fmt(x) for x in key] + [lane] + [f"{v:.6g}" for v in vals])
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(buf.getvalue().encode())
    return out.getvalue()
