"""Downloads (datasets/fetch.py), offline: a real HTTP server on the loopback interface serves small files in each
real archive format, and the tests put their own checksums in the catalog in place of the published ones."""
from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import pickle
import shutil
import tarfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nowrongturns.config import ConfigError, load
from nowrongturns.config.wiring import Wiring
from nowrongturns.datasets import catalog
from nowrongturns.datasets.catalog import DOWNLOADS, Archive, Download
from nowrongturns.datasets.fetch import FetchError, FolderRefused, fetch
from nowrongturns.datasets.published import RECORD, verdict

CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def cifar_batches() -> dict[str, bytes]:
    """Tiny batches in the official python format (8 images each)."""
    rng = np.random.default_rng(0)
    out = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        out[name] = pickle.dumps({b"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8),
                                  b"labels": [i % 10 for i in range(8)]})
    out["batches.meta"] = pickle.dumps({b"label_names": [b"airplane", b"automobile", b"bird", b"cat", b"deer",
                                                         b"dog", b"frog", b"horse", b"ship", b"truck"]})
    return out


def zip_of(files: dict[str, bytes], inner: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(f"{inner}/{name}", data)
    return buf.getvalue()


def tar_gz(files: dict[str, bytes], inner: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{inner}/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


BATCHES = cifar_batches()
ARCHIVE = tar_gz(BATCHES, "cifar-10-batches-py")
PTB = {f"ptb.{s}.txt": f" the {s} words of a tiny corpus \n a second line \n".encode() for s in ("train", "valid", "test")}


class Server:
    """Routes: path -> bytes, or ("status", code), or ("cut", bytes, n): the first n requests get half the bytes
    and a closed connection. Counts requests per path; `delay` slows every response (to make callers overlap)."""

    def __init__(self):
        self.routes, self.hits, self.delay = {}, {}, 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                time.sleep(server.delay)
                route = server.routes.get(self.path, ("status", 404))
                if isinstance(route, tuple) and route[0] == "status":
                    self.send_error(route[1])
                    return
                data = route[1] if isinstance(route, tuple) else route
                cut = isinstance(route, tuple) and server.hits[self.path] <= route[2]
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if cut else data)
                if cut:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


@pytest.fixture
def http(server, monkeypatch):
    """The server, emptied, with the catalog's cifar10 and ptb rows holding the test files' checksums."""
    server.routes.clear()
    server.hits.clear()
    server.delay = 0.0
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setitem(DOWNLOADS, "cifar10", catalog_row("cifar10", server.url))
    monkeypatch.setitem(DOWNLOADS, "ptb", catalog_row("ptb", server.url))
    return server


def catalog_row(dataset: str, url: str) -> Download:
    base = DOWNLOADS[dataset]
    if dataset == "cifar10":
        return Download({n: md5(b) for n, b in BATCHES.items()},
                        {CIFAR_ARCHIVE: Archive(md5(ARCHIVE), "cifar-10-batches-py")},
                        (f"{url}/a/{CIFAR_ARCHIVE}",), base.size, base.licence, base.homepage, base.about)
    return Download({n: md5(b) for n, b in PTB.items()}, {"simple-examples.tgz": Archive(None, "simple-examples/data")},
                    (f"{url}/raw/{{file}}", f"{url}/simple-examples.tgz"), base.size, base.licence, base.homepage,
                    base.about)


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".part-" in p.name)


def test_good_download_is_checked_unpacked_and_in_place(http, tmp_path, caplog):
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = ARCHIVE
    caplog.set_level("INFO", logger="nowrongturns")
    folder = tmp_path / "cifar10"
    folder.mkdir()  # left by an earlier fetch whose files were deleted since: its record alone is stale
    (folder / RECORD).write_text("{}")
    found = fetch("cifar10", folder, retries=0)
    assert found.state == "published"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*BATCHES, RECORD])
    for name, data in BATCHES.items():
        assert (folder / name).read_bytes() == data
    assert f"{CIFAR_ARCHIVE}: downloaded {len(ARCHIVE) / 1e6:.1f} MB" in caplog.text
    assert leftovers(tmp_path) == []
    assert fetch("cifar10", folder, retries=0).state == "published"  # present and complete: no download
    assert http.hits == {f"/a/{CIFAR_ARCHIVE}": 1}


