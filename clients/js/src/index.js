// multicloud-client: call the functions of a multicloud service through its endpoints manifest.
//
// The manifest (`multicloud endpoints PATH -o json`) lists, for each function, the targets where it is
// live in the placement's order of preference, their URLs, routes and the auth each route needs (never a
// secret). A call goes to the first target; when it does not answer (the connection fails or times out,
// or it answers 503; for idempotent methods also 502 or 504) the call moves to the next one. Any other
// answer, 4xx and 500 included, is the function's and comes back as a Reply.
//
// No dependencies: the platform's fetch (Node 18+, browsers). Python's multicloud.client.Client
// .from_manifest follows the same rules; both are tested against the same deployment.

export const MANIFEST = "multicloud-endpoints";
export const FORMAT = 1;

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);
const RETRY_ANY = new Set([503]); // the target did not take the request (draining, overloaded)
const RETRY_IDEMPOTENT = new Set([502, 504]); // a gateway without an answer: the call may have run

/** Base of every error this client throws. `fix` says what to do about it. */
export class MulticloudError extends Error {
  constructor(message, { fix, cause } = {}) {
    super(fix ? `${message} Fix: ${fix}` : message, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
    this.fix = fix;
  }
}

/** Bad input: not a manifest, an unknown function or queue, a route path that needs parameters. */
export class UsageError extends MulticloudError {}

/** Every live target needs a key or signature the client was not given. `needs` lists them. */
export class AuthError extends MulticloudError {
  constructor(message, { needs = [], ...rest } = {}) {
    super(message, rest);
    this.needs = needs;
  }
}

/** No target answered. `attempts` says what each one did: {target, url, status} or {target, url, error}. */
export class UnavailableError extends MulticloudError {
  constructor(message, { attempts = [], ...rest } = {}) {
    super(message, rest);
    this.attempts = attempts;
  }
}

/** What was asked is not available (yet) on the targets in the manifest. */
export class UnsupportedError extends MulticloudError {}

/** Thrown by `reply.raiseForStatus()` for a 4xx or 5xx answer. `reply` is the answer. */
export class HttpError extends MulticloudError {
  constructor(reply) {
    super(`${reply.target} answered HTTP ${reply.status} for ${reply.url}`);
    this.reply = reply;
    this.status = reply.status;
  }
}

/** A function's answer: which target gave it, its status, headers (lower-case names) and body. */
export class Reply {
  constructor({ target, url, status, headers, body }) {
    this.target = target;
    this.url = url;
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  get ok() {
    return this.status >= 200 && this.status < 300;
  }

  text() {
    return new TextDecoder().decode(this.body);
  }

  json() {
    return JSON.parse(this.text());
  }

  raiseForStatus() {
    if (this.status >= 400) throw new HttpError(this);
    return this;
  }
}

/** Does `path` match the route template (`{param}` one segment, `{param+}` the rest)? */
export function matchRoute(template, path) {
  const split = (text) => (text.replace(/^\/+|\/+$/g, "") ? text.replace(/^\/+|\/+$/g, "").split("/") : []);
  const want = split(template);
  const got = split(path);
  const params = {};
  for (let i = 0; i < want.length; i++) {
    const part = want[i];
    if (part.startsWith("{") && part.endsWith("}")) {
      const name = part.slice(1, -1);
      if (name.endsWith("+")) {
        if (got.length <= i) return null;
        params[name.slice(0, -1)] = got.slice(i).join("/");
        return params;
      }
      if (i >= got.length || !got[i]) return null;
      params[name] = got[i];
    } else if (i >= got.length || part !== got[i]) {
      return null;
    }
  }
  return got.length === want.length ? params : null;
}

/** The environment variables a key is read from (Node): per function first, then per target. */
export function keyEnvNames(target, fn) {
  const norm = (text) => text.toUpperCase().replaceAll("-", "_");
  return [`MULTICLOUD_KEY_${norm(target)}_${norm(fn)}`, `MULTICLOUD_KEY_${norm(target)}`];
}

export class Client {
  /**
   * @param manifest the parsed endpoints manifest
   * @param options keys: {docker: KEY} or {"docker/records": KEY}; signers: {aws: async (request) =>
   *   headers} for IAM routes; fetch; timeoutMs per attempt (default 30000); env (default process.env)
   */
  constructor(manifest, { keys = {}, signers = {}, fetch: fetchImpl, timeoutMs = 30000, env } = {}) {
    if (!manifest || typeof manifest !== "object" || manifest.manifest !== MANIFEST
        || typeof manifest.functions !== "object" || manifest.functions === null) {
      throw new UsageError("not a multicloud endpoints manifest (no `manifest: multicloud-endpoints` and "
        + "`functions`)", { fix: "write it with `multicloud endpoints PATH -o json`" });
    }
    if (manifest.version !== FORMAT) {
      throw new UsageError(`endpoints manifest version ${JSON.stringify(manifest.version)} is not supported `
        + `(this client reads version ${FORMAT})`, { fix: "regenerate it with the matching multicloud" });
    }
    this.manifest = manifest;
    this.keys = { ...keys };
    this.signers = { ...signers };
    this.timeoutMs = timeoutMs;
    this.env = env ?? globalThis.process?.env ?? {};
    this._fetch = fetchImpl ?? globalThis.fetch?.bind(globalThis);
    if (typeof this._fetch !== "function") {
      throw new UsageError("this platform has no fetch", { fix: "use Node 18+ or pass options.fetch" });
    }
  }

