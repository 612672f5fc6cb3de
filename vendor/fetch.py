#!/usr/bin/env python3
"""Fill vendor/llama.cpp/ with the pinned llama.cpp source and verify it.

The pin lives beside this script in ``llama.cpp.pin.json``: the upstream
commit, the places the source can be had (tried in order) and checksums.
Every source archive with a recorded sha256 must match it, and whatever
source is used, the extracted tree must match ``tree_sha256`` (a hash over
every kept file's path and content, so the check does not depend on which
archive delivered it).

Standard library only: this runs before anything is installed, from nox,
from CMake (when the build finds the directory empty) and by hand:

    python vendor/fetch.py            # fetch if missing, verify
    python vendor/fetch.py --force    # fetch again
    python vendor/fetch.py --verify   # only verify what is there
    python vendor/fetch.py --print-tree-hash DIR
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PIN_FILE = HERE / "llama.cpp.pin.json"
DEST = HERE / "llama.cpp"
CACHE = Path(os.environ.get("LLAMA_CPP_VENDOR_CACHE", Path.home() / ".cache" / "llama-cpp-vendor"))
STAMP = ".fetched-from"

# Parts of the upstream tree the project never builds, tests or ships; left
# out so the tree hash covers exactly what we use, whichever archive it came from.
DROP = {
    ".github", ".devops", "docs", "media", "gguf-py", "conversion", "requirements",
    "pocs", "benches", "app", "skills", "examples", "tests", "ci", "scripts",
}


class FetchError(RuntimeError):
    pass


def load_pin() -> dict:
    return json.loads(PIN_FILE.read_text())


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_sha256(root: Path) -> str:
    """Hash of (relative path, file sha256) over every regular file, sorted."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != STAMP)
    for p in files:
        rel = p.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def _download_github(source: dict, work: Path) -> Path:
    out = CACHE / f"github-{Path(source['url']).name}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        with urllib.request.urlopen(source["url"], timeout=30) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        tmp.replace(out)
    return out


def _download_pypi(source: dict, work: Path) -> Path:
    out = CACHE / source["filename"]
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--no-build-isolation", "--disable-pip-version-check", "-q",
            "-d", str(out.parent), source["requirement"],
        ]
        # --no-build-isolation with no build backend makes pip fail *after*
        # saving the archive when it tries to read metadata; the file is all we need.
        subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not out.exists():
            cmd.remove("--no-build-isolation")
            r = subprocess.run(cmd, check=False, capture_output=True, text=True)
            if not out.exists():
                raise FetchError(f"pip download {source['requirement']} failed:\n{r.stderr[-2000:]}")
    return out


DOWNLOADERS = {"github-archive": _download_github, "pypi-sdist": _download_pypi}


def _extract(archive: Path, subdir: str, into: Path) -> None:
    """Extract the tree under ``<top>/<subdir>/`` of a tar archive into ``into``."""
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/")[0]
        prefix = f"{top}/{subdir.strip('/')}/" if subdir else f"{top}/"
        picked = []
        for m in members:
            if not m.name.startswith(prefix) or not (m.isfile() or m.isdir()):
                continue
            rel = m.name[len(prefix):]
            if not rel or rel.split("/")[0] in DROP:
                continue
            m.name = rel
            picked.append(m)
        if not picked:
            raise FetchError(f"{archive.name} has no {prefix!r} tree")
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(into, members=picked, **kwargs)


def fetch(force: bool = False) -> Path:
    pin = load_pin()
    if DEST.exists() and any(DEST.iterdir()) and not force:
        verify()
        return DEST
    errors = []
    for source in pin["sources"]:
        try:
            archive = DOWNLOADERS[source["kind"]](source, DEST.parent)
        except Exception as e:  # network down, registry refused, ...
            errors.append(f"{source['kind']}: {e}")
            continue
        if source.get("sha256") and sha256_file(archive) != source["sha256"]:
            errors.append(f"{source['kind']}: {archive} sha256 {sha256_file(archive)} != pinned {source['sha256']}")
            continue
        with tempfile.TemporaryDirectory(dir=DEST.parent) as tmp:
            staged = Path(tmp) / "llama.cpp"
            _extract(archive, source["subdir"], staged)
            got = tree_sha256(staged)
            if got != pin["tree_sha256"]:
                errors.append(f"{source['kind']}: extracted tree sha256 {got} != pinned {pin['tree_sha256']}")
                continue
            (staged / STAMP).write_text(f"{pin['commit']} {source['kind']} {archive.name}\n")
            if DEST.exists():
                shutil.rmtree(DEST)
            staged.rename(DEST)
        print(f"vendor/llama.cpp: llama.cpp {pin['commit']} from {source['kind']} ({archive.name}), verified")
        return DEST
    raise FetchError("could not fetch llama.cpp " + pin["commit"] + ":\n  " + "\n  ".join(errors))


def verify() -> None:
    pin = load_pin()
    got = tree_sha256(DEST)
    if got != pin["tree_sha256"]:
        raise FetchError(
            f"vendor/llama.cpp does not match the pin (tree sha256 {got}, pinned {pin['tree_sha256']}); "
            "run `python vendor/fetch.py --force` (or `nox -s vendor -- --force`) to fetch it again"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="fetch even if vendor/llama.cpp is filled")
    ap.add_argument("--verify", action="store_true", help="only verify the existing tree")
    ap.add_argument("--print-tree-hash", metavar="DIR", help="print the tree hash of DIR and exit")
    args = ap.parse_args(argv)
    try:
        if args.print_tree_hash:
            print(tree_sha256(Path(args.print_tree_hash)))
        elif args.verify:
            verify()
            print("vendor/llama.cpp matches the pin")
        else:
            fetch(force=args.force)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
