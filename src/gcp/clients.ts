/**
 * The official Google clients, built once per project. With an endpoint (the sandbox) every client
 * talks plain HTTP/1.1 JSON to it and needs no credentials; without one they use the real APIs and
 * Application Default Credentials. Client-side retries are off: retries are ours, bounded and counted.
 * Every request is bounded: Storage and BigQuery by their own request timeout, the gax clients by
 * the per-call AbortSignal (see abortableFetches).
 */
import { generateKeyPairSync } from 'node:crypto';
import { BigQuery } from '@google-cloud/bigquery';
// The two GAPIC clients by their own modules: the packages' index also loads every other client of the API
// (v1beta2, folders, tags...) and protos.js, a static copy of the protos the clients never use (4 MB of code).
import { ProjectsClient } from '@google-cloud/resource-manager/build/src/v3/projects_client.js';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager/build/src/v1/secret_manager_service_client.js';
import { Storage, type StorageOptions } from '@google-cloud/storage';
import type { Impersonated } from 'google-auth-library';
import { storageAuthClient } from './impersonation.js';
import type { ComputeClients } from './compute-clients.js';
import { currentCallSignal, DEFAULT_RETRY } from './gcp-caller.js';

export interface GcpClients {
  storage: Storage;
  bigquery: BigQuery;
  secrets: SecretManagerServiceClient;
  projects: ProjectsClient;
  /** Memo of the project's number (see adapters.ts). */
  projectNumber?: Promise<string>;
  /** Compute, imported and built on first use (only environments with a VM need it). */
  compute: () => Promise<ComputeClients>;
}

/** Compute clients built once, on first call; a failed import is tried again next time. */
function lazyCompute(endpoint: string | undefined, userAgent: string | undefined, authClient: Impersonated | undefined): () => Promise<ComputeClients> {
  let clients: Promise<ComputeClients> | undefined;
  return () => (clients ??= import('./compute-clients.js').then((m) => m.createComputeClients(endpoint, userAgent, authClient)).catch((e: unknown) => {
    clients = undefined;
    throw e;
  }));
}

export interface GcpClientOptions {
  projectId: string;
  /** Prepended to every request's User-Agent, which audit logs record (callerSuppliedUserAgent): how the controller knows its own writes. */
  userAgent?: string;
  /** Base URL of a local emulator such as the sandbox (http://127.0.0.1:4443); undefined for the real APIs. */
  endpoint?: string;
  /** Per-request timeout, in ms. */
  timeoutMs?: number;
  /** Act as this identity (a tenant's service account, see impersonation.ts) instead of the operator's own. */
  authClient?: Impersonated;
}

let localKey: string | undefined;

/**
 * A throwaway key: the gax clients and BigQuery insist on credentials, and a self-signed JWT needs no token server.
 * The emulator verifies nothing and the key signs only tokens sent to it, so its strength does not matter but its
 * cost does: RSA-2048 generation takes 90–500 ms of a CLI run (a random prime search), RSA-1024 about 10 ms.
 * (google-auth-library signs RS256 only, so no EC or Ed25519 key; no key is committed, so no secret scanner trips.)
 */
function localCredentials() {
  localKey ??= generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { client_email: 'jobmatch-operator@sandbox.iam.gserviceaccount.com', private_key: localKey };
}

/** How a gax (GAPIC) client reaches an emulator: REST fallback, plain HTTP, host and port apart. */
export function gaxEndpoint(endpoint: string) {
  const url = new URL(endpoint);
  return {
    fallback: true,
    apiEndpoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol.replace(':', ''),
    credentials: localCredentials(),
  };
}

type RequestConfig = { signal?: AbortSignal; headers?: Headers | Record<string, string> };
type Interceptable = { transporter?: { interceptors?: { request: { add: (i: { resolved: (c: RequestConfig) => unknown }) => void } } } };

/** gaxios 6 gives headers as an object, gaxios 7 as Headers. */
function prependUserAgent(config: RequestConfig, userAgent: string): void {
  if (config.headers instanceof Headers) {
    const current = config.headers.get('user-agent');
    config.headers.set('user-agent', current ? `${userAgent} ${current}` : userAgent);
    return;
  }
  const headers = config.headers ?? (config.headers = {});
  const key = Object.keys(headers).find((k) => k.toLowerCase() === 'user-agent') ?? 'User-Agent';
  headers[key] = headers[key] ? `${userAgent} ${headers[key]}` : userAgent;
}
interface GaxClient { auth: { getClient?: () => Promise<unknown> } & Interceptable }

