"""One resolver for where the measured data lives.

Order: the AICSOLVE_DATA environment variable (when set, it must name a data folder:
anything else is an error naming the variable), the repository's ``data/`` (a source
checkout or an editable install), then the copy packaged in the wheel
(``costmodel/_data``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from costmodel.errors import CostModelError


class DataNotFoundError(CostModelError, RuntimeError):
    """The data folder, or a file in it, is missing."""


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """Return the root of the data folder (holds systems/, models/, perf/)."""
    env = os.environ.get("AICSOLVE_DATA")
    if env:  # a folder named on purpose is used or refused, never passed over for the installed data
        if not (Path(env) / "systems").is_dir():
            what = "does not exist" if not Path(env).exists() else "holds no aicsolve data (no systems/ folder)"
            raise DataNotFoundError(
                f"AICSOLVE_DATA={env}: that folder {what}; point AICSOLVE_DATA to a folder holding systems/, "
                "models/ and perf/ (a copy of the repository's data/), or unset it to use the installed data."
            )
        return Path(env)
    here = Path(__file__).resolve().parent
    candidates = [here.parent / "data", here / "_data"]
    for cand in candidates:
        if (cand / "systems").is_dir():
            return cand
    tried = ", ".join(str(c) for c in candidates)
    raise DataNotFoundError(
        f"aicsolve's data folder was not found (looked in: {tried}). Reinstall with "
        "`pip install .` from a checkout, or set AICSOLVE_DATA to a folder holding systems/, models/ and perf/."
    )


SAMPLE = Path("validation") / "silicon_public.csv.gz"  # under the data folder; provenance in NOTICE


def measurement_sample() -> Path:
    """The bundled measurement sample that `aicsolve validate` scores by default.

    2,512 measured deployments (TTFT, TPOT) in the columns of silicon_dev.csv: the rows of aiconfigurator-core
    0.12.0's silicon_sample.csv that come from its published source files (NOTICE says which). Raises
    DataNotFoundError when the data folder lacks it (an AICSOLVE_DATA copied from an older checkout).
    """
    path = data_dir() / SAMPLE
    if not path.is_file():
        raise DataNotFoundError(
            f"the measurement sample {path} is missing; reinstall aicsolve, or name a "
            "measurement CSV: aicsolve validate FILE.csv"
        )
    return path
