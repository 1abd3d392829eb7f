"""The bench studies' --smoke modes: every script still runs end to end, writes its table, JSON and plots, and
resumes from finished runs. The real studies are run by hand (see docs/results/results.md); this keeps them working."""

import importlib
import json
import os
import sys

import numpy as np
import torch
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
sys.path.insert(0, BENCH)


def _bench(name):
    return importlib.import_module(name)


def _assert_files(out, names):
    for name in names:
        path = os.path.join(out, name)
        assert os.path.isfile(path) and os.path.getsize(path) > 0, f"{name} missing or empty"


def test_returns_smoke_writes_results_and_resumes(tmp_path):
    returns = _bench("returns")
    out = str(tmp_path / "returns")
    first = returns.main(["--smoke", "--out", out])
    algos = [a for a in returns.DEFAULT_ALGOS if returns.flow_available(a)]  # the multistep flow, once it exists
    assert first["failed"] == [] and first["trained"] == len(algos) >= 2
    assert [(r["algo"], r["task"]) for r in first["results"]] == [(a, "HalfCheetah-v5") for a in algos]
    for run in first["results"]:
        assert run["eval"]["num_episodes"] == 2 and np.isfinite(run["eval"]["mean"])
        assert len(run["records"]) == 2 and run["records"][-1]["env_steps"] == run["env_steps"] == 2 * 2 * 16
        # the study's MuJoCo setup: training rewards normalised and clipped, scores on raw rewards
        assert run["settings"]["normalize_reward"] and run["settings"]["clip_reward"] == 10.0
        if run["algo"] != "ppo":  # the study's names pin the base they measured, whatever the task default is
            assert run["settings"]["flow"]["noise_scale"] == "fixed"
    _assert_files(out, ["summary.json", "table.md", "summary.png", "curve_HalfCheetah-v5.png"])
    assert "| HalfCheetah-v5 | ppo |" in first["table"] and "| HalfCheetah-v5 | genpo |" in first["table"]
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    assert [(r["task"], r["algo"], r["seed"], r["env_steps"]) for r in summary["runs"]] == [
        ("HalfCheetah-v5", a, 0, 64) for a in algos]
    assert [r["eval"]["mean"] for r in summary["runs"]] == [r["eval"]["mean"] for r in first["results"]]
    # A rerun reads the finished runs back instead of training again, with the same numbers.
    second = returns.main(["--smoke", "--out", out])
    assert second["trained"] == 0
    assert [r["eval"]["mean"] for r in second["results"]] == [r["eval"]["mean"] for r in first["results"]]
    # --report-only tabulates what is finished and trains nothing, even where nothing is finished.
    empty = returns.main(["--smoke", "--report-only", "--out", str(tmp_path / "empty")])
    assert (empty["trained"], empty["results"]) == (0, [])


def test_code_state_keeps_whole_paths_of_changed_files():
    returns = _bench("returns")
    status = " M bench/demos.py\nM  genpo_rsl/flows/coupled.py\n?? bench/new_study.py\n"
    assert returns.porcelain_paths(status) == ["bench/demos.py", "genpo_rsl/flows/coupled.py", "bench/new_study.py"]
    state = returns.code_state()
    assert len(state["commit"]) == 40
    assert all(path.startswith(("bench/", "genpo_rsl/")) for path in state["uncommitted"])


def test_multimodality_smoke_measures_mode_fractions(tmp_path):
    out = str(tmp_path / "mm")
    result = _bench("multimodality").main(["--smoke", "--out", out])
    assert {r["variant"] for r in result["results"]} == {"ppo", "genpo"}
    for run in result["results"]:
        assert len(run["fractions"]) == 2 and 0.0 <= sum(run["fractions"]) <= 1.0
        assert run["min_fraction"] == min(run["fractions"]) and run["probes"]
        assert np.asarray(run["samples"]).shape[1] == 2
    _assert_files(out, ["summary.json", "table.md", "samples.png", "min_fraction_vs_iteration.png"])


def test_ablations_smoke_and_entropy_check(tmp_path):
    out = str(tmp_path / "abl")
    result = _bench("ablations").main(["--smoke", "--out", out])
    check = result["entropy_check"]
    # A fixed N(0, I) base: the closed-form entropy is a constant with no gradient.
    assert check["closed_form_fixed_requires_grad"] is False
    # Ascending the stored-samples term moves the policy away from the rollout policy: the KL starts at ~0 and grows.
    assert check["ascent_kl"][0] < 1e-6 < check["ascent_kl"][-1]
    assert {r["variant"] for r in result["results"]} == {"default", "learned_stored_ent0.01"}
    _assert_files(out, ["summary.json", "table.md", "curves.png", "entropy_kl_noise.png"])
    with open(os.path.join(out, "summary.json")) as f:
        assert len(json.load(f)["runs"]) == 2


