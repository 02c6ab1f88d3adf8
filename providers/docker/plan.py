"""The planner (single mode): what a deploy would change on the engine, as steps, from reads only.

    network -> broker (event triggers) -> leftovers on the free slot -> secrets volume -> function
    container on the free slot -> gateway (created, recreated or started) -> gateway switch -> old
    release removed -> broker consumers pruned

in the order `single.py`'s blue/green deploy always ran them: the new release is healthy before the gateway
switches to it, and the old one is stopped only after the switch, so a failure leaves it serving. Every
read here is an inspection or a listing (HAProxy's state through a `show` command); nothing is created, not
even a helper container: the broker's configuration and passwords are read through the running broker
container (`GET .../archive`). Secret values never enter a step: the step carries their fingerprint (the
one the release's label records), and the executor resolves them again and refuses if they changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from multicloud.broker.topology import topology
from multicloud.errors import OperationError
from multicloud.plan import FieldChange, Plan, Step, fingerprint
from multicloud.provider import Progress
from multicloud.state import read_state

from . import engine as eng
from . import hardening, proxy
from .drift import LABEL, Record, check
from .single import Single
from .swarm import GATEWAY_CONFIG, Swarm


@dataclass
class Run:
    """The steps planned so far and what the engine reported."""

    steps: list[Step] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)

    def write(self, action: Literal["create", "update", "delete"], kind: str, ident: str, op: str,
              args: dict[str, Any], detail: str = "", fields: tuple[FieldChange, ...] = ()) -> None:
        from .apply import OPS

        self.steps.append(Step(action, kind, ident, detail, fields, op, args, OPS[op].calls(args)))

    def noop(self, kind: str, ident: str, detail: str = "") -> None:
        self.steps.append(Step("noop", kind, ident, detail))

    def observe(self, resource: str, *parts: object) -> None:
        self.observed[resource] = fingerprint(list(parts))


def plan(mode: Single | Swarm, images: Mapping[str, Any] | None, progress: Progress) -> Plan:
    """The steps of a deploy of `images` (build's docker-images.json) in the settings' mode; without a build
    only whether something runs now can be said."""
    if images is None:
        from .ops import deployed_digest

        resource = f"{mode.settings.mode} service {mode.project.name}"
        return Plan("docker", (Step.of("noop" if deployed_digest(mode) else "create", resource, "not built yet"),))
    if isinstance(mode, Swarm):
        return plan_swarm(mode, images, progress)
    return plan_single(mode, images, progress)


def plan_rollback(mode: Single | Swarm, progress: Progress) -> Plan:
    """A deploy of the release the engine records as the live one's predecessor (so a rollback from any
    checkout, another CI runner, finds it; the local cache only serves releases made before the engine
    recorded it), planned like any deploy: `rollback --dry-run` prints it."""
    state = read_state(mode.project, "docker")
    prev = mode.previous() or state.get("previous")
    gateway_image = mode.gateway_image() or state.get("gateway_image")
    if not prev or not gateway_image:
        raise OperationError("no previous version is recorded for this service",
                             fix="deploy at least twice before rolling back", where="docker")
    planned = plan(mode, {"image": prev["image"], "digest": prev["digest"], "gateway": gateway_image}, progress)
    return replace(planned, digest=prev["digest"])


def plan_single(mode: Single, images: Mapping[str, Any], progress: Progress) -> Plan:
    """The steps of a single-mode deploy of `images` (from build's docker-images.json)."""
    project, settings, names, run = mode.project, mode.settings, mode.names, Run()
    image, digest, gateway_image = str(images["image"]), str(images["digest"]), str(images["gateway"])
    values = mode.resolve_secrets()  # a reference that does not resolve fails the plan: nothing changes
    secrets = eng.secrets_fingerprint(values)
    config = hardening.run_config(project, settings)
    gw_config = mode.gateway_config(gateway_image)
    topo = topology(project, "docker")
    gateway, live, containers = mode.gateway(), mode.current(), mode._newest_first()
    routed = mode.live() is not None
    mode.check_port(gateway)  # a fixed port another program holds fails now, before any step

    newest = containers[0].labels if containers else None
    record = Record.of(live.labels if live is not None else newest, read_state(project, "docker").get("record"))
    want_fn = {"image": digest, "settings": config, "secrets": secrets, "state": "running"}
    now_fn = None if live is None else {"image": live.labels.get(eng.DIGEST), "state": live.status,
                                        "settings": live.labels.get(eng.RUN_CONFIG),
                                        "secrets": live.labels.get(eng.SECRETS)}
    fn_drift = check(record, "function container", {"function": now_fn} if now_fn else {}, {"function": want_fn})
    now_gw = None if gateway is None else {"config": gateway.labels.get(GATEWAY_CONFIG), "state": gateway.status}
    gw_drift = check(record, "gateway", {"gateway": now_gw} if now_gw else {},
                     {"gateway": {"config": gw_config, "state": "running"}})

    # network
    network = mode.client.networks.list(names=[names.network])
    run.observe(f"network {names.network}", network[0].id if network else None)
    if network:
        run.noop("network", names.network)
    else:
        run.write("create", "network", names.network, "network.create", {"name": names.network})

    fresh = (live is not None and gateway is not None and routed and now_fn == want_fn
             and gateway.status == "running" and now_gw == {"config": gw_config, "state": "running"})
    # broker (event triggers): recreated when its image or settings changed, reloaded when its configuration did;
    # its streams declared again with every new release (a new trigger does not change its configuration)
    if not topo.empty:
        _plan_broker(mode, run, record, topo, renew=not fresh)

    run.observe(f"gateway {names.gateway}", *(gateway.id, gateway.status, now_gw) if gateway is not None else ())
    if live is not None:
        run.observe(f"function container {live.name}", live.id, live.status, live.labels.get(eng.DIGEST), routed)
    if fresh:
        assert live is not None and gateway is not None
        run.noop("function container", live.name, f"image {digest[:12]} is live")
        run.noop("gateway", names.gateway)
        return Plan("docker", tuple(run.steps), observed=run.observed, memo={"images": dict(images)})

    old_slot = live.labels.get(proxy.SLOT_LABEL) if live is not None else None
    slot = next(s for s in proxy.SLOTS if s != old_slot)
    name = f"mc-{project.name}-{digest[:12]}-{slot}"
    volume = f"{name}-secrets" if values or not topo.empty else None
    leftovers = [c for c in containers if c.labels.get(proxy.SLOT_LABEL) == slot
                 and (live is None or c.id != live.id)]
    removed_volumes = set()
    for c in leftovers:  # a deploy killed half-way: it would share the slot's DNS alias
        gone = mode.volume_of(c)
        removed_volumes.add(gone)
        run.write("delete", "function container", c.name, "container.discard",
                  {"id": c.id, "volume": gone, "timeout": 10}, "a leftover on the free slot")
    if volume is not None:
        exists = bool(mode.client.volumes.list(filters={"name": f"^{volume}$"})) and volume not in removed_volumes
        run.write("create", "secrets volume", volume, "secrets.fill",
                  {"volume": volume, "image": image, "secrets": secrets, "broker": not topo.empty,
                   "create": not exists}, "one file per secret, read-only in the function",
                  (FieldChange("secrets", live.labels.get(eng.SECRETS) if live is not None else None, secrets,
                               secret=True),))
    labels = eng.labels_for(project.name, "function", settings.labels, digest=digest)
    labels.update({eng.RUN_CONFIG: config, eng.SECRETS: secrets, proxy.SLOT_LABEL: slot})
    previous = eng.previous_release(live.labels if live is not None else {},
                                    live.attrs["Config"]["Image"] if live is not None else None, digest)
    if previous:
        labels[eng.PREVIOUS] = previous
    labels[LABEL] = record.value  # the record of this deploy: function, gateway (and broker) as wanted
    detail = _function_detail(live, now_fn, want_fn, routed, digest, settings.mode)
    detail = fn_drift.label("function", f"function container {live.name}" if live is not None
                            else "the function container", detail)
    if live is not None and detail.startswith("drift: ") and live.status != "running":
        detail += f" (it is {live.status})"
    fields = tuple(FieldChange(k, (now_fn or {}).get(k), v) for k, v in want_fn.items()
                   if k != "secrets" and (now_fn or {}).get(k) != v)
    run.write("create", "function container", name, "function.start",
              {"image": image, "name": name, "network": names.network, "labels": labels, "volume": volume,
               "alias": proxy.alias(project.name, slot), "slot": slot}, detail, fields)

    # gateway: created, recreated (configuration changed) or started again, then switched to the new slot
    port = settings.port
    if gateway is not None and now_gw != {"config": gw_config, "state": "running"}:
        label = gw_drift.label("gateway", f"gateway {names.gateway}", "its configuration changed")
        if now_gw is not None and now_gw["config"] == gw_config:
            run.write("update", "gateway", names.gateway, "gateway.start", {}, label + f" (it is {gateway.status})")
        else:
            if port is None and gateway.status == "running":
                port = mode.endpoint(gateway)[1]
            run.write("update", "gateway", names.gateway, "gateway.run",
                      {"replace": True, "port": port, "image": gateway_image, "config": gw_config}, label,
                      (FieldChange("config", fingerprint(now_gw["config"] if now_gw else None),
                                   fingerprint(gw_config)),))
    elif gateway is None:
        label = gw_drift.label("gateway", f"gateway {names.gateway}", f"port {port or 'picked by the engine'}")
        run.write("create", "gateway", names.gateway, "gateway.run",
                  {"replace": False, "port": port, "image": gateway_image, "config": gw_config}, label)
    else:
        run.noop("gateway", names.gateway)
    drain = old_slot if live is not None else None
    run.write("update", "gateway switch", names.gateway, "gateway.switch",
              {"slot": slot, "volume": volume, "drain": drain}, f"new requests to slot {slot}",
              (FieldChange("slot", old_slot if routed else None, slot),))
    timeout = hardening.max_timeout(project) + 2
    for c in containers:
        if c in leftovers:
            continue
        run.write("delete", "function container", c.name, "container.discard",
                  {"id": c.id, "volume": mode.volume_of(c), "timeout": timeout}, "the previous release")
    if not topo.empty:
        run.write("update", "broker consumers", mode.broker().name, "broker.prune", {},
                  "consumers no function reads now")
    return Plan("docker", tuple(run.steps), observed=run.observed,
                memo={"images": dict(images), "record": record.value})


def _function_detail(live: Any | None, now: Mapping[str, object] | None, want: Mapping[str, object], routed: bool,
                     digest: str, mode: str) -> str:
    if live is None or now is None:
        return f"image {digest[:12]}"
    if now.get("image") != digest:
        return f"{str(now.get('image'))[:12]} -> {digest[:12]} (blue/green)"
    if now.get("settings") != want["settings"]:
        return "run-time settings changed (limits, user, replicas...)"
    if now.get("secrets") != want["secrets"]:
        return "secret values changed (rotated): same image, new values"
    if not routed:
        return "the gateway routes to no function container: the same image again (blue/green)"
    return f"the same image again on the free slot ({mode} mode)"


def _plan_broker(mode: Single, run: Run, record: Record, topo: Any, renew: bool) -> None:
    """The broker's resources, each a step with its own engine writes: its image (pulled when missing), its
    configuration and passwords (files in its secrets volume, written through one helper container), its
    JetStream store (a volume prepared for the broker's user), its container (created with a port the engine
    picks, then pinned; recreated when its image or settings changed; started; told to reload its
    configuration), then its streams and consumers (declared over NATS: no engine write), also with every new
    release (`renew`: a new trigger adds a stream without changing the broker's configuration). Everything is read
    without a helper: the configuration and passwords through the broker container, when it exists."""
    from multicloud.broker.config import CLIENT_PORT, render

    from .apply import broker_file
    from .broker import CONFIG_FILE, CONFIG_LABEL, DATA_DIR, PASSWORDS_FILE, STORE
    from .images import _has

    broker, client = mode.broker(), mode.client
    image = mode.settings.broker_image
    has_image = _has(client, image)
    if not has_image:
        run.write("create", "broker image", image, "broker.image", {"image": image}, "pulled by the engine")
    container = broker.container()
    config = broker.run_config() if has_image else "image missing"
    now = None if container is None else {"config": container.labels.get(CONFIG_LABEL), "state": container.status}
    want = {"config": config, "state": "running"}
    drift = check(record, "broker", {"broker": now} if now else {}, {"broker": want})
    run.observe(f"broker {broker.name}", *(container.id, container.status) if container is not None else ())
    volumes = {v.name for v in client.volumes.list(filters=eng.owned(mode.project.name))}

    # configuration and passwords: read through the broker container when there is one
    raw = broker_file(container, PASSWORDS_FILE) if container is not None else None
    passwords = None if raw is None else json.loads(raw)
    text = None if passwords is None else render(topo, passwords, listen=f"0.0.0.0:{CLIENT_PORT}",
                                                  store_dir=f"{DATA_DIR}/{STORE}", server_name=broker.name)
    run.observe(f"broker configuration {broker.name}", fingerprint(text))
    fresh_volume = broker.creds.volume not in volumes
    written = fresh_volume or text is None or broker_file(container, CONFIG_FILE) != text.encode()
    if written:
        how = "new" if fresh_volume else "read" if passwords is None else "known"
        detail = {"new": "new passwords and the configuration", "read": "the configuration (passwords kept)",
                  "known": "its streams or consumers changed"}[how]
        run.write("create" if fresh_volume else "update", "broker configuration", broker.creds.volume,
                  "broker.configure", {"create_volume": fresh_volume, "passwords": how}, detail)
    data = f"{broker.name}-data"
    if data not in volumes:
        run.write("create", "broker store", data, "broker.store", {"volume": data},
                  "a JetStream store owned by the broker's user")

    network = mode.names.network
    if container is None:
        run.write("create", "broker", broker.name, "broker.run", {"network": network, "port": None, "replace": False},
                  drift.label("broker", f"broker {broker.name}", image))
    elif now is not None and now["config"] != config:
        run.write("update", "broker", broker.name, "broker.run",
                  {"network": network, "port": broker.port(container), "replace": True},
                  drift.label("broker", f"broker {broker.name}", "its image or settings changed (the store stays)"))
    elif container.status != "running":
        run.write("update", "broker", broker.name, "broker.start", {},
                  drift.label("broker", f"broker {broker.name}", f"it is {container.status}"))
    elif written:
        run.write("update", "broker", broker.name, "broker.reload", {}, "reloads its configuration (SIGHUP)")
    else:
        run.noop("broker", broker.name)
        if not renew:
            return
    run.write("update", "broker streams", broker.name, "broker.streams", {},
              "streams and consumers declared over NATS (no engine write)")


# ---- swarm mode ----------------------------------------------------------------------------------------
def plan_swarm(mode: Swarm, images: Mapping[str, Any], progress: Progress) -> Plan:
    """The steps of a swarm-mode deploy: network -> broker (resource by resource) -> function secrets ->
    function service (a rolling update Swarm runs and rolls back by itself; the step waits until it
    converged) -> gateway service -> secrets no task uses any more -> broker consumers pruned. The record
    of the deploy is a label of the function service, written by its create/update."""
    from .broker import PRODUCER_PASSWORD, RUNTIME_PASSWORD

    project, settings, run = mode.project, mode.settings, Run()
    mode.require_manager()
    image, digest, gateway_image = str(images["image"]), str(images["digest"]), str(images["gateway"])
    values = mode.resolve_secrets()
    secrets = eng.secrets_fingerprint(values)
    config = hardening.run_config(project, settings)
    gw_config = mode.gateway_config(gateway_image)
    topo = topology(project, "docker")
    svc, gateway = mode.service(mode.name), mode.service(mode.gateway_name)
    labels = mode.labels(svc)
    record = Record.of(labels, read_state(project, "docker").get("record"))
    want_fn = {"image": digest, "settings": config, "secrets": secrets, "replicas": settings.replicas,
               "image_ref": image}
    now_fn = None if svc is None else {
        "image": labels.get(eng.DIGEST), "settings": labels.get(eng.RUN_CONFIG), "secrets": labels.get(eng.SECRETS),
        "replicas": (svc.attrs["Spec"].get("Mode", {}).get("Replicated") or {}).get("Replicas"),
        "image_ref": mode.image_of(svc)}
    fn_drift = check(record, "function service", {"function": now_fn} if now_fn else {}, {"function": want_fn})
    now_gw = None if gateway is None else {"config": mode.labels(gateway).get(GATEWAY_CONFIG)}
    gw_drift = check(record, "gateway service", {"gateway": now_gw} if now_gw else {},
                     {"gateway": {"config": gw_config}})
    current = mode.secret_names(svc)
    broker_files = (RUNTIME_PASSWORD, PRODUCER_PASSWORD)
    current_user = {f: n for f, n in current.items() if f not in broker_files}
    all_secrets = mode.client.secrets.list(filters=eng.owned(project.name))
    owned = {s.name: s.id for s in all_secrets if _labels(s).get(eng.ROLE) == "secret"}
    volumes = ({v.name for v in mode.client.volumes.list(filters=eng.owned(project.name))} if not topo.empty
               else set())
    generation, new_generation = _broker_generation(mode, all_secrets, volumes) if not topo.empty else ("", False)
    broker_names = ({f: n for f, n in mode.broker().auth_names(generation).items() if f in broker_files}
                    if not topo.empty else {})
    keep = (now_fn is not None and now_fn["secrets"] == secrets and sorted(current_user) == sorted(values)
            and all(n in owned for n in current_user.values()))
    fn_fresh = now_fn == want_fn and keep and {f: n for f, n in current.items() if f in broker_files} == broker_names

    network = mode.client.networks.list(names=[mode.name])
    run.observe(f"network {mode.name}", network[0].id if network else None)
    if network:
        run.noop("network", mode.name)
    else:
        run.write("create", "network", mode.name, "network.create", {"name": mode.name, "driver": "overlay"})
    stale = (_plan_swarm_broker(mode, run, record, all_secrets, volumes, generation, new_generation,
                                renew=not fn_fresh)
             if not topo.empty else [])
    run.observe(f"function service {mode.name}", *(svc.id, now_fn) if svc is not None else ())
    run.observe(f"gateway service {mode.gateway_name}", *(gateway.id, now_gw) if gateway is not None else ())

    user_names = (dict(current_user) if keep
                  else _secret_names(mode.name, sorted(values), [digest, config, secrets, sorted(owned)]))
    names = {**user_names, **broker_names}
    if fn_fresh:
        run.noop("function service", mode.name, f"image {digest[:12]} is live")
    else:
        if not keep and user_names:
            run.write("create", "swarm secrets", mode.name, "secrets.create", {"names": user_names, "secrets": secrets},
                      f"{len(user_names)} secret(s), mounted read-only in the function",
                      (FieldChange("secrets", now_fn["secrets"] if now_fn else None, secrets, secret=True),))
        fn_labels = {eng.SECRETS: secrets, LABEL: record.value}
        previous = eng.previous_release(labels, mode.image_of(svc), digest)
        if previous:
            fn_labels[eng.PREVIOUS] = previous
        detail = fn_drift.label("function", f"function service {mode.name}", _service_detail(now_fn, want_fn))
        fields = tuple(FieldChange(k, (now_fn or {}).get(k), v) for k, v in want_fn.items()
                       if k != "secrets" and (now_fn or {}).get(k) != v)
        run.write("create" if svc is None else "update", "function service", mode.name, "service.function",
                  {"image": image, "digest": digest, "secrets": names, "labels": fn_labels, "update": svc is not None},
                  detail, fields)
    if now_gw == {"config": gw_config}:
        run.noop("gateway service", mode.gateway_name)
    else:
        port = settings.port or (mode.published_port(gateway) if gateway is not None else None)
        plain = f"port {port or 'picked on this host'}" if gateway is None else "its configuration changed"
        run.write("create" if gateway is None else "update", "gateway service", mode.gateway_name, "service.gateway",
                  {"image": gateway_image, "port": port, "config": gw_config, "update": gateway is not None},
                  gw_drift.label("gateway", f"gateway service {mode.gateway_name}", plain))
    if not fn_fresh:
        for name, ident in sorted(owned.items()):
            if name not in names.values():
                run.write("delete", "swarm secret", name, "secret.remove", {"id": ident},
                          "no task of the new release mounts it")
    for name, ident in stale:
        run.write("delete", "swarm secret", name, "secret.remove", {"id": ident},
                  "the broker's previous configuration or passwords: no service mounts it now")
    if not topo.empty and not fn_fresh:
        run.write("update", "broker consumers", mode.broker().names()[0], "broker.prune", {},
                  "consumers no function reads now")
    return Plan("docker", tuple(run.steps), observed=run.observed,
                memo={"images": dict(images), "record": record.value})


def _service_detail(now: Mapping[str, object] | None, want: Mapping[str, object]) -> str:
    digest = str(want["image"])
    if now is None:
        return f"image {digest[:12]}, {want['replicas']} replica(s)"
    if now.get("image") != digest:
        return f"{str(now.get('image'))[:12]} -> {digest[:12]} (rolling update)"
    if now.get("settings") != want["settings"]:
        return "run-time settings changed (limits, user, replicas...)"
    if now.get("secrets") != want["secrets"]:
        return "secret values changed (rotated): same image, new values"
    if now.get("replicas") != want["replicas"]:
        return f"replicas {now.get('replicas')} -> {want['replicas']}"
    return "the same image again (rolling update)"


def _secret_names(service: str, files: list[str], seed: object) -> dict[str, str]:
    """New Swarm secret names, one per file: deterministic from what the plan saw (a saved plan's steps must
    equal a fresh plan's), and new whenever the secrets Swarm holds now differ."""
    suffix = fingerprint(seed)[:8]
    return {f: f"{service}-{f.lower().replace('_', '-')}-{suffix}"[:64] for f in files}


def _labels(obj: Any) -> dict[str, str]:
    return dict(obj.attrs["Spec"].get("Labels") or {})


def _broker_generation(mode: Swarm, all_secrets: list[Any], volumes: set[str]) -> tuple[str, bool]:
    """(the generation of the broker's password secrets to use, whether it must be created): the one the
    broker's first node runs with when its three secrets exist (else any complete one) and the secrets volume
    that keeps the passwords exists; else a new one, named from what the plan saw (a saved plan's steps
    equal a fresh plan's)."""
    from .broker import AUTH_LABEL

    broker = mode.broker()
    held: dict[str, set[str]] = {}
    for secret in all_secrets:
        labels = _labels(secret)
        if labels.get(eng.ROLE) == "broker-auth" and labels.get(AUTH_LABEL):
            held.setdefault(labels[AUTH_LABEL], set()).add(secret.name)
    complete = sorted(g for g, names in held.items() if set(broker.auth_names(g).values()) <= names)
    if complete and broker.creds.volume in volumes:
        first = broker.services().get(broker.names()[0])
        running = _labels(first).get(AUTH_LABEL) if first is not None else None
        return (running if running in complete else complete[-1]), False
    return fingerprint([mode.project.name, sorted(s.id for s in all_secrets)])[:8], True


def _plan_swarm_broker(mode: Swarm, run: Run, record: Record, all_secrets: list[Any], volumes: set[str],
                       generation: str, new_generation: bool, renew: bool) -> list[tuple[str, str]]:
    """The JetStream cluster resource by resource, from reads only: its image (pulled when missing), one
    generation of its password secrets (created when none is complete: the passwords are kept in the secrets
    volume, read back only at apply time, through the helper container that writes them), its configuration
    secret (no password in it: named after its hash, so the plan compares names), each node's store volume
    and service (created, or updated when its image, settings, configuration or passwords' generation
    changed: the service's label says which it runs), then its streams over NATS, declared again with every
    new release (`renew`). Returns the broker's secrets no service will mount after this plan."""
    from multicloud.broker.config import AUTH_FILE

    from .broker import AUTH_LABEL, CONFIG_LABEL
    from .images import _has

    broker, client = mode.broker(), mode.client
    image = mode.settings.broker_image
    has_image = _has(client, image)
    if not has_image:
        run.write("create", "broker image", image, "broker.image", {"image": image}, "pulled by the engine")
    run_config = broker.run_config() if has_image else "image missing"
    held = {s.name for s in all_secrets}
    auth = broker.auth_names(generation)
    run.observe("broker passwords", generation, new_generation)
    if new_generation:
        run.write("create", "broker passwords", auth[AUTH_FILE], "broker.auth",
                  {"generation": generation, "create_volume": broker.creds.volume not in volumes},
                  "the passwords (kept in the secrets volume, generated the first time) as 3 Swarm secrets")
    config_name = broker.config_name()
    run.observe("broker configuration", config_name, config_name in held)
    if config_name in held:
        run.noop("broker configuration", config_name)
    else:
        run.write("create", "broker configuration", config_name, "broker.config", {},
                  "its streams' users and permissions; the passwords' file included, not embedded")
    for name in broker.names():
        if f"{name}-data" not in volumes:
            run.write("create", "broker store", f"{name}-data", "broker.store", {"volume": f"{name}-data"},
                      "a JetStream store owned by the broker's user")

    services = broker.services()
    config = broker.node_config(run_config, generation)
    now = {name: {"config": _labels(svc).get(CONFIG_LABEL)} for name, svc in services.items()}
    want = {name: {"config": config} for name in broker.names()}
    drift = check(record, "broker", now, want)
    changed = False
    for index, name in enumerate(broker.names(), start=1):
        svc = services.get(name)
        run.observe(f"broker service {name}", *(svc.id, now[name]) if svc is not None else ())
        if svc is not None and now[name] == want[name]:
            run.noop("broker service", name)
            continue
        changed = True
        plain = (f"JetStream node {index} of {len(broker.names())}" if svc is None
                 else "its image, settings, configuration or passwords changed (its store stays)")
        if svc is not None and AUTH_LABEL not in _labels(svc):  # made before the passwords had secrets of their own
            detail = "one-time update to the broker's new layout (passwords in secrets of their own; the store stays)"
        else:
            detail = drift.label(name, f"broker service {name}", plain)
        run.write("create" if svc is None else "update", "broker service", name, "broker.node",
                  {"index": index, "network": mode.name, "port": broker.published(svc) if svc is not None else None,
                   "generation": generation, "update": svc is not None}, detail)
    if changed or new_generation or renew:
        run.write("update", "broker streams", broker.names()[0], "broker.streams", {"read": not new_generation},
                  "streams and consumers declared over NATS, replicated on the three nodes")
    stale = []
    for secret in all_secrets:
        labels = _labels(secret)
        role = labels.get(eng.ROLE)
        if ((role == "broker-config" and secret.name != config_name)
                or (role == "broker-auth" and secret.name not in auth.values())):
            stale.append((secret.name, secret.id))
    return sorted(stale)