def test_checksum_mismatch_leaves_nothing_and_names_both_digests(http, tmp_path):
    bad = ARCHIVE[:-1] + bytes([ARCHIVE[-1] ^ 1])
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = bad
    with pytest.raises(FetchError) as err:
        fetch("cifar10", tmp_path / "cifar10", retries=0)
    message = str(err.value)
    assert CIFAR_ARCHIVE in message and md5(ARCHIVE) in message and md5(bad) in message
    assert not (tmp_path / "cifar10").exists() and leftovers(tmp_path) == []


def test_a_transfer_cut_halfway_is_retried(http, tmp_path):
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = ("cut", ARCHIVE, 1)
    assert fetch("cifar10", tmp_path / "cifar10", retries=1).state == "published"
    assert http.hits[f"/a/{CIFAR_ARCHIVE}"] == 2


def test_404_on_the_first_mirror_then_the_second(http, tmp_path):
    http.routes[f"/b/{CIFAR_ARCHIVE}"] = ARCHIVE
    mirrors = [f"{http.url}/gone/{CIFAR_ARCHIVE}", f"{http.url}/b/{CIFAR_ARCHIVE}"]
    assert fetch("cifar10", tmp_path / "cifar10", mirrors, retries=0).state == "published"
    assert http.hits == {f"/gone/{CIFAR_ARCHIVE}": 1, f"/b/{CIFAR_ARCHIVE}": 1}


def test_the_proxy_variables_are_honoured(http, tmp_path, monkeypatch):
    """A host that does not resolve, reached through the proxy HTTP_PROXY names (the test server, which then
    sees the whole address in its request line, as a proxy does)."""
    url = f"http://mirror.invalid/datasets/{CIFAR_ARCHIVE}"
    http.routes[url] = ARCHIVE
    monkeypatch.setenv("HTTP_PROXY", http.url)
    monkeypatch.setenv("http_proxy", http.url)
    assert fetch("cifar10", tmp_path / "cifar10", [url], retries=0).state == "published"
    assert http.hits == {url: 1}


def test_all_sources_failing_lists_what_was_tried(http, tmp_path):
    http.routes["/raw/ptb.train.txt"] = ("status", 500)
    with pytest.raises(FetchError) as err:
        fetch("ptb", tmp_path / "ptb", retries=0)
    message = str(err.value)
    assert f"{http.url}/raw/{{file}}" in message and "500" in message
    assert f"{http.url}/simple-examples.tgz" in message and "404" in message
    assert "data.mirrors.ptb" in message
    assert not (tmp_path / "ptb").exists() and leftovers(tmp_path) == []


def test_files_one_by_one_or_from_an_archive_without_a_published_checksum(http, tmp_path):
    for name, data in PTB.items():
        http.routes[f"/raw/{name}"] = data
    assert fetch("ptb", tmp_path / "one_by_one", retries=0).state == "published"
    http.routes.clear()
    http.routes["/simple-examples.tgz"] = tar_gz({**PTB, "ptb.char.train.txt": b"c h a r"}, "simple-examples/data")
    assert fetch("ptb", tmp_path / "from_tgz", retries=0).state == "published"
    assert sorted(p.name for p in (tmp_path / "from_tgz").iterdir()) == sorted([*PTB, RECORD])
    http.routes["/simple-examples.tgz"] = tar_gz(PTB, "./simple-examples/data")  # names as `tar -C dir .` writes
    assert fetch("ptb", tmp_path / "dot_slash", retries=0).state == "published"
    http.routes["/simple-examples.tgz"] = tar_gz({**PTB, "ptb.test.txt": b"other words"}, "simple-examples/data")
    with pytest.raises(FetchError, match=r"ptb\.test\.txt: md5 [0-9a-f]{32}, published " + md5(PTB["ptb.test.txt"])):
        fetch("ptb", tmp_path / "wrong_member", retries=0)


