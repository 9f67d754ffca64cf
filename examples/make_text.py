"""Writes a small corpus to try dataset: text on, and trains a byte-level BPE tokenizer on it, offline:
data/<root>/train.txt and validation.txt (one sentence a line, from a toy grammar), and a tokenizer folder
as a transformers tokenizer's save_pretrained writes it.

    python examples/make_text.py data/tiny_text data/tiny_tokenizer [--lines 2000] [--vocab 300] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SUBJECTS = ("the cat", "a dog", "the old man", "my sister", "the teacher", "a small bird", "the robot")
VERBS = ("sees", "likes", "follows", "draws", "finds", "carries", "forgets")
OBJECTS = ("the ball", "a red apple", "the river", "an open book", "the green door", "a paper boat")
ENDINGS = ("", " in the morning", " after school", " near the house", " every day", " again")


def sentences(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    pick = lambda words: words[rng.integers(len(words))]
    return [f"{pick(SUBJECTS)} {pick(VERBS)} {pick(OBJECTS)}{pick(ENDINGS)} ." for _ in range(n)]


def write_corpus(root, lines: int = 2000, seed: int = 0) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_text("\n".join(sentences(lines, seed)) + "\n")
    (root / "validation.txt").write_text("\n".join(sentences(max(1, lines // 10), seed + 1)) + "\n")
    return root


def train_tokenizer(corpus: Path, folder, vocab: int = 300) -> Path:
    """A byte-level BPE (GPT-2's kind) trained on corpus/train.txt, with <|endoftext|> as its end-of-text token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train([str(corpus / "train.txt")], trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    fast.save_pretrained(str(folder))
    return Path(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus")
    parser.add_argument("tokenizer")
    parser.add_argument("--lines", type=int, default=2000, help="training sentences (default 2000)")
    parser.add_argument("--vocab", type=int, default=300, help="the tokenizer's vocabulary size (default 300)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    corpus = write_corpus(args.corpus, args.lines, args.seed)
    print(f"wrote {corpus} and {train_tokenizer(corpus, args.tokenizer, args.vocab)}")
