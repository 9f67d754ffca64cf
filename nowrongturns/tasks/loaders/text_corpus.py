"""Your text for a causal language model (dataset text): a train and a validation split, tokenized, then packed.

Forms (config/data_layout.py text_corpus_files finds them): a Hugging Face DatasetDict saved with save_to_disk
(read with datasets.load_from_disk); <split>.parquet, .jsonl or .json files with a text column; <split>.txt
or wiki.*.tokens files, one document a line.

Tokens: a local tokenizer folder (transformers' AutoTokenizer, offline), its end-of-text id after each document
when it has one; or the word vocabulary of the PyTorch word-language-model example (words split on whitespace,
<eos> after each, ids in order of first appearance over train, then validation). Each split becomes one stream
of ids, cut into blocks of block_size tokens (the remainder dropped), as transformers' run_clm.py packs text.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from nowrongturns.config.data_layout import text_corpus_files
from nowrongturns.tasks.loaders.text import Dictionary


@dataclass
class PackedCorpus:
    train: torch.Tensor  # int64 [n_blocks, block_size]
    validation: torch.Tensor
    vocab_size: int  # the ids the tokenizer (or the word vocabulary) can give
    paths: dict[str, Path]


def _listing(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): [p.stat().st_size] for p in root.rglob("*") if p.is_file()}


def read_texts(root, text_column: str = "text") -> tuple[dict[str, list[str]], dict[str, Path]]:
    """({split: its documents}, {split: where they came from}) for train and validation."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder; expected train and validation text (docs/own-model-and-data.md)")
    found, problem = text_corpus_files(_listing(root))
    if problem:
        raise ValueError(f"text data in {root}: {problem}")
    paths = {split: root / name for split, name in found.items()}
    if (root / "dataset_dict.json").is_file():
        from datasets import load_from_disk

        saved = load_from_disk(str(root))
        return {split: _column(saved[split], text_column, paths[split]) for split in found}, paths
    return {split: _read_file(path, text_column) for split, path in paths.items()}, paths


def _column(table, column: str, where: Path) -> list[str]:
    """The column of a pyarrow Table or a datasets Dataset, as Python strings."""
    names = table.column_names
    if column not in names:
        raise ValueError(f"{where}: no column {column!r} (it has {', '.join(names)}); set text_column")
    values = table.column(column).to_pylist() if hasattr(table, "to_pylist") else list(table[column])
    bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
    if bad is not None:
        raise ValueError(f"{where}: row {bad} of column {column!r} is {type(values[bad]).__name__}, not text")
    return values


def _read_file(path: Path, column: str) -> list[str]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return _column(pq.read_table(path), column, path)
    if suffix in (".jsonl", ".json"):
        text = path.read_text(encoding="utf8")
        try:  # JSON Lines, or one JSON array of records
            rows = [json.loads(line) for line in text.splitlines() if line.strip()] if suffix == ".jsonl" else json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid {'JSON Lines' if suffix == '.jsonl' else 'JSON'} ({e})") from e
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"{path}: expected {'one object a line' if suffix == '.jsonl' else 'an array of objects'}")
        missing = next((i for i, r in enumerate(rows) if column not in r), None)
        if missing is not None:
            raise ValueError(f"{path}: record {missing} has no field {column!r}; set text_column")
        return [r[column] for r in rows]
    with open(path, encoding="utf8") as f:  # text mode, universal newlines: the example's lines
        return [line.rstrip("\n") for line in f]


def _word_ids(texts: dict[str, list[str]]) -> tuple[dict[str, list[int]], int]:
    vocab = Dictionary()
    ids = {split: [vocab.add_word(w) for doc in docs for w in doc.split() + ["<eos>"]] for split, docs in texts.items()}
    return ids, len(vocab)


def _tokenizer_ids(texts: dict[str, list[str]], folder: str) -> tuple[dict[str, list[int]], int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    end = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    ids = {}
    for split, docs in texts.items():
        encoded = tokenizer(docs, add_special_tokens=False)["input_ids"]
        ids[split] = [i for doc in encoded for i in [*doc, *end]]
    return ids, len(tokenizer)


def pack(ids: list[int], block_size: int, where: Path) -> torch.Tensor:
    n = len(ids) // block_size
    if n == 0:
        raise ValueError(f"{where}: {len(ids)} tokens do not fill one block of block_size {block_size}")
    return torch.tensor(ids[:n * block_size], dtype=torch.int64).view(n, block_size)


def load_corpus(root, block_size: int, tokenizer: str | None = None, text_column: str = "text") -> PackedCorpus:
    texts, paths = read_texts(root, text_column)
    ids, vocab_size = _tokenizer_ids(texts, tokenizer) if tokenizer else _word_ids(texts)
    return PackedCorpus(pack(ids["train"], block_size, paths["train"]),
                        pack(ids["validation"], block_size, paths["validation"]), vocab_size, paths)
