"""A data set's fingerprint joins its runs' identity: same content anywhere = same runs; other
content = other runs; content changed under the same path = an error before any job."""
import os
import shutil

import pytest
import torch

from nowrongturns.config import ConfigError, load
from nowrongturns.storage import fingerprint as fp
from nowrongturns.tasks.loaders import text

from .workflow import snakemake, write


def corpus(folder, words: int):
    """A WikiText-2-format corpus of `words` distinct words in its train split."""
    folder.mkdir(parents=True)
    (folder / "wiki.train.tokens").write_text(" ".join(f"w{i}" for i in range(words)) + "\n")
    (folder / "wiki.valid.tokens").write_text("w1 w2\n")
    (folder / "wiki.test.tokens").write_text("w3\n")
    return folder


def lm_config(*folders, results="results") -> dict:
    """One study per corpus, identical settings otherwise."""
    base = {"dataset": "wikitext2", "model": "transformer_lm", "emsize": 8, "nhead": 2, "nhid": 8, "nlayers": 1,
            "bptt": 4, "batch_size": 2, "epochs": 1}
    return {"results": results, "figures": {"formats": ["png"]},
            "studies": {f"s{i}": {"base": {**base, "data_dir": str(f)}, "figures": ["gamma"]}
                        for i, f in enumerate(folders)}}


def test_same_content_anywhere_same_fingerprint_other_content_other(tmp_path):
    a = corpus(tmp_path / "a", 51)
    (a / ".DS_Store").write_text("hidden files are not data")
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(a, copy)  # new path, new mtimes
    (copy / ".DS_Store").write_text("another hidden file")
    b = corpus(tmp_path / "b", 81)
    assert fp.fingerprint(a).digest == fp.fingerprint(copy).digest != fp.fingerprint(b).digest
    assert sorted(fp.fingerprint(a).files) == ["wiki.test.tokens", "wiki.train.tokens", "wiki.valid.tokens"]
    (a / "loop").symlink_to(a)  # a link back up the tree is listed once, not followed forever
    assert sorted(fp.fingerprint(a).files) == ["wiki.test.tokens", "wiki.train.tokens", "wiki.valid.tokens"]
    (a / "loop").unlink()
    # Beyond HEAD_TAIL bytes from both ends a change of the same size is not read (the documented limit);
    # any change of size, or at either end, is.
    big = tmp_path / "big"
    big.mkdir()
    (big / "x.bin").write_bytes(bytes(3 * fp.HEAD_TAIL))
    before = fp.fingerprint(big).digest
    (big / "x.bin").write_bytes(bytes(3 * fp.HEAD_TAIL - 1) + b"\x01")
    assert fp.fingerprint(big).digest != before


def test_warm_fingerprint_reads_no_file(tmp_path, monkeypatch):
    a = corpus(tmp_path / "a", 51)
    cache = tmp_path / "cache"
    cold = fp.fingerprint(a, cache)
    reads = []
    monkeypatch.setattr(fp, "_ends_digest", lambda path, size: reads.append(path))
    assert fp.fingerprint(a, cache) == cold and reads == []


def test_content_changed_under_the_same_path_is_an_error_until_accepted(tmp_path):
    a = corpus(tmp_path / "a", 51)
    cache = tmp_path / "cache"
    old = fp.fingerprint(a, cache).digest
    (a / "wiki.train.tokens").write_text("other words entirely\n")
    (a / "wiki.extra.tokens").write_text("x\n")
    with pytest.raises(fp.DataChanged) as err:
        fp.fingerprint(a, cache)
    message = str(err.value)
    assert f"data folder {a} changed since this results folder recorded it" in message
    assert "1 changed (wiki.train.tokens: 194 → 21 bytes); 1 added (wiki.extra.tokens)" in message
    (cache_file,) = cache.iterdir()
    assert f"delete {cache_file} to accept it" in message
    cache_file.unlink()
    assert fp.fingerprint(a, cache).digest != old
    os.utime(a / "wiki.valid.tokens", ns=(1, 1))  # touched, same content: not a change
    fp.fingerprint(a, cache)


def test_two_data_sets_are_two_runs(tmp_path):
    """Once, two corpora under the same settings became one run, and both studies drew the second."""
    cfg = lm_config(corpus(tmp_path / "c51", 51), corpus(tmp_path / "c81", 81), results=str(tmp_path / "results"))
    pipe = load(cfg)
    (run_51,), (run_81,) = pipe.studies["s0"].runs, pipe.studies["s1"].runs
    assert run_51 != run_81
    assert pipe.runs[run_51].settings["data_fingerprint"] != pipe.runs[run_81].settings["data_fingerprint"]
    # The same corpus in another folder is the same run.
    shutil.copytree(tmp_path / "c51", tmp_path / "moved")
    moved = load(lm_config(tmp_path / "moved", results=str(tmp_path / "results")))
    assert list(moved.runs) == [run_51]


@pytest.mark.parametrize("case, words", [
    ("missing", ["data_dir", "no such folder"]),
    ("empty_train", ["wiki.train.tokens holds no tokens (empty file)"]),
    ("no_valid", ["missing wiki.valid.tokens (found wiki.train.tokens)"]),
    ("other_files", ["found none of wiki.train.tokens, ptb.train.txt, train.txt"]),
])
def test_data_problems_stop_the_config_before_any_job(tmp_path, case, words):
    folder = tmp_path / "data"
    if case != "missing":
        corpus(folder, 5)
    if case == "empty_train":
        (folder / "wiki.train.tokens").write_text("")
    if case == "no_valid":
        (folder / "wiki.valid.tokens").unlink()
    if case == "other_files":
        for f in folder.iterdir():
            f.rename(folder / f"{f.name}.bak")
    with pytest.raises(ConfigError) as err:
        load(lm_config(folder, results=str(tmp_path / "results")))
    assert f"studies.s0.base.data_dir = '{folder}'" in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_corpus_of_blank_lines_or_too_few_tokens_names_its_file(tmp_path):
    folder = corpus(tmp_path / "blank", 5)
    (folder / "wiki.train.tokens").write_text("\n \n\n")
    with pytest.raises(ValueError, match=r"wiki.train.tokens holds no tokens \(3 blank lines\)"):
        text.load_corpus(folder)
    with pytest.raises(ValueError, match=r"wiki.train.tokens: 6 tokens .* too few for batch size 2 and bptt 4"):
        text.check_enough(torch.arange(6), 2, 4, folder / "wiki.train.tokens")


def test_missing_data_dir_fails_the_dry_run(tmp_path):
    write(tmp_path / "config.yaml", lm_config("data/nowhere"))
    proc = snakemake(tmp_path, "--dry-run", check=False)
    assert proc.returncode != 0
    assert "studies.s0.base.data_dir = 'data/nowhere': no such folder" in proc.stdout + proc.stderr
