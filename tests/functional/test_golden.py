"""Golden files: for each example and target, the rendered entry files equal the checked-in ones.

A change to a blueprint or to how the spec maps onto a target shows up here as a reviewable diff.
Regenerate after an intended change with:

    MULTICLOUD_UPDATE_GOLDEN=1 pytest tests/functional/test_golden.py

Each case runs the target's real `build` (render + package, no cloud) on a copy of the example and reads
the entry files out of the artifact it produced, plus every function's entry point from `build.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from multicloud.errors import MulticloudError
from multicloud.orchestrate import build_target
from multicloud.project import Project

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
EXAMPLES = ("hello-http", "orders", "hybrid-clinic", "bring-your-own")
# target -> (artifact inside the build folder, entry files inside it); "" means the build folder itself
ENTRY_FILES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aws": ("package.zip", ("_multicloud_entry.py",)),
    "azure": ("app.zip", ("function_app.py", "host.json")),
    "gcp": ("source.zip", ("main.py",)),
    "local": ("", ("runtime.json",)),
}
UPDATE = os.environ.get("MULTICLOUD_UPDATE_GOLDEN") == "1"
DOCKER_FILES = ("Dockerfile", "runtime.json")  # the docker build context, staged without an engine


def cases() -> list[tuple[str, str]]:
    out = []
    for example in EXAMPLES:
        project = Project.load(ROOT / "examples" / example)
        for target in (*ENTRY_FILES, "docker"):
            if project.functions_for(target):
                out.append((example, target))
    return out


def read_entry(build_dir: Path, artifact: str, name: str) -> bytes:
    if artifact.endswith(".zip"):
        with zipfile.ZipFile(build_dir / artifact) as zf:
            return zf.read(name)
    return (build_dir / artifact / name).read_bytes()


@pytest.mark.parametrize(("example", "target"), cases(), ids=[f"{e}-{t}" for e, t in cases()])
def test_rendered_entry_files_match_golden(example: str, target: str, tmp_path: Path) -> None:
    src = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, src, ignore=shutil.ignore_patterns(".multicloud"))
    project = Project.load(src)
    if target == "docker":
        rendered = docker_context(project, tmp_path)
        compare(example, target, rendered, src)
        return
    try:
        result = build_target(project, target, lambda _m: None)
    except MulticloudError as exc:  # a target that cannot take this example must say why, located
        rendered = {"refused.txt": f"{type(exc).__name__}: {exc.what}\n".encode()}
    else:
        artifact, names = ENTRY_FILES[target]
        # the local target references files beside the project by absolute path: normalise it
        rendered = {name: read_entry(result.out_dir, artifact, name).replace(str(src).encode(), b"<project>")
                    for name in names}
        manifest = json.loads((result.out_dir / "build.json").read_text())
        entry_points = {fn: meta["entry_point"] for fn, meta in manifest["functions"].items()}
        rendered["entry_points.json"] = (json.dumps(entry_points, indent=2, sort_keys=True) + "\n").encode()
    compare(example, target, rendered, src)


def docker_context(project: Project, tmp_path: Path) -> dict[str, bytes]:
    from multicloud.providers.docker.context import stage
    from multicloud.providers.docker.settings import DockerSettings

    settings = project.settings("docker")
    assert isinstance(settings, DockerSettings)
    files = stage(project, settings, tmp_path / "docker-build", "x86_64", lambda _m: None)
    return {name: files[name] if isinstance(files[name], bytes) else files[name].read_bytes()  # type: ignore[union-attr]
            for name in DOCKER_FILES}


def compare(example: str, target: str, rendered: dict[str, bytes], src: Path) -> None:
    import re

    # the local broker's client port is a free one, chosen on the first build: normalise it as well
    rendered = {name: re.sub(rb"nats://127\.0\.0\.1:\d+", b"nats://127.0.0.1:<port>",
                             data.replace(str(src).encode(), b"<project>")) for name, data in rendered.items()}
    folder = GOLDEN / example / target
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, data in rendered.items():
            (folder / name).write_bytes(data)
    expected = {p.name: p.read_bytes() for p in folder.iterdir()} if folder.is_dir() else {}
    assert sorted(rendered) == sorted(expected), f"regenerate: MULTICLOUD_UPDATE_GOLDEN=1 pytest {__file__}"
    for name, data in rendered.items():
        assert data.decode() == expected[name].decode(), f"{example}/{target}/{name} differs from golden"
