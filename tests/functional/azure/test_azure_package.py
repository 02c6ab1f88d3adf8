"""Dependencies are pre-installed for Linux x86-64 under .python_packages/lib/site-packages.

Real pip (`pip install --target --platform manylinux2014_x86_64 --only-binary=:all:`) against a local
wheelhouse built here (PIP_NO_INDEX / PIP_FIND_LINKS, pip's standard configuration): one package ships a
Linux wheel and a macOS wheel with different contents, so the test shows which platform pip picked.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from azure_testkit import SAMPLE, build, copy_sample


def make_wheel(dest: Path, name: str, tag: str, module_source: str) -> Path:
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": module_source.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": (f"Wheel-Version: 1.0\nGenerator: multicloud-tests\n"
                          f"Root-Is-Purelib: {'true' if tag.endswith('any') else 'false'}\nTag: {tag}\n").encode(),
    }
    record = "".join(
        f"{arc},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for arc, data in files.items()) + f"{dist}/RECORD,,\n"
    files[f"{dist}/RECORD"] = record.encode()
    path = dest / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for arc, data in files.items():
            zf.writestr(arc, data)
    return path


@pytest.mark.slow
def test_dependencies_are_installed_for_linux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    make_wheel(house, "mcplat", "cp311-cp311-manylinux2014_x86_64", "BUILT_FOR = 'linux'\n")
    make_wheel(house, "mcplat", "cp311-cp311-macosx_11_0_arm64", "BUILT_FOR = 'mac'\n")
    make_wheel(house, "mcpure", "py3-none-any", "VALUE = 42\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))

    spec_text = (SAMPLE / "multicloud.yaml").read_text().replace(
        "runtime: python3.11\n", "runtime: python3.11\nrequirements: requirements.txt\n")
    spec = copy_sample(tmp_path / "svc", spec_text)
    (spec.parent / "requirements.txt").write_text("mcplat==1.0\nmcpure  # pure python\nazure-functions\n")
    result = build(spec, tmp_path / "build")

    site = ".python_packages/lib/site-packages/"
    with zipfile.ZipFile(result.artifacts[0].path) as zf:
        names = set(zf.namelist())
        assert zf.read(site + "mcplat.py") == b"BUILT_FOR = 'linux'\n"
        assert zf.read(site + "mcpure.py") == b"VALUE = 42\n"
        assert not any(n.startswith(site + "azure") for n in names)  # the worker provides azure-functions
    rendered = (result.out_dir / "app" / "requirements.txt").read_text().splitlines()
    assert rendered[1:] == ["azure-functions", "mcplat==1.0", "mcpure"]

    again = build(spec, tmp_path / "build")  # cached install: same bytes
    assert again.digest == result.digest


def test_a_dependency_without_a_linux_wheel_fails_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from multicloud.errors import OperationError

    house = tmp_path / "wheelhouse"
    house.mkdir()
    make_wheel(house, "mcmac", "cp311-cp311-macosx_11_0_arm64", "X = 1\n")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(house))
    spec = copy_sample(tmp_path / "svc", (SAMPLE / "multicloud.yaml").read_text().replace(
        "runtime: python3.11\n", "runtime: python3.11\nrequirements: requirements.txt\n"))
    (spec.parent / "requirements.txt").write_text("mcmac\n")
    with pytest.raises(OperationError, match="installing dependencies") as info:
        build(spec, tmp_path / "build")
    assert "wheel for the target platform" in (info.value.fix or "")
