"""The spec-validation engine (solver.validation): a typed record of checked values, messages that name the key."""

from __future__ import annotations

import pytest

from costmodel import SYSTEMS

from solver.errors import UserError
from solver.specfields import FIELDS
from solver.speckeys import SpecKeys
from solver.validation import Checked, Where, bad_value, check, check_section, scalar_ok

MINIMAL = {"model": "QWEN3_32B", "system": "h200_sxm", "total_gpus": 8, "workload": {"isl": 1000, "osl": 100}}


def test_check_returns_every_value_with_defaults_and_the_keys_given():
    c = check(MINIMAL, Where("s.yaml"))
    assert isinstance(c, Checked) and isinstance(c.keys, SpecKeys)
    assert c.keys.model == "QWEN3_32B" and c.keys.total_gpus == 8 and c.keys.workload.isl == 1000
    assert c.keys.search.tp == [1, 2, 4, 8]  # the field's default, filled in
    assert c.keys.sla.ttft_ms is None and c.keys.constraints.replicas.min == 1
    assert c.keys.pools == dict.fromkeys(SYSTEMS)  # a section keyed by system: every shipped one, null
    assert {"model", "system", "total_gpus", "workload", "workload.isl"} <= c.given
    assert "search.tp" not in c.given and "sla.ttft_ms" not in c.given


def test_lists_are_sorted_and_deduplicated():
    assert check({**MINIMAL, "search": {"tp": [4, 1, 4]}}, Where("s.yaml")).keys.search.tp == [1, 4]


def test_an_unknown_key_names_its_line_and_the_nearest_key():
    where = Where("s.yaml", {"sla": 3, "sla.ttfy_ms": 4})
    with pytest.raises(UserError, match=r"^s\.yaml, line 4: unknown key 'sla\.ttfy_ms' — did you mean 'sla\.ttft_ms'"):
        check({**MINIMAL, "sla": {"ttfy_ms": 100}}, where)


def test_a_section_is_checked_on_its_own_under_its_prefix():
    check_section({"ttft_ms": 250}, Where("s.yaml"), "sla")
    with pytest.raises(UserError, match="sla.ttft_ms must be a number > 0"):
        check_section({"ttft_ms": -1}, Where("s.yaml"), "sla")


def test_scalar_ok_and_bad_value_word_one_value():
    f = next(f for f in FIELDS if f.path == "total_gpus")
    assert scalar_ok("int", f, 8) == (True, "")
    assert scalar_ok("int", f, 8.0) == (False, " Write it as a whole number: 8.")
    msg = str(bad_value(Where("s.yaml", {"total_gpus": 2}), "total_gpus", f, "eight"))
    assert msg.startswith("s.yaml, line 2: total_gpus must be an integer") and "got 'eight'" in msg


def _record_paths(cls: type, prefix: str = "") -> set[str]:
    """Every dotted key path a SpecKeys record reads, sections included (pools and cost: one per system)."""
    import dataclasses
    import typing

    from solver.specfields import children

    out: set[str] = set()
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        path = f"{prefix}.{f.name}" if prefix else f.name
        if dataclasses.is_dataclass(hints[f.name]):
            out |= {path} | _record_paths(hints[f.name], path)
        elif typing.get_origin(hints[f.name]) is dict:
            out |= {path} | {f"{path}.{k}" for k in children(path)}
        else:
            out.add(path)
    return out


def test_the_typed_record_and_the_table_of_keys_name_the_same_keys():
    assert _record_paths(SpecKeys) == {f.path for f in FIELDS}


def test_a_choice_in_the_wrong_case_is_named_and_no_quote_hint_offers_an_invalid_value():
    from solver.spec import spec_from_raw

    raw = {"model": "Qwen/Qwen3-32B", "system": "h200_sxm", "total_gpus": 8, "workload": {"isl": 1000, "osl": 100}}
    with pytest.raises(UserError, match="got 'trtllm' .*Did you mean 'TRTLLM'"):
        spec_from_raw(raw | {"serving": {"moe_backend": "trtllm"}})
    with pytest.raises(UserError) as e:
        spec_from_raw(raw | {"serving": {"moe_backend": True}})
    assert "Quote it" not in str(e.value)
