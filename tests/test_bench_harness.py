"""bench/harness.py's parallel studies: worker processes die with the study process (no orphaned runs)."""

import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

JOB = """
import os, time
open(os.path.join(os.environ["MARKS"], str(os.getpid())), "w").close()
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_killing_a_parallel_study_ends_its_workers(tmp_path):
    script, marks = tmp_path / "job.py", tmp_path / "marks"
    script.write_text(JOB)
    marks.mkdir()
    code = ("import runpy, sys; sys.path.insert(0, 'bench'); import harness; "
            f"harness.run_parallel(runpy.run_path, [{str(script)!r}] * 2, 2)")
    study = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "MARKS": str(marks)})
    try:
        deadline = time.monotonic() + 180
        while len(os.listdir(marks)) < 2:
            assert study.poll() is None, "the study process ended early"
            assert time.monotonic() < deadline, "the two workers did not start"
            time.sleep(0.2)
        workers = [int(name) for name in os.listdir(marks)]
        assert all(_alive(pid) for pid in workers)
        study.send_signal(signal.SIGKILL)  # as hard as it gets: no handler, no cleanup in the parent
        study.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in workers if _alive(pid)] == [], "workers outlived the study process"
    finally:
        study.kill()
        for name in os.listdir(marks):
            try:
                os.kill(int(name), signal.SIGKILL)
            except ProcessLookupError:
                pass
