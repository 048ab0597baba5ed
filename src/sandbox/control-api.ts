/** The sandbox's own control plane under /__sandbox/: stats, state, faults (random and targeted rules), clock, seed, request log, audit log. */
import { parse as parseYaml } from 'yaml';
import type { FaultConfig, FaultInjector } from './faults.js';
import type { LogRouter } from './log-router.js';
import { ApiError, invalid } from './google-error.js';
import type { RequestStats } from './request-stats.js';
import { json, route, type Route, type SandboxRequest } from './router.js';
import type { SeedDocument } from './seed.js';
import type { Store } from './store.js';

export const CONTROL_PREFIX = '/__sandbox/';

interface Control {
  store: Store;
  stats: RequestStats;
  faults: FaultInjector;
  seed: (doc: SeedDocument | string) => Promise<void>;
  auditLog: LogRouter;
}

export function controlRoutes({ store, stats, faults, seed, auditLog }: Control): Route[] {
  const config = () => ({ ...faults.current, clockOffsetSeconds: store.clockOffsetSeconds });

  const setConfig = (req: SandboxRequest) => {
    const body = (req.body ?? {}) as Partial<FaultConfig> & { clockOffsetSeconds?: number };
    if (typeof body !== 'object' || Array.isArray(body)) throw invalid('expected a JSON object');
    const { clockOffsetSeconds, ...change } = body;
    try {
      faults.update(change);
    } catch (e) {
      throw invalid((e as Error).message);
    }
    if (clockOffsetSeconds !== undefined) {
      if (typeof clockOffsetSeconds !== 'number' || !Number.isFinite(clockOffsetSeconds)) throw invalid('clockOffsetSeconds must be a number');
      store.clockOffsetSeconds = clockOffsetSeconds;
    }
    return json(config());
  };

  const postSeed = async (req: SandboxRequest) => {
    let doc: SeedDocument;
    try {
      doc = parseYaml(req.raw.toString('utf8')) as SeedDocument;
    } catch (e) {
      throw invalid(`seed is not YAML or JSON: ${(e as Error).message}`);
    }
    try {
      await seed(doc);
    } catch (e) {
      throw new ApiError(400, (e as Error).message, 'invalid');
    }
    return json({ ok: true });
  };

  const p = (path: string) => `${CONTROL_PREFIX}${path}`;
  const control = (method: string, path: string, kind: 'read' | 'write', handle: Route['handle'], options?: { json?: boolean }) =>
    route(method, p(path), 'storage', `control.${path}`, kind, handle, options);
  return [
    control('GET', 'health', 'read', () => json({ ok: true })),
    control('GET', 'stats', 'read', () => json(stats.snapshot())),
    control('POST', 'reset-stats', 'write', () => {
      stats.reset();
      return json(stats.snapshot());
    }),
    control('GET', 'state', 'read', () => json({ clockOffsetSeconds: store.clockOffsetSeconds, ...store.data })),
    control('POST', 'reset', 'write', () => {
      store.data = { projects: {}, buckets: {}, serial: 0 };
      store.changed();
      return json({ ok: true });
    }),
    control('GET', 'config', 'read', () => json(config())),
    control('PUT', 'config', 'write', setConfig),
    control('POST', 'config', 'write', setConfig),
    control('GET', 'requests', 'read', (req) => json({ requests: stats.requests(Number(req.query.get('limit')) || undefined) })),
    control('POST', 'seed', 'write', postSeed, { json: false }),
    // The Admin Activity entries written so far (the last 1,000), oldest first; POST flush waits for publishes in flight.
    control('GET', 'audit-log', 'read', (req) => json({ entries: auditLog.entries(Number(req.query.get('limit')) || undefined) })),
    control('POST', 'audit-log/flush', 'write', async () => {
      await auditLog.flush();
      return json(stats.snapshot().auditLog ?? {});
    }),
  ];
}
