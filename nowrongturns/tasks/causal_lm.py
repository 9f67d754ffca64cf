"""A causal language model from a transformers config (model: hf:<type>) on your text (dataset text).

Each epoch visits the training blocks in an order drawn from (seed, epoch); a step's loss is the mean
next-token cross-entropy over its blocks, computed here from the logits (not by the model, whose loss
options vary between releases). The blocks live on the device: a corpus of 100M tokens is 800 MB. The first
job on a corpus tokenizes and packs it; the blocks are kept under the corpus's and the tokenizer's
fingerprints (loaders/decoded_cache.py), and every other job reads them.
"""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from nowrongturns.tasks import data
from nowrongturns.tasks.base import Task
from nowrongturns.tasks.loaders.decoded_cache import decoded_once
from nowrongturns.tasks.loaders.text_corpus import PackedCorpus, load_corpus
from nowrongturns.tasks.models import in_mode
from nowrongturns.tasks.zoo_models import build, check_vocabulary


def next_token_loss(model, blocks: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    logits = model(input_ids=blocks, use_cache=False).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), blocks[:, 1:].flatten(), reduction=reduction)


def _tokenize(settings) -> dict:
    corpus = load_corpus(data.data_dir(settings), settings.block_size, settings.tokenizer, settings.text_column)
    return {**vars(corpus), "paths": {split: str(path) for split, path in corpus.paths.items()}}


class CausalLMTask(Task):
    def __init__(self, settings, device, dtype):
        super().__init__(settings, device, dtype)
        key = {"fingerprint": settings.data_fingerprint, "tokenizer": settings.tokenizer_fingerprint,
               "block_size": settings.block_size, "text_column": settings.text_column}
        corpus = PackedCorpus(**decoded_once(settings.data_cache, "text", key, lambda: _tokenize(settings)))
        self.batch = settings.batch_size
        if len(corpus.train) < self.batch:
            raise ValueError(f"{corpus.paths['train']}: {len(corpus.train)} blocks of {settings.block_size} tokens "
                             f"are fewer than batch_size {self.batch}")
        # ZooError is a ValueError: a data error at the job's start, as the others here.
        vocab = settings.model_args.get("vocab_size", corpus.vocab_size)
        check_vocabulary(vocab, corpus.vocab_size, settings.tokenizer or "the word vocabulary")
        self.train_blocks, self.val_blocks = corpus.train.to(device), corpus.validation.to(device)
        self.steps_per_epoch = data.steps_per_epoch(len(self.train_blocks), self.batch)
        self.seed_init()
        self.model = build(settings.model, corpus.vocab_size, settings.model_args).to(device, dtype)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions is not None and positions < settings.block_size:
            raise ValueError(f"block_size {settings.block_size} is longer than the model's {positions} positions "
                             f"(model_args)")

    def plan(self, epoch):
        return data.epoch_order(len(self.train_blocks), self.seed, epoch)

    def loss(self, order, i, epoch):
        idx = self.local(order[i * self.batch:(i + 1) * self.batch])
        return next_token_loss(self.model, self.train_blocks[idx])

    def _sums(self, blocks):
        b = self.settings.eval_batch_size
        for i in range(0, len(blocks), b):
            chunk = blocks[i:i + b]
            yield next_token_loss(self.model, chunk, reduction="sum"), chunk[:, 1:].numel()

    def full_batch_terms(self):
        yield from self._sums(self.train_blocks)

    @torch.no_grad()
    def evaluate(self):
        total, n = torch.zeros((), dtype=torch.float64, device=self.device), 0
        with in_mode(self.model, training=False):
            for loss, count in self._sums(self.val_blocks):
                total += loss.double()
                n += count
        val_loss = float(total) / n
        return {"val_loss": val_loss, "val_ppl": math.exp(min(val_loss, 700.0))}
