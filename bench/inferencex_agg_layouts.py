"""List the agg benchmark rows whose recorded layout the InferenceX configuration of their run day contradicts.

Usage: python bench/inferencex_agg_layouts.py INFERENCEX_GIT_DIR [csv]

Not part of the product (it needs a clone of github.com/SemiAnalysisAI/InferenceX). An InferenceX agg row records
its worker's TP, attention DP and EP as the export wrote them; the benchmark's configuration
(``.github/configs/nvidia-master.yaml``) lists, per engine, GPU, model and precision, the TP, EP and attention DP
each client count ran. For every row measured since the configuration existed (2025-11-03) this script takes the
entries listed on the row's run day (the file as of that day's end) for its lengths, clients and GPUs, and prints,
per group, the rows whose layout none of them lists: the recorded layout and the listed ones, as (GPUs, EP,
attention DP), and how many of them validate reads as a listed layout (``data/validation/benchmark_recipes.yaml``
``moe_ep``, ``attention_dp``); the others are read as recorded. Rows measured before 2025-11-03 ran layouts their
launch scripts chose and need the scripts of that day. Rows no entry covers are counted apart.

It also prints which scripts could have run each covered row, MTP or not (the entries' ``spec-decoding``), for the
layout validate reads, against the MTP depth validate takes from benchmark_recipes.yaml (``-``: none named, the
engine's own recipe): a group listed only as ``mtp`` but read without drafts is a script misread.
"""

from __future__ import annotations

import collections
import functools
import re
import sys
from pathlib import Path

import yaml
from inferencex_disagg_recipes import CONFIG, git
from validate_core import DEV_CSV

from costmodel.validate import concurrency, read_rows, row_launched, row_layout, row_recipe

MEASURED = re.compile(r"measured=(\d{4}-\d{2}-\d{2})")
FRAMEWORKS = {"trtllm": "trt", "vllm": "vllm", "sglang": "sglang"}
LISTED_FROM = "2025-11-03"


def _triple(row: dict) -> tuple[int, int, bool]:
    """(GPUs, EP, attention DP) of an agg row's worker."""
    lay = row_layout(row)
    gpus = int(lay.tp * lay.dp)
    return gpus, min(int(lay.moe_ep), gpus), int(lay.dp) > 1


def main(argv: list[str]) -> None:
    repo = Path(argv[0])
    path = Path(argv[1]) if len(argv) > 1 else DEV_CSV

    @functools.cache
    def entries_on(day: str) -> dict:
        commit = git(repo, "log", "--format=%h", "-1", f"--before={day}T23:59:59", "--", CONFIG).strip()
        return yaml.safe_load(git(repo, "show", f"{commit}:{CONFIG}")) if commit else {}

    contradicted: collections.Counter = collections.Counter()
    resolved: collections.Counter = collections.Counter()
    uncovered: collections.Counter = collections.Counter()
    scripts: collections.Counter = collections.Counter()
    for row in read_rows(path):
        found = MEASURED.search(row.get("silicon_data_source") or "")
        day = found.group(1) if found else ""
        if row["mode"].strip() != "agg" or not day or day < LISTED_FROM or row["backend"] not in FRAMEWORKS:
            continue
        recorded = _triple(row)
        gpus, clients = recorded[0], concurrency(row)
        model = row["model_path"].split("/")[-1].lower()
        listed: dict[tuple[int, int, bool], set[str]] = collections.defaultdict(set)
        for entry in entries_on(day).values():
            if not isinstance(entry, dict) or entry.get("multinode") or entry.get("precision") != row["precision"]:
                continue
            if entry.get("framework") != FRAMEWORKS[row["backend"]] or not str(entry.get("runner", "")).startswith(
                row["system"].split("_")[0]
            ):
                continue
            if str(entry.get("model", "")).split("/")[-1].lower()[:6] != model[:6]:
                continue
            for seq in entry.get("seq-len-configs") or []:
                if (seq.get("isl"), seq.get("osl")) != (int(row["isl"]), int(row["osl"])):
                    continue
                for s in seq.get("search-space") or []:
                    within = (
                        clients in s["conc-list"] if "conc-list" in s else s["conc-start"] <= clients <= s["conc-end"]
                    )
                    if within and s.get("tp") == gpus:
                        layout = (gpus, s.get("ep", 1), bool(s.get("dp-attn", False)))
                        listed[layout].add(str(s.get("spec-decoding", "none")))
        group = (row["backend"], row["system"], row["model_path"].split("/")[-1], row["precision"], day)
        if not listed:
            uncovered[group] += 1
            continue
        launched = row_launched(row)
        if recorded not in listed:
            key = (*group, recorded, tuple(sorted(listed)))
            contradicted[key] += 1
            resolved[key] += _triple(launched) in listed
        rec = row_recipe(launched)
        draft = "-" if rec is None or rec.mtp_draft is None else str(rec.mtp_draft)
        scripts[(*group, "/".join(sorted(listed.get(_triple(launched), {"?"}))), draft)] += 1
    print(
        "rows  read as listed  engine / GPU / model / precision / run day: recorded (GPUs, EP, attention DP) -> listed"
    )
    for key, n in sorted(contradicted.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{n:4d}  {resolved[key]:14d}  {' / '.join(key[:5])}: {key[5]} -> {', '.join(map(str, key[6]))}")
    print(f"{sum(uncovered.values())} rows in {len(uncovered)} groups have no entry listed on their run day")
    print(
        "\nrows  engine / GPU / model / precision / run day: scripts listing the layout read (?: none) -> MTP depth read"
    )
    for key, n in sorted(scripts.items()):
        print(f"{n:4d}  {' / '.join(key[:5])}: {key[5]} -> {key[6]}")


if __name__ == "__main__":
    main(sys.argv[1:])
