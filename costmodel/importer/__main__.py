"""``python -m costmodel.importer WHEEL [OUT]``: rerun the data import."""

from __future__ import annotations

import sys
from pathlib import Path

from costmodel.importer.run import import_all
from costmodel.paths import data_dir

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m costmodel.importer aiconfigurator_core-0.12.0-*.whl [OUT_DIR]")
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else data_dir()
    import_all(sys.argv[1], out)
