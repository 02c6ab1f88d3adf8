"""Apply (single and swarm mode): the executor table. Each planned step names one entry of `OPS` and carries its
arguments as plain data; applying a plan runs the steps in order through this table and makes no other
write on the engine.

Each entry declares the engine's write calls it makes, in order, named after the Docker SDK's operation
(`containers.create`, `containers.start`, `containers.put_archive`, `volumes.create`...), and
`haproxy:set server` for the gateway switch over HAProxy's runtime API (one `docker exec` whose command
sets the servers' states); swarm's are `services.create`, `services.update`, `secrets.create`,
`secrets.remove`. Reads are not listed: inspections, health probes and HAProxy's `show` commands
(also `docker exec`s, but ones that change nothing). tests/e2e/docker/test_docker_plan_apply.py counts the
writes on the wire (the SDK's APIClient POST/PUT/DELETE requests) and compares them with these, in both
modes.

The broker is planned resource by resource, each with its engine writes: in single mode `broker.image`,
`broker.configure`, `broker.store`, `broker.run`, `broker.start`, `broker.reload`; in swarm mode
`broker.image`, `broker.auth` (one generation of the password secrets), `broker.config` (the configuration
secret, which holds no password), `broker.store` and `broker.node` (one per node's service).
`broker.streams` and `broker.prune` declare and delete streams and consumers over NATS (no engine write;
swarm's streams step reads the admin's password through a helper container when the apply did not just
write it).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from multicloud.errors import OperationError
from multicloud.plan import Plan, Step
from multicloud.private_runtime import warn_short_secrets
from multicloud.project import Project
from multicloud.provider import DeployResult, Endpoint, Progress

from . import engine as eng
from . import hardening, proxy
from .single import Single
from .swarm import Swarm, free_port

Args = dict[str, Any]


@dataclass
class Target:
    """What executors act through: the mode's engine helper and what earlier steps produced."""

    engine: Single | Swarm
    progress: Progress
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def mode(self) -> Single:
        assert isinstance(self.engine, Single), "a single-mode step in a swarm plan"
        return self.engine

    @property
    def swarm(self) -> Swarm:
        assert isinstance(self.engine, Swarm), "a swarm step in a single-mode plan"
        return self.engine


Executor = Callable[[Target, Args], object]


@dataclass(frozen=True)
class Op:
    run: Executor
    writes: tuple[str, ...]  # the write calls, in order
    calls_of: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None  # ...or decided by the arguments

    def calls(self, args: Mapping[str, Any]) -> tuple[str, ...]:
        return self.calls_of(args) if self.calls_of else self.writes


# ---- network, broker ---------------------------------------------------------------------------------
def _create_network(t: Target, args: Args) -> object:
    m = t.engine
    overlay = args.get("driver") == "overlay"  # swarm: attachable, so the secrets helpers can join it
    m.client.networks.create(args["name"], driver="overlay" if overlay else "bridge", attachable=overlay or None,
                             check_duplicate=True, labels=eng.labels_for(m.project.name, "network", m.settings.labels))
    return None


def _pull_broker_image(t: Target, args: Args) -> object:
    from .broker_image import ensure_broker_image

    ensure_broker_image(t.engine.client, args["image"], t.progress)
    return None


def _configure_broker(t: Target, args: Args) -> object:
    """Single: the broker's configuration (and new passwords) in its secrets volume, one helper container."""
    broker = t.mode.broker()
    known = broker_passwords(t.mode) if args["passwords"] == "known" else None
    t.progress(f"writing the configuration of the broker {broker.name}")
    t.outputs["broker_passwords"] = broker.creds.configure(broker.render, known, args["create_volume"])
    return None


def _configure_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return (("volumes.create",) if args["create_volume"] else ()) + (
        "containers.create", "containers.put_archive", "containers.remove")


def _broker_store(t: Target, args: Args) -> object:
    t.engine.broker().creds.init_store(args["volume"], "broker-data")
    return None


def _run_broker(t: Target, args: Args) -> object:
    """Single: the broker container, created (replacing one made from another image or settings; its store
    stays) on the planned port, or on one the engine picks, then pinned."""
    broker = t.mode.broker()
    if args["replace"]:
        old = broker.container()
        if old is not None:
            t.progress(f"recreating the broker {broker.name} (its image or settings changed; the store stays)")
            old.remove(force=True)
    else:
        t.progress(f"starting the broker {broker.name} ({broker.settings.broker_image})")
    broker.run(args["network"], args["port"])
    return None


