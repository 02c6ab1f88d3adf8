"""Build: the function's image from its deterministic context (context.py), and the gateway's image.

The context's sha256 (with the base image's id) is the deployment's *digest*; the image is tagged
`multicloud/<service>:<digest[:12]>` and labelled with the full digest, so an unchanged digest is found on
the engine and neither rebuilt nor redeployed. The gateway image is HAProxy plus this service's
configuration, tagged by content. `docker-images.json` in the build folder records both for plan and apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from multicloud.errors import SpecError
from multicloud.project import Project
from multicloud.provider import Artifact, BuildResult, Progress
from multicloud.render import render

from . import engine as eng
from .context import default_base_image, stage, write_context_tar
from .settings import DockerSettings

IMAGES_FILE = "docker-images.json"


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    digest: str
    image_id: str
    reused: bool


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


def build(client: Any, project: Project, settings: DockerSettings, out_dir: Path, progress: Progress) -> BuildResult:
    """Both images, recorded in `docker-images.json`; one artifact per function (they share the image)."""
    image = build_function_image(client, project, settings, out_dir, progress)
    gateway = build_gateway_image(client, project, settings, out_dir, progress)
    (out_dir / IMAGES_FILE).write_text(json.dumps(
        {"image": image.tag, "digest": image.digest, "gateway": gateway, "reused": image.reused},
        indent=2, sort_keys=True) + "\n")
    tar = out_dir / "context.tar"
    artifacts = tuple(
        Artifact(function=fn.name, path=tar, entry_point=image.tag, size=tar.stat().st_size, sha256=image.digest)
        for fn in project.functions_for("docker")
    )
    return BuildResult(target="docker", out_dir=out_dir, artifacts=artifacts, digest=image.digest)


def images(build: BuildResult) -> dict[str, Any]:
    """What a build made: {"image", "digest", "gateway", "reused"}."""
    data: dict[str, Any] = json.loads((build.out_dir / IMAGES_FILE).read_text())
    return data
