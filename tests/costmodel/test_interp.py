"""Interpolation kernel: exact at measured points, bounded between them, floored outside."""

from __future__ import annotations

import numpy as np
import pytest

from costmodel.interp import build_grid, query


def _floor(m, n):
    return 1e-4 * m * n


def _grid(holes: bool = False):
    ms = np.array([1, 4, 16, 64], float)
    ns = np.array([8, 32, 128], float)
    mm, nn = np.meshgrid(ms, ns, indexing="ij")
    lat = 0.01 + 2e-4 * mm * nn  # above the floor everywhere, monotone in both axes
    m, n, v = mm.ravel(), nn.ravel(), lat.ravel()
    if holes:
        keep = ~((m == 64) & (n == 128))
        m, n, v = m[keep], n[keep], v[keep]
    return build_grid([m, n], v, _floor), (mm, nn, lat)


def test_exact_at_measured_points():
    g, (mm, nn, lat) = _grid()
    np.testing.assert_allclose(query(g, mm.ravel(), nn.ravel()), lat.ravel(), rtol=1e-12)


def test_between_neighbours_stays_between_and_is_monotone():
    g, _ = _grid()
    m = np.linspace(4, 16, 50)
    out = query(g, m, np.full_like(m, 32))
    lo, hi = query(g, np.array([4.0, 16.0]), np.array([32.0, 32.0]))
    assert np.all(out >= lo - 1e-12) and np.all(out <= hi + 1e-12)
    assert np.all(np.diff(out) >= 0)


def test_extrapolation_holds_utilisation_and_respects_floor():
    g, _ = _grid()
    big = query(g, np.array([64.0, 1024.0]), np.array([128.0, 128.0]))
    # utilisation held: 16x the work of the corner → 16x its latency (floor is linear in m)
    assert big[1] == pytest.approx(big[0] * 16, rel=1e-9)
    far = query(g, np.array([1e6]), np.array([1e6]))
    assert far[0] >= _floor(1e6, 1e6)


def test_hole_filled_from_nearest_and_not_below_floor():
    g, (_, _, lat) = _grid(holes=True)
    assert not g.measured.all()
    v = query(g, np.array([64.0]), np.array([128.0]))[0]
    assert v >= _floor(64, 128)
    # nearest measured neighbour (64, 32) has 4x less work along n: held utilisation gives 4x its latency
    assert v == pytest.approx(lat[3, 1] * 4, rel=1e-9)


def test_vectorized_broadcast_shapes():
    g, _ = _grid()
    out = query(g, np.full((10, 3), 8.0), np.array([8.0, 32.0, 128.0]))
    assert out.shape == (10, 3)
