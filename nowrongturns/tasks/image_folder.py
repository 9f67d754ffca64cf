"""A zoo model (timm:<name>) on your images in the ImageFolder layout (loaders/image_folder.py).

The folder is decoded once, by the first job on it, and kept with its per-channel statistics under the
data's fingerprint (loaders/decoded_cache.py); every other job reads that file.

The decoded squares live on the device when they fit in half of its free memory and data_path is device;
otherwise on the host, and each step copies its minibatch over (pinned, so the host does not wait).
"""
from __future__ import annotations

import logging

import torch
from torch.nn import functional as F

from nowrongturns.tasks import data
from nowrongturns.tasks.base import Task
from nowrongturns.tasks.loaders import image_folder as images
from nowrongturns.tasks.loaders.decoded_cache import decoded_once
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.zoo_models import build

log = logging.getLogger(__name__)


def _storage_device(nbytes: int, device: torch.device, data_path: str) -> torch.device:
    if device.type != "cuda":
        return device
    if data_path != "device":
        return torch.device("cpu")
    free, _total = torch.cuda.mem_get_info(device)
    if nbytes <= free // 2:
        return device
    log.info("image_folder: %.1f GiB of images do not fit in half of the GPU's %.1f GiB free; kept on the host",
             nbytes / 2**30, free / 2**30)
    return torch.device("cpu")


def _decode(settings) -> dict:
    """The folder's squares and labels, and the training squares' per-channel mean and std."""
    found = images.load_image_folder(data.data_dir(settings), settings.image_size, settings.num_workers)
    mean, std = images.channel_stats(found.x_train)
    return {**vars(found), "mean": mean, "std": std}


class ImageFolderTask(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        self.size, self.side = settings.image_size, images.stored_size(settings.image_size)
        key = {"fingerprint": settings.data_fingerprint, "side": self.side, "decoder": images.DECODER}
        found = decoded_once(settings.data_cache, "image_folder", key, lambda: _decode(settings))
        self.classes = found["classes"]
        mean = settings.image_mean if settings.image_mean is not None else found["mean"]
        std = settings.image_std if settings.image_std is not None else found["std"]
        self.mean = torch.tensor(mean, dtype=dtype, device=device)[:, None, None]
        self.std = torch.tensor(std, dtype=dtype, device=device)[:, None, None]
        x_train, x_val = found["x_train"], found["x_val"]
        self.store = _storage_device(x_train.numel() + x_val.numel(), device, settings.data_path)
        pin = self.store.type == "cpu" and device.type == "cuda"
        self.x_train, self.x_val = ((x.pin_memory() if pin else x).to(self.store) for x in (x_train, x_val))
        self.y_train, self.y_val = found["y_train"].to(device), found["y_val"].to(device)
        self.batch = settings.batch_size
        self.steps_per_epoch = data.steps_per_epoch(len(self.y_train), self.batch)
        self.seed_init()
        self.model = build(settings.model, len(self.classes), settings.model_args).to(device, dtype)

    def _prepare(self, x_uint8: torch.Tensor, draws=None) -> torch.Tensor:
        """uint8 squares to normalised model input on the device: a random resized crop, or the center crop."""
        x = x_uint8.to(self.device, non_blocking=True).to(self.dtype) / 255
        x = images.center_crop(x, self.size) if draws is None else images.resized_crop(x, *draws, self.size)
        return (x - self.mean) / self.std

    def plan(self, epoch):
        order = data.epoch_order(len(self.y_train), self.seed, epoch)
        draws = None
        if self.settings.augment:
            draws = images.epoch_crop_draws(self.batch, self.side, self.seed, epoch, self.steps_per_epoch)
        # The loop moves the plan's tensors to the device; images kept on the host are indexed by a host copy
        # of the order (a numpy array, which stays where it is), so no step waits to read an index back.
        host_order = order.numpy() if self.store != self.device else None
        return order, host_order, draws

    def loss(self, plan, i, epoch):
        order, host_order, draws = plan
        steps = slice(i * self.batch, (i + 1) * self.batch)
        idx = self.local(order[steps])
        step_draws = None if draws is None else tuple(self.local(d[i]) for d in draws)
        if host_order is None:
            x = self.x_train[idx]
        else:
            x = self.x_train[torch.from_numpy(self.local(host_order[steps]))].pin_memory()
        return F.cross_entropy(self.model(self._prepare(x, step_draws)), self.y_train[idx])

    def _batches(self, x_all, y_all):
        b = self.settings.eval_batch_size
        for i in range(0, len(y_all), b):
            yield self._prepare(x_all[i:i + b]), y_all[i:i + b]

    def full_batch_terms(self):
        """The training images as validation sees them (center crop): the clean objective."""
        for x, y in self._batches(self.x_train, self.y_train):
            yield F.cross_entropy(self.model(x), y, reduction="sum"), len(y)

    @torch.no_grad()
    def evaluate(self):
        loss, correct = torch.zeros((), dtype=torch.float64, device=self.device), 0
        with in_mode(self.model, training=False):
            for x, y in self._batches(self.x_val, self.y_val):
                logits = self.model(x)
                loss += F.cross_entropy(logits.double(), y, reduction="sum")
                correct += (logits.argmax(1) == y).sum()
        n = len(self.y_val)
        return {"val_loss": float(loss) / n, "val_acc": int(correct) / n}
