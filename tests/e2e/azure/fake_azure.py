"""A FAKE of the few Azure endpoints the deploy sequence uses: ARM and the SCM (Kudu) site. Not Azure.

No Azure endpoint is reachable from this machine, so the real SDK clients talk HTTPS to this small
stdlib server on 127.0.0.1 instead (a self-signed certificate trusted through REQUESTS_CA_BUNDLE). It
checks what Azure's REST reference documents for each call the provider makes: the path, the
`api-version` (the versions the installed SDKs send), a bearer token, and the body's required fields.
It answers with the documented shapes: 202 + Location for storage account creation, 201 +
Azure-AsyncOperation for an Event Hubs namespace, 202 + Location from one-deploy `/api/publish`, Kudu's
deployment status JSON. Blob containers carry metadata and a lease (fake_lease.py: the Blob service's lease
states and 409 codes, served through ARM's BlobContainers_Lease). For processes that cannot be handed a
credential object (the CLI in a subprocess), it also serves App Service's managed-identity token endpoint
(IDENTITY_ENDPOINT + IDENTITY_HEADER, read by azure-identity's DefaultAzureCredential): see
`identity_env`. It keeps resources in memory and records every request for the tests.

Storage queues are data plane, not ARM: with `queue_service` set (an Azurite queue endpoint and the
account key it was started with, see azurite.py), storage accounts report that endpoint and key, and a
queue created through ARM is created there too, so the app's AzureWebJobsStorage reaches real queues.
"""

from __future__ import annotations

import datetime as dt
import io
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from fake_lease import Lease, LeaseError, act, properties

TOKEN = "fake-arm-token"
IDENTITY_SECRET = "fake-identity-header"  # what App Service puts in IDENTITY_HEADER
IDENTITY_PATH = "/fake-identity/token"
SUBSCRIPTION = "00000000-0000-0000-0000-00000000c0de"
API_VERSIONS = {  # provider namespace -> versions accepted (those the installed SDKs send)
    "microsoft.resources": {"2025-04-01"},
    "microsoft.web": {"2025-05-01"},
    "microsoft.storage": {"2025-08-01", "2026-04-01", "2026-06-01", "2026-09-01"},
    "microsoft.eventhub": {"2026-01-01"},
    "microsoft.eventgrid": {"2022-06-15", "2025-02-15"},
}
RES = r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<rg>[^/]+)"
STORAGE_NAME = re.compile(r"^[a-z0-9]{3,24}$")
CONTAINER_NAME = re.compile(r"^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")  # 3-63, no double dash
FLEX_FORBIDDEN_SETTINGS = ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION")


