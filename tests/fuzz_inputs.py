"""Inputs the fuzzers generate beyond mutated spec keys (issue 17): YAML aliases and long strings, --set
strings, local model config.json files, calibration files and damage to the data folder.

Each `check_*` function runs one case in-process and returns None when the outcome is allowed (loaded, or
refused with a UserError / the CLI's data errors), else a one-line description of the fault. The fast
derandomized profile (tests/test_fuzz.py) and the explorer (bench/fuzz_explore.py) share them.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import strategies as st

from costmodel.paths import data_dir
from solver.errors import user_error_types

ROOT = Path(__file__).resolve().parents[1]
BASE = (
    "model: Qwen/Qwen3-8B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 100}\n"
    "search: {max_batch_size: 64}\n"
)
KEYS = [
    "total_gpus",
    "model",
    "system",
    "sla",
    "sla.ttft_ms",
    "search.tp",
    "search.batch_sizes",
    "workload.isl",
    "modes",
    "name",
    "calibration",
    "constraints.fixed",
    "deployments",
    "pools",
    "demand.requests_per_s",
]


def _fault(e: BaseException) -> str | None:
    if isinstance(e, user_error_types()):
        text = str(e)
        if not text.strip() or "\n" in text.strip() or len(text) > 4000:
            return f"message not one short line ({len(text)} characters): {text[:200]!r}"
        return None
    return f"{type(e).__name__}: {str(e)[:300]}"


# ---- YAML: aliases, long strings, deep nesting ----
@st.composite
def alias_yaml(draw) -> str:
    """A spec whose value at some key is a nest of anchors and aliases (up to a billion laughs), or a long
    string, or deep brackets."""
    kind = draw(st.sampled_from(["laughs", "laughs", "self", "long", "deep", "merge"]))
    key = draw(st.sampled_from(KEYS)).split(".")[0]
    if kind == "laughs":
        depth, width = draw(st.integers(1, 10)), draw(st.integers(1, 12))
        parts = [f"&a0 [{', '.join(['x'] * width)}]"]
        parts += [f"&a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, depth)]
        value = f"[{', '.join(parts)}]"
        if draw(st.booleans()):
            value = "{" + ", ".join(f"k{i}: *a{depth - 1}" for i in range(draw(st.integers(1, 4)))) + f", z: {value}}}"
    elif kind == "self":
        value = draw(st.sampled_from(["&s [*s]", "&s {a: *s}", "&s [1, [2, *s]]"]))
    elif kind == "long":
        value = json.dumps(draw(st.sampled_from("xé/.\\0 ")) * draw(st.integers(100, 400_000)))
    elif kind == "deep":
        n = draw(st.integers(10, 3000))
        value = "[" * n + "]" * n
    else:
        value = "{<<: [&m {tp: [1]}, *m, *m], pp: [1]}"
    text = BASE + f"{key}: {value}\n" if key not in BASE else BASE.replace(f"{key}:", f"{key}: {value}\n#", 1)
    return text


def check_spec_text(text: str) -> str | None:
    from solver.spec import load_spec

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_spec(path)
        except BaseException as e:
            return _fault(e)
    return None


# ---- --set strings ----
SET_VALUES = st.one_of(
    alias_yaml().map(lambda t: t.split("\n")[-2].split(": ", 1)[-1]),
    st.text(max_size=40),
    st.sampled_from(
        [
            "[",
            "{a: [",
            "*a",
            "&a [*a]",
            "!!binary x",
            "1e999",
            "-.inf",
            ".nan",
            "9" * 5000,
            "[" * 500,
            "~",
            "{}",
            "[]",
            "null",
        ]
    ),
    st.integers(1, 300_000).map(lambda n: "x" * n),
)


@st.composite
def set_strings(draw) -> list[str]:
    key = draw(st.one_of(st.sampled_from(KEYS), st.text(".abcz_", max_size=12)))
    return [f"{key}={draw(SET_VALUES)}" for _ in range(draw(st.integers(1, 3)))]


def check_set(overrides: list[str]) -> str | None:
    from solver.spec import load_spec

    try:
        load_spec(ROOT / "specs" / "qwen3-32b_h200x32.yaml", overrides)
    except BaseException as e:
        return _fault(e)
    return None


# ---- local model config.json ----
REGISTRY = sorted((data_dir() / "models").glob("*.json"))
CONFIG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            0,
            1,
            2,
            3,
            7,
            64,
            1e12,
            1e400,
            -5120,
            2**63,
            "fp8",
            "",
            [],
            {},
            [[1]],
            [1, 2],
            {"a": 1},
            ["LlamaForCausalLM"],
            [["DeepseekV3ForCausalLM"]],
            ["full_attention", "linear_attention"],
            {"quant_method": "fp8"},
            {"config_groups": {"g": {"weights": {"num_bits": [4]}}}},
        ]
    ),
    st.text(max_size=8),
)
CONFIG_KEYS = [
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "intermediate_size",
    "moe_intermediate_size",
    "vocab_size",
    "num_experts",
    "n_routed_experts",
    "num_local_experts",
    "num_experts_per_tok",
    "first_k_dense_replace",
    "moe_layer_freq",
    "decoder_sparse_step",
    "mlp_only_layers",
    "n_shared_experts",
    "shared_expert_intermediate_size",
    "sliding_window",
    "use_sliding_window",
    "layer_types",
    "num_nextn_predict_layers",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "max_position_embeddings",
    "architectures",
    "quantization_config",
    "text_config",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_conv_kernel_dim",
    "tie_word_embeddings",
    "torch_dtype",
    "_name_or_path",
    "use_mtp",
    "num_mtp_modules",
]


@st.composite
def model_configs(draw) -> tuple[str, str | None]:
    """(config.json text, hf_quant_config.json text or None): a registry config with a few fields changed or
    removed, or not a JSON object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(["[1, 2]", '"x"', "{", "null", "1e400", "", "[" * 5000, "{}"])), None
    entry = json.loads(draw(st.sampled_from(REGISTRY)).read_text())
    cfg = copy.deepcopy(entry["config"])
    target = cfg["text_config"] if isinstance(cfg.get("text_config"), dict) and draw(st.booleans()) else cfg
    for _ in range(draw(st.integers(1, 4))):
        key = draw(st.sampled_from(CONFIG_KEYS))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(CONFIG_VALUES)
    side = None
    if draw(st.integers(0, 5)) == 0:
        cfg.pop("quantization_config", None)
        side = draw(
            st.sampled_from(
                [
                    '{"quantization": {"quant_algo": "NVFP4"}}',
                    "[1]",
                    "{",
                    '{"quantization": 5}',
                    '{"quantization": {"quant_algo": [1]}}',
                ]
            )
        )
    return json.dumps(cfg, allow_nan=True), side


