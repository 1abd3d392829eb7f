"""genpo-rsl: GenPO diffusion policies (exact-likelihood coupled flows trained with PPO) for rsl_rl and IsaacLab."""

import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# IsaacLab's stock scripts import nothing of ours, so a start-up hook adds the `--agent genpo` entries once
# isaaclab_tasks is imported. A .pth file must sit at the root of site-packages: both install paths put it there.
PTH = "isaaclab_tasks_ext/genpo_rsl_isaaclab.pth"
PTH_NAME = os.path.basename(PTH)


class BuildPyWithPth(build_py):
    """Regular wheels and installs: copy the .pth to the wheel's root."""

    def run(self):
        super().run()
        self.copy_file(PTH, os.path.join(self.build_lib, PTH_NAME), preserve_mode=0)

    def get_outputs(self, include_bytecode=1):
        return [*super().get_outputs(include_bytecode), os.path.join(self.build_lib, PTH_NAME)]


cmdclass = {"build_py": BuildPyWithPth}
try:
    from setuptools.command.editable_wheel import editable_wheel

    class EditableWheelWithPth(editable_wheel):
        """`pip install -e` (PEP 660) ignores build_py's extra files: add the .pth to the editable wheel too."""

        def _select_strategy(self, *args, **kwargs):
            strategy = super()._select_strategy(*args, **kwargs)

            class WithPth:
                def __enter__(self):
                    strategy.__enter__()
                    return self

                def __exit__(self, *exc):
                    return strategy.__exit__(*exc)

                def __call__(self, wheel, files, mapping):
                    strategy(wheel, files, mapping)
                    with open(PTH, "rb") as f:
                        wheel.writestr(PTH_NAME, f.read())

            return WithPth()

    cmdclass["editable_wheel"] = EditableWheelWithPth
except ImportError:  # older setuptools: no PEP 660 editable installs to serve
    pass

setup(
    name="genpo-rsl",
    version="0.1.0",
    description="GenPO: on-policy diffusion (coupled-flow) policies with an exact likelihood, as an rsl_rl / IsaacLab plugin",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["genpo_rsl", "genpo_rsl.*", "isaaclab_tasks_ext", "isaaclab_tasks_ext.*"]),
    py_modules=["genpo_cli"],
    package_data={"isaaclab_tasks_ext": ["genpo_rsl_isaaclab.pth"]},
    cmdclass=cmdclass,
    install_requires=[
        # torch is pinned by the install commands (the CPU wheel); any torch rsl_rl accepts works here.
        "torch>=2.6",
        "rsl-rl-lib>=3.0.1,<6",  # 3.x (IsaacLab 2.3) and 4.x/5.x are supported; a fresh install gets 5.5.x
        "gymnasium[mujoco]>=1.0",
        "tensorboard",
        "numpy",
        "pyyaml",  # genpo-train's KEY=VALUE and --config values (genpo_rsl.overrides)
    ],
    extras_require={
        "wandb": ["wandb"],
        "export": ["onnx", "onnxscript>=0.5", "onnxruntime"],
        "video": ["imageio", "imageio-ffmpeg"],
        "test": ["pytest", "onnx", "onnxscript>=0.5", "onnxruntime", "matplotlib", "imageio", "imageio-ffmpeg"],
        "bench": ["matplotlib"],
        # Genesis declares no torch dependency, so the CPU torch pin stays; its mujoco 4 is why it has its own venv
        # (tools/test_genesis.sh). imageio for genpo-play --video of the Go2 task.
        "genesis": ["genesis-world==1.4.5", "imageio", "imageio-ffmpeg"],
    },
    entry_points={
        "console_scripts": [
            # genpo_cli imports genpo_rsl (torch, rsl_rl) under a Ctrl-C guard, then calls genpo_rsl.scripts.<name>.main
            "genpo-train=genpo_cli:train",
            "genpo-play=genpo_cli:play",
            "genpo-export=genpo_cli:export",
            "genpo-pretrain=genpo_cli:pretrain",
            "genpo-demos=genpo_cli:demos",
        ],
        # IsaacLab 3.x imports every module of this group at start-up.
        "isaaclab.tasks": ["genpo_rsl = isaaclab_tasks_ext.tasks"],
        # mjlab imports every module of this group at `import mjlab`: it registers the "<task id>-GenPO" twins.
        "mjlab.tasks": ["genpo_rsl = genpo_rsl.integrations.mjlab"],
    },
)