def _broker_run_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    replace = ("containers.remove",) if args["replace"] else ()
    probe = ("containers.create", "containers.start", "containers.remove") if args["port"] is None else ()
    return replace + probe + ("containers.create", "containers.start")


def _single_broker(t: Target) -> Any:
    container = t.mode.broker().container()
    if container is None:
        raise OperationError(f"the broker of {t.mode.project.name} disappeared while deploying",
                             fix="plan and deploy again", where="docker")
    return container


def _start_broker(t: Target, args: Args) -> object:
    container = _single_broker(t)
    t.progress(f"starting the broker {container.name} again (it was {container.status})")
    container.start()
    return None


def _reload_broker(t: Target, args: Args) -> object:
    container = _single_broker(t)
    t.progress(f"reloading the broker's configuration ({container.name})")
    container.kill(signal="SIGHUP")
    return None


def _broker_streams(t: Target, args: Args) -> object:
    """The streams and consumers the topology needs, declared over NATS once the broker answers (swarm: once
    every node runs its current spec; the admin's password read from the secrets volume through a helper
    container unless this apply generated the passwords)."""
    from multicloud.broker.topology import topology

    if isinstance(t.engine, Swarm):
        cluster = t.swarm.broker()
        passwords = t.outputs.get("broker_passwords")
        if args.get("read") or passwords is None:
            passwords = _read_passwords(t)
        t.outputs["broker_admin"] = cluster.declare(passwords, t.progress)
        return None
    broker = t.mode.broker()
    port = broker.port(_single_broker(t))
    if port is None:
        raise OperationError(f"the broker {broker.name} has no published port", where=broker.name,
                             fix="run `multicloud remove --target docker`, then deploy")
    broker.creds._passwords = t.outputs.get("broker_passwords") or broker_passwords(t.mode)
    admin = broker.admin_for([port])
    admin.wait_ready()
    admin.ensure(topology(t.mode.project, "docker"), 1, t.progress)
    t.outputs["broker_admin"] = admin
    return None


def _streams_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("containers.create", "containers.remove") if args.get("read") else ()


def _read_passwords(t: Target) -> dict[str, str]:
    """Swarm: the broker's passwords, read from its secrets volume through a helper container (its nodes
    mount only Swarm secrets, which the engine never hands back). Reading never generates them."""
    from .broker import PASSWORDS_FILE

    raw = t.swarm.broker().creds.read(PASSWORDS_FILE)
    if raw is None:
        raise OperationError(f"the broker of {t.swarm.project.name} holds no passwords",
                             fix="plan and deploy again", where="docker")
    found: dict[str, str] = json.loads(raw)
    t.outputs["broker_passwords"] = found
    return found


def _broker_auth(t: Target, args: Args) -> object:
    """Swarm: one generation of the broker's password secrets (the passwords kept in the secrets volume)."""
    t.progress("writing the broker's passwords as Swarm secrets")
    t.outputs["broker_passwords"] = t.swarm.broker().create_auth(args["generation"])
    return None


def _auth_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return (("volumes.create",) if args["create_volume"] else ()) + (
        "containers.create", "containers.put_archive", "containers.remove") + ("secrets.create",) * 3


def _broker_config(t: Target, args: Args) -> object:
    t.swarm.broker().create_config()
    return None


def _broker_node(t: Target, args: Args) -> object:
    """Swarm: one node's service, created or updated (labelled with what it is made of, which plan compares)."""
    broker = t.swarm.broker()
    config = broker.node_config(broker.run_config(), args["generation"])
    broker.run_node(args["index"], args["network"], args["port"], args["generation"], config)
    return None


