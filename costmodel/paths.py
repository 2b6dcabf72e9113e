"""One resolver for where the measured data lives.

Order: the AICSOLVE_DATA environment variable, the repository's ``data/`` (a source
checkout or an editable install), then the copy packaged in the wheel
(``costmodel/_data``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


class DataNotFoundError(RuntimeError):
    """The data folder, or a file in it, is missing."""


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """Return the root of the data folder (holds systems/, models/, perf/)."""
    env = os.environ.get("AICSOLVE_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve().parent
    candidates += [here.parent / "data", here / "_data"]
    for cand in candidates:
        if (cand / "systems").is_dir():
            return cand
    tried = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"aicsolve's data folder was not found (looked in: {tried}). Reinstall with "
        "`pip install .` from a checkout, or set AICSOLVE_DATA to a folder holding systems/, models/ and perf/."
    )
