"""What the study scripts share for reporting: learning curves from finished episodes, mean +- std bands, tables."""

from __future__ import annotations

import warnings

import numpy as np


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (the studies run headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def episode_curve(episodes_per_iteration: list[int], episode_returns: list[float], window: int) -> np.ndarray:
    """Per iteration, the mean return of the last ``window`` episodes finished by then (NaN before the first).

    Per-iteration means alone are too sparse: a 1000-step MuJoCo episode with 16 envs x 64 steps finishes only
    every ~16 iterations, so most iterations see no episode at all.
    """
    finished = np.cumsum(episodes_per_iteration)
    returns = np.asarray(episode_returns, dtype=np.float64)
    curve = np.full(len(finished), np.nan)
    for i, count in enumerate(finished):
        if count:
            curve[i] = returns[max(0, count - window):count].mean()
    return curve


def mean_band(xs: list[np.ndarray], ys: list[np.ndarray], points: int = 200) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """Seeds' curves interpolated onto one grid (up to the shortest run): (grid, mean, std) over seeds."""
    end = min(float(np.max(x)) for x in xs)
    start = max(float(np.min(x)) for x in xs)
    grid = np.linspace(start, end, points)
    stacked = []
    for x, y in zip(xs, ys):
        ok = ~np.isnan(y)
        stacked.append(np.interp(grid, x[ok], y[ok], left=np.nan) if ok.any() else np.full(points, np.nan))
    stacked = np.asarray(stacked)
    with warnings.catch_warnings():  # grid points before any seed's first episode are all-NaN: left NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return grid, np.nanmean(stacked, axis=0), np.nanstd(stacked, axis=0)


def plot_band(ax, xs, ys, label: str, color: str) -> None:
    grid, mean, std = mean_band(xs, ys)
    ax.plot(grid, mean, color=color, label=label)
    ax.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2)


def mean_std(values) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return (float(arr.mean()), float(arr.std())) if arr.size else (float("nan"), float("nan"))


def fmt(values, digits: int = 1) -> str:
    """'mean +- std' of a list (std over seeds, population form); just the value when there is one."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" if len(values) == 1 else f"{mean:.{digits}f} +- {std:.{digits}f}"


def markdown_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
