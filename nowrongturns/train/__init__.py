"""Training: the one loop both passes share (engine), optimizers and learning-rate schedules,
parameters as views of one flat buffer."""
