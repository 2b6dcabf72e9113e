"""Vectorized interpolation of measured latencies on a (possibly holed) N-D grid.

Method: multilinear interpolation of log(latency) over log(coordinate) axes, i.e. a
weighted geometric mean of the 2^d bracketing measurements. Between two measured
neighbours the result therefore stays between them and is monotone along each axis
wherever the measurements are.

Outside the measured grid (and in holes of the grid) the hardware utilisation of the
nearest measured point is held: latency(q) = latency(c) * floor(q) / floor(c), where c is
the query clamped onto the grid and floor() is the roofline (speed-of-light) time. The
result is finally clamped to be never faster than floor(q).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

# floor(*coords) -> ms, each coordinate an array of the same shape
FloorFn = Callable[..., np.ndarray]


@dataclass(frozen=True, slots=True)
class Grid:
    """Measured latencies on the product of sorted axes; holes filled by held utilisation."""

    axes: tuple[np.ndarray, ...]
    log_axes: tuple[np.ndarray, ...]
    log_values: np.ndarray
    measured: np.ndarray
    floor: FloorFn


def build_grid(coords: Sequence[np.ndarray], latency_ms: np.ndarray, floor: FloorFn) -> Grid:
    """Place scattered rows onto the product grid of their distinct coordinates."""
    axes = tuple(np.unique(np.asarray(c, dtype=np.float64)) for c in coords)
    shape = tuple(len(a) for a in axes)
    idx = tuple(np.searchsorted(a, np.asarray(c, dtype=np.float64)) for a, c in zip(axes, coords))
    values = np.full(shape, np.nan)
    values[idx] = np.asarray(latency_ms, dtype=np.float64)
    measured = ~np.isnan(values)
    if not measured.all():
        values = _fill_holes(axes, values, measured, floor)
    return Grid(axes, tuple(np.log(a) for a in axes), np.log(values), measured, floor)


def _nearest_measured(measured: np.ndarray) -> np.ndarray:
    """Flat index of a nearest measured cell for every cell (grown one index step per axis per round)."""
    src = np.where(measured.ravel(), np.arange(measured.size), -1).reshape(measured.shape)
    while (src < 0).any():
        before = src.copy()
        for ax in range(src.ndim):
            for lo, hi in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
                dst = [slice(None)] * src.ndim
                nb = [slice(None)] * src.ndim
                dst[ax], nb[ax] = lo, hi
                d, n = src[tuple(dst)], before[tuple(nb)]
                fill = (d < 0) & (n >= 0)
                d[fill] = n[fill]
        if (src == before).all():
            break
    return src


def _fill_holes(axes, values, measured, floor) -> np.ndarray:
    """Give each hole the utilisation of a nearest measured cell (fewest index steps)."""
    nearest = _nearest_measured(measured)
    holes = np.nonzero(~measured)
    src = np.unravel_index(nearest[holes], measured.shape)
    hole_coords = [a[h] for a, h in zip(axes, holes)]
    src_coords = [a[s] for a, s in zip(axes, src)]
    out = values.copy()
    out[holes] = values[src] * floor(*hole_coords) / floor(*src_coords)
    return out


def _brackets(log_axis: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = len(log_axis)
    if n == 1:
        return np.zeros(x.shape, dtype=np.intp), np.zeros(x.shape)
    i = np.clip(np.searchsorted(log_axis, x, side="right") - 1, 0, n - 2)
    lo, hi = log_axis[i], log_axis[i + 1]
    return i, (x - lo) / (hi - lo)


def query(grid: Grid, *coords: ArrayLike) -> np.ndarray:
    """Latency in ms at each query point (coords broadcast together)."""
    coords = np.broadcast_arrays(*(np.asarray(c, dtype=np.float64) for c in coords))
    clamped = [np.clip(c, a[0], a[-1]) for c, a in zip(coords, grid.axes)]
    br = [_brackets(la, np.log(c)) for la, c in zip(grid.log_axes, clamped)]
    d = len(br)
    acc = np.zeros(coords[0].shape)
    for corner in range(1 << d):
        w = np.ones(coords[0].shape)
        index = []
        for ax, (i, t) in enumerate(br):
            up = (corner >> ax) & 1
            w = w * (t if up else 1.0 - t)
            index.append(np.minimum(i + up, len(grid.axes[ax]) - 1))
        acc += w * grid.log_values[tuple(index)]
    lat = np.exp(acc)
    outside = np.zeros(coords[0].shape, dtype=bool)
    for c, cl in zip(coords, clamped):
        outside |= c != cl
    floor_q = grid.floor(*coords)
    if outside.any():
        lat = np.where(outside, lat * floor_q / grid.floor(*clamped), lat)
    return np.maximum(lat, floor_q)