def check_model_config(case: tuple[str, str | None], solve: bool = False) -> str | None:
    from solver.spec import load_spec

    text, side = case
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "ckpt").mkdir()
        (Path(d) / "ckpt" / "config.json").write_text(text)
        if side is not None:
            (Path(d) / "ckpt" / "hf_quant_config.json").write_text(side)
        spec = Path(d) / "spec.yaml"
        spec.write_text(BASE.replace("Qwen/Qwen3-8B", "ckpt").replace("max_batch_size: 64", "max_batch_size: 16"))
        try:
            loaded = load_spec(spec)
            if solve:  # price the grid too: every field that passed the checks must price cleanly
                from costmodel.build import build_surfaces

                build_surfaces(loaded.request)
        except BaseException as e:
            return _fault(e)
    return None


# ---- calibration files ----
CAL_ROW = {"system": "h200_sxm", "backend": "trtllm", "mode": "agg", "ttft_factor": 1.1, "tpot_factor": 0.9, "rows": 5}


@st.composite
def calibration_texts(draw) -> str:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return draw(st.one_of(st.text(max_size=60), alias_yaml()))
    rows = [dict(CAL_ROW) for _ in range(draw(st.integers(0, 3)))]
    for r in rows:
        for _ in range(draw(st.integers(0, 2))):
            r[draw(st.sampled_from(list(CAL_ROW) + ["in_sample", "x"]))] = draw(CONFIG_VALUES)
    doc: object = {"aicsolve_calibration": 1, "factors": rows}
    if kind == 1:
        doc = draw(st.sampled_from([rows, {"factors": draw(CONFIG_VALUES)}, {"factors": [draw(CONFIG_VALUES)]}, doc]))
    return yaml.safe_dump(doc, allow_unicode=True)


def check_calibration(text: str) -> str | None:
    from solver.spec import load_spec

    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "cal.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
        spec = Path(d) / "spec.yaml"
        spec.write_text(BASE + "calibration: cal.yaml\n")
        try:
            load_spec(spec)
        except BaseException as e:
            return _fault(e)
    return None


# ---- damage to the data folder ----
TABLE = Path("perf/h200_sxm/trtllm/1.3.0rc20/gemm.csv.gz")
DAMAGE_TARGETS = [
    TABLE,
    TABLE.parent / "manifest.json",
    Path("systems/h200_sxm.yaml"),
    Path("models/qwen3-8b.json"),
    Path("models/llama-3.1-8b.json"),
    Path("perf/h200_sxm/nccl/2.26.2/nccl.csv.gz"),
]
DAMAGES = ["truncate", "flip", "delete", "folder", "empty", "text", "nan", "negative", "scale"]


