"""Our measured op tables on disk: load one gzip'd CSV into typed numpy columns, on demand.

Layout: ``perf/<system>/<backend>/<version>/<table>.csv.gz`` plus ``manifest.json``
(rows, keys, sources and SHA-256 of each file); NCCL lives in ``perf/<system>/nccl/<ver>/``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from costmodel.errors import CostModelError
from costmodel.paths import DataNotFoundError, data_dir


class CorruptDataError(CostModelError, RuntimeError):
    """A data file does not match its manifest checksum, or cannot be parsed."""


@dataclass(frozen=True, slots=True)
class Table:
    """Columns of one table: ints/floats as numpy arrays, strings as object arrays."""

    path: Path
    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))


def perf_dir(system: str, backend: str, version: str) -> Path:
    """Folder holding one (system, backend, version)'s tables."""
    return data_dir() / "perf" / system / backend / version


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse(text: str, path: Path) -> dict[str, np.ndarray]:
    """Numeric columns through numpy's C reader, string columns by one regex pass each.

    The ``kernel`` column (provenance only) is not loaded: no query needs it.
    """
    head, _, body = text.rstrip("\n").partition("\n")
    header = head.split(",")
    first = body.split("\n", 1)[0].split(",")
    if len(first) != len(header):
        raise CorruptDataError(f"data file {path} has rows with the wrong number of fields")
    numeric = [i for i, v in enumerate(first) if _is_number(v)]
    cols: dict[str, np.ndarray] = {}
    try:
        arr = np.loadtxt(io.StringIO(body), delimiter=",", usecols=numeric, ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise CorruptDataError(f"data file {path} is malformed ({e})") from None
    for j, i in enumerate(numeric):
        col = arr[:, j]
        is_int = col.size and np.all(col == np.round(col)) and np.abs(col).max() < 2**53
        cols[header[i]] = col.astype(np.int64) if is_int else col
    for i, name in enumerate(header):
        if i in numeric or name == "kernel":
            continue
        vals = re.findall(r"^(?:[^,\n]*,){%d}([^,\n]*)" % i, body, re.M)
        if len(vals) != len(arr):
            raise CorruptDataError(f"data file {path} has rows with the wrong number of fields")
        cols[name] = np.asarray(vals, dtype=object)
    return {h: cols[h] for h in header if h in cols}


CACHE_FORMAT = 1  # bump when _parse changes what it returns: old entries are then never read again
MAX_CACHE_BYTES = 1 << 30  # the parsed copy of every shipped table is ~0.6 GB


def cache_dir() -> Path:
    """Where parsed tables are kept: $AICSOLVE_CACHE, else ~/.cache/aicsolve; entries in tables/."""
    root = os.environ.get("AICSOLVE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aicsolve")
    return Path(root) / "tables"


def _cache_file(sha256: str) -> Path:
    """The parsed copy of a data file, keyed by its content (the manifest's SHA-256), so a reinstall or a
    copy of the data folder finds the same entry instead of adding one."""
    return cache_dir() / f"{sha256}-v{CACHE_FORMAT}.npz"


def _load_cached(cache: Path) -> dict[str, np.ndarray] | None:
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            cols = {k: (z[k].astype(object) if z[k].dtype.kind == "U" else z[k]) for k in z.files}
        os.utime(cache)  # recently used: pruned last
        return cols
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):  # a broken cache entry: parse again
        return None


