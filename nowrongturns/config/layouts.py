"""The on-disk names each loader reads, in one place: the loaders use them, and so does the
start-up check (nowrongturns/config/data_layout.py), which must not import torch."""

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FOLDER_SPLITS = ("train", "val")
TEXT_NAMINGS = ("wiki.{}.tokens", "ptb.{}.txt", "{}.txt")
TEXT_SPLITS = ("train", "valid", "test")
VAIHINGEN_TOP = "top"
