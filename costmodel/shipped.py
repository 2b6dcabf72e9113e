"""Names of the GPU systems whose measured data ships with aicsolve (data/systems/<name>.yaml, data/perf/<name>/).

The spec's `system`, `decode_system`, `pools.*` and `cost.*` keys accept these; the build-time importer converts
tables for the same list. Kept apart from costmodel.system so that reading the spec schema opens no data file.
"""

from __future__ import annotations

SYSTEMS: tuple[str, ...] = ("h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300")
