// Compiled (not run) by `npm run typecheck` (tsc --strict, from the Python suite too): the declarations
// in src/index.d.ts describe how the README uses the client, and reject what the client would reject.
import {
  AuthError, Client, HttpError, type Manifest, matchRoute, type Reply, type Sent, type Signer, UnavailableError,
} from "multicloud-client";

declare const manifest: Manifest;

const sign: Signer = async ({ method, url, auth }) => ({ "X-Signed": `${method} ${url} ${auth.type}` });
const client = new Client(manifest, { keys: { docker: "k", "docker/records": "k2" }, signers: { aws: sign }, timeoutMs: 5000 });

async function use(): Promise<string> {
  const reply: Reply = await client.call("records", { path: "/records/42", query: { full: ["1"], n: 2 } });
  const data = reply.json<{ patient: string }>();
  await client.call("orders", { method: "POST", path: "/orders", body: { sku: "A-1" }, headers: { "X-Trace": "1" } });
  await client.call("upload", { method: "put", path: "/files/a", body: new Uint8Array([1, 2]) });
  try {
    reply.raiseForStatus();
    const sent: Sent = await client.send("orders", "{}", { attributes: { tenant: "acme" } });
    await client.send("clicks", { page: "/" }, { stream: true, target: sent.target });
    const intake = manifest.queues?.orders?.send?.[0];
    if (intake && intake.url === null) return intake.why;
  } catch (err) {
    if (err instanceof UnavailableError) return err.attempts.map((a) => `${a.target}:${a.status ?? a.error}`).join();
    if (err instanceof AuthError) return err.needs.join();
    if (err instanceof HttpError) return String(err.reply.status);
  }
  const params: Record<string, string> | null = matchRoute("/records/{patient}", "/records/1");
  return `${reply.target} ${reply.status} ${reply.headers["content-type"]} ${data.patient} ${params?.patient}`;
}

// @ts-expect-error: a method the spec does not know
void client.call("records", { method: "FETCH" });
// @ts-expect-error: the manifest is required
void new Client();
// @ts-expect-error: keys are strings
void new Client(manifest, { keys: { docker: 1 } });
// @ts-expect-error: attribute values are strings
void client.send("orders", "{}", { attributes: { n: 1 } });
void use;
