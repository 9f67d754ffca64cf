"""WikiText-2 (Merity et al. 2016) and Penn Treebank, word level, read exactly as pytorch/examples'
word_language_model/data.py and main.py, the implementation the paper uses (A.4).

Files: wiki.{train,valid,test}.tokens (WikiText-2), ptb.{train,valid,test}.txt (PTB) or the example's own
{train,valid,test}.txt; the folder's naming is detected. Every line is split on whitespace and ends with
<eos>; one Dictionary grows over train, then valid, then test, so ids follow first appearance in that order.
The example does not shuffle: batches are contiguous bptt-long windows, with no randomness to seed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from nowrongturns.config.layouts import TEXT_NAMINGS as NAMINGS
from nowrongturns.config.layouts import TEXT_SPLITS as SPLITS


@dataclass
class Dictionary:
    word2idx: dict[str, int] = field(default_factory=dict)
    idx2word: list[str] = field(default_factory=list)

    def add_word(self, word: str) -> int:
        if word not in self.word2idx:
            self.idx2word.append(word)
            self.word2idx[word] = len(self.idx2word) - 1
        return self.word2idx[word]

    def __len__(self) -> int:
        return len(self.idx2word)


@dataclass
class Corpus:
    dictionary: Dictionary
    train: torch.Tensor  # int64 [n_tokens]
    valid: torch.Tensor
    test: torch.Tensor
    paths: dict[str, Path] = field(default_factory=dict)  # split -> file


def find_files(root) -> dict[str, Path]:
    """{split: path} for the first naming whose train file exists; missing files are named in the error."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected wiki.{{train,valid,test}}.tokens "
                                f"or ptb.{{train,valid,test}}.txt")
    for naming in NAMINGS:
        paths = {s: root / naming.format(s) for s in SPLITS}
        if paths["train"].is_file():
            missing = [str(p) for p in paths.values() if not p.is_file()]
            if missing:
                raise FileNotFoundError(f"{', '.join(missing)}: missing (found {paths['train'].name})")
            return paths
    raise FileNotFoundError(f"{root}: found none of " + ", ".join(str(root / n.format("train")) for n in NAMINGS))


def tokenize(path: Path, dictionary: Dictionary) -> torch.Tensor:
    # Same line iteration as the example (text mode, universal newlines), so the same lines and tokens.
    with open(path, encoding="utf8") as f:
        lines = [line.split() for line in f]
    if not any(lines):  # only <eos> markers would follow: nothing to learn from
        raise ValueError(f"{path} holds no tokens ({'empty file' if not lines else f'{len(lines)} blank lines'})")
    ids = [dictionary.add_word(w) for words in lines for w in words + ["<eos>"]]
    return torch.tensor(ids, dtype=torch.int64)


def load_corpus(root) -> Corpus:
    paths = find_files(root)
    dictionary = Dictionary()
    return Corpus(dictionary, *(tokenize(paths[s], dictionary) for s in SPLITS), paths=paths)


def check_enough(data: torch.Tensor, bsz: int, bptt: int, path) -> None:
    """One step needs bptt + 1 rows of bsz streams: fewer tokens than that is a data error, not a NaN loss."""
    if data.size(0) // bsz < bptt + 1:
        raise ValueError(f"{path}: {data.size(0)} tokens (with <eos>) are too few for batch size {bsz} and bptt "
                         f"{bptt}: one step needs {bsz * (bptt + 1)}")


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    """[n_tokens] -> [n_tokens // bsz, bsz]: bsz contiguous streams side by side, the remainder dropped."""
    nbatch = data.size(0) // bsz
    return data.narrow(0, 0, nbatch * bsz).view(bsz, -1).t().contiguous()


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows i..i+bptt-1 (shorter at the end) and their next tokens, flattened as the example's loss expects."""
    seq_len = min(bptt, len(source) - 1 - i)
    return source[i:i + seq_len], source[i + 1:i + 1 + seq_len].reshape(-1)
