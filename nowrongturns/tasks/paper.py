"""Tasks for the paper's data sets: CIFAR-10, ImageNet-1K, WikiText-2 / Penn Treebank and Vaihingen.

Data that fits on the device (CIFAR-10, the token streams, the Vaihingen tiles) is held there
and augmented there in batches; ImageNet goes through the seeded loaders, into pinned memory on
a GPU. Every draw is a function of (seed, epoch, step), as in tasks.py. Nothing in a step waits
for the device: draws reach it once an epoch, copies from the host are non-blocking from pinned
memory, constants live there (tests/test_host_sync.py).
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from nowrongturns.config.settings import RunSettings
from nowrongturns.tasks import data, zoo_models
from nowrongturns.tasks.architectures import (
    SegNet,
    TransformerModel,
    UNet,
    build_resnet,
    medium_mlp,
    pixel_cross_entropy,
)
from nowrongturns.tasks.base import Task
from nowrongturns.tasks.loaders import cifar10, text, vaihingen
from nowrongturns.tasks.loaders.seeded import make_loader
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.seeding import derive_seed


def _init_seed(settings: RunSettings) -> None:
    # Model construction draws from torch's global RNG: make w0 a function of the seed alone.
    torch.manual_seed(derive_seed("init", settings.seed))


@torch.no_grad()
def _accuracy(model, batches) -> dict:
    loss, correct, n = 0.0, 0, 0
    with in_mode(model, training=False):
        for x, y in batches:
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(1) == y).sum())
            n += y.numel()
    return {"val_loss": loss / n, "val_acc": correct / n}


class CIFAR10Task(Task):
    """ResNet-18 (width 1 or 2) or Medium-MLP; random crop with padding 4, drawn per step.

    The crop alone, without flips, is the training augmentation of the paper's public code (the
    text names none)."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        arrays = cifar10.load_cifar10(data.data_dir(settings))
        # The paper's split: its public code holds out a random 20% of the training set (split seed 1).
        train_idx, val_idx = cifar10.paper_split(len(arrays["y_train"]))
        self.x_train, self.y_train = arrays["x_train"][train_idx], arrays["y_train"][train_idx]
        self.x_val, self.y_val = arrays["x_train"][val_idx], arrays["y_train"][val_idx]
        self.on_device = settings.data_path != "loader"
        if self.on_device:  # uint8 on the device: 150 MB for all of CIFAR-10
            self.x_train, self.y_train = self.x_train.to(device), self.y_train.to(device)
        self.batch = settings.batch_size
        self.steps_per_epoch = data.steps_per_epoch(len(self.y_train), self.batch)
        _init_seed(settings)
        if settings.model == "medium_mlp":
            self.model = medium_mlp(3 * 32 * 32, 10, settings.width)
        else:
            self.model = build_resnet("cifar_resnet18", settings.width_multiplier, 10)
        self.model.to(device, dtype)

    def plan(self, epoch):
        """(the epoch's batches, its crop offsets [steps, batch, 2] on the device): the steps' draws,
        each from its own (seed, epoch, step) generator, reach the device in one copy an epoch."""
        offsets = data.to_device(cifar10.epoch_crop_offsets(self.batch, self.seed, epoch, self.steps_per_epoch),
                                 self.device)
        if self.on_device:
            return data.to_device(data.epoch_order(len(self.y_train), self.seed, epoch), self.device), offsets
        # The loader path: the same order, batches fetched by workers (into pinned memory on a GPU).
        keyed = _IndexOnly(torch.utils.data.TensorDataset(self.x_train, self.y_train))
        return iter(make_loader(keyed, self.batch, self.seed, epoch, self.settings.num_workers,
                                pin_memory=self.device.type == "cuda", shard=(self.rank, self.ranks))), offsets

    def _batch(self, batches, i):
        if self.on_device:
            idx = self.local(batches[i * self.batch:(i + 1) * self.batch])
            return self.x_train[idx], self.y_train[idx]
        x, y = next(batches)  # the loader's batches are this rank's part already
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def loss(self, plan, i, epoch):
        batches, offsets = plan
        x, y = self._batch(batches, i)
        x = cifar10.normalize(data.random_crop(x, self.local(offsets[i]), cifar10.PAD), self.dtype)
        return F.cross_entropy(self.model(x), y)

    def full_batch_terms(self):
        b = self.settings.eval_batch_size
        for i in range(0, len(self.y_train), b):
            x = cifar10.normalize(self.x_train[i:i + b].to(self.device), self.dtype)
            yield F.cross_entropy(self.model(x), self.y_train[i:i + b].to(self.device), reduction="sum"), len(x)

    def evaluate(self):
        b = self.settings.eval_batch_size
        batches = ((cifar10.normalize(self.x_val[i:i + b].to(self.device), self.dtype),
                    self.y_val[i:i + b].to(self.device)) for i in range(0, len(self.y_val), b))
        return _accuracy(self.model, batches)


