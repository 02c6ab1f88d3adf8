// Started by tests/e2e/client/test_clients_send.py (not on its own): puts messages on the queues and streams
// of a service deployed to local and docker through its endpoints manifest, with the JavaScript client's
// `send`. The Python test then checks that the functions really handled them. MC_CASES names a JSON file:
//   {manifest, options, cases: [{name, body, send: {attributes, stream, target}, keys?, expect}]}
// where expect is {target, kind} or {error: "AuthError" | "UsageError" | ..., match: "regexp"}.
// Keys come from the environment (MULTICLOUD_KEY_<TARGET>) unless a case gives its own.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Client, MulticloudError } from "../../../../clients/js/src/index.js";

const { manifest, options, cases } = JSON.parse(readFileSync(process.env.MC_CASES, "utf8"));

for (const { name, body, send = {}, keys, expect } of cases) {
  const label = `${send.stream ? "stream" : "queue"} ${name} ${send.target ?? ""} -> ${expect.target ?? expect.error}`;
  test(label, async () => {
    const client = new Client(manifest, keys ? { ...options, keys, env: {} } : options);
    if (expect.error) {
      await assert.rejects(client.send(name, body, send), (err) => {
        assert.ok(err instanceof MulticloudError);
        assert.equal(err.name, expect.error);
        assert.match(err.message, new RegExp(expect.match));
        return true;
      });
      return;
    }
    const sent = await client.send(name, body, send);
    assert.deepEqual([sent.target, sent.kind, sent.name], [expect.target, expect.kind, name]);
    assert.ok(Number.isInteger(sent.seq) && sent.seq > 0, `seq ${sent.seq}`);
  });
}