  get service() {
    return this.manifest.service;
  }

  /** The function's live targets, in the order calls try them. */
  targets(fn) {
    const entry = this.manifest.functions[fn];
    if (!entry) {
      const names = Object.keys(this.manifest.functions);
      throw new UsageError(`no function ${JSON.stringify(fn)} in the manifest of ${this.service}`,
        { fix: `use one of: ${names.join(", ") || "none"}` });
    }
    return entry.targets ?? [];
  }

  /**
   * Call a function. `body`: a string, bytes, Blob, URLSearchParams or FormData goes as is; anything
   * else is sent as JSON. `query`: an object (values may be arrays), URLSearchParams or a string.
   */
  async call(fn, { method = "GET", path, query, body, headers = {}, target, signal } = {}) {
    method = method.toUpperCase();
    let entries = this.targets(fn);
    if (target !== undefined) {
      entries = entries.filter((e) => e.target === target);
      if (!entries.length) {
        throw new UnavailableError(`function ${JSON.stringify(fn)} is not live on ${target}`,
          { fix: "regenerate the manifest, or call it without `target`" });
      }
    }
    entries = entries.filter((e) => e.url);
    if (!entries.length) {
      throw new UnavailableError(`function ${JSON.stringify(fn)} of ${this.service} has no live HTTP endpoint`,
        { fix: "deploy it, then regenerate the manifest: multicloud endpoints PATH -o json" });
    }
    const [payload, contentType] = encodeBody(body);
    const baseHeaders = { ...headers };
    if (contentType && !Object.keys(baseHeaders).some((k) => k.toLowerCase() === "content-type")) {
      baseHeaders["Content-Type"] = contentType;
    }
    const attempts = [];
    const needs = [];
    for (const entry of entries) {
      const routePath = path ?? defaultPath(fn, entry);
      const url = entry.url.replace(/\/+$/, "") + quotePath(routePath) + queryString(query, routePath);
      const auth = authFor(entry, routePath);
      let extra;
      try {
        extra = await this._credentials(fn, entry.target, auth, { method, url, headers: baseHeaders, body: payload });
      } catch (err) {
        if (!(err instanceof MissingCredentials)) throw err;
        needs.push(err.message);
        attempts.push({ target: entry.target, url, error: err.message });
        continue;
      }
      const outcome = await this._attempt(entry.target, method, url, { ...baseHeaders, ...extra }, payload, signal);
      if (outcome instanceof Reply) return outcome;
      attempts.push(outcome);
    }
    if (needs.length && needs.length === attempts.length) {
      throw new AuthError(`function ${JSON.stringify(fn)} needs credentials on every live target: ${needs.join("; ")}`,
        { needs, fix: "pass keys: {TARGET: KEY} (or set MULTICLOUD_KEY_<TARGET>), or signers: {TARGET: fn} for IAM" });
    }
    const told = attempts.map((a) => `${a.target}: ${a.status !== undefined ? `HTTP ${a.status}` : a.error}`);
    throw new UnavailableError(`no target of function ${JSON.stringify(fn)} answered: ${told.join("; ")}`,
      { attempts, fix: "check `multicloud status` on each target" });
  }