def test_a_zip_whose_files_have_no_checksums_of_their_own(http, tmp_path, monkeypatch):
    """WikiText-2's case: only the zip's checksum is published. The fetched folder is recognised by the record of
    its checked download; the same files unzipped by hand cannot be, and say why."""
    tokens = {f"wiki.{s}.tokens": f" = {s} = \n words of {s} \n".encode() for s in ("train", "valid", "test")}
    archive = zip_of(tokens, "wikitext-2")
    base = DOWNLOADS["wikitext2"]
    monkeypatch.setitem(DOWNLOADS, "wikitext2", Download(
        dict.fromkeys(tokens), {"wikitext-2-v1.zip": Archive(md5(archive), "wikitext-2")},
        (f"{http.url}/wikitext-2-v1.zip",), base.size, base.licence, base.homepage, base.about))
    http.routes["/wikitext-2-v1.zip"] = archive
    assert fetch("wikitext2", tmp_path / "wt2", retries=0).state == "published"
    by_hand = tmp_path / "by_hand"
    by_hand.mkdir()
    for name, data in tokens.items():
        (by_hand / name).write_bytes(data)
    found = verdict("wikitext2", by_hand)
    assert found.state == "unverifiable" and "no checksum of wiki.train.tokens" in found.reason


def test_a_folder_present_and_wrong_is_refused_not_overwritten(http, tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"mine")
    with pytest.raises(FolderRefused, match="missing data_batch_2"):
        fetch("cifar10", folder, retries=0)
    assert [p.name for p in folder.iterdir()] == ["data_batch_1"] and http.hits == {}
    (folder / "data_batch_1").unlink()
    (folder / ".hidden_notes").write_text("mine too")
    with pytest.raises(FolderRefused, match="missing data_batch_1"):
        fetch("cifar10", folder, retries=0)
    with pytest.raises(FolderRefused, match="a file, not a folder"):
        fetch("cifar10", folder / ".hidden_notes", retries=0)
    assert http.hits == {}


def _fetch_in_child(folder, queue):
    queue.put(fetch("cifar10", folder, retries=0).state)


def test_two_processes_at_once_download_once(http, tmp_path):
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = ARCHIVE
    http.delay = 1.0  # the first holds the lock while it downloads; the second waits, then finds the folder
    ctx, queue = multiprocessing.get_context("fork"), multiprocessing.get_context("fork").Queue()
    children = [ctx.Process(target=_fetch_in_child, args=(tmp_path / "cifar10", queue)) for _ in range(2)]
    for c in children:
        c.start()
    for c in children:
        c.join(60)
    assert [queue.get(timeout=5) for _ in children] == ["published", "published"]
    assert http.hits == {f"/a/{CIFAR_ARCHIVE}": 1}


# -- the config: data_dir: auto ----------------------------------------------------------------------------
def config(tmp_path, data_dir, **data) -> dict:
    return {"results": str(tmp_path / "results"), "data": {"root": str(tmp_path / "data"), **data},
            "studies": {"s": {"base": {"dataset": "cifar10", "model": "medium_mlp", "data_dir": data_dir,
                                       "epochs": 1}}}}


def test_auto_names_the_run_before_the_data_exists_and_by_hand_gives_the_same_run(http, tmp_path):
    before = load(config(tmp_path, "auto"))
    (run_id,) = before.runs
    assert before.fetched == {"cifar10": str(tmp_path / "data" / "cifar10")}
    assert before.runs[run_id].settings["data_fingerprint"] == DOWNLOADS["cifar10"].identity
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = ARCHIVE
    fetch("cifar10", tmp_path / "data" / "cifar10", retries=0)
    assert list(load(config(tmp_path, "auto")).runs) == [run_id]
    for folder, change in (("by_hand", b""), ("other", b"\0")):  # unpacked by hand, as the archive holds them
        (tmp_path / folder / "cifar-10-batches-py").mkdir(parents=True)
        for name, data in BATCHES.items():
            (tmp_path / folder / "cifar-10-batches-py" / name).write_bytes(data + change * (name == "data_batch_2"))
    by_hand = load(config(tmp_path, str(tmp_path / "by_hand")))
    assert list(by_hand.runs) == [run_id] and by_hand.by_hand == {"cifar10": [str(tmp_path / "by_hand")]}
    # the reference job's inputs are the same too: Snakemake's input trigger reruns nothing
    wildcards = SimpleNamespace(run=run_id)
    assert Wiring(by_hand).data_ready(wildcards) == Wiring(before).data_ready(wildcards) == [
        f"{tmp_path}/results/.cache/data/published/cifar10.json"]
    assert list(load(config(tmp_path, str(tmp_path / "other"))).runs) != [run_id]  # one byte more: other data


