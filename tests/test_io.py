"""Every written file: atomic, readable by the group (umask), checksummed, and every error names it."""
import os
import subprocess

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from nowrongturns.storage.files import (
    FileIntegrityError,
    load_tensors,
    read_table,
    save_tensors,
    write_json,
    write_parquet,
)
from nowrongturns.train.checkpoints import load_checkpoint, load_weights, save_weights

from .workflow import require_root_tools


def flip_bit(path, needle: bytes, byte: int, bit: int) -> None:
    """Flip one bit of the first occurrence of `needle` in the file's bytes."""
    raw = bytearray(path.read_bytes())
    at = raw.find(needle)
    assert at >= 0, "the tensor's bytes are not stored verbatim"
    raw[at + byte] ^= 1 << bit
    path.write_bytes(bytes(raw))


def test_flipped_exponent_bit_in_w_star_is_refused(tmp_path):
    w = torch.linspace(-1, 1, 1000)
    path = tmp_path / "w_star.pt"
    save_weights("run", 3, w, path)
    assert torch.equal(load_weights(path), w)
    # The exponent's lowest bit of float 500 (little-endian float32: bit 7 of byte 2): the file
    # still loads, as another number.
    flip_bit(path, w[500:504].numpy().tobytes(), 2, 7)
    assert not torch.equal(torch.load(path, weights_only=True)["w"], w)
    with pytest.raises(FileIntegrityError, match=rf"{path} is corrupt: its content no longer matches"):
        load_weights(path)


def test_truncated_checkpoint_names_its_file(tmp_path):
    path = tmp_path / "epoch_0002.pt"
    save_tensors({"run_id": "r", "torch_version": torch.__version__, "w": torch.ones(10_000)}, path)
    assert load_checkpoint(path, "r")["run_id"] == "r"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FileIntegrityError, match=rf"{path} cannot be read, it is truncated or corrupt"):
        load_checkpoint(path, "r")


def test_altered_or_truncated_table_is_refused(tmp_path):
    df = pd.DataFrame({"step": np.arange(100), "gamma": np.linspace(0, 1, 100), "run_id": "r"})
    path = tmp_path / "segment_0.parquet"
    write_parquet(df, path, metadata={"drift": {"drift": 0.0}})
    back, meta = read_table(path)
    pd.testing.assert_frame_equal(back, df)
    assert meta == {"drift": {"drift": 0.0}}
    # One value changed, the recorded metadata (checksum included) carried over.
    table = pq.read_table(path)
    altered = df.assign(gamma=df["gamma"].where(df["step"] != 50, 0.25))
    pq.write_table(pq.read_table(path).from_pandas(altered, preserve_index=False)
                   .replace_schema_metadata(table.schema.metadata), path)
    with pytest.raises(FileIntegrityError, match=rf"{path} is corrupt"):
        read_table(path)
    write_parquet(df, path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(FileIntegrityError, match=rf"{path} cannot be read, it is truncated or corrupt"):
        read_table(path)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_tensors({"w": torch.zeros(3)}, tmp_path / "w.pt")
        write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
        write_json({"a": 1}, tmp_path / "d.json")
    finally:
        os.umask(old)
    for name in ("w.pt", "t.parquet", "d.json"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_disk_full_names_the_file_and_keeps_the_old_one(tmp_path):
    require_root_tools("the disk-full test (a 1 MiB tmpfs)", ["mount", "umount"])
    disk = tmp_path / "small"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], check=True)
    try:
        path = disk / "checkpoints" / "epoch_0001.pt"
        save_tensors({"w": torch.ones(1000)}, path)
        with pytest.raises(OSError, match=rf"cannot write {path}: No space left on device"):
            save_tensors({"w": torch.ones(1_000_000)}, path)  # 4 MB
        assert torch.equal(load_tensors(path)["w"], torch.ones(1000))  # the old file, whole
        assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind
    finally:
        subprocess.run(["umount", str(disk)], check=True)
