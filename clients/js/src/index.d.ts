// Type declarations of multicloud-client (src/index.js).

export declare const MANIFEST: "multicloud-endpoints";
export declare const FORMAT: 1;

/** How a route is guarded on one target. A key route names the header, never the key. */
export type Auth =
  | { type: "none" }
  | { type: "key"; header: string }
  | { type: "iam"; scheme: "aws-sigv4" | "google-id-token" | string; service?: string; [extra: string]: unknown };

export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

export interface Route {
  path: string;
  methods: HttpMethod[];
  auth: Auth;
}

export interface TargetEntry {
  target: string;
  /** Base URL the route paths are appended to; null for a function without http routes. */
  url: string | null;
  routes: Route[];
}

export interface FunctionEntry {
  placement: { data_class: "public" | "internal" | "confidential"; order: string[] };
  /** Targets where the function is live, in the order calls try them. */
  targets: TargetEntry[];
}

/** Where a client POSTs a message on one target (the private runtime's intake), or url null and why not. */
export type Intake =
  | { target: string; url: string; auth: Auth }
  | { target: string; url: null; why: string };

export interface Channel {
  functions: string[];
  targets: string[];
  /** Per live target, in the reading function's placement order. */
  send?: Intake[];
}

/** What `multicloud endpoints PATH -o json` prints. */
export interface Manifest {
  manifest: typeof MANIFEST;
  version: typeof FORMAT;
  service: string;
  functions: Record<string, FunctionEntry>;
  queues?: Record<string, Channel>;
  streams?: Record<string, Channel>;
}

/** What a signer gets: the request as it will be sent, the route's auth, the target and function. */
export interface SignRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: BodyInit | undefined;
  auth: Auth;
  target: string;
  function: string;
}

/** Adds the headers a cloud's IAM wants (AWS SigV4, a Google identity token). */
export type Signer = (request: SignRequest) => Record<string, string> | Promise<Record<string, string>>;

export interface ClientOptions {
  /** {docker: KEY} for every function on a target, or {"docker/records": KEY} for one (wins). */
  keys?: Record<string, string>;
  /** {aws: signer} for routes a cloud guards with IAM. */
  signers?: Record<string, Signer>;
  /** A fetch implementation (default: the platform's). */
  fetch?: typeof fetch;
  /** Milliseconds one target gets before the call moves to the next (default 30000). */
  timeoutMs?: number;
  /** Where MULTICLOUD_KEY_<TARGET>[_<FUNCTION>] are read (default: process.env in Node, none in browsers). */
  env?: Record<string, string | undefined>;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type Body = string | Uint8Array | ArrayBuffer | ArrayBufferView | Blob | URLSearchParams | FormData | JsonValue
  | object;

export interface CallOptions {
  method?: HttpMethod | Lowercase<HttpMethod>;
  /** The concrete path, e.g. "/records/42" (default: the function's first route without parameters). */
  path?: string;
  query?: Record<string, string | number | boolean | Array<string | number | boolean>> | URLSearchParams | string;
  /** Strings, bytes, Blob, URLSearchParams and FormData go as they are; anything else as JSON. */
  body?: Body;
  headers?: Record<string, string>;
  /** Call this target only (no failover). */
  target?: string;
  /** Aborting it stops the call at once (no failover). */
  signal?: AbortSignal;
}

export interface SendOptions {
  /** Message attributes: X-Multicloud-Attr-<name> headers (names lower-cased, values printable ASCII). */
  attributes?: Record<string, string>;
  /** `name` is a stream, not a queue. */
  stream?: boolean;
  /** This target only (no failover). */
  target?: string;
  signal?: AbortSignal;
}

/** What the intake stored: the target, the channel and the broker's sequence number. */
export interface Sent {
  target: string;
  kind: "queue" | "stream";
  name: string;
  url: string;
  seq: number;
}

export interface Attempt {
  target: string;
  url?: string;
  status?: number;
  error?: string;
}

export declare class Reply {
  readonly target: string;
  readonly url: string;
  readonly status: number;
  /** Lower-case header names. */
  readonly headers: Record<string, string>;
  readonly body: Uint8Array;
  /** 2xx */
  readonly ok: boolean;
  text(): string;
  json<T = unknown>(): T;
  /** Throws HttpError for a 4xx or 5xx answer; returns the reply otherwise. */
  raiseForStatus(): this;
}

export declare class MulticloudError extends Error {
  constructor(message: string, options?: { fix?: string; cause?: unknown });
  readonly fix: string | undefined;
}
export declare class UsageError extends MulticloudError {}
export declare class AuthError extends MulticloudError {
  readonly needs: string[];
}
export declare class UnavailableError extends MulticloudError {
  readonly attempts: Attempt[];
}
export declare class UnsupportedError extends MulticloudError {}
export declare class HttpError extends MulticloudError {
  constructor(reply: Reply);
  readonly reply: Reply;
  readonly status: number;
}

export declare class Client {
  constructor(manifest: Manifest, options?: ClientOptions);
  readonly manifest: Manifest;
  readonly service: string;
  /** The function's live targets, in the order calls try them. */
  targets(fn: string): TargetEntry[];
  /** Call a function; fails over to the next target when one does not answer. */
  call(fn: string, options?: CallOptions): Promise<Reply>;
  /**
   * Put a message on a queue (`stream: true`: a stream) through the first target whose manifest entry
   * has an intake, failing over like `call` does for a POST. UnsupportedError when no target takes
   * messages over HTTP (the clouds), UsageError for an unknown name or bad attributes.
   */
  send(name: string, body: Body, options?: SendOptions): Promise<Sent>;
}

/** Match a route template (`{param}` one segment, `{param+}` the rest): the parameters, or null. */
export declare function matchRoute(template: string, path: string): Record<string, string> | null;
/** The environment variables a key is read from: per function first, then per target. */
export declare function keyEnvNames(target: string, fn: string): [string, string];
