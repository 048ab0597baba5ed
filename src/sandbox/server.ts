/** The local GCP emulator: one HTTP server speaking Google's REST wire format for every API the operator uses. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { prepareAudit, type PreparedAudit } from './audit-log.js';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { bigqueryRoutes } from './bigquery-api.js';
import { computeRoutes } from './compute-api.js';
import { controlRoutes, CONTROL_PREFIX } from './control-api.js';
import { FaultInjector, type FaultConfig, type FaultDecision } from './faults.js';
import { ApiError } from './google-error.js';
import { iamRoutes } from './iam-api.js';
import { LogRouter } from './log-router.js';
import { loggingRoutes } from './logging-api.js';
import { metadataBaseUrl, metadataRoutes } from './metadata-server.js';
import { identifyCaller, OPERATOR_PRINCIPAL, unauthenticated, type Caller } from './principals.js';
import { RequestStats } from './request-stats.js';
import { resourceManagerRoutes } from './resource-manager-api.js';
import { matchRoute, type Route, type SandboxRequest, type SandboxResponse } from './router.js';
import { secretManagerRoutes } from './secret-manager-api.js';
import { applySeed, type ApiCall, type SeedDocument } from './seed.js';
import { loadStateFile, saveStateFile } from './state-file.js';
import { storageRoutes } from './storage-api.js';
import { Store } from './store.js';

export const MAX_BODY_BYTES = 10 * 1024 * 1024;

export interface SandboxOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Persist the state in this file across restarts. */
  statePath?: string;
  /** A seed document, or YAML text of one. */
  seed?: SeedDocument | string;
  faults?: Partial<FaultConfig>;
  /**
   * HOST:PORT of a Pub/Sub emulator: every audited write's Admin Activity entry is published there to the topic
   * of each Pub/Sub sink (projects/P/sinks) that routes it, as the Log Router does. Without it nothing is published.
   */
  pubsubEmulator?: string;
  /** How long one publish to the emulator may take before it counts as failed (default 10 s). */
  publishTimeoutMs?: number;
  /** Where the sandbox reports a failing publisher, once per outage (default stderr). */
  log?: (line: string) => void;
}

export interface Sandbox {
  /** http://host:port — the base URL of every API. */
  url: string;
  port: number;
  store: Store;
  stats: RequestStats;
  faults: FaultInjector;
  /** The Admin Activity entries of the writes served, and their routing to Pub/Sub (flush() waits for publishes in flight). */
  auditLog: LogRouter;
  /** Creates projects and resources as --seed does (through the handlers, validated, and writing no audit entry). */
  seed(doc: SeedDocument | string): Promise<void>;
  /** The base URL of one instance's metadata server. */
  metadataUrl(project: string, zone: string, instance: string): string;
  close(): Promise<void>;
}

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
};

function send(res: ServerResponse, r: SandboxResponse, metadata: boolean): void {
  const extra: Record<string, string> = metadata ? { 'metadata-flavor': 'Google', ...r.headers } : { ...r.headers };
  if (r.status === 204 || r.status === 304) {
    res.writeHead(r.status, extra);
    res.end();
  } else if (r.text !== undefined) {
    res.writeHead(r.status, { 'content-type': 'text/plain; charset=UTF-8', 'content-length': Buffer.byteLength(r.text), ...extra });
    res.end(r.text);
  } else {
    sendJson(res, r.status, r.body ?? {}, extra);
  }
}

function sendError(res: ServerResponse, e: ApiError, metadata: boolean): void {
  if (metadata) send(res, { status: e.code, text: e.message }, true);
  else sendJson(res, e.code, e.toBody(), e.headers);
}