  /**
   * Put a message on a queue (or, with `stream: true`, a stream) a function reads, through the private
   * runtime's HTTP intake (`POST /_queues/<name>`, always behind the service's key): the first target in
   * the reading function's placement order that takes messages over HTTP, the next one when it does not
   * answer (the connection fails or times out, or it answers 503: nothing was stored). Resolves to
   * {target, kind, name, url, seq}. The clouds take no unsigned messages: when no target has an intake
   * it rejects with UnsupportedError naming `multicloud send` and the cloud's SDK. `attributes` travel as
   * X-Multicloud-Attr-<name> headers (names lower-cased, values printable ASCII).
   */
  async send(name, body, { attributes = {}, stream = false, target, signal } = {}) {
    const kind = stream ? "stream" : "queue";
    const channels = this.manifest[`${kind}s`] ?? {};
    if (!Object.hasOwn(channels, name)) {
      throw new UsageError(`no ${kind} ${JSON.stringify(name)} in the manifest of ${this.service}`,
        { fix: `use one of: ${Object.keys(channels).join(", ") || "none"}` });
    }
    const entries = (channels[name].send ?? []).filter((e) => target === undefined || e.target === target);
    const usable = entries.filter((e) => e.url);
    if (!usable.length) {
      const why = entries.map((e) => `${e.target}: ${e.why}`).join("; ")
        || (target !== undefined ? `not live on ${target}` : "no target where a function reads it is live");
      throw new UnsupportedError(`no target takes messages for ${kind} ${JSON.stringify(name)} over HTTP (${why})`,
        { fix: `use \`multicloud send PATH -t TARGET --${kind} ${name} -d BODY\` or the cloud's SDK, or regenerate `
          + "the manifest after deploying to local or docker" });
    }
    const headers = attributeHeaders(attributes);
    const [payload, contentType] = encodeBody(body);
    if (contentType) headers["Content-Type"] = contentType;
    const attempts = [];
    const needs = [];
    for (const entry of usable) {
      let extra;
      try {
        extra = await this._credentials("", entry.target, entry.auth ?? { type: "none" },
          { method: "POST", url: entry.url, headers, body: payload });
      } catch (err) {
        if (!(err instanceof MissingCredentials)) throw err;
        needs.push(err.message);
        attempts.push({ target: entry.target, url: entry.url, error: err.message });
        continue;
      }
      const outcome = await this._attempt(entry.target, "POST", entry.url, { ...headers, ...extra }, payload, signal);
      if (outcome instanceof Reply) return sent(outcome, kind, name);
      attempts.push(outcome);
    }
    if (needs.length && needs.length === attempts.length) {
      throw new AuthError(`${kind} ${JSON.stringify(name)} needs the service's key on every target that takes `
        + `messages: ${needs.join("; ")}`, { needs, fix: "pass keys: {TARGET: KEY} (or set MULTICLOUD_KEY_<TARGET>)" });
    }
    const told = attempts.map((a) => `${a.target}: ${a.status !== undefined ? `HTTP ${a.status}` : a.error}`);
    throw new UnavailableError(`no target took the message for ${kind} ${JSON.stringify(name)}: ${told.join("; ")}`,
      { attempts, fix: "check `multicloud status` on each target" });
  }

  async _credentials(fn, target, auth, request) {
    const kind = auth?.type ?? "none";
    if (kind === "key") {
      const [perFn, perTarget] = keyEnvNames(target, fn);
      const key = (fn ? this.keys[`${target}/${fn}`] : undefined) ?? this.keys[target]
        ?? (fn ? this.env[perFn] : undefined) ?? this.env[perTarget];
      if (!key) {
        throw new MissingCredentials(`${target} needs a key in ${auth.header} (keys: {${target}: ...} or ${perTarget})`);
      }
      return { [auth.header ?? "X-Multicloud-Key"]: key };
    }
    if (kind === "iam") {
      const signer = this.signers[target];
      if (!signer) {
        throw new MissingCredentials(`${target} needs ${auth.scheme ?? "IAM"} (signers: {${target}: ...})`);
      }
      return { ...(await signer({ ...request, auth, target, function: fn })) };
    }
    return {};
  }

