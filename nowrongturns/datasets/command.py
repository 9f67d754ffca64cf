"""`nowrongturns data list | fetch | check`: the catalog, a download, and a folder's report, from a shell."""
from __future__ import annotations

import sys

from nowrongturns.datasets.catalog import BUILTIN, DOWNLOADS, MANUAL, how_to_get, mirror_problem, sources


def data_command(args) -> int:
    if args.data_command == "list":
        print(listing())
        return 0
    if args.data_command == "fetch":
        return _fetch(args.dataset, args.to, args.mirror, args.retries)
    return _check(args.folder, args.dataset)


def listing() -> str:
    rows = [("data set", "how", "size", "licence", "from")]
    for name, row in DOWNLOADS.items():
        rows.append((name, "download (data_dir: auto)", row.size, row.licence, " or ".join(row.sources)))
    for name, row in MANUAL.items():
        rows.append((name, "by hand (an account)", row.size, row.licence, row.register))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]
    return "\n".join(lines + ["", "nowrongturns data check DIR --dataset NAME reports what a folder holds."])


def _fetch(dataset: str, folder: str, mirrors: list[str] | None, retries: int) -> int:
    if dataset in MANUAL:
        print(f"error: {how_to_get(dataset)}", file=sys.stderr)
        return 2
    if dataset not in DOWNLOADS:
        print(f"error: no download for data set {dataset!r}; these download: {', '.join(DOWNLOADS)} "
              f"(nowrongturns data list)", file=sys.stderr)
        return 2
    for url in mirrors or []:
        problem = mirror_problem(dataset, url)
        if problem:
            print(f"error: --mirror {url}: {problem}", file=sys.stderr)
            return 2
    if retries < 0:
        print(f"error: --retries {retries}: must be 0 or more", file=sys.stderr)
        return 2
    from nowrongturns.datasets.fetch import FetchError, fetch
    from nowrongturns.logs import logged

    try:
        with logged():
            found = fetch(dataset, folder, sources(dataset, mirrors or [BUILTIN]), retries)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{folder} holds the published {DOWNLOADS[dataset].about}: {len(found.md5s)} files, each checked "
          f"(use it as data_dir: {folder})")
    return 0


def _check(folder: str, dataset: str) -> int:
    from nowrongturns.datasets.inspect import DATASETS_INSPECTED, inspect_folder

    if dataset not in DATASETS_INSPECTED:
        print(f"error: --dataset {dataset!r}: no check for it; checked: {', '.join(DATASETS_INSPECTED)}",
              file=sys.stderr)
        return 2
    found = inspect_folder(dataset, folder)
    print(found.report())
    if dataset in DOWNLOADS and found.ok:
        from nowrongturns.datasets.published import verdict

        same = verdict(dataset, folder)
        print(f"checksums: {'the published files' if same.state == 'published' else 'not the published files'}"
              + (f" ({same.reason})" if same.reason else ""))
    return 0 if found.ok else 1
