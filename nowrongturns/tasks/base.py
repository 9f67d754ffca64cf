"""The Task protocol: what a task gives the training loop, and what it must not do for the replay to be exact.

A task binds one run's data, model and loss. The built-in tasks (builtin.py, paper.py) and plug-in tasks
(run setting `task: file.py:Class`, docs/own-model-and-data.md) implement the same protocol:

Provides
  model             an nn.Module on `device` in `dtype`, its initial weights drawn from the run's seed
  steps_per_epoch   an int, the same every epoch
  plan(epoch)       whatever the epoch's steps need (data order, augmentation draws), computed once per
                    epoch; tensors in it (nested in tuples, lists or dicts) are moved to the device by the
                    loop, once (the default: None)
  loss(plan, step, epoch)
                    the minibatch loss of step `step` of the epoch (a scalar tensor); this rank's share of
                    the minibatch only: `self.local(batch)`
  evaluate()        validation metrics at the current weights, a dict of floats (optional)
  full_batch_terms()
                    the training objective over the whole training set in a fixed order, as (summed loss
                    of a batch, number of terms) pairs (optional; the figures full_batch and path need it)
  Args              a dataclass of the task's own settings (run setting `task_args`), or None; the base
                    class checks the mapping against it and sets `self.args`

Must not
  - draw from a random generator the checkpoint does not hold. The checkpoint holds torch's, numpy's and
    Python's global generators, so drawing from those is safe. A generator the task owns (a
    torch.Generator or numpy Generator kept as an attribute, a DataLoader with its own) is not: draw from
    `self.generator(*labels)`, a fresh generator seeded by (seed, *labels), e.g. (epoch, step);
  - keep a cache or counter that changes as training goes on, or a module with state outside its
    parameters and buffers: a replay that resumes from a checkpoint would not see it;
  - wait for the device inside `loss` (`.item()`, `.cpu()`, printing a tensor): the loop queues steps ahead;
  - depend on the number of ranks, other than through `self.local`: a run on 2 ranks retraces a run on 1.

The loop checks the first rule and the second at the start of each pass of a plug-in task (train/replay_guard.py).
"""
from __future__ import annotations

import torch
from torch import nn

from nowrongturns.config.settings import RunSettings
from nowrongturns.parallel import distributed
from nowrongturns.tasks import task_args
from nowrongturns.tasks.seeding import derive_seed
from nowrongturns.tasks.seeding import generator as seeded_generator


class Task:
    model: nn.Module
    steps_per_epoch: int
    Args = None  # a dataclass of the task's own settings (task_args), or None

    def __init__(self, settings: RunSettings, device: torch.device, dtype: torch.dtype):
        self.settings, self.device, self.dtype = settings, device, dtype
        self.seed = settings.seed
        group = distributed.group()
        self.rank, self.ranks = group.rank, group.world_size
        self.args = task_args.parse(type(self).Args, settings.task_args, type(self).__name__)

    def generator(self, *labels, device: str | torch.device = "cpu") -> torch.Generator:
        """A generator seeded by (the run's seed, *labels): a draw that is a pure function of them."""
        return seeded_generator("task", type(self).__name__, self.seed, *labels, device=device)

    def seed_init(self) -> None:
        """Seed torch's global generator for building the model: w0 becomes a function of the run's seed alone."""
        torch.manual_seed(derive_seed("init", self.seed))

    @property
    def local_part(self) -> slice:
        """This rank's positions in a global minibatch: a fixed slice, so that the ranks together see the
        minibatch one process would, each sample with the same augmentation draw."""
        n = self.settings.batch_size // self.ranks
        return slice(self.rank * n, (self.rank + 1) * n) if self.ranks > 1 else slice(None)

    def local(self, batch):
        """This rank's part of a global minibatch (along dim 0)."""
        return batch[self.local_part]

    def plan(self, epoch: int):
        """Whatever the epoch's steps need, computed once per epoch and moved to the device once."""
        return

    def loss(self, plan, step_in_epoch: int, epoch: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Validation metrics at the current weights (one host sync per call)."""
        return {}

    def full_batch_terms(self):
        """The training objective over the whole training set, clean (no augmentation), in a fixed order:
        yields (summed loss of a batch, number of terms in it). The caller sets the model's mode."""
        raise NotImplementedError(f"{type(self).__name__} has no full-batch objective")


def has_full_batch(task_class: type) -> bool:
    return task_class.full_batch_terms is not Task.full_batch_terms


def plan_to_device(plan, device: torch.device):
    """The plan's tensors on the device (a tensor already there is kept as it is); other objects as they are."""
    if isinstance(plan, torch.Tensor):
        return plan.to(device)
    if isinstance(plan, tuple) and hasattr(plan, "_fields"):  # a namedtuple
        return type(plan)(*(plan_to_device(p, device) for p in plan))
    if isinstance(plan, (tuple, list)):
        return type(plan)(plan_to_device(p, device) for p in plan)
    if isinstance(plan, dict):
        return {k: plan_to_device(v, device) for k, v in plan.items()}
    return plan
