"""The on-disk names each loader reads, in one place: the loaders use them, and so does the
start-up check (nowrongturns/config/data_layout.py), which must not import torch."""

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_FOLDER_SPLITS = ("train", "val")
# dataset text: each split under one of its names, as a file of one of these kinds, or a save_to_disk folder
# (the file DatasetDict.save_to_disk writes, and one folder per split).
TEXT_CORPUS_SPLITS = {"train": ("train",), "validation": ("validation", "valid", "val")}
TEXT_CORPUS_SUFFIXES = (".txt", ".parquet", ".jsonl", ".json")
SAVE_TO_DISK = "dataset_dict.json"
TEXT_NAMINGS = ("wiki.{}.tokens", "ptb.{}.txt", "{}.txt")
TEXT_SPLITS = ("train", "valid", "test")
VAIHINGEN_TOP = "top"
