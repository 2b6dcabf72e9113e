"""Calibration: factors fitted on a group's rows, held-out rows scored before and after, file round trip."""

from __future__ import annotations

import pytest

from costmodel.calibrate import BadCalibrationError, apply, fit, held_out, load
from costmodel.scoring import Prediction, score


def _preds(n=200, ttft_bias=2.0, tpot_bias=0.5):
    g = ("h200_sxm", "trtllm", "agg")
    return [
        Prediction(
            f"row{i}",
            g,
            100.0 + i,
            10.0 + i / 10,
            (100.0 + i) * ttft_bias * (1 + 0.1 * ((i % 5) - 2) / 2),
            (10.0 + i / 10) * tpot_bias,
        )
        for i in range(n)
    ]


def test_fit_recovers_a_systematic_bias_and_helps_held_out_rows():
    preds = _preds()
    cal = fit(preds)
    f = cal.factor("h200_sxm", "trtllm", "agg")
    assert f.ttft == pytest.approx(2.0, rel=0.06) and f.tpot == pytest.approx(0.5, rel=1e-9)
    hold = [p for p in preds if held_out(p.row_id)]
    assert 20 < len(hold) < 80  # about a quarter, chosen by row id
    _, before = score(hold)
    _, after = score(apply(cal, hold))
    assert after.summary()["ttft_mdape"] < before.summary()["ttft_mdape"] / 5
    assert after.summary()["tpot_mdape"] == 0.0
    assert cal.factor("b200_sxm", "vllm", "agg").ttft == 1.0  # unfitted group stays as modelled


def test_apply_keeps_each_rows_concurrency_for_the_signed_breakdown():
    """apply used to rebuild each prediction without its concurrency, so after calibration every row fell in
    the first concurrency bin ("1-4") of the signed-error breakdown."""
    g = ("h200_sxm", "trtllm", "agg")
    preds = [
        Prediction(f"row{i}", g, 100.0, 10.0, 200.0, 5.0, None, concurrency=c)
        for i, c in enumerate([2, 8, 32, 128, 512] * 4)
    ]
    done = apply(fit(preds), preds)
    assert [p.concurrency for p in done] == [p.concurrency for p in preds]
    _, total = score(done)
    assert sorted(total.signed) == ["1-4", "17-64", "5-16", "65-256", ">256"]


def test_a_group_too_small_to_hold_rows_out_is_fitted_in_sample(tmp_path):
    import dataclasses

    ids = [f"b{i}" for i in range(100)]
    pick = [i for i in ids if held_out(i)][:1] + [i for i in ids if not held_out(i)][:2]  # one of three held out
    small = [dataclasses.replace(p, row_id=i, group=("b200_sxm", "trtllm", "agg")) for p, i in zip(_preds(3), pick)]
    cal = fit(small + _preds())
    assert not cal.factor("h200_sxm", "trtllm", "agg").in_sample  # the big group keeps its held-out check
    g = cal.factor("b200_sxm", "trtllm", "agg")
    assert g.in_sample and g.rows == 3 and g.tpot == pytest.approx(0.5)
    path = tmp_path / "cal.yaml"
    path.write_text(cal.to_yaml())
    assert load(path).factor("b200_sxm", "trtllm", "agg").in_sample
    assert not fit(small[:2]).factors  # two rows fit nothing


def test_file_round_trip_and_bad_files(tmp_path):
    cal = fit(_preds())
    path = tmp_path / "cal.yaml"
    path.write_text(cal.to_yaml())
    back = load(path)
    assert back.factor("h200_sxm", "trtllm", "agg").tpot == pytest.approx(0.5)
    path.write_text("factors: [{system: x, backend: y, mode: agg, ttft_factor: 500, tpot_factor: 1}]")
    with pytest.raises(BadCalibrationError, match="outside"):
        load(path)
    path.write_text("[1, 2")
    with pytest.raises(BadCalibrationError, match="not a calibration file"):
        load(path)


def test_spec_calibration_scales_the_surfaces(tmp_path):
    from costmodel.build import build_surfaces
    from costmodel.calibrate import Calibration, Factor
    from solver.errors import UserError
    from solver.spec import load_spec

    cal = Calibration(
        {("h200_sxm", "trtllm", "agg"): Factor(2.0, 1.5, 10), ("h200_sxm", "trtllm", "disagg"): Factor(1.0, 2.0, 10)}
    )
    (tmp_path / "cal.yaml").write_text(cal.to_yaml())
    text = (
        "model: QWEN3_32B\nsystem: h200_sxm\ntotal_gpus: 8\nworkload: {isl: 1000, osl: 200}\n"
        "search: {tp: [2], max_batch_size: 16}\n"
    )
    (tmp_path / "plain.yaml").write_text(text)
    (tmp_path / "cal_spec.yaml").write_text(text + "calibration: cal.yaml\n")  # relative to the spec file
    plain = build_surfaces(load_spec(tmp_path / "plain.yaml", [], {}).request)
    spec = load_spec(tmp_path / "cal_spec.yaml", [], {})
    assert spec.summary()["calibrated"]
    scaled = build_surfaces(spec.request)
    assert scaled.agg.ttft_ms == pytest.approx(plain.agg.ttft_ms * 2.0)
    assert scaled.agg.tpot_ms == pytest.approx(plain.agg.tpot_ms * 1.5)
    assert (scaled.agg.req_per_s < plain.agg.req_per_s).all()
    assert scaled.decode.req_per_s == pytest.approx(plain.decode.req_per_s / 2.0)
    (tmp_path / "bad.yaml").write_text(text + "calibration: missing.yaml\n")
    with pytest.raises(UserError, match="calibration: .*missing.yaml"):
        load_spec(tmp_path / "bad.yaml", [], {})