def broker_file(container: Any, name: str) -> bytes | None:
    """A file of the broker's secrets volume, read through the running broker container that mounts it
    (`GET .../archive`: a read, unlike a helper container)."""
    from docker.errors import NotFound

    from .broker import CONFIG_DIR

    try:
        stream, _ = container.get_archive(f"{CONFIG_DIR}/{name}")
    except NotFound:
        return None
    with tarfile.open(fileobj=BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(name)
        return member.read() if member is not None else None


def broker_passwords(mode: Single) -> dict[str, str]:
    from .broker import PASSWORDS_FILE

    container = mode.broker().container()
    raw = broker_file(container, PASSWORDS_FILE) if container is not None else None
    if raw is None:
        raise OperationError(f"the broker of {mode.project.name} holds no passwords",
                             fix="plan and deploy again", where="docker")
    found: dict[str, str] = json.loads(raw)
    return found


def _prune_broker(t: Target, args: Args) -> object:
    from multicloud.broker.topology import topology

    admin = t.outputs.get("broker_admin")
    if admin is None:  # single only: swarm plans its streams step (which connects) before every prune
        broker = t.mode.broker()
        broker.creds._passwords = broker_passwords(t.mode)  # read through the broker container
        admin = broker.admin()
    admin.prune(topology(t.engine.project, "docker"), t.progress)  # consumers no function reads now
    return None


# ---- function containers -----------------------------------------------------------------------------
def _secret_values(t: Target, args: Args) -> dict[str, str]:
    """The secret values, resolved now on this host; refused when they are not those the plan saw."""
    values = t.engine.resolve_secrets()
    if eng.secrets_fingerprint(values) != args["secrets"]:
        raise OperationError("secret values changed since the plan was made (rotated meanwhile)",
                             fix="plan again, review, then deploy", where="docker")
    return values


def _fill_secrets(t: Target, args: Args) -> object:
    """The per-container secrets volume, filled through a created-never-started helper container."""
    from .broker import mounted_passwords

    m = t.mode
    values = _secret_values(t, args)
    warn_short_secrets(values, t.progress)
    passwords = (t.outputs.get("broker_passwords") or broker_passwords(m)) if args["broker"] else None
    files = {**values, **(mounted_passwords(passwords) if passwords else {})}
    if args["create"]:
        m.client.volumes.create(args["volume"], labels=eng.labels_for(m.project.name, "secrets", m.settings.labels))
    _, gid = hardening.uid_gid(m.settings)
    archive = eng.tar_of({name: value.encode() for name, value in files.items()}, mode=0o440, gid=int(gid))
    helper = m.client.containers.create(
        args["image"], command=["true"], network_disabled=True, user="0:0",
        labels=eng.labels_for(m.project.name, "secrets-helper", m.settings.labels),
        volumes={args["volume"]: {"bind": "/secrets", "mode": "rw"}})
    try:
        helper.put_archive("/secrets", archive)
    finally:
        helper.remove(force=True)
    return None


def _fill_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return (("volumes.create",) if args["create"] else ()) + (
        "containers.create", "containers.put_archive", "containers.remove")


def _start_function(t: Target, args: Args) -> object:
    """The new release on its slot, started and healthy; removed again (the old one keeps serving) if not."""
    m = t.mode
    opts = hardening.function_options(m.project, m.settings, image=args["image"], name=args["name"],
                                      network=args["network"], labels=dict(args["labels"]),
                                      secrets_volume=args["volume"], aliases=[args["alias"]])
    t.progress(f"starting {args['name']} on slot {args['slot']}")
    container = m.client.containers.run(**opts)
    try:
        m.wait_healthy(container)
    except OperationError:
        m.discard(container, args["volume"])
        raise
    t.outputs["function"] = container
    return None


def _discard(t: Target, args: Args) -> object:
    """Stop and remove a container (and its secrets volume): the old release once the new one serves, or a
    leftover of a deploy killed half-way on the slot the new release takes."""
    from docker.errors import NotFound

    try:
        container = t.mode.client.containers.get(args["id"])
    except NotFound:
        container = None
    if container is not None:
        t.progress(f"stopping {container.name}")
    if container is not None or args["volume"]:
        _discard_found(t, container, args)
    return None


def _discard_found(t: Target, container: Any, args: Args) -> None:
    from docker.errors import NotFound

    if container is not None:
        try:
            container.stop(timeout=args["timeout"])
            container.remove(force=True)
        except NotFound:
            pass
    if args["volume"]:
        try:
            t.mode.client.volumes.get(args["volume"]).remove(force=True)
        except NotFound:
            pass


def _discard_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("containers.stop", "containers.remove") + (("volumes.remove",) if args["volume"] else ())


# ---- gateway -----------------------------------------------------------------------------------------
def _run_gateway(t: Target, args: Args) -> object:
    """Create the gateway (replacing one with another configuration first), on the planned port or on a
    port the engine picks through a probe container."""
    m = t.mode
    if args.get("replace"):
        old = m.gateway()
        if old is not None:
            t.progress("recreating the gateway (its configuration changed)")
            old.remove(force=True)
    port = args["port"] if args["port"] is not None else m.free_engine_port(args["image"])
    labels = eng.labels_for(m.project.name, "gateway", m.settings.labels)
    labels["io.multicloud.gateway-config"] = args["config"]
    opts = hardening.gateway_options(m.settings, image=args["image"], name=m.names.gateway,
                                     network=m.names.network, labels=labels, port=port,
                                     host_network=proxy.image_network(m.client, args["image"]) == "host")
    t.progress(f"starting the gateway {m.names.gateway} on port {port}")
    m.client.containers.run(**opts)
    return None


def _gateway_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    probe = ("containers.create", "containers.start", "containers.remove") if args["port"] is None else ()
    return (("containers.remove",) if args.get("replace") else ()) + probe + ("containers.create", "containers.start")


def _start_gateway(t: Target, args: Args) -> object:
    gateway = t.mode.gateway()
    if gateway is None:
        raise OperationError("the gateway disappeared while deploying", fix="plan and deploy again", where="docker")
    gateway.start()
    return None


def _switch(t: Target, args: Args) -> object:
    """New requests go to the new release's slot; the old slot drains what it holds."""
    m = t.mode
    gateway = m.gateway()
    container = t.outputs.get("function")
    if gateway is None or container is None:
        raise OperationError("the gateway or the new release is missing at the switch", where="docker",
                             fix="plan and deploy again")
    try:
        m.switch(gateway, args["slot"], container)
    except Exception:
        m.discard(container, args["volume"])  # nothing half-deployed: the old version keeps serving
        raise
    if args["drain"]:
        drain = hardening.max_timeout(m.project) + 2
        if not proxy.drain(gateway, m.admin_user, args["drain"], drain):
            t.progress(f"requests still running on the old version after {drain} s: stopping it anyway")
    return None


# ---- swarm -------------------------------------------------------------------------------------------
def _create_secrets(t: Target, args: Args) -> object:
    """One Swarm secret per secret of the function (secrets are immutable: new values, new names); the
    broker's runtime and producer passwords are the broker's own Swarm secrets, mounted as they are."""
    m = t.swarm
    values = _secret_values(t, args)
    warn_short_secrets(values, t.progress)
    files = dict(values)
    for file_name, name in sorted(args["names"].items()):
        m.client.secrets.create(name=name, data=files[file_name].encode(),
                                labels=eng.labels_for(m.project.name, "secret", m.settings.labels))
    return None


def _secrets_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("secrets.create",) * len(args["names"])


def _function_service(t: Target, args: Args) -> object:
    """The function service created, or updated in place (Swarm's rolling update, health-gated, rolled back
    by Swarm itself on failure); waits until every replica of the new release runs."""
    m = t.swarm
    spec = m.function_spec(args["image"], args["digest"], m.secret_refs(args["secrets"]))
    spec["labels"] = {**spec["labels"], **args["labels"]}
    current = m.service(m.name)
    if not args["update"] or current is None:
        t.progress(f"creating service {m.name} ({m.settings.replicas} replicas)")
        m.client.api.create_service(**spec)
    else:
        t.progress(f"rolling update of {m.name} to {args['image']}")
        current.reload()
        m.client.api.update_service(current.id, current.version, **spec)
    m.wait_converged(args["digest"])
    return None


def _service_calls(args: Mapping[str, Any]) -> tuple[str, ...]:
    return ("services.update",) if args["update"] else ("services.create",)


def _gateway_service(t: Target, args: Args) -> object:
    m = t.swarm
    port = args["port"] or free_port()
    spec = m.gateway_spec(args["image"], port)
    current = m.service(m.gateway_name)
    if not args["update"] or current is None:
        t.progress(f"creating the gateway service on port {port}")
        m.client.api.create_service(**spec)
    else:
        t.progress("updating the gateway service (its configuration changed)")
        current.reload()
        m.client.api.update_service(current.id, current.version, **spec)
    m.wait_gateway(args["config"])
    return None


def _remove_secret(t: Target, args: Args) -> object:
    from docker.errors import APIError, NotFound

    try:
        t.swarm.client.api.remove_secret(args["id"])
    except NotFound:
        pass
    except APIError:
        pass  # still referenced by a task being shut down: the next deploy plans it again
    return None


OPS: dict[str, Op] = {
    "network.create": Op(_create_network, ("networks.create",)),
    "broker.image": Op(_pull_broker_image, ("images.pull",)),
    "broker.configure": Op(_configure_broker, (), calls_of=_configure_calls),
    "broker.store": Op(_broker_store, ("volumes.create", "containers.create", "containers.put_archive",
                                       "containers.remove")),
    "broker.run": Op(_run_broker, (), calls_of=_broker_run_calls),
    "broker.start": Op(_start_broker, ("containers.start",)),
    "broker.reload": Op(_reload_broker, ("containers.kill",)),
    "broker.streams": Op(_broker_streams, (), calls_of=_streams_calls),  # NATS (swarm: maybe a password read)
    "broker.auth": Op(_broker_auth, (), calls_of=_auth_calls),
    "broker.config": Op(_broker_config, ("secrets.create",)),
    "broker.node": Op(_broker_node, (), calls_of=_service_calls),
    "broker.prune": Op(_prune_broker, ()),
    "secrets.fill": Op(_fill_secrets, (), calls_of=_fill_calls),
    "function.start": Op(_start_function, ("containers.create", "containers.start")),
    "container.discard": Op(_discard, (), calls_of=_discard_calls),
    "gateway.run": Op(_run_gateway, (), calls_of=_gateway_calls),
    "gateway.start": Op(_start_gateway, ("containers.start",)),
    "gateway.switch": Op(_switch, ("haproxy:set server",)),
    "secrets.create": Op(_create_secrets, (), calls_of=_secrets_calls),
    "service.function": Op(_function_service, (), calls_of=_service_calls),
    "service.gateway": Op(_gateway_service, (), calls_of=_service_calls),
    "secret.remove": Op(_remove_secret, ("secrets.remove",)),
}


def apply_steps(target: Target, steps: tuple[Step, ...]) -> dict[str, Any]:
    """Execute every step with an executor, in order; the outputs, for what the deploy reports."""
    for step in steps:
        if step.op:
            target.progress(f"{step.action} {step.resource}" + (f" ({step.detail})" if step.detail else ""))
            OPS[step.op].run(target, dict(step.args))
    return target.outputs


def apply_plan(mode: Single | Swarm, plan: Plan, progress: Progress) -> DeployResult:
    """Exactly the plan's steps, then the state cache (a cache: the engine is the source of truth) and the
    result."""
    from multicloud.state import read_state, write_state

    from .ops import endpoint

    apply_steps(Target(mode, progress), plan.steps)
    images = plan.memo["images"]
    host, port = endpoint(mode)
    url = f"http://{host}:{port}"
    previous = read_state(mode.project, "docker")
    state = {"mode": mode.settings.mode, "url": url, "port": port,
             "live": {"image": images["image"], "digest": images["digest"]}, "gateway_image": images["gateway"],
             "record": plan.memo.get("record") or previous.get("record")}
    recorded = mode.previous()  # what the engine records; the cache's guess only for older releases
    if recorded:
        state["previous"] = recorded
    elif previous.get("previous"):
        state["previous"] = previous["previous"]
    write_state(mode.project, "docker", state)
    return DeployResult("docker", version=images["digest"][:12], changed=plan.has_changes,
                        endpoints=endpoints(mode.project, url), details={"url": url, "image": images["image"]})


def endpoints(project: Project, url: str) -> tuple[Endpoint, ...]:
    out = []
    for fn in project.functions_for("docker"):
        for trig in fn.triggers_of("http"):
            assert trig.http is not None
            out.append(Endpoint(fn.name, url + trig.http.path, "key" if trig.http.auth == "key" else "none"))
    return tuple(out)
