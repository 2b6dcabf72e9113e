"""Re-derive the fitted per-request costs: each engine file's request path and the disagg connector's handshake.

Usage: python bench/request_overhead.py [csv]

A request pays the engine's request path once, outside the GPU steps, in agg and disagg alike
(``EngineRules.request_path_ms``: ``host.request_overhead_ms``, plus ``host.mla_request_overhead_ms`` for an MLA
model); a disagg request also pays the connector's handshake (``serving.HANDOFF_HANDSHAKE_MS``). Each is the median
TTFT gap the dev set's rows at concurrency <= 4 (all systems) leave once the rest of the request is priced:
- ``request_overhead_ms``: over the engine's agg rows, those of MLA models left out where the engine file gives
  MLA a cost of its own;
- ``mla_request_overhead_ms``: the engine's MLA agg rows' median less the value above (printed for every engine;
  set in the file where both modes show it, docs/serving-constants.md);
- the handshake: over every disagg row, what is left beyond the priced prefill, KV transfer and request path.
docs/serving-constants.md lists the values with these rows; rerun this after a change to what is priced before the
first token, and refit where a median has moved off the value in use.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

from costmodel.arch import load_model
from costmodel.engines import engine_rules
from costmodel.serving import HANDOFF_HANDSHAKE_MS
from costmodel.validate import predict_row, read_rows
from validate_core import DEV_CSV

MAX_CLIENTS = 4


def main(argv: list[str]) -> None:
    path = Path(argv[0]) if argv else DEV_CSV
    agg: dict[tuple[str, bool], list[float]] = defaultdict(list)
    handshake: list[float] = []
    for row in read_rows(path):
        p = predict_row(row)
        if p.reason is not None or p.concurrency > MAX_CLIENTS:
            continue
        backend, mla = row["backend"].strip(), load_model(row["model_path"].strip()).is_mla
        if row["mode"].strip() == "agg":
            agg[(backend, mla)].append(p.measured_ttft_ms - (p.ttft_ms - engine_rules(backend).request_path_ms(mla)))
        else:
            handshake.append(p.measured_ttft_ms - (p.ttft_ms - HANDOFF_HANDSHAKE_MS))
    for backend in sorted({b for b, _ in agg}):
        rules = engine_rules(backend)
        own, other = agg.get((backend, True), []), agg.get((backend, False), [])
        base = other if rules.mla_request_overhead_ms else other + own
        print(
            f"{backend:7s} request path: rows={len(base):4d}  median gap {statistics.median(base):6.1f} ms"
            f"  (engine file: {rules.request_overhead_ms:.1f} ms)"
        )
        if own and other:
            extra = statistics.median(own) - statistics.median(base)
            print(
                f"{backend:7s} MLA models:   rows={len(own):4d}  median gap {statistics.median(own):6.1f} ms, "
                f"{extra:+6.1f} ms beyond  (engine file: {rules.mla_request_overhead_ms:.1f} ms)"
            )
    if handshake:
        print(
            f"disagg  handshake:    rows={len(handshake):4d}  median gap {statistics.median(handshake):6.1f} ms"
            f"  (serving.HANDOFF_HANDSHAKE_MS: {HANDOFF_HANDSHAKE_MS:.1f} ms)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
