"""Smoke modes of the cost benches: bench/iteration_time.py with both flows and GenPO variants (one line per case
with "GenPO/PPO wall <R>x") and bench/update_cost.py's per-minibatch table against each flow's floor."""

import json
import os
import re
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)


def test_iteration_time_both_flows_print_a_ratio_per_case(tmp_path, capsys):
    import iteration_time

    rows = iteration_time.main(["--smoke", "--flow", "both", "--out", str(tmp_path)])
    assert [row["flow"] for row in rows] == ["coupled", "multistep"]
    assert rows[0]["ppo"] is rows[1]["ppo"]  # both flows against the same PPO run
    lines = [line for line in capsys.readouterr().out.splitlines() if "GenPO/PPO wall" in line]
    assert len(lines) == 2 and "coupled" in lines[0] and "multistep" in lines[1]
    for line, row in zip(lines, rows):
        ratio = float(re.search(r"GenPO/PPO wall ([0-9.]+)x", line).group(1))
        assert ratio == pytest.approx(row["ratio_wall"], abs=0.006) and ratio > 0
    saved = json.load(open(tmp_path / "results.json"))
    assert [r["variant"] for r in saved] == ["coupled", "multistep"]
    assert os.path.getsize(tmp_path / "iteration_time.png") > 0


def test_iteration_time_variants_reach_the_algorithm(tmp_path):
    import iteration_time

    assert iteration_time.parse_variant("coupled:compression_fraction=0.25,compression_coef=0") == (
        "coupled", {"compression_fraction": 0.25, "compression_coef": 0})
    with pytest.raises(SystemExit, match="coupled' or 'multistep"):
        iteration_time.parse_variant("gaussian")
    rows = iteration_time.main(["--smoke", "--variants", "coupled:compression_fraction=0.25,noise_scale=learned",
                                "--out", str(tmp_path)])
    settings = rows[0]["genpo"]["run"]["settings"]
    # An algorithm field reaches GenPO's algorithm config, a policy field the flow's.
    assert settings["genpo"] == {"compression_fraction": 0.25}
    assert settings["flow"]["flow"] == "coupled" and settings["flow"]["noise_scale"] == "learned"


def test_iteration_time_with_symmetry_measures_what_it_adds(tmp_path, capsys):
    import iteration_time

    rows = iteration_time.main(["--smoke", "--flow", "multistep", "--symmetry", "augmentation", "--out",
                                str(tmp_path)])
    row = rows[0]
    for name in ("ppo", "genpo"):  # the symmetric runs really ran with rsl_rl's symmetry_cfg (it logs its loss)
        assert "symmetry" in row[f"{name}_symmetry"]["run"]["records"][0]["losses"]
        assert "symmetry" not in row[name]["run"]["records"][0]["losses"]
    assert row["symmetry_cost_genpo"] == pytest.approx(row["genpo_symmetry"]["wall_s"] / row["genpo"]["wall_s"])
    assert row["ratio_wall_symmetry"] == pytest.approx(row["genpo_symmetry"]["wall_s"] / row["ppo_symmetry"]["wall_s"])
    line = [line for line in capsys.readouterr().out.splitlines() if line.strip().startswith("symmetry (")]
    assert len(line) == 1 and f"GenPO wall {row['symmetry_cost_genpo']:.2f}x" in line[0]


def test_update_cost_smoke_table(tmp_path, capsys):
    import update_cost

    result = update_cost.main(["--smoke", "--out", str(tmp_path)])
    rows = {row["what"]: row for row in result["rows"]}
    n = result["num_steps"]
    assert rows["gaussian actor"]["units"] == 1.0
    assert rows["coupled log-prob"]["floor_units"] == 2 * n and rows["multistep log-prob"]["floor_units"] == n
    assert rows["coupled minibatch f=0.25"]["floor_units"] == 2 * n * 1.25 + 1
    assert all(row["ms"] > 0 for row in rows.values())
    assert {"coupled", "multistep"} <= {k.split("_")[0] for k in result["rollout"][0]}
    out = capsys.readouterr().out
    assert "| coupled log-prob |" in out and "GenPO minibatch / PPO minibatch" in out
    assert (tmp_path / "table.md").read_text().startswith("Per minibatch of 64 samples")


def test_compression_fraction_study_smoke(tmp_path, capsys):
    import compression_fraction

    table = compression_fraction.main(["--smoke", "--jobs", "1", "--out", str(tmp_path)])
    assert list(table) == list(compression_fraction.VARIANTS)
    assert all(len(entry["update_s"]) == 1 and entry["update_s"][0] > 0 for entry in table.values())
    assert "| fraction 0.25 |" in capsys.readouterr().out
    assert len(os.listdir(tmp_path / "runs")) == len(compression_fraction.VARIANTS)
    again = compression_fraction.main(["--smoke", "--jobs", "1", "--report-only", "--out", str(tmp_path)])
    assert json.dumps(again) == json.dumps(table)  # finished runs are read back, not retrained (NaN-safe compare)