@pytest.mark.parametrize("script,files", [("iteration_time", ["results.json", "iteration_time.png"]),
                                          ("likelihood_cost", ["results.json", "likelihood_cost.png"])])
def test_cost_benches_smoke(tmp_path, script, files):
    rows = _bench(script).main(["--smoke", "--out", str(tmp_path), "--threads", "1"])
    assert rows
    _assert_files(str(tmp_path), files)


def test_episode_curve_is_a_rolling_mean_of_finished_episodes():
    curve = _bench("common_plots").episode_curve([0, 2, 0, 1], [1.0, 3.0, 5.0], window=2)
    assert np.isnan(curve[0])
    assert curve[1:].tolist() == [2.0, 2.0, 4.0]


def test_run_cached_computes_once(tmp_path):
    harness = _bench("harness")
    path = str(tmp_path / "run.json")
    calls = []
    first, computed = harness.run_cached(path, lambda: calls.append(1) or {"x": 1})
    again, computed_again = harness.run_cached(path, lambda: calls.append(1) or {"x": 2})
    assert (first, computed, again, computed_again, len(calls)) == ({"x": 1}, True, {"x": 1}, False, 1)


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("algo,flow", [("genpo", "coupled"), ("genpo", "multistep"), ("ppo", None)])
def test_interrupted_run_continues_from_its_checkpoint_bitwise(tmp_path, algo, flow):
    """A run killed mid-way resumes from its last chunk and ends exactly where an uninterrupted run ends (toy env:
    its state and the RNG streams come back), so chunking and resuming change nothing but the time lost."""
    harness = _bench("harness")
    overrides = {"num_envs": 8, "num_steps_per_env": 8, **({"flow": {"flow": flow}} if flow else {})}

    def train(**kwargs):
        return harness.train_and_record("toy/PointReach", algo, 3, overrides=overrides,
                                        iterations=5, threads=1, **kwargs)

    def kill_at_iteration_3(record, runner):
        if record["iteration"] == 3:
            raise _Interrupted

    uninterrupted = train()
    partial = str(tmp_path / "runs" / "run.json.partial.pt")  # the study's runs/ folder does not exist yet
    with pytest.raises(_Interrupted):
        train(resume_path=partial, checkpoint_every=2, on_record=kill_at_iteration_3)
    assert os.path.isfile(partial)  # written after iterations 0-1, before the kill in the second chunk
    resumed = train(resume_path=partial, checkpoint_every=2)

    assert (uninterrupted["resumed_at"], resumed["resumed_at"]) == ([], [2])
    assert [r["iteration"] for r in resumed["records"]] == list(range(5))
    assert [r["losses"] for r in resumed["records"]] == [r["losses"] for r in uninterrupted["records"]]
    assert resumed["env"].episode_returns == uninterrupted["env"].episode_returns
    for mine, theirs in zip(resumed["runner"].alg.optimizer.param_groups[0]["params"],
                            uninterrupted["runner"].alg.optimizer.param_groups[0]["params"]):
        assert torch.equal(mine, theirs)


def test_interrupted_mujoco_run_resumes_with_its_reward_normaliser(tmp_path):
    """The MuJoCo setup normalises training rewards with running statistics; a resumed run must continue with the
    saved statistics (a fresh normaliser would rescale the rewards under the critic's feet)."""
    harness = _bench("harness")
    partial = str(tmp_path / "runs" / "run.json.partial.pt")
    overrides = {"num_envs": 2, "num_steps_per_env": 16}
    saved = {}

    def kill_at_iteration_2(record, runner):
        if record["iteration"] == 2:
            saved.update(runner.env.state_dict())
            raise _Interrupted

    with pytest.raises(_Interrupted):
        harness.train_and_record("HalfCheetah-v5", "ppo", 0, overrides=overrides, iterations=4, threads=1,
                                 resume_path=partial, checkpoint_every=2, on_record=kill_at_iteration_2)
    checkpoint = torch.load(partial, weights_only=True)  # plain floats: loadable without unpickling code
    in_checkpoint = checkpoint["infos"]["genpo_rsl_resume"]["env"]["state"]["return_rms"]
    assert in_checkpoint["count"] > 1 and in_checkpoint != saved["return_rms"]  # saved after iteration 1, not 2
    restored = {}
    resumed = harness.train_and_record("HalfCheetah-v5", "ppo", 0, overrides=overrides, iterations=4, threads=1,
                                       resume_path=partial, checkpoint_every=2,
                                       on_record=lambda r, runner: restored.setdefault("count", runner.env.state_dict()
                                                                                       ["return_rms"]["count"]))
    assert resumed["resumed_at"] == [2] and len(resumed["records"]) == 4
    # the first iteration after the resume started from the checkpoint's statistics (count grew by one rollout)
    assert restored["count"] == in_checkpoint["count"] + 2 * 16
    resumed["env"].close()
