"""Multi-process GenPO training through rsl_rl's own distributed path, on CPU processes with gloo.

``torchrun --standalone --nproc_per_node 2 tests/test_distributed.py <out>`` starts two ranks (this file's
``__main__``); each trains GenPORunner on its own env seed and writes its parameters. rsl_rl broadcasts rank 0's
parameters when learning starts and all-reduces gradients at every step, so the ranks must end with identical
parameters although their data differ. rsl_rl itself insists on ``cuda:<LOCAL_RANK>`` and nccl;
``GenPORunner._configure_multi_gpu`` uses gloo for CPU processes.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

ITERATIONS = 3
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _worker(out_dir: str) -> None:
    torch.set_num_threads(1)
    from genpo_rsl.compat import rsl_rl_major
    from genpo_rsl.envs import PointReachVecEnv
    from genpo_rsl.runner import GenPORunner
    from genpo_rsl.train_config import build_runner_cfg, task_settings

    rank = int(os.environ["RANK"])
    settings = task_settings("toy/PointReach", {
        "num_envs": 8, "num_steps_per_env": 8, "hidden_dims": [16, 16], "save_interval": 1000,
        "flow": {"num_steps": 3, "time_embed_dim": 8, "time_hidden_dims": [8]},
        "ppo": {"num_learning_epochs": 2, "num_mini_batches": 2}})
    torch.manual_seed(100 + rank)  # other initial weights on each rank: learn() must broadcast rank 0's
    runner = GenPORunner(PointReachVecEnv(8, seed=rank), build_runner_cfg("genpo", settings),
                         log_dir=os.path.join(out_dir, "logs"), device="cpu")
    (runner.logger if rsl_rl_major() >= 4 else runner).git_status_repos = []
    models = {"policy": runner.alg.policy} if rsl_rl_major() == 3 else {"actor": runner.alg.actor,
                                                                         "critic": runner.alg.critic}

    def parameters() -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": p.detach().clone() for name, model in models.items()
                for key, p in model.named_parameters()}

    def buffers() -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": b.clone() for name, model in models.items() for key, b in model.named_buffers()}

    initial = parameters()
    runner.learn(ITERATIONS)
    torch.save({"initial": initial, "final": parameters(), "buffers": buffers(), "world_size": runner.gpu_world_size,
                "backend": torch.distributed.get_backend(), "learning_rate": runner.alg.learning_rate,
                "checkpoints": sorted(os.listdir(os.path.join(out_dir, "logs"))) if rank == 0 else None},
               os.path.join(out_dir, f"rank{rank}.pt"))
    torch.distributed.destroy_process_group()


def test_two_cpu_ranks_keep_identical_parameters(tmp_path):
    from genpo_rsl.compat import rsl_rl_major

    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), ROOT) if p)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               os.path.abspath(__file__), str(tmp_path)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    initial0, initial1 = ranks[0]["initial"], ranks[1]["initial"]
    assert any(not torch.equal(initial0[k], initial1[k]) for k in initial0)  # they started apart
    final0, final1 = ranks[0]["final"], ranks[1]["final"]
    assert all(torch.equal(final0[k], final1[k]) for k in final0), [
        k for k in final0 if not torch.equal(final0[k], final1[k])]
    assert any(not torch.equal(final0[k], initial0[k]) for k in final0)  # and trained
    assert ranks[0]["learning_rate"] == ranks[1]["learning_rate"]
    normalizers = [k for k in ranks[0]["buffers"] if "normalizer" in k]
    assert normalizers
    same = all(torch.equal(ranks[0]["buffers"][k], ranks[1]["buffers"][k]) for k in normalizers)
    # rsl_rl 5.x all-reduces the observation statistics; 3.x updates each rank's normaliser on its own data only.
    assert same == (rsl_rl_major() >= 4)
    assert f"model_{ITERATIONS - 1}.pt" in ranks[0]["checkpoints"]  # rank 0 saved


if __name__ == "__main__":
    if len(sys.argv) != 2 or "RANK" not in os.environ:
        sys.exit("usage: torchrun --standalone --nproc_per_node 2 tests/test_distributed.py <out_dir>")
    _worker(sys.argv[1])