class _IndexOnly(torch.utils.data.Dataset):
    """Adapts an indexable data set to the (index, sample_seed) keys of the seeded sampler."""

    def __init__(self, inner):
        self.inner = inner

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        return self.inner[key[0]]


class ImageNetTask(Task):
    """ResNet-18/50/152 with width multipliers, or a timm model; RandomResizedCrop and flip in seeded loader workers."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        from nowrongturns.tasks.loaders import imagenet  # torchvision: imported only by the jobs that need it

        crop = settings.crop_size
        resize = round(crop * 256 / 224)
        self.train_set = imagenet.ImageNet(data.data_dir(settings), "train", crop, resize)
        self.val_set = imagenet.ImageNet(data.data_dir(settings), "val", crop, resize)
        # The training images as validation sees them (resize, center crop): the clean full-batch objective.
        self.clean_train_set = imagenet.ImageNet(data.data_dir(settings), "train", crop, resize, augment=False)
        self.batch = settings.batch_size
        self.steps_per_epoch = data.steps_per_epoch(len(self.train_set), self.batch)
        _init_seed(settings)
        classes = len(self.train_set.classes)
        if settings.model.startswith("timm:"):  # e.g. a ViT-S/16 (presets/modern/)
            self.model = zoo_models.build(settings.model, classes, settings.model_args)
        else:
            self.model = build_resnet(settings.model, settings.width_multiplier, classes)
        self.model.to(device, dtype)

    def plan(self, epoch):
        return iter(make_loader(self.train_set, self.batch, self.seed, epoch, self.settings.num_workers,
                                pin_memory=self.device.type == "cuda", shard=(self.rank, self.ranks)))

    def loss(self, batches, i, epoch):
        x, y = next(batches)  # pinned on a GPU, so the copies below leave the host free to queue work
        x, y = x.to(self.device, non_blocking=True).to(self.dtype), y.to(self.device, non_blocking=True)
        return F.cross_entropy(self.model(x), y)

    def full_batch_terms(self):
        loader = make_loader(self.clean_train_set, self.settings.eval_batch_size, 0, 0, self.settings.num_workers,
                             shuffle=False, pin_memory=self.device.type == "cuda")
        for x, y in loader:
            x, y = x.to(self.device, self.dtype, non_blocking=True), y.to(self.device, non_blocking=True)
            yield F.cross_entropy(self.model(x), y, reduction="sum"), len(y)

    def evaluate(self):
        loader = make_loader(self.val_set, self.settings.eval_batch_size, 0, 0, self.settings.num_workers,
                             shuffle=False)
        return _accuracy(self.model, ((x.to(self.device, self.dtype), y.to(self.device)) for x, y in loader))


class LanguageModelTask(Task):
    """The word-language-model example's Transformer on WikiText-2 or PTB, batchified streams of bptt tokens."""

    EVAL_BATCH = 10  # as in the PyTorch example

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        corpus = text.load_corpus(data.data_dir(settings))
        self.ntokens = len(corpus.dictionary)
        self.bptt = settings.bptt
        text.check_enough(corpus.train, settings.batch_size, self.bptt, corpus.paths["train"])
        text.check_enough(corpus.valid, self.EVAL_BATCH, 1, corpus.paths["valid"])
        # Columns are the batch: each rank takes its fixed block of them.
        self.train_data = text.batchify(corpus.train, settings.batch_size)[:, self.local_part].contiguous().to(device)
        self.val_data = text.batchify(corpus.valid, self.EVAL_BATCH).to(device)
        # Full bptt windows only, so every step sees batch_size x bptt tokens.
        self.steps_per_epoch = max(1, (len(self.train_data) - 1) // self.bptt)
        _init_seed(settings)
        self.model = TransformerModel(self.ntokens, settings.emsize, settings.nhead, settings.nhid,
                                      settings.nlayers, settings.dropout).to(device, dtype)

    def loss(self, plan, i, epoch):
        x, y = text.get_batch(self.train_data, i * self.bptt, self.bptt)
        return F.nll_loss(self.model(x).view(-1, self.ntokens), y)

    def full_batch_terms(self):
        for i in range(self.steps_per_epoch):  # the windows the training steps see, in their order
            x, y = text.get_batch(self.train_data, i * self.bptt, self.bptt)
            yield F.nll_loss(self.model(x).view(-1, self.ntokens), y, reduction="sum"), y.numel()

    @torch.no_grad()
    def evaluate(self):
        total, n = 0.0, 0
        with in_mode(self.model, training=False):
            for i in range(0, len(self.val_data) - 1, self.bptt):
                x, y = text.get_batch(self.val_data, i, self.bptt)
                total += float(F.nll_loss(self.model(x).view(-1, self.ntokens), y, reduction="sum"))
                n += y.numel()
        return {"val_loss": total / n, "val_ppl": math.exp(total / n)}


class SegmentationTask(Task):
    """UNet or SegNet on Vaihingen: random patches with flip and mirror, pixel-wise cross-entropy."""

    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        root = data.data_dir(settings)
        # On the device (about 300 MB of uint8 for Vaihingen): patches are cut there, no copy per step.
        self.train_tiles = vaihingen.load_tiles(root, vaihingen.TRAIN_IDS).to(device)
        self.val_tiles = vaihingen.load_tiles(root, vaihingen.VAL_IDS).to(device)
        self.batch, self.patch = settings.batch_size, settings.patch_size
        self.steps_per_epoch = vaihingen.steps_per_epoch(self.batch, settings.patches_per_epoch)
        _init_seed(settings)
        if settings.model == "unet":
            self.model = UNet(3, len(vaihingen.CLASSES))
        else:
            self.model = SegNet(3, len(vaihingen.CLASSES), settings.width_multiplier)
        self.model.to(device, dtype)

    def loss(self, plan, i, epoch):
        x, y = vaihingen.train_batch(self.train_tiles, self.seed, epoch, i, self.batch, self.patch, self.local_part)
        return pixel_cross_entropy(self.model(x.to(self.dtype)), y)

    def full_batch_terms(self):
        # patches_per_epoch fixed patches of the training tiles, without flips: the clean training objective.
        for x, y in vaihingen.fixed_batches(self.train_tiles, self.settings.eval_batch_size, self.patch,
                                            self.settings.patches_per_epoch, "patch_clean_train"):
            x, y = x.to(self.device, self.dtype), y.to(self.device)
            yield pixel_cross_entropy(self.model(x), y) * y.numel(), y.numel()

    @torch.no_grad()
    def evaluate(self):
        correct, n = 0, 0
        with in_mode(self.model, training=False):
            for x, y in vaihingen.val_batches(self.val_tiles, self.settings.eval_batch_size, self.patch,
                                              self.settings.val_patches):
                pred = self.model(x.to(self.device, self.dtype)).argmax(1)
                correct += int((pred == y.to(self.device)).sum())
                n += y.numel()
        return {"val_pixel_acc": correct / n}
