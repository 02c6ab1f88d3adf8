"""A deterministic build context, and the image built from it.

Context = `Dockerfile` + `app/` (user code, vendored runtime, `runtime.json`, staged by
`multicloud.private_runtime`) + `deps/` (installed on the host with `pip --target` for the image's
Python and the engine's architecture, wheels only, so the build itself never needs a network) +
`server/` (the runtime's HTTP server packages, uvicorn and its parser and loop: `runtime_deps`).
The context is sent as a tar with sorted entries, fixed times, owners and modes: its sha256 is the
deployment's *digest* (build.py builds the image from it). Also here: where the runtime finds its secrets
and its broker inside the container, which deploy needs as well.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

from multicloud.errors import OperationError
from multicloud.package import iter_tree, sha256_file
from multicloud.private_runtime import BrokerAccess
from multicloud.project import Project
from multicloud.provider import Progress
from multicloud.render import render

from . import engine as eng
from .runtime_deps import server_files
from .settings import DockerSettings

ROOT = "/opt/multicloud"
SECRETS_DIR = "/run/multicloud/secrets"
AUTH_KEY_FILE = "auth-key"
SWARM_DRAIN_GRACE = 3.0
#: glibc of Debian bookworm (and python:*-slim) is 2.36: every manylinux wheel up to it runs there.
GLIBC_MINOR = 36
ARCHES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def default_base_image(project: Project, settings: DockerSettings) -> str:
    return settings.base_image or f"python:{project.spec.python_version}-slim"


def wheel_platforms(arch: str) -> tuple[str, ...]:
    machine = ARCHES.get(arch)
    if machine is None:
        raise OperationError(f"the engine's architecture {arch!r} has no manylinux wheels known here",
                             fix="use an x86_64 or aarch64 engine", where="docker")
    return tuple(f"manylinux_2_{m}_{machine}" for m in range(GLIBC_MINOR, 16, -1)) + (
        f"manylinux2014_{machine}",
    )


def server_command(port: int) -> list[str]:
    return ["python3", "-m", "multicloud.runtime.server", "--config", f"{ROOT}/runtime.json",
            "--host", "0.0.0.0", "--port", str(port)]


def secret_files(project: Project, settings: DockerSettings) -> tuple[dict[str, str], str | None]:
    """{file name in the secrets mount: host-side reference}, and the auth key's container reference.

    Each reference is resolved on the deploying host at deploy time and written to a root-owned volume;
    the image and `docker inspect` only ever see `file:/run/multicloud/secrets/<name>` references.
    """
    out: dict[str, str] = {}
    for fn in project.functions_for("docker"):
        for env_name, ref in fn.secrets.items():
            out[env_name] = ref
    from multicloud.private_runtime import holds_key

    if holds_key(project, "docker"):  # `auth: key` routes, or the HTTP intake when auth_key is set
        out[AUTH_KEY_FILE] = settings.auth_key
        return out, f"file:{SECRETS_DIR}/{AUTH_KEY_FILE}"
    return out, None


def broker_access(project: Project, settings: DockerSettings) -> BrokerAccess | None:
    """Where the function finds its broker, when a function reads a queue, stream or bucket."""
    from multicloud.broker.topology import topology

    from .broker import access

    return None if topology(project, "docker").empty else access(project, settings)


def runtime_json(project: Project, settings: DockerSettings) -> bytes:
    from multicloud import private_runtime

    _, key_ref = secret_files(project, settings)
    config = private_runtime.runtime_config(project, "docker", auth_key_ref=key_ref,
                                            broker=broker_access(project, settings))
    for fn in config["functions"].values():
        fn["secrets"] = {env: f"file:{SECRETS_DIR}/{env}" for env in fn["secrets"]}
    if settings.mode == "swarm":
        # a stopping task leaves Docker's DNS first; the gateway stops choosing it within about 2 s, so its
        # idle kept-alive connections stay open until then (a close racing a request would drop it)
        config["limits"]["drain_grace"] = SWARM_DRAIN_GRACE
    return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode()


def stage(project: Project, settings: DockerSettings, out_dir: Path, arch: str,
          progress: Progress) -> dict[str, Path | bytes]:
    """The private runtime's staged folder (shared with `local`), with docker's own runtime.json."""
    from multicloud import private_runtime

    staged = private_runtime.stage_artifact(project, "docker", out_dir / "stage", progress,
                                            pip_platforms=wheel_platforms(arch),
                                            python_version=project.spec.python_version,
                                            broker=broker_access(project, settings))
    files: dict[str, Path | bytes] = {f"app/{arc}": path for arc, path in iter_tree(staged.app_dir)}
    deps = dict(iter_tree(staged.deps_dir))
    files.update({f"deps/{arc}": path for arc, path in deps.items()})
    server = server_files(project.spec.python_version, wheel_platforms(arch), progress)
    files.update({f"server/{arc}": path for arc, path in server.items()})
    files["runtime.json"] = runtime_json(project, settings)
    dockerfile = render("docker", "Dockerfile.j2", service=project.name,
                        base_image=default_base_image(project, settings), has_deps=bool(deps),
                        user=settings.user, port=eng.INTERNAL_PORT, root=ROOT,
                        command=server_command(eng.INTERNAL_PORT))
    files["Dockerfile"] = dockerfile.encode()
    return files


def write_context_tar(files: Mapping[str, Path | bytes], dest: Path) -> str:
    """A reproducible tar (sorted, mtime 0, root-owned, 0644/0755); returns its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                    tar.addfile(info)
            src = files[name]
            data = src if isinstance(src, bytes) else src.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return sha256_file(dest)