  async _attempt(target, method, url, headers, body, signal) {
    if (signal?.aborted) throw signal.reason;
    const controller = new AbortController();
    const onAbort = () => controller.abort(signal.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const resp = await this._fetch(url, { method, headers, body, signal: controller.signal, redirect: "follow" });
      const data = new Uint8Array(await resp.arrayBuffer());
      if (RETRY_ANY.has(resp.status) || (RETRY_IDEMPOTENT.has(resp.status) && IDEMPOTENT.has(method))) {
        return { target, url, status: resp.status };
      }
      const lowered = {};
      resp.headers.forEach((value, name) => { lowered[name.toLowerCase()] = value; });
      return new Reply({ target, url, status: resp.status, headers: lowered, body: data });
    } catch (err) {
      if (signal?.aborted) throw signal.reason; // the caller gave up: no failover
      const cause = controller.signal.aborted ? controller.signal.reason : (err?.cause ?? err);
      return { target, url, error: `${cause?.code ?? cause?.name ?? "Error"}: ${cause?.message ?? cause}` };
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

class MissingCredentials extends Error {}

const ATTR_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const ATTR_VALUE = /^[\x20-\x7e]{0,1024}$/;

// Message attributes as the runtime's intake reads them: one X-Multicloud-Attr-<name> header each.
function attributeHeaders(attributes) {
  const out = {};
  for (const [name, value] of Object.entries(attributes ?? {})) {
    const low = name.toLowerCase();
    if (!ATTR_NAME.test(low) || low.startsWith("nats-") || low.startsWith("mc-")) {
      throw new UsageError(`attribute name ${JSON.stringify(name)} cannot travel over HTTP`,
        { fix: "letters, digits, '-' or '_' (up to 64), not starting with nats- or mc-" });
    }
    if (typeof value !== "string" || !ATTR_VALUE.test(value)) {
      throw new UsageError(`attribute ${JSON.stringify(name)}: the value must be printable ASCII, up to 1024 characters`,
        { fix: "encode it (e.g. base64), or use `multicloud send` for other values" });
    }
    out[`X-Multicloud-Attr-${low}`] = value;
  }
  return out;
}

// The intake's answer: what was stored, or the typed error its status means.
function sent(reply, kind, name) {
  let data = {};
  try { data = reply.json(); } catch { /* not JSON: described by the status */ }
  const told = `${reply.target} answered HTTP ${reply.status} for ${kind} ${JSON.stringify(name)}`
    + (data?.error ? `: ${data.error}` : "");
  if (reply.status >= 200 && reply.status < 300) {
    return { target: reply.target, kind, name, url: reply.url, seq: data?.seq };
  }
  if (reply.status === 401 || reply.status === 403) {
    throw new AuthError(told, { needs: [reply.target], fix: `pass the service's key for ${reply.target}: keys: `
      + `{${reply.target}: KEY} or ${keyEnvNames(reply.target, "")[1]}` });
  }
  if ([400, 404, 405, 413].includes(reply.status)) {
    throw new UsageError(told, { fix: "check the name, the attributes and the body size (1 MB on the private targets)" });
  }
  throw new HttpError(reply);
}

// The function's first route without parameters (as `multicloud invoke` takes the first route).
function defaultPath(fn, entry) {
  const routes = (entry.routes ?? []).map((r) => r.path);
  if (!routes.length) throw new UsageError(`function ${JSON.stringify(fn)} has no http route on ${entry.target}`);
  const plain = routes.find((r) => !r.includes("{"));
  if (plain === undefined) {
    throw new UsageError(`the routes of ${fn} have parameters`,
      { fix: `give the concrete path, e.g. path: "${routes[0].split("{")[0]}1"` });
  }
  return plain;
}

// The auth of the route `path` matches; for a path no route matches, the first auth any route asks for
// (as `multicloud invoke` sends the key whenever some route needs it).
function authFor(entry, path) {
  const routes = entry.routes ?? [];
  const bare = path.split("?", 1)[0];
  for (const route of routes) {
    if (matchRoute(route.path, bare) !== null) return route.auth ?? { type: "none" };
  }
  return routes.map((r) => r.auth).find((a) => a && a.type !== "none") ?? { type: "none" };
}

function quotePath(path) {
  const withSlash = path.startsWith("/") ? path : `/${path}`;
  return withSlash.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%?]/gu, (c) => encodeURIComponent(c));
}

function queryString(query, path) {
  if (query === undefined || query === null || query === "") return "";
  let text;
  if (typeof query === "string") {
    text = query.replace(/^\?/, "");
  } else {
    const params = query instanceof URLSearchParams ? query : new URLSearchParams();
    if (!(query instanceof URLSearchParams)) {
      for (const [name, value] of Object.entries(query)) {
        for (const v of Array.isArray(value) ? value : [value]) params.append(name, String(v));
      }
    }
    text = params.toString();
  }
  if (!text) return "";
  return (path.includes("?") ? "&" : "?") + text;
}

function encodeBody(body) {
  if (body === undefined) return [undefined, undefined];
  if (typeof body === "string" || body instanceof Uint8Array || body instanceof ArrayBuffer
      || ArrayBuffer.isView(body) || body instanceof URLSearchParams
      || (typeof Blob !== "undefined" && body instanceof Blob)
      || (typeof FormData !== "undefined" && body instanceof FormData)) {
    return [body, undefined];
  }
  return [JSON.stringify(body), "application/json"];
}
