// Started by tests/e2e/client/test_clients_hybrid.py (not on its own): calls a deployed service through
// its endpoints manifest with the JavaScript client and checks every answer against what the Python
// client got from the same deployment. MC_CASES names a JSON file:
//   {manifest, options: {timeoutMs}, cases: [{fn, call: {path, method, ...}, expect}]}
// where expect is {target, status, json} or {error: "UnavailableError", targets: [...]}.
// Keys come from the environment (MULTICLOUD_KEY_<TARGET>), as an app in Node would take them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { Client, MulticloudError } from "../../../../clients/js/src/index.js";

const { manifest, options, cases } = JSON.parse(readFileSync(process.env.MC_CASES, "utf8"));
const client = new Client(manifest, options);

for (const { fn, call, expect } of cases) {
  test(`${fn} ${call.method ?? "GET"} ${call.path ?? "(default route)"} -> ${expect.target ?? expect.error}`, async () => {
    if (expect.error) {
      await assert.rejects(client.call(fn, call), (err) => {
        assert.ok(err instanceof MulticloudError);
        assert.equal(err.name, expect.error);
        assert.deepEqual(err.attempts.map((a) => a.target), expect.targets);
        return true;
      });
      return;
    }
    const reply = await client.call(fn, call);
    assert.deepEqual({ target: reply.target, status: reply.status, json: reply.json() }, expect);
  });
}
