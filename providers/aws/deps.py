"""Install a service's requirements for Lambda's platform (wheels only, target Python and architecture).

Two installers, same result: `uv pip install --target --python-platform` when uv is installed (it
resolves and unpacks in a fraction of pip's time, which is most of a cold build), else
`multicloud.package.pip_install_target` (`pip --platform --only-binary=:all:`). Set
MULTICLOUD_INSTALLER=pip to force pip. uv does not read pip's configuration, so the index settings pip
would use (pip.conf files and PIP_INDEX_URL / PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS) are passed to it.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

from multicloud.errors import OperationError
from multicloud.package import pip_install_target


def uv_binary() -> str | None:
    """uv's path, unless MULTICLOUD_INSTALLER=pip (uv is used by default when found)."""
    if os.environ.get("MULTICLOUD_INSTALLER", "").lower() == "pip":
        return None
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def installer() -> str:
    return "uv" if uv_binary() else "pip"


def uv_platform(architecture: str, python_version: str) -> str:
    arch = "aarch64" if architecture == "arm64" else "x86_64"
    # Lambda's Python 3.12+ images are Amazon Linux 2023 (glibc 2.34); earlier ones Amazon Linux 2 (2.26)
    if tuple(int(p) for p in python_version.split(".")) >= (3, 12):
        return f"{arch}-manylinux_2_34"
    return f"{arch}-manylinux2014"


def pip_index_options() -> list[str]:
    """The index options pip would use here, read from its config files and environment."""
    files = [Path("/etc/pip.conf"), Path.home() / ".pip" / "pip.conf", Path.home() / ".config" / "pip" / "pip.conf"]
    if os.environ.get("VIRTUAL_ENV"):
        files.append(Path(os.environ["VIRTUAL_ENV"]) / "pip.conf")
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    parser = configparser.ConfigParser()
    parser.read([str(f) for f in files if f.is_file()])
    values: dict[str, str] = {}
    for section in ("global", "install"):
        if parser.has_section(section):
            values.update({k: v for k, v in parser.items(section) if k in ("index-url", "extra-index-url",
                                                                         "find-links", "no-index")})
    for key in ("index-url", "extra-index-url", "find-links", "no-index"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env:
            values[key] = env
    opts: list[str] = []
    if values.get("index-url"):
        opts += ["--index-url", values["index-url"].split()[0]]
    for url in values.get("extra-index-url", "").split():
        opts += ["--extra-index-url", url]
    for link in values.get("find-links", "").split():
        opts += ["--find-links", link]
    if values.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        opts.append("--no-index")
    return opts


def install(requirements: Path, target: Path, *, python_version: str, architecture: str,
            pip_platforms: tuple[str, ...]) -> str:
    """Install into `target`; return the installer used."""
    uv = uv_binary()
    if uv is None:
        pip_install_target(requirements, target, python_version=python_version, platforms=pip_platforms)
        return "pip"
    cmd = [uv, "pip", "install", "--quiet", "--no-config", "--target", str(target), "-r", str(requirements),
           "--python-version", python_version, "--python-platform", uv_platform(architecture, python_version),
           "--only-binary", ":all:", "--index-strategy", "unsafe-best-match", *pip_index_options()]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise OperationError(
            f"installing dependencies from {requirements} failed: {tail}",
            fix="check the package names and that each has a wheel for the target platform "
                "(MULTICLOUD_INSTALLER=pip retries with pip)",
            where=str(requirements),
        )
    return "uv"