/** The host name of each API, as Google's 401 names the service. */
const SERVICE_HOSTS: Partial<Record<string, string>> = {
  storage: 'storage.googleapis.com', bigquery: 'bigquery.googleapis.com', secretmanager: 'secretmanager.googleapis.com',
  resourcemanager: 'cloudresourcemanager.googleapis.com', compute: 'compute.googleapis.com', logging: 'logging.googleapis.com',
  iam: 'iam.googleapis.com', iamcredentials: 'iamcredentials.googleapis.com',
};

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new ApiError(400, `Invalid JSON payload received. ${(e as Error).message}`, 'parseError', 'INVALID_ARGUMENT');
  }
}

/** Starts the sandbox and resolves once it listens. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const store = new Store(options.statePath ? loadStateFile(options.statePath) : undefined);
  const stats = new RequestStats({ auditLog: options.pubsubEmulator !== undefined });
  const stopping = new AbortController();
  const apiRoutes: Route[] = [
    ...storageRoutes(store), ...bigqueryRoutes(store), ...secretManagerRoutes(store),
    ...resourceManagerRoutes(store), ...computeRoutes(store), ...metadataRoutes(store), ...loggingRoutes(store), ...iamRoutes(store),
  ];
  const auditLog = new LogRouter(store, stats, {
    ...(options.pubsubEmulator ? { pubsubEmulator: options.pubsubEmulator } : {}),
    ...(options.publishTimeoutMs !== undefined ? { publishTimeoutMs: options.publishTimeoutMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const faults = new FaultInjector(options.faults, apiRoutes.map((r) => ({ api: r.api, op: r.op })));
  let baseUrl = '';

  /** Calls a handler in-process, as the seed does: no HTTP, no faults, no counting. */
  const call: ApiCall = async (method, path, request = {}) => {
    const match = matchRoute(apiRoutes, method, path);
    if (!match || 'methodNotAllowed' in match) throw new Error(`no route ${method} ${path}`);
    const response = await match.route.handle({
      method, path, params: match.params, query: new URLSearchParams(request.query ?? {}), headers: {},
      raw: request.raw ?? Buffer.alloc(0), body: request.body, baseUrl, signal: stopping.signal, principal: OPERATOR_PRINCIPAL,
    });
    if (match.route.kind === 'write') store.changed();
    return response;
  };
  const seed = async (doc: SeedDocument | string) => applySeed(store, typeof doc === 'string' ? (parseYaml(doc) as SeedDocument) : doc, call);
  const control = controlRoutes({ store, stats, faults, seed, auditLog });

  let persistTimer: NodeJS.Timeout | undefined;
  const persist = () => {
    if (!options.statePath) return;
    persistTimer = undefined;
    saveStateFile(options.statePath, store.data);
  };
  const schedulePersist = () => {
    if (options.statePath && !persistTimer) persistTimer = setTimeout(persist, 25);
  };
  store.events.on('write', schedulePersist);
  store.events.on('save', schedulePersist);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const path = url.pathname.replace(/%3A/gi, ':');
    const method = req.method ?? 'GET';
    const controlRequest = path.startsWith(CONTROL_PREFIX);
    const match = matchRoute(controlRequest ? control : apiRoutes, method, path);
    const route = match && 'route' in match ? match.route : undefined;
    const metadata = route?.api === 'metadata';
    // Who calls, on the sandbox's clock as the request arrives (a control request has no caller).
    const caller: Caller | undefined = controlRequest ? undefined : identifyCaller(store, req.headers.authorization);
    let status = 500;
    let fault: { phase: 'before' | 'after'; what: string; handledStatus?: number } | undefined;
    const finish = (r: SandboxResponse) => {
      status = r.status;
      send(res, r, metadata);
    };
    const fail = (e: ApiError) => {
      status = e.code;
      sendError(res, e, metadata);
    };
    const closed = new AbortController();
    res.on('close', () => closed.abort());
    const signal = AbortSignal.any([closed.signal, stopping.signal]);
    /** An injected fault instead of the answer: an error body, no answer until the client gives up, or a reset. */
    const deliverFault = async (decision: Exclude<FaultDecision, { kind: 'none' }>) => {
      stats.countFault();
      if (decision.kind === 'error') throw decision.error;
      if (decision.kind === 'timeout' && !signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      res.destroy();
    };
    try {
      if (!match) throw new ApiError(404, `Not Found: ${method} ${url.pathname}`, 'notFound');
      if ('methodNotAllowed' in match) throw new ApiError(405, `Method ${method} is not allowed on ${url.pathname}`, 'methodNotAllowed');
      const raw = await readBody(req);
      const target = { api: match.route.api, operation: match.route.op, path };
      if (!controlRequest) {
        stats.count(match.route);
        // An invalid minted token is refused as Google does, before anything else (the metadata server reads no token).
        if (caller && 'refused' in caller && !metadata) throw unauthenticated(caller.refused, SERVICE_HOSTS[match.route.api] ?? 'googleapis.com');
        const decision = faults.before(target);
        const { latencyMs } = faults;
        if (latencyMs > 0) await sleep(latencyMs, undefined, { signal });
        if (decision.kind !== 'none') {
          fault = { phase: 'before', what: decision.kind === 'error' ? String(decision.error.code) : decision.kind };
          await deliverFault(decision);
          return;
        }
      }
      const body = match.route.json ? parseJsonBody(raw) : undefined;
      const request: SandboxRequest = {
        method, path, params: match.params, query: url.searchParams, headers: req.headers, raw, body, baseUrl, signal,
        principal: caller && 'principal' in caller ? caller.principal : OPERATOR_PRINCIPAL,
      };
      // Described before the handler runs: a delete's entry still knows what it deleted.
      const audit: PreparedAudit | undefined = controlRequest ? undefined
        : prepareAudit(match.route, request, store, (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
          caller && 'email' in caller ? caller.email : undefined);
      const response = await match.route.handle(request);
      if (match.route.kind === 'write' && response.status < 300 && !controlRequest) store.changed();
      // The entry is written even when an injected fault then loses the answer: the write happened.
      if (audit && response.status < 300) auditLog.record(audit.finish(response));
      if (!controlRequest && response.status < 400) {
        const decision = faults.after(target);
        if (decision.kind !== 'none') {
          fault = { phase: 'after', what: decision.kind === 'error' ? String(decision.error.code) : decision.kind, handledStatus: response.status };
          await deliverFault(decision);
          return;
        }
      }
      finish(response);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        fail(new ApiError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes.`, 'requestTooLarge', 'INVALID_ARGUMENT'));
        req.resume();
      } else if (e instanceof ApiError) {
        fail(e);
      } else if (signal.aborted) {
        res.destroy();
      } else {
        fail(new ApiError(500, `Internal error: ${(e as Error).message}`, 'backendError', 'INTERNAL'));
      }
    } finally {
      if (!controlRequest) {
        stats.record({
          time: new Date().toISOString(), method, path: url.pathname, query: url.search, status, durationMs: Math.round((performance.now() - started) * 1000) / 1000,
          ...(route ? { api: route.api, op: route.op } : {}),
          ...(caller && 'principal' in caller ? { principal: caller.principal } : {}),
          ...(fault ? { fault: fault.what, faultPhase: fault.phase, ...(fault.handledStatus !== undefined ? { handledStatus: fault.handledStatus } : {}) } : {}),
        });
      }
    }
  };

  const server = createServer({ requestTimeout: 0, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('clientError', (_err, socket: Socket) => socket.destroy());
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const close = async () => {
    stopping.abort();
    await auditLog.close();
    if (persistTimer) {
      clearTimeout(persistTimer);
      persist();
    }
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  if (options.seed) {
    try {
      await seed(options.seed);
    } catch (e) {
      await close();
      throw e;
    }
  }

  return {
    url: baseUrl,
    port,
    store,
    stats,
    faults,
    auditLog,
    seed,
    metadataUrl: (project, zone, instance) => metadataBaseUrl(baseUrl, project, zone, instance),
    close,
  };
}