@st.composite
def data_damage(draw) -> tuple[str, str, int, str]:
    """(target relative path, damage, position seed, junk text)."""
    return (
        str(draw(st.sampled_from(DAMAGE_TARGETS))),
        draw(st.sampled_from(DAMAGES)),
        draw(st.integers(0, 10**6)),
        draw(st.text(max_size=30)),
    )


def _rewrite_latencies(f: Path, fn, new_checksum: bool = True) -> None:
    head, *rows = gzip.decompress(f.read_bytes()).decode().rstrip("\n").split("\n")
    cols = [i for i, c in enumerate(head.split(",")) if c.endswith("_ms")]
    rows = [",".join(fn(v) if i in cols else v for i, v in enumerate(r.split(","))) for r in rows]
    f.write_bytes(gzip.compress(("\n".join([head, *rows]) + "\n").encode()))
    if not new_checksum:  # the manifest still holds the checksum of the measured values
        return
    m = f.parent / "manifest.json"
    doc = json.loads(m.read_text())
    for e in doc["tables"].values():
        if e["file"] == f.name:
            e["sha256"] = hashlib.sha256(f.read_bytes()).hexdigest()
    m.write_text(json.dumps(doc))


def damage(copy_root: Path, case: tuple[str, str, int, str]) -> None:
    """Apply one damage to a data folder copy."""
    rel, kind, pos, junk = case
    f = copy_root / rel
    raw = f.read_bytes()
    at = pos % max(len(raw), 1)
    if kind == "truncate":
        f.write_bytes(raw[:at])
    elif kind == "flip":
        f.write_bytes(raw[:at] + bytes(b ^ 0xFF for b in raw[at : at + 64]) + raw[at + 64 :])
    elif kind == "delete":
        f.unlink()
    elif kind == "folder":
        f.unlink()
        f.mkdir()
    elif kind == "empty":
        f.write_bytes(b"")
    elif kind == "text":
        f.write_bytes(raw[:at] + junk.encode("utf-8", "surrogatepass") + raw[at:])
    elif f.name.endswith(".csv.gz"):
        _rewrite_latencies(
            f,
            {"nan": lambda v: "nan", "negative": lambda v: f"-{v}", "scale": lambda v: str(float(v) * 2)}[kind],
            new_checksum=kind != "scale",
        )
    else:
        f.write_text(f.read_text().replace(": 8", ": -8").replace('"hidden_size": 4096', '"hidden_size": -1'))


def check_data_damage(case: tuple[str, str, int, str], pristine: Path) -> str | None:
    """Damage a copy of the data, then: `data verify` must refuse it (or pass for a harmless change), and
    loading what it damaged must refuse the same (never a wrong answer, never another exception)."""
    import os

    from costmodel.datacheck import verify_data

    with tempfile.TemporaryDirectory() as d:
        root = Path(d) / "data"
        shutil.copytree(pristine, root, symlinks=True)
        damage(root, case)
        old = {k: os.environ.get(k) for k in ("AICSOLVE_DATA", "AICSOLVE_CACHE")}
        os.environ.update(AICSOLVE_DATA=str(root), AICSOLVE_CACHE=str(Path(d) / "cache"))
        clear_data_caches()
        verified = loaded = None
        try:
            try:
                verify_data()
                verified = True
            except BaseException as e:
                if (fault := _fault(e)) is not None:
                    return f"data verify: {fault}"
                verified = False
            try:
                _load_damaged(root / case[0])
                loaded = True
            except BaseException as e:
                if (fault := _fault(e)) is not None:
                    return f"load: {fault}"
                loaded = False
            if verified and not loaded:
                return None  # loading is stricter (values): allowed
            if loaded and not verified and case[0].endswith((".csv.gz", "manifest.json")):
                return "loading accepted a table that data verify refuses"
        finally:
            for k, v in old.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
            clear_data_caches()
    return None


def _load_damaged(path: Path) -> None:
    from costmodel.arch import load_model
    from costmodel.system import load_system
    from costmodel.tables import load_table

    if path.name.endswith(".csv.gz"):
        load_table(path)
    elif path.name == "manifest.json":
        load_table(path.parent / "gemm.csv.gz")
    elif path.parent.name == "systems":
        load_system(path.stem)
    else:
        load_model("Qwen/Qwen3-8B" if "qwen" in path.name else "meta-llama/Llama-3.1-8B", paths=False)


def clear_data_caches() -> None:
    """Forget every per-process cache of the data folder (the explorer swaps folders between cases)."""
    from costmodel import arch, opdb, paths, system, tables

    for fn in (
        paths.data_dir,
        tables.load_table,
        tables._manifest,
        tables._manifest_entry,
        system.load_system,
        arch._scan,
        arch._read_json,
        arch._cached_registry_model,
        opdb.open_db,
    ):
        fn.cache_clear()
