// The client's own rules, against real HTTP servers on 127.0.0.1 started here (node:http): what it
// sends, the auth it adds, when it fails over and the errors it throws. The deployed end-to-end run
// (a hybrid service on local, docker and aws) is tests/e2e/client/test_clients_hybrid.py.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, describe, test } from "node:test";

import {
  AuthError, Client, HttpError, matchRoute, MulticloudError, Reply, UnavailableError, UnsupportedError,
  UsageError,
} from "../src/index.js";

const servers = [];

/** A server answering `handler(req, body)` -> [status, object]; its base URL. */
async function serve(handler) {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString();
      const answer = await handler(req, body);
      if (answer === "hang") return; // never answer
      const [status, data] = answer;
      res.writeHead(status, { "Content-Type": "application/json" });
      res.end(JSON.stringify(data));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

const echo = (name) => (req, body) => [200, {
  name, method: req.method, url: req.url, body, key: req.headers["x-multicloud-key"] ?? null,
  contentType: req.headers["content-type"] ?? null, signed: req.headers["x-signed"] ?? null,
}];

/** A port nothing listens on (bound, then closed). */
async function closedPort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const KEY = { type: "key", header: "X-Multicloud-Key" };
const NONE = { type: "none" };

function manifest(fns, queues = {}) {
  return { manifest: "multicloud-endpoints", version: 1, service: "shop", functions: fns, queues, streams: {} };
}

function fnOn(...targets) {
  return {
    placement: { data_class: "public", order: targets.map((t) => t.target) },
    targets: targets.map(({ target, url, auth = NONE, routes }) => ({
      target, url,
      routes: routes ?? [{ path: "/orders/{id}", methods: ["GET", "POST"], auth }, { path: "/orders", methods: ["GET"], auth: NONE }],
    })),
  };
}

let a;
let b;
let down;
before(async () => {
  a = await serve(echo("a"));
  b = await serve(echo("b"));
  down = await closedPort();
});
after(() => servers.forEach((s) => { s.closeAllConnections(); s.close(); }));

describe("calls", () => {
  test("method, path, query and a JSON body reach the function; the reply says who answered", async () => {
    const client = new Client(manifest({ api: fnOn({ target: "local", url: a }) }));
    const reply = await client.call("api", { method: "post", path: "/orders/7", query: { tag: ["x", "y z"], n: 1 },
      body: { sku: "A-1" } });
    assert.ok(reply instanceof Reply);
    assert.equal(reply.target, "local");
    assert.equal(reply.status, 200);
    assert.equal(reply.headers["content-type"], "application/json");
    const seen = reply.json();
    assert.deepEqual([seen.method, seen.url, seen.body, seen.contentType],
      ["POST", "/orders/7?tag=x&tag=y+z&n=1", '{"sku":"A-1"}', "application/json"]);
  });

  test("the default path is the first route without parameters; none is a UsageError", async () => {
    const routes = [{ path: "/orders/{id}", methods: ["GET"], auth: NONE }];
    const client = new Client(manifest({ list: fnOn({ target: "local", url: a }), one: fnOn({ target: "local", url: a, routes }) }));
    assert.equal((await client.call("list")).json().url, "/orders");
    await assert.rejects(client.call("one"), (err) => err instanceof UsageError && /have parameters/.test(err.message));
  });

  test("strings and bytes go as they are; unsafe path characters are escaped", async () => {
    const client = new Client(manifest({ api: fnOn({ target: "local", url: a }) }));
    const text = (await client.call("api", { method: "POST", path: "/orders/a b", body: "plain" })).json();
    assert.deepEqual([text.url, text.body], ["/orders/a%20b", "plain"]);
    const bytes = (await client.call("api", { method: "POST", path: "/orders/1", body: new TextEncoder().encode("raw") })).json();
    assert.equal(bytes.body, "raw");
  });

  test("an unknown function is a UsageError naming the known ones", async () => {
    const client = new Client(manifest({ api: fnOn({ target: "local", url: a }) }));
    await assert.rejects(client.call("nope"), (err) => err instanceof UsageError && /use one of: api/.test(err.message));
  });

  test("answers of the function, 4xx and 500 included, come back; raiseForStatus throws HttpError", async () => {
    const url = await serve((req) => [req.url.endsWith("/500") ? 500 : 404, { error: "x" }]);
    const client = new Client(manifest({ api: fnOn({ target: "local", url }, { target: "docker", url: b }) }));
    const missing = await client.call("api", { path: "/orders/404" });
    assert.deepEqual([missing.target, missing.status, missing.ok], ["local", 404, false]);
    assert.throws(() => missing.raiseForStatus(), (err) => err instanceof HttpError && err.status === 404);
    const failed = await client.call("api", { path: "/orders/500" });
    assert.deepEqual([failed.target, failed.status], ["local", 500]); // the handler's answer: no failover
  });
});

describe("auth", () => {
  const keyed = () => manifest({ api: fnOn({ target: "docker", url: a, auth: KEY }) });

  test("a key route gets the key from options, per function first; an open route gets none", async () => {
    const client = new Client(keyed(), { keys: { docker: "t-key", "docker/api": "fn-key" }, env: {} });
    assert.equal((await client.call("api", { path: "/orders/1" })).json().key, "fn-key");
    assert.equal((await client.call("api", { path: "/orders" })).json().key, null);
  });

  test("keys come from MULTICLOUD_KEY_<TARGET>[_<FUNCTION>] when not given", async () => {
    const client = new Client(keyed(), { env: { MULTICLOUD_KEY_DOCKER: "env-key" } });
    assert.equal((await client.call("api", { path: "/orders/1" })).json().key, "env-key");
  });

  test("no key for any live target is an AuthError saying what is needed", async () => {
    const client = new Client(keyed(), { env: {} });
    await assert.rejects(client.call("api", { path: "/orders/1" }), (err) => err instanceof AuthError
      && err instanceof MulticloudError && /MULTICLOUD_KEY_DOCKER/.test(err.needs[0]));
  });

  test("a target the client has no key for is skipped for the next one", async () => {
    const m = manifest({ api: fnOn({ target: "local", url: a, auth: KEY }, { target: "docker", url: b, auth: KEY }) });
    const reply = await new Client(m, { keys: { docker: "d" }, env: {} }).call("api", { path: "/orders/1" });
    assert.deepEqual([reply.target, reply.json().key], ["docker", "d"]);
  });

  test("an IAM route is signed by the target's signer, with the request as it will be sent", async () => {
    const iam = { type: "iam", scheme: "aws-sigv4", service: "lambda" };
    const m = manifest({ api: fnOn({ target: "aws", url: a, auth: iam }) });
    const seen = [];
    const signers = { aws: async (request) => { seen.push(request); return { "X-Signed": `${request.method} ${request.url}` }; } };
    const reply = await new Client(m, { signers }).call("api", { method: "POST", path: "/orders/9", body: { a: 1 } });
    assert.equal(reply.json().signed, `POST ${a}/orders/9`);
    assert.deepEqual([seen[0].auth, seen[0].target, seen[0].function, seen[0].body], [iam, "aws", "api", '{"a":1}']);
    await assert.rejects(new Client(m).call("api", { path: "/orders/1" }), AuthError);
  });
});

describe("failover", () => {
  test("a target that refuses the connection: the next one in order answers", async () => {
    const client = new Client(manifest({ api: fnOn({ target: "local", url: down }, { target: "docker", url: b }) }));
    const reply = await client.call("api", { method: "POST", path: "/orders/1", body: {} });
    assert.deepEqual([reply.target, reply.json().name], ["docker", "b"]);
  });

  test("503 fails over for every method; 502 and 504 only for idempotent ones", async () => {
    const busy = await serve((req) => [Number(req.url.split("/").pop()), { error: "busy" }]);
    const client = new Client(manifest({ api: fnOn({ target: "local", url: busy }, { target: "docker", url: b }) }));
    assert.equal((await client.call("api", { method: "POST", path: "/orders/503" })).target, "docker");
    assert.equal((await client.call("api", { method: "GET", path: "/orders/502" })).target, "docker");
    assert.equal((await client.call("api", { method: "GET", path: "/orders/504" })).target, "docker");
    const post = await client.call("api", { method: "POST", path: "/orders/504" });
    assert.deepEqual([post.target, post.status], ["local", 504]); // it may have run: not sent twice
  });

  test("a target that does not answer in time: the next one answers", async () => {
    const slow = await serve(() => "hang");
    const client = new Client(manifest({ api: fnOn({ target: "aws", url: slow }, { target: "local", url: a }) }),
      { timeoutMs: 300 });
    assert.equal((await client.call("api", { path: "/orders/1" })).target, "local");
  });

  test("no target answers: UnavailableError with what each one did", async () => {
    const busy = await serve(() => [503, { error: "draining" }]);
    const client = new Client(manifest({ api: fnOn({ target: "local", url: down }, { target: "docker", url: busy }) }));
    await assert.rejects(client.call("api", { path: "/orders/1" }), (err) => {
      assert.ok(err instanceof UnavailableError);
      assert.deepEqual(err.attempts.map((x) => [x.target, x.status ?? null]), [["local", null], ["docker", 503]]);
      assert.match(err.attempts[0].error, /ECONNREFUSED/);
      return true;
    });
  });

  test("`target` calls that target only; the caller's abort stops the call without failover", async () => {
    const client = new Client(manifest({ api: fnOn({ target: "local", url: down }, { target: "docker", url: b }) }));
    await assert.rejects(client.call("api", { path: "/orders/1", target: "local" }), UnavailableError);
    await assert.rejects(client.call("api", { path: "/orders/1", target: "aws" }), /not live on aws/);
    const slow = await serve(() => "hang");
    const waiting = new Client(manifest({ api: fnOn({ target: "local", url: slow }, { target: "docker", url: b }) }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("caller gave up")), 100);
    await assert.rejects(waiting.call("api", { path: "/orders/1", signal: controller.signal }), /caller gave up/);
  });
});

describe("manifest and send", () => {
  test("a document that is not a manifest, or of another version, is a UsageError", () => {
    assert.throws(() => new Client({ functions: {} }), UsageError);
    assert.throws(() => new Client({ ...manifest({}), version: 2 }), /version 2 is not supported/);
  });

  test("send: UnsupportedError where no target has an intake, naming why; UsageError for others", async () => {
    const aws = { target: "aws", url: null, why: "SQS wants SigV4" };
    const client = new Client(manifest({}, { orders: { functions: ["fulfil"], targets: ["aws"], send: [aws] } }));
    await assert.rejects(client.send("orders", "{}"), (err) => err instanceof UnsupportedError
      && /aws: SQS wants SigV4/.test(err.message) && /multicloud send PATH -t TARGET --queue orders/.test(err.message));
    await assert.rejects(client.send("nope", "{}"), UsageError);
    await assert.rejects(client.send("orders", "{}", { stream: true }), /no stream "orders"/);
  });
});

describe("send", () => {
  const seen = [];
  let intakeUrl;
  let busy;
  before(async () => {
    intakeUrl = await serve((req, body) => {
      seen.push({ url: req.url, body, key: req.headers["x-multicloud-key"], tenant: req.headers["x-multicloud-attr-tenant"],
        type: req.headers["content-type"] });
      if (req.headers["x-multicloud-key"] !== "good") return [401, { error: "missing or wrong key" }];
      if (body.length > 10) return [413, { error: "message over the broker's 10 byte limit" }];
      return [202, { queue: "orders", seq: seen.length }];
    });
    busy = await serve(() => [503, { error: "the broker is not connected: nothing was stored" }]);
  });
  const entry = (target, url) => ({ target, url: `${url}/_queues/orders`, auth: KEY });
  const queue = (...send) => manifest({}, { orders: { functions: ["fulfil"], targets: send.map((e) => e.target), send } });

  test("posts the body with the key and attribute headers; resolves to what was stored", async () => {
    const client = new Client(queue(entry("local", intakeUrl)), { keys: { local: "good" }, env: {} });
    const sent = await client.send("orders", { n: 1 }, { attributes: { Tenant: "acme" } });
    assert.deepEqual([sent.target, sent.kind, sent.name, sent.url], ["local", "queue", "orders", `${intakeUrl}/_queues/orders`]);
    assert.equal(typeof sent.seq, "number");
    const last = seen.at(-1);
    assert.deepEqual([last.url, last.body, last.key, last.tenant, last.type],
      ["/_queues/orders", '{"n":1}', "good", "acme", "application/json"]);
  });

  test("fails over past a refused connection and a 503; typed errors for the intake's answers", async () => {
    const client = new Client(queue(entry("local", down), entry("docker", busy), entry("aws", intakeUrl)),
      { keys: { local: "good", docker: "good", aws: "good" }, env: {} });
    assert.equal((await client.send("orders", "x")).target, "aws");
    const wrong = new Client(queue(entry("local", intakeUrl)), { keys: { local: "bad" }, env: {} });
    await assert.rejects(wrong.send("orders", "x"), (err) => err instanceof AuthError && /HTTP 401/.test(err.message));
    const right = new Client(queue(entry("local", intakeUrl)), { keys: { local: "good" }, env: {} });
    await assert.rejects(right.send("orders", "x".repeat(11)), (err) => err instanceof UsageError && /HTTP 413/.test(err.message));
    await assert.rejects(right.send("orders", "x", { attributes: { "nats-msg-id": "1" } }), UsageError);
    await assert.rejects(new Client(queue(entry("local", intakeUrl)), { env: {} }).send("orders", "x"),
      (err) => err instanceof AuthError && /MULTICLOUD_KEY_LOCAL/.test(err.message));
    await assert.rejects(new Client(queue(entry("docker", busy)), { keys: { docker: "good" }, env: {} }).send("orders", "x"),
      (err) => err instanceof UnavailableError && err.attempts[0].status === 503);
  });
});

test("matchRoute follows the runtime's routing: {param} one segment, {param+} the rest", () => {
  assert.deepEqual(matchRoute("/records/{patient}", "/records/42"), { patient: "42" });
  assert.equal(matchRoute("/records/{patient}", "/records/42/x"), null);
  assert.equal(matchRoute("/records/{patient}", "/records/"), null);
  assert.deepEqual(matchRoute("/files/{key+}", "/files/a/b.txt"), { key: "a/b.txt" });
  assert.equal(matchRoute("/files/{key+}", "/files"), null);
  assert.deepEqual(matchRoute("/", "/"), {});
});