def test_auto_refuses_a_folder_that_is_not_the_published_data(http, tmp_path):
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    for name, data in BATCHES.items():
        (folder / name).write_bytes(data)
    (folder / "test_batch").write_bytes(b"changed")
    with pytest.raises(ConfigError, match=r"data_dir = 'auto': .*cifar10 is not the published CIFAR-10, the official python version "
                                          r"\(test_batch: md5 [0-9a-f]{32}, published"):
        load(config(tmp_path, "auto"))
    assert (folder / "test_batch").read_bytes() == b"changed"


def test_auto_for_data_behind_a_registration_says_how_to_get_it(tmp_path):
    cfg = config(tmp_path, "auto")
    cfg["studies"]["s"]["base"].update(dataset="imagenet", model="resnet18")
    with pytest.raises(ConfigError) as err:
        load(cfg)
    message = str(err.value)
    for needed in ("https://image-net.org/download-images.php", "ILSVRC2012_img_train.tar", "├── train/",
                   "nowrongturns data check <data_dir> --dataset imagenet"):
        assert needed in message
    cfg["studies"]["s"]["base"]["data_dir"] = str(tmp_path / "imagenet")  # named, but not there: the same steps
    with pytest.raises(ConfigError, match=r"(?s)imagenet': no such folder .*Register at https://image-net\.org"):
        load(cfg)


def test_a_mirror_that_cannot_serve_the_data_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.mirrors\.cifar10\[1\] = 'https://x/cifar\.zip': names the file "
                                          r"'cifar\.zip'"):
        load(config(tmp_path, "auto", mirrors={"cifar10": ["builtin", "https://x/cifar.zip"]}))
    with pytest.raises(ConfigError, match=r"data\.mirrors\.wikitext2\[0\].*wiki\.train\.tokens.* not published"):
        load(config(tmp_path, "auto", mirrors={"wikitext2": ["https://x/{file}"]}))


def test_the_catalog_file_of_a_lab_replaces_rows(tmp_path, monkeypatch):
    path = tmp_path / "catalog.yaml"
    path.write_text("ptb:\n  members: {ptb.train.txt: ab, ptb.valid.txt: cd, ptb.test.txt: ef}\n"
                    "  sources: ['https://lab/{file}']\n")
    monkeypatch.setenv(catalog.CATALOG_ENV, str(path))
    rows = catalog._with_overrides(dict(DOWNLOADS))
    assert rows["ptb"].sources == ("https://lab/{file}",) and rows["ptb"].members["ptb.test.txt"] == "ef"
    path.write_text("imagenet: {members: {}, sources: []}\n")
    with pytest.raises(ValueError, match=rf"{catalog.CATALOG_ENV}=.*unknown data set 'imagenet'"):
        catalog._with_overrides(dict(DOWNLOADS))


def test_verdict_reads_each_file_once_per_content(http, tmp_path, monkeypatch):
    folder = tmp_path / "ptb"
    folder.mkdir()
    for name, data in PTB.items():
        (folder / name).write_bytes(data)
    cache = tmp_path / "cache"
    assert verdict("ptb", folder, cache).state == "published"
    reads = []
    monkeypatch.setattr("nowrongturns.datasets.published.file_md5", lambda p: reads.append(p) or "0" * 32)
    assert verdict("ptb", folder, cache).state == "published" and reads == []
    os.utime(folder / "ptb.valid.txt", ns=(1, 1))
    assert verdict("ptb", folder, cache).state == "other" and [p.name for p in reads] == ["ptb.valid.txt"]


