"""bench/soak.py: its --smoke mode runs end to end, and its verdicts fail when they should."""

from __future__ import annotations

import importlib.util
import json
import math
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_soak():
    spec = importlib.util.spec_from_file_location("bench_soak", os.path.join(ROOT, "bench", "soak.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_run_writes_a_passing_report_and_plot(tmp_path):
    pytest.importorskip("mujoco")
    soak = load_soak()
    out = soak.run(["--smoke", "--out", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    report = out["report"]
    assert report["ok"], report
    records = out["records"]
    assert len(records) == soak.SMOKE["iterations"]
    assert all(r["rss_mb"] > 0 and r["peak_rss_mb"] >= r["rss_mb"] * 0.5 and r["params_finite"] for r in records)
    assert 0.0 <= report["roundtrip_error"]["max"] < 1e-3
    assert report["checkpoints"]["count"] >= 2 and report["checkpoints"]["last"] == "model_3.pt"
    saved = json.load(open(tmp_path / "soak_HalfCheetah-v5.json"))
    assert saved["report"]["iterations"] == len(records)
    assert os.path.getsize(tmp_path / "soak_HalfCheetah-v5.png") > 10_000


def _records(n, rss, lr=1e-3, loss=0.5, roundtrip=1e-6):
    return [{"iteration": i, "losses": {"value": loss, "roundtrip_error": roundtrip}, "learning_rate": lr,
             "params_finite": True, "rss_mb": rss(i), "peak_rss_mb": rss(i), "return_mean": float("nan")}
            for i in range(n)]


def test_verdicts_catch_nan_lr_out_of_bounds_and_memory_growth():
    soak = load_soak()
    settings = {"ppo": {"schedule": "adaptive", "learning_rate": 1e-3}}
    healthy = soak.analyse(_records(50, lambda i: 500.0 + (0.5 if i % 2 else 0.0)), settings, 10, 20.0, 1e-3)
    assert healthy["nan_free"]["ok"] and healthy["learning_rate"]["ok"] and healthy["memory"]["ok"]
    assert abs(healthy["memory"]["rss_slope_mb_per_100_iterations"]) < 1.0
    flat = lambda i: 500.0  # noqa: E731
    assert soak.analyse(_records(50, flat, loss=math.nan), settings, 10, 20.0, 1e-3)["nan_free"]["ok"] is False
    assert soak.analyse(_records(50, flat, lr=0.05), settings, 10, 20.0, 1e-3)["learning_rate"]["ok"] is False
    leaking = soak.analyse(_records(50, lambda i: 500.0 + 2.0 * i), settings, 10, 20.0, 1e-3)["memory"]
    assert leaking["ok"] is False and leaking["rss_slope_mb_per_100_iterations"] == pytest.approx(200.0)
    unhealthy = soak.analyse(_records(50, flat, roundtrip=5e-3), settings, 10, 20.0, 1e-3)
    assert unhealthy["roundtrip_error"]["ok"] is False and unhealthy["roundtrip_error"]["max"] == 5e-3
