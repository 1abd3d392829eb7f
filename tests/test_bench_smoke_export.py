"""bench/export_latency.py --smoke: the latency bench still exports the three policies (coupled and multistep flow,
Gaussian), times them through onnxruntime, prints its table and writes its JSON and plot. The real measurement is run by hand (see the bench's docstring)."""

import json
import os
import sys

import pytest

pytest.importorskip("onnxruntime", reason="the export bench needs the 'export' extra (onnxruntime)")
pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript (the 'export' extra)")

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)


def test_export_latency_smoke(tmp_path, capsys):
    import export_latency

    result = export_latency.main(["--smoke", "--out", str(tmp_path)])
    rows = {row["policy"]: row for row in result["rows"]}
    assert set(rows) == {"genpo onnx", "multistep onnx", "gaussian onnx"}
    for row in rows.values():
        assert row["calls"] == 40 and 0.0 < row["median_ms"] <= row["p90_ms"]
    assert rows["gaussian onnx"]["vs_gaussian_onnx"] == 1.0
    # 2N = 10 sequential velocity-MLP evaluations against one MLP: the flow cannot be the cheaper one
    assert rows["genpo onnx"]["median_ms"] > rows["gaussian onnx"]["median_ms"]
    assert result["goal"]["multistep_ratio"] == rows["multistep onnx"]["vs_gaussian_onnx"]
    assert result["goal"]["ratio"] == rows["genpo onnx"]["vs_gaussian_onnx"] and result["onnxruntime_threads"] == 1
    out = capsys.readouterr().out
    assert "intra_op_num_threads=1" in out and "genpo onnx" in out and "multistep onnx" in out and "goal:" in out
    assert json.load(open(tmp_path / "results.json"))["rows"] == result["rows"]
    assert os.path.getsize(tmp_path / "export_latency.png") > 0
