"""genpo-rsl: GenPO diffusion policies (exact-likelihood coupled flows trained with PPO) for rsl_rl and IsaacLab."""

from setuptools import find_packages, setup

setup(
    name="genpo-rsl",
    version="0.1.0",
    description="GenPO: on-policy diffusion (coupled-flow) policies with an exact likelihood, as an rsl_rl / IsaacLab plugin",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["genpo_rsl", "genpo_rsl.*", "isaaclab_tasks_ext", "isaaclab_tasks_ext.*"]),
    install_requires=[
        # torch is pinned by the install commands (the CPU wheel); any torch rsl_rl accepts works here.
        "torch>=2.6",
        "rsl-rl-lib>=3.0.1",
        "gymnasium[mujoco]>=1.0",
        "tensorboard",
        "numpy",
    ],
    extras_require={
        "wandb": ["wandb"],
        "export": ["onnx", "onnxscript>=0.5", "onnxruntime"],
        "video": ["imageio", "imageio-ffmpeg"],
        "test": ["pytest", "onnx", "onnxscript>=0.5", "onnxruntime", "matplotlib"],
        "bench": ["matplotlib"],
    },
    entry_points={
        "console_scripts": [
            "genpo-train=genpo_rsl.scripts.train:main",
            "genpo-play=genpo_rsl.scripts.play:main",
            "genpo-export=genpo_rsl.scripts.export:main",
        ],
    },
)