class Reject(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class FakeAzure:
    """In-memory ARM + SCM. `resources` maps lower-cased ARM ids to their JSON."""

    host: str = ""
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    app_settings: dict[str, dict[str, str]] = field(default_factory=dict)
    account_keys: dict[str, str] = field(default_factory=dict)  # storage account id -> key1
    site_configs: dict[str, dict[str, Any]] = field(default_factory=dict)  # site id -> what GET config/web reports
    published: dict[str, bytes] = field(default_factory=dict)  # site id -> zip
    blobs: dict[str, bytes] = field(default_factory=dict)  # "<account>/<container>/<blob>" -> bytes
    leases: dict[str, Lease] = field(default_factory=dict)  # lower-cased container id -> its lease
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, tuple[str, int]] = field(default_factory=dict)  # op id -> (resource id, polls left)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    fail_next_publish: bool = False
    function_host: Any = None  # a fake_azure_host.FakeHost once serve() made one
    read_only: bool = False  # answer writes and actions (POST) as ARM does for an identity with the Reader role only
    scm_forbidden: bool = False  # answer one-deploy as Kudu does for an identity without rights on the app
    lock: threading.Lock = field(default_factory=threading.Lock)
    queue_service: tuple[str, str] | None = None  # (Azurite queue endpoint "http://127.0.0.1:P", account key)

    # ---- helpers ------------------------------------------------------------------------------------
    def get(self, rid: str) -> dict[str, Any] | None:
        return self.resources.get(rid.lower())

    def calls(self, method: str, contains: str) -> int:
        return sum(1 for m, p in self.requests if m == method and contains.lower() in p.lower())

    def writes(self, since: int = 0) -> list[tuple[str, str]]:
        """Requests from index `since` on that may change something: all but GETs and the read-only list
        action on app settings (a POST in ARM: Microsoft.Web/sites/config/list/action)."""
        return [(m, p) for m, p in self.requests[since:]
                if m != "GET" and not (m == "POST" and p.lower().endswith("/config/appsettings/list"))]

    def write_calls(self, since: int = 0) -> list[str]:
        """The write requests from index `since` on, named as the azure provider's executors declare them
        (providers/azure/apply.py): `"METHOD path"`, the ARM path relative to the subscription and
        lower-cased, `scm:/api/...` for the SCM site and `blob:/account/container/blob` for the Blob
        service. Reads are left out: GETs and the read-only actions (list keys, list app settings, a
        service SAS, the host's keys)."""
        reads = ("/config/appsettings/list", "/listkeys", "/listservicesas")
        out = []
        for method, path in self.requests[since:]:
            low = path.lower()
            if method == "GET" or (method == "POST" and low.endswith(reads)) or low == IDENTITY_PATH:
                continue
            if low.startswith("/subscriptions/"):
                out.append(f"{method} {low.split('/', 3)[3]}")
            elif low.startswith("/_blob/"):
                out.append(f"{method} blob:/{low.removeprefix('/_blob/')}")
            elif low.startswith("/api/"):
                out.append(f"{method} scm:{low}")
            else:
                out.append(f"{method} host:{low}")
        return out

    def lease_state(self, container_id: str) -> str | None:
        """The container's leaseState as ARM reports it; None when the container does not exist."""
        if self.get(container_id) is None:
            return None
        return properties(self.leases.get(container_id.lower()), time.time())["leaseState"]

    def _delete_tree(self, rid: str) -> None:
        """A resource and everything under it (an account's containers and their leases, a group's all)."""
        low = rid.lower()
        for store in (self.resources, self.leases, self.account_keys):
            for key in [k for k in store if k == low or k.startswith(low + "/")]:
                del store[key]

    def _store(self, rid: str, rtype: str, body: dict[str, Any], extra: dict[str, Any] | None = None) -> dict:
        name = rid.rsplit("/", 1)[-1]
        props = {**(body.get("properties") or {}), "provisioningState": "Succeeded", **(extra or {})}
        doc = {**body, "id": rid, "name": name, "type": rtype, "properties": props}
        self.resources[rid.lower()] = doc
        return doc

    # ---- ARM -----------------------------------------------------------------------------------------
    def arm(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, dict, Any]:
        low = path.lower()
        if "//" in path:
            raise Reject(400, "InvalidRequestUri", f"malformed path {path}")
        if low.startswith("/fake-operations/"):
            return self._operation(path.rsplit("/", 1)[-1])
        if self.read_only and method in ("PUT", "PATCH", "DELETE", "POST"):  # Reader: */read, no actions
            raise Reject(403, "AuthorizationFailed", "The client 'fake-principal' does not have authorization to "
                         f"perform action on scope '{path}' or the scope is invalid.")
        ns = "microsoft.resources"
        namespaces = re.findall(r"/providers/(microsoft\.[a-z]+)/", low)
        if namespaces:  # the innermost provider owns the call (tags on a site belong to Resources)
            ns = namespaces[-1]
        version = query.get("api-version")
        if version not in API_VERSIONS.get(ns, set()):
            raise Reject(400, "InvalidApiVersionParameter",
                         f"The api-version '{version}' is invalid for {ns}. Supported: {sorted(API_VERSIONS[ns])}")
        if re.fullmatch(RES, low):
            return self._group(method, path, body)
        if re.fullmatch(RES + r"/resources", low):
            rg = path.split("/")[4].lower()
            items = [{"id": r["id"], "name": r["name"], "type": r["type"]} for k, r in self.resources.items()
                     if k.split("/")[4] == rg and k.count("/") == 8]
            return 200, {}, {"value": items}
        if low.endswith("/providers/microsoft.resources/tags/default") and method == "PATCH":
            return self._tags(path, body)
        for pattern, handler in self.ROUTES:
            if re.fullmatch(RES + pattern, low):
                return handler(self, method, path, body)
        raise Reject(404, "NotFound", f"the fake has no route for {method} {path}")

    def _group(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        rid = path
        if method == "PUT":
            _require(body, "location")
            existed = self.get(rid) is not None
            doc = self._store(rid, "Microsoft.Resources/resourceGroups", body)
            return (200 if existed else 201), {}, doc
        if method == "GET":
            return self._found(rid)
        if method == "DELETE":
            self._found(rid)
            self._delete_tree(rid)
            return self._accepted(rid, gone=True)
        raise Reject(405, "MethodNotAllowed", method)

    def _found(self, rid: str, code: str = "ResourceNotFound") -> tuple[int, dict, Any]:
        group = "/".join(rid.split("/")[:5])
        if self.get(group) is None:  # ARM answers for the missing group before anything in it
            raise Reject(404, "ResourceGroupNotFound", f"Resource group '{group.rsplit('/', 1)[-1]}' could not be "
                         "found.")
        doc = self.get(rid)
        if doc is None:
            raise Reject(404, code, f"The Resource '{rid}' was not found.")
        return 200, {}, doc

    def _accepted(self, rid: str, *, gone: bool = False) -> tuple[int, dict, Any]:
        op = uuid.uuid4().hex
        self.operations[op] = ("" if gone else rid, 0)
        loc = f"https://{self.host}/fake-operations/{op}?api-version=2025-04-01"
        return 202, {"Location": loc, "Retry-After": "0"}, None

    def _operation(self, op: str) -> tuple[int, dict, Any]:
        rid, left = self.operations[op]
        if left > 0:
            self.operations[op] = (rid, left - 1)
            return 202, {"Location": f"https://{self.host}/fake-operations/{op}", "Retry-After": "0"}, None
        if op.startswith("async-"):
            return 200, {}, {"status": "Succeeded"}
        return (200, {}, self.get(rid)) if rid else (200, {}, None)

    def _tags(self, path: str, body: Any) -> tuple[int, dict, Any]:
        scope = path[: path.lower().index("/providers/microsoft.resources/tags/default")]
        doc = self.get(scope)
        if doc is None:
            raise Reject(404, "ResourceNotFound", scope)
        _require(body, "operation", "properties.tags")
        if body["operation"] != "Merge":
            raise Reject(400, "InvalidTagOperation", body["operation"])
        doc["tags"] = {**(doc.get("tags") or {}), **body["properties"]["tags"]}
        return 200, {}, {"id": scope + "/providers/Microsoft.Resources/tags/default",
                         "properties": {"tags": doc["tags"]}}

    def _storage_account(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        name = path.rsplit("/", 1)[-1]
        if method == "PUT":
            if not STORAGE_NAME.match(name):
                raise Reject(400, "AccountNameInvalid", f"{name} is not a valid storage account name")
            _require(body, "location", "kind", "sku.name")
            host = name
            endpoints = {k: f"https://{host}.{k}.core.windows.net/" for k in ("queue", "table", "file")}
            endpoints["blob"] = f"https://{self.host}/_blob/{name}/"  # path-style, served by this fake
            if self.queue_service is not None:  # real queues: Azurite, path-style
                endpoints["queue"] = f"{self.queue_service[0]}/{name}/"
                self.account_keys[path.lower()] = self.queue_service[1]
            created = (self.get(path) or {}).get("properties", {}).get("creationTime") or \
                dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")
            self._store(path, "Microsoft.Storage/storageAccounts", body,
                        {"primaryEndpoints": endpoints, "creationTime": created})
            self.account_keys.setdefault(path.lower(), f"FAKEKEY1{uuid.uuid4().hex[:8]}==")  # a new account's own
            return self._accepted(path)
        if method == "GET":
            return self._found(path)
        if method == "DELETE":  # containers go with the account, leased or not; so do its keys
            self._delete_tree(path)
            return 200, {}, None
        raise Reject(405, "MethodNotAllowed", method)

    def _storage_keys(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        account = path.rsplit("/", 1)[0]
        self._found(account)
        return 200, {}, {"keys": [{"keyName": "key1", "value": self.account_keys[account.lower()],
                                   "permissions": "FULL"}]}

    def _service_sas(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        self._found(path.rsplit("/", 1)[0])
        _require(body, "canonicalizedResource", "signedResource", "signedPermission", "signedExpiry")
        if not re.fullmatch(r"/blob/[a-z0-9]+/[a-z0-9-]+(/.+)?", body["canonicalizedResource"]):
            raise Reject(400, "InvalidValuesForRequestParameters",
                         "canonicalizedResource is /blob/<account>/<container>/<blob>")
        sas = (f"sv=2022-11-02&sr={body['signedResource']}&sp={body['signedPermission']}"
               f"&se={body['signedExpiry']}&spr=https&sig=FAKESIG")
        return 200, {}, {"serviceSasToken": sas}

    def blob(self, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes) -> tuple[int, dict, Any]:
        """Path-style Blob service: PUT/GET one block blob with a SAS that allows it."""
        account, container, name = path.removeprefix("/_blob/").split("/", 2)
        if query.get("sig") != "FAKESIG" or query.get("sr") != "b":
            raise Reject(403, "AuthenticationFailed", "a blob SAS is required")
        container_id = next((k for k in self.resources if k.endswith(f"/storageaccounts/{account}/blobservices"
                                                                        f"/default/containers/{container}")), None)
        if container_id is None:
            raise Reject(404, "ContainerNotFound", container)
        key = f"{account}/{container}/{name}"
        if method == "PUT":
            if "w" not in query.get("sp", "") or headers.get("x-ms-blob-type") != "BlockBlob":
                raise Reject(403, "AuthorizationPermissionMismatch", "write needs sp=w and x-ms-blob-type")
            self.blobs[key] = raw
            return 201, {}, None
        raise Reject(405, "UnsupportedHttpVerb", method)

    def _sync_triggers(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """The platform reads the package from WEBSITE_RUN_FROM_PACKAGE when triggers are synced."""
        site = path.rsplit("/", 1)[0]
        self._found(site)
        url = self.app_settings.get(site.lower(), {}).get("WEBSITE_RUN_FROM_PACKAGE", "")
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        if not parts.path.startswith("/_blob/") or "r" not in query.get("sp", [""])[0]:
            raise Reject(400, "BadRequest", "WEBSITE_RUN_FROM_PACKAGE must be a blob URL with a read SAS")
        self.published[site.lower()] = self.blobs[parts.path.removeprefix("/_blob/")]
        return 204, {}, None

    def _container(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """PUT creates (again: the container is kept, metadata replaced if given), GET reads with the lease
        state, PATCH replaces metadata. A lease guards deletes only: metadata writes need no lease id."""
        self._found(path.split("/blobServices/")[0])
        existing = self.get(path)
        props = (body or {}).get("properties") or {}
        if method == "PUT":
            name = path.rsplit("/", 1)[-1]
            if not CONTAINER_NAME.match(name):
                raise Reject(400, "ContainerOperationFailure", f"The specified resource name contains invalid "
                             f"characters: {name} (3-63 lower-case letters, digits and single dashes)")
            metadata = props.get("metadata", (existing or {}).get("properties", {}).get("metadata", {}))
            self._store(path, "Microsoft.Storage/storageAccounts/blobServices/containers",
                        {"properties": {**props, "metadata": metadata}})
            return (200 if existing else 201), {}, self._container_doc(path)
        self._found(path, "ContainerNotFound")
        if method == "PATCH":
            if "metadata" in props:
                self.resources[path.lower()]["properties"]["metadata"] = dict(props["metadata"] or {})
            return 200, {}, self._container_doc(path)
        if method == "GET":
            return 200, {}, self._container_doc(path)
        raise Reject(405, "MethodNotAllowed", method)

    def _container_doc(self, path: str) -> dict[str, Any]:
        doc = self.resources[path.lower()]
        lease = properties(self.leases.get(path.lower()), time.time())
        return {**doc, "properties": {**doc["properties"], "publicAccess": "None", **lease}}

    def _container_lease(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """POST .../containers/<name>/lease (BlobContainers_Lease): the lease state machine in fake_lease.py."""
        container = path.rsplit("/", 1)[0]
        self._found(container.split("/blobServices/")[0])
        self._found(container, "ContainerNotFound")
        if method != "POST":
            raise Reject(405, "MethodNotAllowed", method)
        _require(body, "action")
        try:
            lease, answer = act(self.leases.get(container.lower()), body, time.time())
        except LeaseError as exc:
            raise Reject(exc.status, exc.code, exc.message) from exc
        if lease is None:
            self.leases.pop(container.lower(), None)
        else:
            self.leases[container.lower()] = lease
        return 200, {}, answer

    def _queue(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Queue - Create (PUT), Get, Delete (204, as documented, whether it existed or not). With
        `queue_service`, the queue is made and deleted in Azurite too, so the app's AzureWebJobsStorage
        reaches real queues."""
        self._found(path.split("/queueServices/")[0])
        if method == "GET":
            return self._found(path, "QueueNotFound")
        if method == "DELETE":
            self.resources.pop(path.lower(), None)
            self._azurite_queue(path, create=False)
            return 204, {}, None
        if method != "PUT":
            raise Reject(405, "MethodNotAllowed", method)
        self._azurite_queue(path, create=True)
        return 200, {}, self._store(path, "Microsoft.Storage/storageAccounts/queueServices/queues", body or {})

    def _azurite_queue(self, path: str, *, create: bool) -> None:
        if self.queue_service is None:
            return
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
        from azure.storage.queue import QueueClient

        account = path.split("/storageAccounts/")[1].split("/")[0]
        url, key = self.queue_service
        client = QueueClient(f"{url}/{account}", path.rsplit("/", 1)[1],
                             credential={"account_name": account, "account_key": key})
        try:
            client.create_queue() if create else client.delete_queue()
        except (ResourceExistsError, ResourceNotFoundError):
            pass

    def _list(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """The List operations of the sub-resources (Queue - List, Event Hubs - List By Namespace, Consumer
        Groups - List By Event Hub, Event Subscriptions - List By Resource): `{"value": [...]}` of the direct
        children of the parent, which must exist (a 404 naming it otherwise)."""
        if method != "GET":
            raise Reject(405, "MethodNotAllowed", method)
        low = path.lower()
        parent = re.sub(r"/(queueservices/default/queues|eventhubs|consumergroups|providers/microsoft\.eventgrid/"
                        r"eventsubscriptions)$", "", low)
        self._found(parent)
        items = [self._reported(doc) for key, doc in self.resources.items()
                 if key.startswith(low + "/") and "/" not in key[len(low) + 1:]]
        return 200, {}, {"value": items}

    def _reported(self, doc: dict[str, Any]) -> dict[str, Any]:
        """A resource as GET answers it: an Event Grid webhook reports `endpointBaseUrl`, never the URL
        with its key (`endpointUrl`, write-only in ARM)."""
        if doc.get("type") != "Microsoft.EventGrid/eventSubscriptions":
            return doc
        props = json.loads(json.dumps(doc["properties"]))
        dest = props.get("destination", {}).get("properties", {})
        url = dest.pop("endpointUrl", None)
        if url is not None:
            dest["endpointBaseUrl"] = url.split("?", 1)[0]
        return {**doc, "properties": props}

    def _event_subscription(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        self._found(path.split("/providers/Microsoft.EventGrid/")[0])
        if method == "GET":
            return 200, {}, self._reported(self._found(path)[2])
        if method == "DELETE":
            self._found(path)
            del self.resources[path.lower()]
            return 200, {}, None
        name = path.rsplit("/", 1)[-1]
        if not re.fullmatch(r"[A-Za-z0-9-]{3,64}", name):
            raise Reject(400, "InvalidRequest", f"event subscription name {name} is invalid")
        _require(body, "properties.destination.endpointType", "properties.destination.properties.endpointUrl",
                 "properties.filter.includedEventTypes")
        url = body["properties"]["destination"]["properties"]["endpointUrl"]
        if not url.startswith("https://") or "code=" not in url:
            raise Reject(400, "InvalidRequest", "webhook endpoints must be https, with the blobs extension key")
        return 201, {}, self._store(path, "Microsoft.EventGrid/eventSubscriptions", body)

    def _plan(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        if method == "PUT":
            _require(body, "location", "sku.name")
            if body["sku"]["name"] == "FC1" and body["sku"].get("tier") != "FlexConsumption":
                raise Reject(400, "BadRequest", "FC1 plans have tier FlexConsumption")
            if not (body.get("properties") or {}).get("reserved"):
                raise Reject(400, "BadRequest", "Linux plans need properties.reserved = true")
            return 200, {}, self._store(path, "Microsoft.Web/serverfarms", body)
        if method == "GET":
            return self._found(path)
        if method == "DELETE":
            self.resources.pop(path.lower(), None)
            return 200, {}, None
        raise Reject(405, "MethodNotAllowed", method)

    def _site(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Web Apps - Create Or Update (PUT), Get, Update (PATCH: the properties and tags given), Delete.

        Like ARM, GET reports siteConfig without app settings and with null TLS/FTPS fields (GET .../config/web
        has those), and a PUT leaves the app's state (Running/Stopped) as it was: only start/stop change it."""
        existing = self.get(path)
        if method == "PUT":
            _require(body, "location", "kind", "properties.serverFarmId")
            plan = self.get(body["properties"]["serverFarmId"])
            if plan is None:
                raise Reject(404, "NotFound", "Server farm not found: " + body["properties"]["serverFarmId"])
            site_config = dict(body["properties"].get("siteConfig") or {})
            settings = {s["name"]: s["value"] for s in site_config.pop("appSettings", None) or []}
            if plan["sku"]["name"] == "FC1":
                _require(body, "properties.functionAppConfig.runtime.name",
                         "properties.functionAppConfig.runtime.version",
                         "properties.functionAppConfig.deployment.storage.value")
                bad = [s for s in FLEX_FORBIDDEN_SETTINGS if s in settings]
                if bad:
                    raise Reject(400, "BadRequest", f"{bad[0]} is not supported on Flex Consumption apps")
                auth = body["properties"]["functionAppConfig"]["deployment"]["storage"]["authentication"]
                if auth["storageAccountConnectionStringName"] not in settings:
                    raise Reject(400, "BadRequest", "the deployment storage connection setting is missing")
            self.app_settings.setdefault(path.lower(), {}).update(settings)
            self.site_configs[path.lower()] = {**self.site_configs.get(path.lower(), {}), **site_config}
            host = self.host
            state = (existing or {}).get("properties", {}).get("state", "Running")
            doc = self._store(path, "Microsoft.Web/sites", body, {
                "defaultHostName": host, "state": state,
                "hostNameSslStates": [{"name": host, "hostType": "Standard", "sslState": "Disabled"},
                                      {"name": host, "hostType": "Repository", "sslState": "Disabled"}]})
            doc["properties"]["siteConfig"] = self._reported_site_config(path)
            return 200, {}, doc
        if method == "PATCH":
            self._found(path)
            assert existing is not None
            props = dict((body or {}).get("properties") or {})
            site_config = props.pop("siteConfig", None) or {}
            for name in ("state", "defaultHostName", "hostNameSslStates", "provisioningState"):
                props.pop(name, None)  # read-only
            existing["properties"].update(props)
            if site_config:
                site_config.pop("appSettings", None)
                self.site_configs[path.lower()] = {**self.site_configs.get(path.lower(), {}), **site_config}
                existing["properties"]["siteConfig"] = self._reported_site_config(path)
            if (body or {}).get("tags") is not None:
                existing["tags"] = dict(body["tags"])
            return 200, {}, existing
        if method == "GET":
            return self._found(path)
        if method == "DELETE":
            for store in (self.resources, self.published, self.app_settings, self.site_configs):
                store.pop(path.lower(), None)
            return 200, {}, None
        raise Reject(405, "MethodNotAllowed", method)

    def _reported_site_config(self, site: str) -> dict[str, Any]:
        """siteConfig as GET site reports it: the runtime stack, no app settings, TLS/FTPS null."""
        full = self.site_configs.get(site.lower(), {})
        return {"linuxFxVersion": full.get("linuxFxVersion", ""), "appSettings": None, "minTlsVersion": None,
                "ftpsState": None, "numberOfWorkers": 1}

    def _site_state(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Web Apps - Start / Stop: POST, 200 with no body."""
        site, action = path.rsplit("/", 1)
        self._found(site)
        if method != "POST":
            raise Reject(405, "MethodNotAllowed", method)
        self.resources[site.lower()]["properties"]["state"] = "Running" if action.lower() == "start" else "Stopped"
        return 200, {}, None

    def _site_config(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Web Apps - Get Configuration (GET), Create Or Update Configuration (PUT), Update Configuration
        (PATCH) on .../config/web: the SiteConfigResource, app settings excluded (they have their own API)."""
        site = path.split("/config/")[0]
        self._found(site)
        if method in ("PUT", "PATCH"):
            _require(body, "properties")
            given = {k: v for k, v in body["properties"].items() if k != "appSettings"}
            base = self.site_configs.get(site.lower(), {}) if method == "PATCH" else {}
            self.site_configs[site.lower()] = {**base, **given}
            self.resources[site.lower()]["properties"]["siteConfig"] = self._reported_site_config(site)
        elif method != "GET":
            raise Reject(405, "MethodNotAllowed", method)
        return 200, {}, {"id": site + "/config/web", "name": "web", "type": "Microsoft.Web/sites/config",
                         "properties": {**self.site_configs.get(site.lower(), {}), "appSettings": None}}

    def _site_settings(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Web Apps - Update Application Settings (PUT .../config/appsettings: replaces them all) and List
        Application Settings (POST .../config/appsettings/list: an action, read-only, values included)."""
        site = path.split("/config/")[0]
        self._found(site)
        listing = path.lower().endswith("/list")
        if (method, listing) not in (("PUT", False), ("POST", True)):
            raise Reject(405, "MethodNotAllowed", f"{method} {path}")
        if method == "PUT":
            _require(body, "properties")
            if not all(isinstance(v, str) for v in body["properties"].values()):
                raise Reject(400, "BadRequest", "app setting values are strings")
            self.app_settings[site.lower()] = dict(body["properties"])
        return 200, {}, {"id": site + "/config/appsettings", "name": "appsettings",
                         "type": "Microsoft.Web/sites/config", "properties": self.app_settings.get(site.lower(), {})}

    def _host_keys(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        self._found(path.split("/host/")[0])
        package = self.published.get(path.split("/host/")[0].lower())
        blob = package is not None and b"blob_trigger" in zipfile.ZipFile(io.BytesIO(package)).read("function_app.py")
        return 200, {}, {"masterKey": "fake-master-key", "functionKeys": {"default": "fake-function-key"},
                         "systemKeys": {"blobs_extension": "fake-blobs-key"} if blob else {}}

    def _functions(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        site = path.rsplit("/functions", 1)[0]
        self._found(site)
        names: list[str] = []
        package = self.published.get(site.lower())
        if package:
            with zipfile.ZipFile(io.BytesIO(package)) as zf:
                source = zf.read("function_app.py").decode()
            names = re.findall(r"@app\.function_name\(name='([^']+)'\)", source)
        app = site.rsplit("/", 1)[-1]
        return 200, {}, {"value": [{"id": f"{site}/functions/{n}", "name": f"{app}/{n}",
                                    "type": "Microsoft.Web/sites/functions", "properties": {}} for n in names]}

    def _namespace(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        if method == "PUT":
            _require(body, "location", "sku.name")
            if body["sku"]["name"] not in ("Basic", "Standard", "Premium"):
                raise Reject(400, "BadRequest", "sku.name must be Basic, Standard or Premium")
            name = path.rsplit("/", 1)[-1]
            doc = self._store(path, "Microsoft.EventHub/namespaces", body,
                              {"serviceBusEndpoint": f"https://{name}.servicebus.windows.net:443/"})
            op = "async-" + uuid.uuid4().hex
            self.operations[op] = (path, 0)
            return 201, {"Azure-AsyncOperation": f"https://{self.host}/fake-operations/{op}?api-version=2026-01-01",
                         "Retry-After": "0"}, doc
        if method == "GET":
            return self._found(path)
        if method == "DELETE":
            self._delete_tree(path)
            return 200, {}, None
        raise Reject(405, "MethodNotAllowed", method)

    def _hub(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Event Hubs - Create Or Update, Get, Delete (its consumer groups go with it; 204 when absent)."""
        self._found(path.split("/eventhubs/")[0])
        if method == "GET":
            return self._found(path)
        if method == "DELETE":
            existed = self.get(path) is not None
            self._delete_tree(path)
            return (200 if existed else 204), {}, None
        _require(body, "properties")
        return 200, {}, self._store(path, "Microsoft.EventHub/namespaces/eventhubs", body)

    def _consumer_group(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        """Consumer Groups - Create Or Update, Get, Delete (204 when absent); the hub must exist."""
        self._found(path.split("/consumergroups/")[0])
        if method == "GET":
            return self._found(path)
        if method == "DELETE":
            return (200 if self.resources.pop(path.lower(), None) is not None else 204), {}, None
        return 200, {}, self._store(path, "Microsoft.EventHub/namespaces/eventhubs/consumergroups", body or {})

    def _eh_keys(self, method: str, path: str, body: Any) -> tuple[int, dict, Any]:
        ns = path.split("/authorizationRules/")[0]
        self._found(ns)
        name = ns.rsplit("/", 1)[-1]
        conn = (f"Endpoint=sb://{name}.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
                "SharedAccessKey=FAKEEHKEY=")
        return 200, {}, {"primaryConnectionString": conn, "secondaryConnectionString": conn,
                         "primaryKey": "FAKEEHKEY=", "secondaryKey": "FAKEEHKEY=",
                         "keyName": "RootManageSharedAccessKey"}

    ROUTES: ClassVar[list[tuple[str, Any]]] = [
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+", _storage_account),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/listkeys", _storage_keys),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/listservicesas", _service_sas),
        (r"/providers/microsoft\.web/sites/[^/]+/syncfunctiontriggers", _sync_triggers),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/blobservices/default/containers/[^/]+", _container),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/blobservices/default/containers/[^/]+/lease",
         _container_lease),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/queueservices/default/queues/[^/]+", _queue),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/queueservices/default/queues", _list),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/providers/microsoft\.eventgrid/eventsubscriptions",
         _list),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+/eventhubs", _list),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+/eventhubs/[^/]+/consumergroups", _list),
        (r"/providers/microsoft\.storage/storageaccounts/[^/]+/providers/microsoft\.eventgrid/eventsubscriptions/[^/]+",
         _event_subscription),
        (r"/providers/microsoft\.web/serverfarms/[^/]+", _plan),
        (r"/providers/microsoft\.web/sites/[^/]+", _site),
        (r"/providers/microsoft\.web/sites/[^/]+/config/appsettings(/list)?", _site_settings),
        (r"/providers/microsoft\.web/sites/[^/]+/config/web", _site_config),
        (r"/providers/microsoft\.web/sites/[^/]+/(start|stop)", _site_state),
        (r"/providers/microsoft\.web/sites/[^/]+/host/default/listkeys", _host_keys),
        (r"/providers/microsoft\.web/sites/[^/]+/functions", _functions),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+", _namespace),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+/eventhubs/[^/]+", _hub),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+/eventhubs/[^/]+/consumergroups/[^/]+", _consumer_group),
        (r"/providers/microsoft\.eventhub/namespaces/[^/]+/authorizationrules/[^/]+/listkeys", _eh_keys),
    ]

    # ---- SCM (Kudu) ------------------------------------------------------------------------------------
    def scm(self, method: str, path: str, query: dict[str, str], headers: Any, raw: bytes) -> tuple[int, dict, Any]:
        site = next((k for k, r in self.resources.items() if r.get("type") == "Microsoft.Web/sites"), None)
        if site is None:
            raise Reject(404, "NotFound", "no site")
        if method == "POST" and path == "/api/publish":
            if self.scm_forbidden:
                raise Reject(403, "Forbidden", "The caller does not have permission to deploy to this site")
            if query.get("type") != "zip":
                raise Reject(400, "BadRequest", "type=zip is required")
            if headers.get("Content-Type") != "application/zip":
                raise Reject(415, "UnsupportedMediaType", "send application/zip")
            try:
                with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                    names = set(zf.namelist())
            except zipfile.BadZipFile as exc:
                raise Reject(400, "BadRequest", "body is not a zip") from exc
            missing = {"function_app.py", "host.json"} - names
            dep = uuid.uuid4().hex
            ok = not missing and not self.fail_next_publish
            self.fail_next_publish = False
            if ok:
                self.published[site] = raw
            now = dt.datetime.now(dt.timezone.utc).isoformat()
            self.deployments[dep] = {"id": dep, "polls": 1, "ok": ok, "log": [
                {"log_time": now, "id": dep, "message": f"Received {len(raw)} bytes"},
                {"log_time": now, "id": dep, "message": "Deployment successful." if ok else
                 f"Deployment failed: missing {sorted(missing) or 'worker indexing error'}"}]}
            self.deployments["latest"] = self.deployments[dep]
            return 202, {"Location": f"https://{self.host}/api/deployments/{dep}"}, None
        m = re.fullmatch(r"/api/deployments/([^/]+)(/log)?", path)
        if method == "GET" and m:
            dep = self.deployments.get(m.group(1))
            if dep is None:
                raise Reject(404, "NotFound", "no deployment")
            if m.group(2):
                return 200, {}, dep["log"]
            if dep["polls"] > 0:
                dep["polls"] -= 1
                return 202, {}, {"id": dep["id"], "status": 1, "complete": False, "status_text": "Building"}
            status = 4 if dep["ok"] else 3
            return 200, {}, {"id": dep["id"], "status": status, "complete": True,
                             "status_text": "" if dep["ok"] else dep["log"][-1]["message"]}
        raise Reject(404, "NotFound", f"no SCM route {method} {path}")


class StaticToken:
    """A TokenCredential that always returns the token the fake expects (in place of DefaultAzureCredential)."""

    def get_token(self, *scopes: str, **kwargs: object) -> Any:
        from azure.core.credentials import AccessToken

        assert scopes == ("https://management.azure.com/.default",), scopes
        return AccessToken(TOKEN, int(time.time()) + 3600)


def identity_env(fake: FakeAzure) -> dict[str, str]:
    """What App Service sets for a managed identity: DefaultAzureCredential in any process (the CLI, a
    subprocess) then gets its ARM token from the fake's token endpoint."""
    return {"IDENTITY_ENDPOINT": f"https://{fake.host}{IDENTITY_PATH}", "IDENTITY_HEADER": IDENTITY_SECRET}


def _identity_token(method: str, query: dict[str, str], headers: Any) -> tuple[int, dict, Any]:
    """App Service's managed-identity endpoint (api-version 2019-08-01): GET with the X-IDENTITY-HEADER
    secret and the resource (not a scope); answers the token with expires_on in epoch seconds."""
    if method != "GET" or query.get("api-version") != "2019-08-01":
        raise Reject(400, "BadRequest", "GET with api-version=2019-08-01")
    if headers.get("X-IDENTITY-HEADER") != IDENTITY_SECRET:
        raise Reject(401, "Unauthorized", "X-IDENTITY-HEADER is missing or wrong")
    if query.get("resource", "").rstrip("/") != "https://management.azure.com":
        raise Reject(400, "BadRequest", f"no token for resource {query.get('resource')!r} here")
    return 200, {}, {"access_token": TOKEN, "expires_on": str(int(time.time()) + 3600),
                     "resource": query["resource"], "token_type": "Bearer"}


def _require(body: Any, *paths: str) -> None:
    for path in paths:
        node = body
        for part in path.split("."):
            if not isinstance(node, dict) or node.get(part) in (None, ""):
                raise Reject(400, "InvalidRequestContent", f"required property '{path}' is missing")
            node = node[part]


def _handler(fake: FakeAzure) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with fake.lock:
                fake.requests.append((self.command, parts.path))
                try:
                    if parts.path.startswith("/_blob/"):
                        status, headers, body = fake.blob(self.command, parts.path, query, self.headers, raw)
                    elif parts.path == IDENTITY_PATH:
                        status, headers, body = _identity_token(self.command, query, self.headers)
                    elif not parts.path.startswith(("/subscriptions/", "/fake-operations/", "/api/")):
                        self._host(parts.path, parts.query, raw)
                        return
                    elif self.headers.get("Authorization") != f"Bearer {TOKEN}":
                        raise Reject(401, "AuthenticationFailed", "missing or wrong bearer token")
                    elif parts.path.startswith("/api/"):
                        status, headers, body = fake.scm(self.command, parts.path, query, self.headers, raw)
                    else:
                        data = json.loads(raw) if raw else None
                        status, headers, body = fake.arm(self.command, parts.path, query, data)
                except Reject as exc:
                    status, headers = exc.status, {}
                    body = {"error": {"code": exc.code, "message": exc.message}}
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _host(self, path: str, query: str, raw: bytes) -> None:
            """The app's own host name: function routes and the admin endpoint, run by the fake host."""
            package = next(iter(fake.published.values()), None)
            if package is None:
                status, headers, payload = 404, {}, b""
            else:
                fake.function_host.load(package)
                m = re.fullmatch(r"/admin/functions/([^/]+)", path)
                if m and self.command == "POST":
                    status, headers, payload = fake.function_host.admin(m.group(1), self.headers, raw)
                else:
                    status, headers, payload = fake.function_host.http(self.command, path, query, self.headers, raw)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

    return Handler


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography ships with azure-identity's msal)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-azure.localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fake-azure.pem", directory / "fake-azure.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def serve(directory: Path) -> tuple[FakeAzure, ThreadingHTTPServer, Path]:
    from fake_azure_host import FakeHost

    fake = FakeAzure()
    fake.function_host = FakeHost(directory)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    cert, key = make_certificate(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    fake.host = f"127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True, name="fake-azure").start()
    return fake, server, cert