def _store_cached(cache: Path, cols: dict[str, np.ndarray]) -> None:
    """Best effort: a read-only home just means parsing again next time."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        try:
            # object columns are stored as str, so nothing needs pickling
            arrays = {k: (v.astype(str) if v.dtype == object else v) for k, v in cols.items()}
            np.savez(tmp, allow_pickle=False, **arrays)
            os.replace(tmp, cache)
        finally:
            if tmp.exists():
                tmp.unlink()
        prune_cache()
    except OSError:
        pass


def prune_cache(limit: int = MAX_CACHE_BYTES) -> int:
    """Remove the least recently used entries until the cache holds at most limit bytes, and the files of
    the older layout (one per path and mtime, never reused) once a day old (an older aicsolve may still be
    writing them); return the bytes removed."""
    import time

    folder, freed = cache_dir(), 0
    old = [
        p
        for p in folder.parent.glob("*.npz")
        if re.fullmatch(r"[0-9a-f]{40}(\.\d+\.tmp)?\.npz", p.name) and _mtime(p) < time.time() - 86_400
    ]
    entries = []
    for p in folder.glob("*.npz"):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, p))
    entries.sort()
    total = sum(size for _, size, _ in entries)
    doomed = old + [p for _, _, p in entries[: _count_over(entries, total, limit)]]
    for p in doomed:
        try:
            size = p.stat().st_size
            p.unlink()
            freed += size
        except OSError:
            pass
    return freed


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:
        return float("inf")


def _count_over(entries: list[tuple[float, int, Path]], total: int, limit: int) -> int:
    n = 0
    while total > limit and n < len(entries):
        total -= entries[n][1]
        n += 1
    return n


def _check_values(cols: dict[str, np.ndarray], path: Path) -> None:
    """A latency column (*_ms) holds finite numbers ≥ 0; a NaN or negative one would price nonsense."""
    for name, col in cols.items():
        if not name.endswith("_ms"):
            continue
        if col.dtype == object or not np.all(np.isfinite(col)) or (col.size and col.min() < 0):
            raise CorruptDataError(
                f"data file {path}: column {name} holds values that are not finite latencies "
                "≥ 0 ms; reinstall or rerun the importer"
            )


def listed(folder: Path, name: str) -> bool:
    """Whether the folder's manifest lists a file of this name (DataNotFoundError without a manifest): what
    was measured is what the manifest says, so a listed file that has gone missing is damage, not a gap."""
    return any(isinstance(e, dict) and e.get("file") == name for e in _manifest(folder)["tables"].values())


@lru_cache(maxsize=64)
def _manifest(folder: Path) -> dict:
    return read_manifest(folder)


@lru_cache(maxsize=64)
def _manifest_entry(folder: Path, name: str) -> dict:
    tables = _manifest(folder)["tables"]
    entry = next((e for e in tables.values() if isinstance(e, dict) and e.get("file") == name), None)
    if entry is None or not isinstance(entry.get("sha256"), str):
        raise CorruptDataError(
            f"data file {folder / name} is not listed with a sha256 in {folder / 'manifest.json'}"
            "; reinstall or rerun the importer"
        )
    return entry


def _read_verified(path: Path) -> tuple[bytes, str]:
    """(bytes, sha256) of a data file that matches its manifest; DataNotFoundError / CorruptDataError else."""
    entry = _manifest_entry(path.parent, path.name)
    if path.is_dir():
        raise CorruptDataError(f"data file {path} is a folder, not a file; reinstall or rerun the importer")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"data file {path} is missing; reinstall aicsolve or rerun the importer") from None
    except OSError as e:
        raise CorruptDataError(
            f"data file {path} is unreadable ({e.strerror or e}); reinstall or rerun the importer"
        ) from None
    sha = hashlib.sha256(data).hexdigest()
    if sha != entry["sha256"]:
        raise CorruptDataError(
            f"data file {path} does not match its manifest checksum; reinstall or rerun the importer"
        )
    return data, sha


@lru_cache(maxsize=256)
def load_table(path: Path) -> Table:
    """Read one csv.gz whose SHA-256 matches its folder's manifest (cached per process, and parsed once per
    machine into a cache keyed by that checksum: see cache_dir)."""
    data, sha = _read_verified(path)
    cache = _cache_file(sha)
    cols = _load_cached(cache)
    if cols is not None:
        return Table(path, cols)
    try:
        text = gzip.decompress(data).decode()
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # truncated or bit-flipped gzip
        raise CorruptDataError(f"data file {path} is unreadable ({e}); reinstall or rerun the importer") from None
    try:
        cols = _parse(text, path)
    except (ValueError, IndexError) as e:  # garbage that still decompresses
        raise CorruptDataError(f"data file {path} is malformed ({e}); reinstall or rerun the importer") from None
    _check_values(cols, path)
    _store_cached(cache, cols)
    return Table(path, cols)


def read_manifest(folder: Path) -> dict:
    """The manifest of one data folder."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise DataNotFoundError(f"no manifest.json in {folder}") from None
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bad UTF-8
        raise CorruptDataError(
            f"data file {folder / 'manifest.json'} is unreadable ({e}); reinstall or rerun the importer"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise CorruptDataError(
            f"data file {folder / 'manifest.json'} has no 'tables' mapping; reinstall or rerun the importer"
        )
    return manifest


def verify_folder(folder: Path) -> list[str]:
    """Check every file in a folder against its manifest SHA-256; return the names checked."""
    manifest = read_manifest(folder)
    checked = []
    for name, entry in sorted(manifest["tables"].items()):
        if not isinstance(entry, dict) or not {"file", "sha256"} <= entry.keys() or not isinstance(entry["file"], str):
            raise CorruptDataError(f"data file {folder / 'manifest.json'}: entry {name!r} lacks file or sha256")
        f = folder / entry["file"]
        if f.is_dir():
            raise CorruptDataError(f"data file {f} is a folder, not a file; reinstall or rerun the importer")
        if not f.exists():
            raise DataNotFoundError(f"data file {f} listed in the manifest is missing")
        try:
            data = f.read_bytes()
        except OSError as e:
            raise CorruptDataError(
                f"data file {f} is unreadable ({e.strerror or e}); reinstall or rerun the importer"
            ) from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CorruptDataError(
                f"data file {f} does not match its manifest checksum; reinstall or rerun the importer"
            )
        checked.append(name)
    return checked
