"""What is trained: the Task protocol and the built-in tasks (builtin), the paper's data sets (paper,
loaders/), networks (models, architectures/), in-memory data, and seeding, which makes every random
draw a pure function of (seed, epoch, step)."""


def __getattr__(name):
    # `from nowrongturns.tasks import Task`, for plug-in tasks, without importing torch with the package.
    if name == "Task":
        from nowrongturns.tasks.base import Task

        return Task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
