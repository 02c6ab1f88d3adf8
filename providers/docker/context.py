"""A deterministic build context, and the image built from it.

Context = `Dockerfile` + `app/` (user code, vendored runtime, `runtime.json`, staged by
`multicloud.private_runtime`) + `deps/` (installed on the host with `pip --target` for the image's
Python and the engine's architecture, wheels only, so the build itself never needs a network) +
`server/` (the runtime's HTTP server packages, uvicorn and its parser and loop: `runtime_deps`).
The context is sent as a tar with sorted entries, fixed times, owners and modes: its sha256 is the
deployment's *digest*. The image is tagged `multicloud/<service>:<digest[:12]>` and labelled with the
full digest, so an unchanged digest is found on the engine and neither rebuilt nor redeployed.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import OperationError, SpecError
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


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    digest: str
    image_id: str
    reused: bool


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


def check_python(client: Any, base: str, project: Project, out_dir: Path) -> None:
    """The base image must have the spec's Python: dependencies are installed for that version."""
    base_id = client.images.get(base).id
    cache = out_dir / "base-python.json"
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    if known.get("id") != base_id:
        out = client.containers.run(base, ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                    remove=True, network_disabled=True, labels={eng.MANAGED: "true"})
        known = {"id": base_id, "python": out.decode().strip()}
        cache.write_text(json.dumps(known) + "\n")
    if known["python"] != project.spec.python_version:
        raise SpecError(
            f"base image {base} has Python {known['python']}, the spec asks for {project.spec.runtime}",
            fix=f"set runtime: python{known['python']}, or a base image with Python {project.spec.python_version}",
            where=f"{project.spec_path}: targets.docker.base_image",
        )


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


def image_for(client: Any, tag: str, digest: str) -> Any | None:
    from docker.errors import ImageNotFound

    try:
        image = client.images.get(tag)
    except ImageNotFound:
        return None
    return image if image.labels.get(eng.DIGEST) == digest else None


def ensure_base(client: Any, base: str, progress: Progress) -> None:
    """The base image on the engine: pulled (with progress) when missing; air-gapped engines build it."""
    from .images import ensure_image

    ensure_image(client, base, progress, build_command="multicloud docker base-image",
                 setting="targets.docker.base_image")


def build_tar(client: Any, tarball: Path, tag: str, labels: dict[str, str], progress: Progress) -> Any:
    from docker.errors import BuildError

    log: list[dict[str, Any]] = []
    with tarball.open("rb") as fh:
        stream = client.api.build(fileobj=fh, custom_context=True, tag=tag, labels=labels, rm=True,
                                  forcerm=True, pull=False, decode=True)
        for chunk in stream:
            log.append(chunk)
            if "error" in chunk:
                raise BuildError(chunk["error"], log)
            text = str(chunk.get("stream", "")).strip()
            if text.startswith("Step "):
                progress(text)
    return client.images.get(tag)


def build_function_image(client: Any, project: Project, settings: DockerSettings, out_dir: Path,
                         progress: Progress) -> BuiltImage:
    base = default_base_image(project, settings)
    ensure_base(client, base, progress)
    check_python(client, base, project, out_dir)
    arch = str(client.info().get("Architecture", "x86_64"))
    files = stage(project, settings, out_dir, arch, progress)
    tarball = out_dir / "context.tar"
    digest = write_context_tar(files, tarball)
    # The base image's id is part of what is deployed: a rebuilt base means a new digest.
    base_id = client.images.get(base).id
    digest = hashlib.sha256(f"{digest}\n{base_id}".encode()).hexdigest()
    tag = f"multicloud/{project.name}:{digest[:12]}"
    existing = image_for(client, tag, digest)
    if existing is not None:
        progress(f"image {tag} is up to date")
        return BuiltImage(tag, digest, existing.id, reused=True)
    labels = eng.labels_for(project.name, "function", settings.labels, digest=digest)
    progress(f"building {tag} from {base}")
    image = build_tar(client, tarball, tag, labels, progress)
    (out_dir / "image.json").write_text(json.dumps({"tag": tag, "digest": digest, "id": image.id}) + "\n")
    return BuiltImage(tag, digest, image.id, reused=False)


def build_gateway_image(client: Any, project: Project, settings: DockerSettings, out_dir: Path,
                        progress: Progress) -> str:
    """The gateway image: the proxy image (pulled if missing, or built from Debian packages for an air-gapped
    engine) + this service's haproxy.cfg. Tagged by content, so an unchanged configuration is not rebuilt."""
    from .hardening import uid_gid
    from .images import ensure_image
    from .proxy import NETWORK_LABEL, STATE_FILE, default_proxy_image, error_files, gateway_network, render_config

    proxy_image = default_proxy_image(settings)
    ensure_image(client, proxy_image, progress, build_command="multicloud docker proxy-image",
                 setting="targets.docker.proxy_image")
    uid, gid = uid_gid(settings)
    network = gateway_network(client, settings)  # host or bridge: the configuration differs (proxy.py)
    dockerfile = render("docker", "gateway.Dockerfile.j2", proxy_image=proxy_image, uid=uid, gid=gid,
                        port=eng.INTERNAL_PORT, state_file=STATE_FILE if network == "host" else None)
    files: dict[str, Path | bytes] = {"Dockerfile": dockerfile.encode(),
                                      "haproxy.cfg": render_config(project, settings, settings.mode, network).encode(),
                                      **error_files()}
    if network == "host":
        files["state/servers.state"] = b""  # the state volume's first content, owned by the gateway's user
    tarball = out_dir / "gateway-context.tar"
    digest = write_context_tar(files, tarball)
    extra = json.dumps(settings.labels, sort_keys=True)
    digest = hashlib.sha256(f"{digest}\n{client.images.get(proxy_image).id}\n{extra}".encode()).hexdigest()
    tag = f"multicloud/gateway:{digest[:12]}"
    if image_for(client, tag, digest) is None:
        progress(f"building gateway image {tag} from {proxy_image}")
        labels = {**settings.labels, eng.MANAGED: "true", eng.ROLE: "gateway", eng.DIGEST: digest,
                  NETWORK_LABEL: network}
        build_tar(client, tarball, tag, labels, progress)
    return tag
