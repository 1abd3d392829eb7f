"""mjlab's own ``play`` command line, with the viewer loop bounded; prints what the policy did as one JSON line.

``python play_driver.py STEPS <play arguments>`` runs ``mjlab.scripts.play.main()`` unchanged (task registry, env,
runner, ``runner.load``, ``get_inference_policy``, viser viewer). The only change: ``ViserPlayViewer.run``, which
otherwise loops until Ctrl+C, runs STEPS policy steps. Afterwards the line ``PLAY_REPORT {...}`` gives the steps
taken, the viewer's last step error, the policy's class and mode, and the policy's actions on the current
observation, twice (a deterministic policy gives the same actions).
"""

import json
import sys

import torch

from mjlab.viewer import ViserPlayViewer

steps = int(sys.argv[1])
report: dict = {}
bounded = ViserPlayViewer.run


def run(self, num_steps=None, catch_sigint=True):
    bounded(self, num_steps=steps, catch_sigint=catch_sigint)
    obs = self.env.get_observations()
    with torch.no_grad():
        first, second = self.policy(obs), self.policy(obs)
    report.update(steps=self._step_count, error=self._last_error, policy=type(self.policy).__name__,
                  training=bool(getattr(self.policy, "training", False)), deterministic=bool(torch.equal(first, second)),
                  action_shape=list(first.shape), finite=bool(torch.isfinite(first).all()))


ViserPlayViewer.run = run
sys.argv = ["play", *sys.argv[2:]]
from mjlab.scripts.play import main  # noqa: E402

main()
print("PLAY_REPORT " + json.dumps(report), flush=True)