/** Auth clients already given the interceptor: an impersonated identity is shared by every client of its tenant. */
const intercepted = new WeakSet<object>();

function intercept(authClient: unknown, userAgent: string | undefined): void {
  if (typeof authClient !== 'object' || authClient === null || intercepted.has(authClient)) return;
  intercepted.add(authClient);
  (authClient as Interceptable).transporter?.interceptors?.request.add({
    resolved: (config) => {
      const signal = currentCallSignal();
      if (signal) config.signal = config.signal ? AbortSignal.any([config.signal, signal]) : signal;
      if (userAgent) prependUserAgent(config, userAgent);
      return config;
    },
  });
}

/**
 * gax's REST transport makes its own AbortController and ignores call deadlines; a request interceptor on
 * its auth client's transport adds the signal of the call in progress, so a timeout or a cancelled run aborts the request itself.
 * A client given an auth client (impersonation) holds it as `auth` itself.
 */
export function abortableFetches(client: GaxClient, userAgent?: string): void {
  const auth = client.auth;
  if (typeof auth.getClient !== 'function') return intercept(auth, userAgent);
  const original = auth.getClient.bind(auth);
  let wired: Promise<unknown> | undefined;
  auth.getClient = () => (wired ??= original().then((authClient) => {
    intercept(authClient, userAgent);
    return authClient;
  }, (e: unknown) => {
    wired = undefined;
    throw e;
  }));
}

/** The Secret Manager client's SDK debug log (GOOGLE_SDK_NODE_LOGGING) prints request bodies: secret payloads. It never logs. */
function silenceRequestLog(client: SecretManagerServiceClient): void {
  const noop = Object.assign(() => undefined, { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined });
  (client as unknown as { _log: unknown })._log = noop;
}

/** The options of a gax client acting as `authClient` (gax pins its own google-auth-library 10: the same wire, another type). */
export function withAuthClient<T extends object>(options: T, authClient: Impersonated | undefined): T {
  if (!authClient) return options;
  const { credentials: _own, ...rest } = options as T & { credentials?: unknown };
  return { ...rest, authClient } as T;
}

function gaxClients(options: ConstructorParameters<typeof SecretManagerServiceClient>[0] & ConstructorParameters<typeof ProjectsClient>[0], userAgent: string | undefined) {
  const secrets = new SecretManagerServiceClient(options);
  const projects = new ProjectsClient(options);
  silenceRequestLog(secrets);
  abortableFetches(secrets as unknown as GaxClient, userAgent);
  abortableFetches(projects as unknown as GaxClient, userAgent);
  return { secrets, projects };
}

export function createGcpClients({ projectId, endpoint, timeoutMs = DEFAULT_RETRY.timeoutMs, userAgent, authClient }: GcpClientOptions): GcpClients {
  const ua = userAgent ? { userAgent } : {};
  const storageAuth = authClient ? { authClient: storageAuthClient(authClient) as unknown as StorageOptions['authClient'], useAuthWithCustomEndpoint: true } : {};
  if (!endpoint) {
    return {
      storage: new Storage({ projectId, retryOptions: { autoRetry: false }, timeout: timeoutMs, ...ua, ...storageAuth }),
      bigquery: new BigQuery({ projectId, autoRetry: false, timeout: timeoutMs, ...ua, ...(authClient ? { authClient } : {}) } as unknown as ConstructorParameters<typeof BigQuery>[0]),
      ...gaxClients(withAuthClient({ fallback: true }, authClient), userAgent),
      compute: lazyCompute(undefined, userAgent, authClient),
    };
  }
  const base = endpoint.replace(/\/+$/, '');
  const bigquery = new BigQuery({
    projectId, apiEndpoint: base, autoRetry: false, timeout: timeoutMs, ...ua, ...(authClient ? { authClient } : { credentials: localCredentials() }),
  } as unknown as ConstructorParameters<typeof BigQuery>[0]);
  // BigQuery does not turn on self-signed JWTs by itself and would ask a token server.
  if (!authClient) (bigquery.authClient as unknown as { useJWTAccessWithScope: boolean }).useJWTAccessWithScope = true;
  return {
    storage: new Storage({ projectId, apiEndpoint: base, retryOptions: { autoRetry: false }, timeout: timeoutMs, ...ua, ...storageAuth }),
    bigquery,
    ...gaxClients(withAuthClient(gaxEndpoint(base), authClient), userAgent),
    compute: lazyCompute(base, userAgent, authClient),
  };
}