# -- Snakemake: the download as a job --------------------------------------------------------------------
@pytest.mark.slow
def test_snakemake_plans_the_download_and_two_at_once_fetch_once(server, tmp_path):
    """A fresh machine's dry run plans fetch_data; two Snakemakes (two working folders, one data root) that
    fetch at once download each file once and both succeed; then nothing is left to fetch."""
    import yaml

    from .workflow import job_stats, snakemake, without_torch

    server.routes.clear()
    server.hits.clear()
    server.delay = 1.0
    server.routes.update({f"/raw/{name}": data for name, data in PTB.items()})
    own = tmp_path / "catalog.yaml"
    own.write_text(yaml.safe_dump({"ptb": {"members": {n: md5(d) for n, d in PTB.items()},
                                           "sources": [f"{server.url}/raw/{{file}}"]}}))
    env = {"NOWRONGTURNS_CATALOG": str(own), "NO_PROXY": "127.0.0.1"}
    root = tmp_path / "data"
    for work in ("a", "b"):
        (tmp_path / work).mkdir()
        (tmp_path / work / "config.yaml").write_text(yaml.safe_dump({
            "data": {"root": str(root)},
            "studies": {"lm": {"base": {"dataset": "ptb", "model": "transformer_lm", "data_dir": "auto",
                                        "epochs": 1}}}}))
    plan = snakemake(tmp_path / "a", "-n", "--configfile", "config.yaml", env={**env, **without_torch(tmp_path)})
    jobs = job_stats(plan.stdout)
    assert jobs["fetch_data"] == 1 and jobs["reference"] == 1
    target = "results/.cache/data/published/ptb.json"
    import subprocess
    import sys

    from .workflow import SNAKEFILE

    both = [subprocess.Popen([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "1", target,
                              "--configfile", "config.yaml"], cwd=tmp_path / work, env={**os.environ, **env},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for work in ("a", "b")]
    outputs = [p.communicate(timeout=300)[0] for p in both]
    assert [p.returncode for p in both] == [0, 0], "\n".join(o[-3000:] for o in outputs)
    assert server.hits == {f"/raw/{name}": 1 for name in PTB}
    logs = [(tmp_path / w / "results" / "logs" / "fetch_data" / "ptb.log").read_text() for w in ("a", "b")]
    assert sum("nothing to download" in log for log in logs) == 1
    assert sorted(p.name for p in (root / "ptb").iterdir()) == sorted([*PTB, RECORD])
    jobs = job_stats(snakemake(tmp_path / "b", "-n", "--configfile", "config.yaml", env=env).stdout)
    assert "fetch_data" not in jobs and jobs["reference"] == 1
    shutil.rmtree(root / "ptb")  # deleted since: planned again
    jobs = job_stats(snakemake(tmp_path / "b", "-n", "--configfile", "config.yaml", env=env).stdout)
    assert jobs["fetch_data"] == 1


# -- nowrongturns data list | fetch | check ---------------------------------------------------------------
def test_the_data_command(http, tmp_path, capsys):
    from nowrongturns.cli import main

    assert main(["data", "list"]) == 0
    listing = capsys.readouterr().out
    assert "imagenet" in listing and "https://image-net.org/download-images.php" in listing
    assert "CC BY-SA 3.0" in listing and f"{http.url}/a/{CIFAR_ARCHIVE}" in listing  # the test's own row
    http.routes[f"/a/{CIFAR_ARCHIVE}"] = ARCHIVE
    assert main(["data", "fetch", "cifar10", "--to", str(tmp_path / "c"), "--retries", "0"]) == 0
    assert "holds the published CIFAR-10" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "c"), "--dataset", "cifar10"]) == 0
    report = capsys.readouterr().out
    assert "checksums: the published files" in report and "40 images" in report
    assert main(["data", "fetch", "imagenet", "--to", str(tmp_path / "i")]) == 2
    assert "image-net.org" in capsys.readouterr().err
    assert main(["data", "fetch", "cifar10", "--to", str(tmp_path / "d"), "--mirror", "https://x/c.zip"]) == 2
    assert "--mirror https://x/c.zip: names the file 'c.zip'" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path / "nothing"), "--dataset", "imagenet"]) == 1
    assert "no such folder" in capsys.readouterr().out
