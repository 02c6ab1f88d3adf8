"""The nats-server configuration of a service's broker: JetStream on, and three users with exactly the
permissions `topology.Topology` grants (admin: all; runtime and producer: their own subjects only).

The text holds passwords, so it is written only where secrets go (a 0600 file beside the spec for
`local`, a root-owned volume or a Swarm secret for `docker`), never into an image, a label or a log.
Strings are JSON-quoted, which nats-server's config parser reads as plain strings (a quoted `$JS...`
subject is not a variable reference).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from multicloud.broker.topology import USERS, Topology

CLIENT_PORT = 4222
CLUSTER_PORT = 6222
ROUTE_USER = "route"
AUTH_FILE = "auth.conf"  # beside the configuration, included by it when the passwords live apart
PASSWORD_VARIABLES = {"admin": "MC_ADMIN_PASSWORD", "runtime": "MC_RUNTIME_PASSWORD",
                      "producer": "MC_PRODUCER_PASSWORD"}


def new_passwords() -> dict[str, str]:
    """One random password per user (and one for the cluster's routes)."""
    return {name: secrets.token_urlsafe(24) for name in (*USERS, ROUTE_USER)}


def _list(items: Sequence[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


@dataclass(frozen=True)
class Cluster:
    """A JetStream cluster: this server's name comes from an environment variable, so every node can
    share one configuration (one Swarm secret); `peers` are host names reachable on the cluster port."""

    name: str
    peers: tuple[str, ...]
    server_name_env: str = "MC_SERVER_NAME"


def render(topology: Topology, passwords: Mapping[str, str] | None, *, listen: str, store_dir: str,
           server_name: str | None = None, cluster: Cluster | None = None, pid_file: str | None = None,
           include: str | None = None) -> str:
    """The server's configuration. With `passwords` None it holds no secret: the users' passwords are
    variables (`$MC_ADMIN_PASSWORD`...) and the cluster block comes from `include`, a file beside it that
    `render_auth` writes (nats-server reads an included file's top-level keys as its own, variables too)."""
    def password(user: str) -> str:
        return json.dumps(passwords[user]) if passwords is not None else f"${PASSWORD_VARIABLES[user]}"

    runtime_pub, runtime_sub = topology.runtime_permissions()
    producer_pub, producer_sub = topology.producer_permissions()
    users = [
        f"    {{user: \"admin\", password: {password('admin')}}}",
        f"    {{user: \"runtime\", password: {password('runtime')}, permissions: {{"
        f"publish: {{allow: {_list(runtime_pub)}}}, subscribe: {{allow: {_list(runtime_sub)}}}}}}}",
        f"    {{user: \"producer\", password: {password('producer')}, permissions: {{"
        f"publish: {{allow: {_list(producer_pub)}}}, subscribe: {{allow: {_list(producer_sub)}}}}}}}",
    ]
    lines = [f"# nats-server configuration of the multicloud service {topology.service} (written by multicloud)"]
    if cluster is not None:
        lines.append(f"server_name: ${cluster.server_name_env}")
    elif server_name:
        lines.append(f"server_name: {json.dumps(server_name)}")
    lines += [f"listen: {json.dumps(listen)}", "max_payload: 1048576"]
    if pid_file:
        lines.append(f"pid_file: {json.dumps(pid_file)}")
    if passwords is None:
        lines.append(f"include {json.dumps(include or AUTH_FILE)}  # the passwords (and the cluster's routes)")
    lines += ["jetstream {", f"  store_dir: {json.dumps(store_dir)}", "}",
              "authorization {", "  users = [", *users, "  ]", "}"]
    if cluster is not None and passwords is not None:
        lines += _cluster(cluster, passwords)
    return "\n".join(lines) + "\n"


def render_auth(passwords: Mapping[str, str], cluster: Cluster | None = None) -> str:
    """The file `render(passwords=None)` includes: one variable per user's password, and the cluster block
    (its routes carry the route user's password in their URLs)."""
    lines = ["# the broker's passwords (written by multicloud)"]
    lines += [f"{variable}: {json.dumps(passwords[user])}" for user, variable in PASSWORD_VARIABLES.items()]
    if cluster is not None:
        lines += _cluster(cluster, passwords)
    return "\n".join(lines) + "\n"


def _cluster(cluster: Cluster, passwords: Mapping[str, str]) -> list[str]:
    routes = [f"nats-route://{ROUTE_USER}:{passwords[ROUTE_USER]}@{peer}:{CLUSTER_PORT}" for peer in cluster.peers]
    return ["cluster {", f"  name: {json.dumps(cluster.name)}", f"  listen: \"0.0.0.0:{CLUSTER_PORT}\"",
            f"  authorization {{ user: \"{ROUTE_USER}\", password: {json.dumps(passwords[ROUTE_USER])} }}",
            f"  routes: {_list(routes)}",
            "  no_advertise: true  # clients use the addresses they were given, not the nodes' internal ones",
            "}"]
