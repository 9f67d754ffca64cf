"""Readers for the paper's real data sets (appendix A.3), one module per data set, in their official on-disk formats.

cifar10    CIFAR-10: official python batches or train/test class folders; device-side crop+flip.
imagenet   ImageNet-1K: train/<wnid>/*.JPEG, val/<wnid>/*.JPEG; per-sample augmentation in DataLoader workers.
text       WikiText-2 / Penn Treebank, word level, as pytorch/examples' word_language_model.
vaihingen  ISPRS Vaihingen tiles and colour-coded ground truth; random patches per step.
seeded     the sampler and DataLoader that make per-sample randomness a function of (seed, epoch, position).

Nothing is imported here, so reading CIFAR-10 does not import torchvision.
"""
