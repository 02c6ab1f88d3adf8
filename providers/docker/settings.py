"""`targets: docker:` settings: the private cloud on one Docker host or a Swarm.

The engine itself is chosen the way every Docker SDK user expects (`DOCKER_HOST`, `DOCKER_TLS_VERIFY`,
`DOCKER_CERT_PATH`, read by `docker.from_env()`), never here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from multicloud.spec.types import Float, Int, Port


class DockerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["single", "swarm"] = Field(
        "single", description="single: hardened containers behind a gateway; swarm: a Swarm service."
    )
    replicas: Int = Field(1, ge=1, le=100, description="Swarm mode: tasks of the function service.")
    base_image: str | None = Field(
        None, description="Default: python:<version>-slim. Air-gapped: multicloud/python:3.11-bookworm."
    )
    proxy_image: str | None = Field(
        None, description="The gateway's HAProxy image. Default: haproxy:2.6 (pulled from a registry); with an "
        "air-gapped base_image (multicloud/python:*), multicloud/haproxy:2.6-bookworm (`multicloud docker "
        "proxy-image`).",
    )
    publish_host: str = Field("127.0.0.1", description="Host address the port is published on.")
    gateway_network: Literal["auto", "host", "bridge"] = Field(
        "auto", description="Single mode: how the gateway owns the port. host: HAProxy binds publish_host:port "
        "on the host itself (no docker-proxy, no NAT: about 1.5x the requests per second); bridge: a port "
        "published by the engine. auto: host on a Linux engine, bridge on Docker Desktop, rootless or non-Linux "
        "engines.",
    )
    port: Port | None = Field(None, description="Fixed published port; default: a free one.")
    cpus: Float = Field(1.0, gt=0, le=64)
    pids_limit: Int = Field(256, ge=16)
    concurrency: Int = Field(32, ge=1, le=4096, description="Requests served at once per instance.")
    max_body_mb: Float = Field(6, gt=0, le=1024)
    labels: dict[str, str] = Field(default_factory=dict)
    scratch_mb: Int = Field(64, ge=1, le=65536, description="Size of the tmpfs scratch directory (/tmp).")
    user: str = Field("65534:65534", pattern=r"^[1-9][0-9]*(:[0-9]+)?$",
                      description="Non-root uid[:gid] the function runs as (root is refused).")
    health_timeout: Int = Field(60, ge=1, le=3600, description="Seconds a new version has to become healthy.")
    auth_key: str = Field("env:MULTICLOUD_AUTH_KEY", pattern=r"^(env|file):.+",
                          description="Reference (env:/file: on the deploying host) to the key of `auth: key` "
                          "routes; resolved at deploy time into a secrets mount, never into the image.")
    restart_retries: Int = Field(0, ge=0, le=1000,
                                 description="on-failure restart cap; 0 = restart without limit.")
    broker_image: str = Field(
        "nats:2.10-alpine", min_length=1,
        description="NATS JetStream image of the service's broker (queue, stream and storage triggers), pulled "
        "if missing. Air-gapped: multicloud/nats:bookworm, built by `multicloud docker broker-image`.")

    @model_validator(mode="after")
    def _mode_settings(self) -> DockerSettings:
        """Settings one mode cannot honour are refused, never silently ignored."""
        if self.mode == "single" and self.replicas != 1:
            raise ValueError("replicas applies to mode: swarm; single mode runs one container (blue/green) "
                             "Fix: set mode: swarm, or remove replicas")
        if self.mode == "swarm" and "publish_host" in self.model_fields_set and self.publish_host not in (
                "0.0.0.0", "::"):
            raise ValueError(f"publish_host {self.publish_host} cannot be honoured in swarm mode: a Swarm "
                             "published port is open on every interface of the node Fix: remove publish_host "
                             "(and firewall the port), or use mode: single")
        if self.mode == "swarm" and self.gateway_network == "host":
            raise ValueError("gateway_network: host applies to mode: single; a Swarm gateway publishes its port "
                             "through Swarm's routing Fix: remove gateway_network, or use mode: single")
        return self
