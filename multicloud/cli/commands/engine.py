"""`multicloud docker ...`: helpers for the private cloud's Docker Engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from multicloud.cli.base import (
    docker_app,
    run,
)

if TYPE_CHECKING:

    from multicloud.cli.output import Output


@docker_app.command("base-image")
def docker_base_image(
    ctx: typer.Context,
    python: Annotated[str, typer.Option(help="Python version the image must carry.")] = "3.11",
    tag: Annotated[str | None, typer.Option(help="Image tag; default multicloud/python:<v>-bookworm.")] = None,
) -> None:
    """Build an air-gapped Python base image from Debian packages (debootstrap + docker import)."""

    def work(out: Output) -> int:
        from importlib import import_module

        build_base_image = import_module("multicloud.providers.docker.base_image").build_base_image

        with out.spinner("building base image (debootstrap, about a minute)"):
            built = build_base_image(python, tag, out.step)
        out.result({"image": built}, f"built {built}")
        return 0

    run(ctx, work)


@docker_app.command("proxy-image")
def docker_proxy_image(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Image tag; default multicloud/haproxy:2.6-bookworm.")] = None,
) -> None:
    """Build the gateway's HAProxy image from Debian packages, for engines without a registry."""

    def work(out: Output) -> int:
        from importlib import import_module

        build_proxy_image = import_module("multicloud.providers.docker.base_image").build_proxy_image

        with out.spinner("building the proxy image (debootstrap, about a minute)"):
            built = build_proxy_image(tag, out.step)
        out.result({"image": built}, f"built {built}")
        return 0

    run(ctx, work)


@docker_app.command("broker-image")
def docker_broker_image(
    ctx: typer.Context,
    tag: Annotated[str | None, typer.Option(help="Image tag; default multicloud/nats:bookworm.")] = None,
) -> None:
    """Build an air-gapped NATS JetStream broker image from Debian packages (debootstrap + docker import)."""

    def work(out: Output) -> int:
        from importlib import import_module

        build_broker_image = import_module("multicloud.providers.docker.broker_image").build_broker_image

        with out.spinner("building the broker image (debootstrap, about a minute)"):
            built = build_broker_image(tag, out.step)
        out.result({"image": built}, f"built {built}; set targets.docker.broker_image: {built}")
        return 0

    run(ctx, work)
