"""Names of the GPU systems whose measured data ships with aicsolve (data/systems/<name>.yaml, data/perf/<name>/),
and of the serving engines it prices (data/engines/<name>.yaml, data/perf/<system>/<name>/<version>/).

The spec's `system`, `decode_system`, `pools.*` and `cost.*` keys accept the systems, its `backend` the engines;
the build-time importer converts tables for the same lists. Kept apart from costmodel.system and costmodel.engines
so that reading the spec schema opens no data file.
"""

from __future__ import annotations

SYSTEMS: tuple[str, ...] = ("h100_sxm", "h200_sxm", "b200_sxm", "gb200", "b300_sxm", "gb300")

# In the order specs, messages and the web app list them (the spec's default first).
BACKENDS: tuple[str, ...] = ("trtllm", "vllm", "sglang")
