"""The on-disk names each loader reads, in one place: the loaders use them, and so does the
start-up check (nowrongturns/config/data_layout.py), which must not import torch."""

CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
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
VAIHINGEN_GT = "gts_for_participants"  # the ground truth of the 16 public tiles
VAIHINGEN_TILE = "top_mosaic_09cm_area{}"
VAIHINGEN_SUFFIXES = (".tif", ".png")  # in the order the loader tries them
# The split (tasks/loaders/vaihingen.py says why these): 11 train and 5 validation tiles with public ground truth,
# and the 17 benchmark test tiles.
VAIHINGEN_TRAIN_IDS = (1, 3, 5, 7, 13, 17, 21, 23, 26, 32, 37)
VAIHINGEN_VAL_IDS = (11, 15, 28, 30, 34)
VAIHINGEN_TEST_IDS = (2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 24, 27, 29, 31, 33, 35, 38)
