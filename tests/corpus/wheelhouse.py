"""Download the corpus services' dependencies as wheels, so the corpus tests build offline.

    python tests/corpus/wheelhouse.py [DIR]      (DIR defaults to tests/corpus/.wheelhouse, gitignored)

The corpus tests (tests/e2e/imports/test_corpus_run.py) build every service for aws and for local with
PIP_NO_INDEX=1 and PIP_FIND_LINKS=DIR: nothing comes from an index at test time. This script runs before
them (.ci/run calls it) and is the only step that talks to the package index.

What it fetches is what the builds will ask for: each service is imported into a scratch folder with
`multicloud import` (the requirements file the spec points at, including the one the importer generates),
then `pip download --only-binary=:all:` fetches that file's closure for

* Lambda's platform at this machine's Python (the tests build every service for the running Python):
  manylinux2014 x86_64, plus aarch64 for the services whose serverless.yml asks for arm64;
* this machine, for the local target's install.

Pure-Python wheels are shared between the platforms, so the second pass mostly finds them present. A
`wheelhouse.json` stamp records a digest of the corpus's inputs; the tests refuse a missing or stale
wheelhouse with a message naming this script. Services are downloaded in parallel, and an unchanged
corpus (same stamp) makes the script a no-op.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "serverless"
DEFAULT_DIR = HERE / ".wheelhouse"
STAMP = "wheelhouse.json"
SKIP = {"SOURCE", "LICENSE.upstream"}  # the rest of a service folder decides what its build installs
PLATFORMS = {"x86_64": ("manylinux2014_x86_64", "manylinux_2_17_x86_64"),
             "arm64": ("manylinux2014_aarch64", "manylinux_2_17_aarch64")}


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def inputs_digest(corpus: Path = CORPUS) -> str:
    """A digest of every file that can change what a corpus build installs, and of the Python it builds for."""
    digest = hashlib.sha256(python_version().encode())
    for path in sorted(p for p in corpus.rglob("*") if p.is_file() and p.name not in SKIP
                       and "__pycache__" not in p.parts):
        digest.update(b"\0" + path.relative_to(corpus).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def problem(folder: Path) -> str | None:
    """Why the wheelhouse at `folder` cannot serve the corpus tests, or None when it can."""
    stamp = folder / STAMP
    fix = f"run `python tests/corpus/wheelhouse.py {folder}` (it downloads the corpus services' wheels)"
    if not stamp.is_file():
        return f"no corpus wheelhouse at {folder}: {fix}"
    try:
        recorded = json.loads(stamp.read_text()).get("inputs")
    except ValueError:
        recorded = None
    if recorded != inputs_digest():
        return f"the corpus wheelhouse at {folder} is stale (the corpus's dependencies changed): {fix}"
    return None


def requirement_sets(scratch: Path) -> dict[str, tuple[Path, str]]:
    """service -> (the requirements file its spec names, its aws architecture), for services with one."""
    from multicloud.migrate import convert_file

    out: dict[str, tuple[Path, str]] = {}
    for service in sorted(p for p in CORPUS.iterdir() if (p / "SOURCE").is_file()):
        folder = scratch / service.name
        shutil.copytree(service, folder)
        conversion = convert_file(folder / "serverless.yml")
        for name, text in conversion.files.items():
            (folder / name).write_text(text)
        spec = yaml.safe_load(conversion.to_yaml())
        if spec.get("requirements"):
            arch = ((spec.get("targets") or {}).get("aws") or {}).get("architecture", "x86_64")
            out[service.name] = (folder / spec["requirements"], arch)
    return out


def download(requirements: Path, dest: Path, platforms: tuple[str, ...]) -> str:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
           "--only-binary=:all:", "-d", str(dest), "-r", str(requirements)]
    if platforms:
        cmd += ["--python-version", python_version(), "--implementation", "cp"]
        cmd += [arg for plat in platforms for arg in ("--platform", plat)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"{requirements} ({', '.join(platforms) or 'this machine'}): {proc.stderr.strip()[-1500:]}"
    return ""


def build(dest: Path, jobs: int = 4) -> dict[str, Any]:
    dest.mkdir(parents=True, exist_ok=True)
    (dest / STAMP).unlink(missing_ok=True)  # a run that stops half-way must not look complete
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="corpus-wheelhouse-") as scratch:
        sets = requirement_sets(Path(scratch))
        work: list[tuple[Path, tuple[str, ...]]] = [(req, PLATFORMS.get(arch, PLATFORMS["x86_64"]))
                                                    for req, arch in sets.values()]
        work += [(req, ()) for req, _ in sets.values()]  # this machine, for the local target
        with ThreadPoolExecutor(jobs) as pool:
            failures = [f for f in pool.map(lambda w: download(w[0], dest, w[1]), work) if f]
    if failures:
        raise SystemExit("pip download failed for:\n" + "\n".join(failures))
    wheels = sorted(p.name for p in dest.glob("*.whl"))
    stamp = {"inputs": inputs_digest(), "python": python_version(), "services": sorted(sets),
             "wheels": len(wheels), "bytes": sum((dest / w).stat().st_size for w in wheels),
             "seconds": round(time.monotonic() - started, 1)}
    (dest / STAMP).write_text(json.dumps(stamp, indent=2) + "\n")
    return stamp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR, help="where the wheels go")
    parser.add_argument("--jobs", type=int, default=4, help="pip downloads at once")
    args = parser.parse_args(argv)
    dest = args.dir.resolve()
    if problem(dest) is None:
        print(f"wheelhouse {dest} is up to date")
        return 0
    stamp = build(dest, args.jobs)
    print(f"wheelhouse {dest}: {stamp['wheels']} wheels, {stamp['bytes'] / 1e6:.1f} MB, "
          f"{stamp['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
