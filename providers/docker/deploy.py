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
from dataclasses import dataclass, field
from typing import Any, Literal

from multicloud.broker.topology import topology
from multicloud.plan import FieldChange, Plan, Step, fingerprint
from multicloud.provider import Progress
from multicloud.state import read_state

from . import engine as eng
from . import hardening, proxy
from .drift import LABEL, Record, check
from .single import Single

GATEWAY_CONFIG = "io.multicloud.gateway-config"


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

    # broker (event triggers): recreated when its image or settings changed, reloaded when its configuration did
    if not topo.empty:
        _plan_broker(mode, run, record, topo)

    run.observe(f"gateway {names.gateway}", *(gateway.id, gateway.status, now_gw) if gateway is not None else ())
    if live is not None:
        run.observe(f"function container {live.name}", live.id, live.status, live.labels.get(eng.DIGEST), routed)
    fresh = (live is not None and gateway is not None and routed and now_fn == want_fn
             and gateway.status == "running" and now_gw == {"config": gw_config, "state": "running"})
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


def _plan_broker(mode: Single, run: Run, record: Record, topo: Any) -> None:
    from multicloud.broker.config import CLIENT_PORT, render

    from .apply import broker_file
    from .broker import CONFIG_FILE, CONFIG_LABEL, DATA_DIR, PASSWORDS_FILE, STORE

    broker = mode.broker()
    container = broker.container()
    try:
        config = broker.run_config()
    except Exception:  # noqa: BLE001 - the image is not on the engine yet: ensure pulls it
        config = "image missing"
    now = None if container is None else {"config": container.labels.get(CONFIG_LABEL), "state": container.status}
    want = {"config": config, "state": "running"}
    drift = check(record, "broker", {"broker": now} if now else {}, {"broker": want})
    run.observe(f"broker {broker.name}", *(container.id, container.status) if container is not None else ())
    args = {"network": mode.names.network}
    if container is None:
        run.write("create", "broker", broker.name, "broker.ensure", args,
                  drift.label("broker", f"broker {broker.name}", mode.settings.broker_image))
        return
    if now != want:
        run.write("update", "broker", broker.name, "broker.ensure", args,
                  drift.label("broker", f"broker {broker.name}", "its image or settings changed"))
        return
    raw = broker_file(container, PASSWORDS_FILE)
    passwords = {} if raw is None else json.loads(raw)
    text = None if not passwords else render(topo, passwords, listen=f"0.0.0.0:{CLIENT_PORT}",
                                             store_dir=f"{DATA_DIR}/{STORE}", server_name=broker.name).encode()
    run.observe(f"broker configuration {broker.name}", fingerprint(text.decode() if text else None))
    if text is None or broker_file(container, CONFIG_FILE) != text:
        run.write("update", "broker", broker.name, "broker.ensure", args, "its streams or consumers changed")
    else:
        run.noop("broker", broker.name)
