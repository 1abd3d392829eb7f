"""The envs' domain errors (a module of its own, so every env module can import them without a cycle)."""


class MissingDependencyError(ImportError):
    """A task needs an optional package that is not installed; the message names the pip command that adds it."""


class NonFiniteEnvError(RuntimeError):
    """An env returned (or was sent) NaN/inf: training stops before rsl_rl learns from it; the message says where."""


__all__ = ["MissingDependencyError", "NonFiniteEnvError"]
