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

from costmodel.paths import DataNotFoundError, data_dir


class CorruptDataError(RuntimeError):
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


def _cache_file(path: Path) -> Path | None:
    """Where the parsed copy of a data file is kept (keyed by path, size and mtime)."""
    root = os.environ.get("AICSOLVE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aicsolve")
    try:
        st = path.stat()
    except OSError:
        return None
    key = hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()
    return Path(root) / f"{key}.npz"


def _load_cached(cache: Path | None) -> dict[str, np.ndarray] | None:
    if cache is None or not cache.exists():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            return {k: (z[k].astype(object) if z[k].dtype.kind == "U" else z[k]) for k in z.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):  # a broken cache entry: parse again
        return None


def _store_cached(cache: Path | None, cols: dict[str, np.ndarray]) -> None:
    """Best effort: a read-only home just means parsing again next time."""
    if cache is None:
        return
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **{k: (v.astype(str) if v.dtype == object else v) for k, v in cols.items()})
        os.replace(tmp, cache)
    except OSError:
        pass


@lru_cache(maxsize=256)
def load_table(path: Path) -> Table:
    """Read one csv.gz (cached per process, and parsed once per machine in a binary cache)."""
    cache = _cache_file(path)
    cols = _load_cached(cache)
    if cols is not None:
        return Table(path, cols)
    try:
        text = gzip.decompress(path.read_bytes()).decode()
    except FileNotFoundError:
        raise DataNotFoundError(f"data file {path} is missing; reinstall aicsolve or rerun the importer") from None
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:  # truncated or bit-flipped gzip
        raise CorruptDataError(f"data file {path} is unreadable ({e}); reinstall or rerun the importer") from None
    try:
        cols = _parse(text, path)
    except (ValueError, IndexError) as e:  # garbage that still decompresses
        raise CorruptDataError(f"data file {path} is malformed ({e}); reinstall or rerun the importer") from None
    _store_cached(cache, cols)
    return Table(path, cols)


def read_manifest(folder: Path) -> dict:
    """The manifest of one data folder."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        raise DataNotFoundError(f"no manifest.json in {folder}") from None
    except (OSError, ValueError) as e:  # ValueError: bad JSON or bad UTF-8
        raise CorruptDataError(f"data file {folder / 'manifest.json'} is unreadable ({e}); reinstall or rerun the "
                               "importer") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise CorruptDataError(f"data file {folder / 'manifest.json'} has no 'tables' mapping; reinstall or rerun "
                               "the importer")
    return manifest


def verify_folder(folder: Path) -> list[str]:
    """Check every file in a folder against its manifest SHA-256; return the names checked."""
    manifest = read_manifest(folder)
    checked = []
    for name, entry in sorted(manifest["tables"].items()):
        if not isinstance(entry, dict) or not {"file", "sha256"} <= entry.keys():
            raise CorruptDataError(f"data file {folder / 'manifest.json'}: entry {name!r} lacks file or sha256")
        f = folder / entry["file"]
        if not f.exists():
            raise DataNotFoundError(f"data file {f} listed in the manifest is missing")
        if hashlib.sha256(f.read_bytes()).hexdigest() != entry["sha256"]:
            raise CorruptDataError(f"data file {f} does not match its manifest checksum; reinstall or rerun the importer")
        checked.append(name)
    return checked
