"""What is trained: the Task protocol and the built-in tasks (builtin), the paper's data sets (paper,
loaders/), networks (models, architectures/), in-memory data, and seeding, which makes every random
draw a pure function of (seed, epoch, step)."""
