/**
 * Latency and fault injection, changeable at run time: random faults (seeded, so a test can replay
 * them) and targeted fault rules (deterministic: "the first secrets.addVersion loses its answer").
 */
import { ApiError } from './google-error.js';
import type { ApiName } from './router.js';

/**
 * A targeted fault. The first rule (in list order) that matches a request applies to it; after
 * `times` requests it is spent and removed.
 */
export interface FaultRule {
  /** The operation, as counted in stats (`buckets.insert`, `secrets.addVersion`, ...). */
  operation: string;
  /** Only this API (for an operation name two APIs share). */
  api?: ApiName;
  /** Only requests whose path (percent-decoded) contains this. */
  resource?: string;
  /**
   * `before`: the client gets the fault and the handler never runs.
   * `after`: the handler runs and its effect is stored, then the client gets the fault instead of the
   * answer (a lost answer). An `after` rule applies only to a request the handler answered with
   * success; a handler's own error is delivered as usual and does not spend the rule.
   */
  phase: 'before' | 'after';
  /**
   * An HTTP error status, answered with Google's error body; or `timeout`: the request is held open,
   * never answered, until the client gives up (its deadline or abort), then the socket is destroyed;
   * or `reset`: the socket is destroyed at once (the client sees a connection reset, no answer).
   */
  status: number | 'timeout' | 'reset';
  /** The error body's fields; by default the reason and status Google gives that HTTP status. */
  error?: { reason?: string; status?: string; message?: string };
  /** How many matching requests it applies to (default 1). */
  times?: number;
}

export interface FaultConfig {
  /** Added before every API request is handled. */
  latencyMs: number;
  /** Share of API requests answered 429 or 503 instead (0..1). */
  faultRate: number;
  /** Share of API requests never answered (the client's timeout fires) (0..1). */
  timeoutRate: number;
  /** APIs the faults apply to; empty means all. */
  faultApis: ApiName[];
  /** Statuses a fault answers with, chosen at random. */
  faultStatuses: number[];
  seed: number;
  /** Targeted faults, tried before the random ones; setting the list replaces it. */
  faultRules: FaultRule[];
}

/** What happens to one request instead of (before) or after its handler. */
export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'error'; error: ApiError }
  | { kind: 'timeout' }
  | { kind: 'reset' };

/** The request a rule is matched against. */
export interface FaultTarget {
  api: ApiName;
  operation: string;
  path: string;
}

export const DEFAULT_FAULTS: FaultConfig = {
  latencyMs: 0, faultRate: 0, timeoutRate: 0, faultApis: [], faultStatuses: [429, 503], seed: 1, faultRules: [],
};

const API_NAMES: ApiName[] = ['storage', 'bigquery', 'secretmanager', 'resourcemanager', 'compute', 'metadata', 'logging', 'iam', 'iamcredentials'];

/** The reason Google's APIs give with each status, for an injected error that names none. */
const REASONS: Record<number, string> = {
  400: 'invalid', 401: 'authError', 403: 'forbidden', 404: 'notFound', 409: 'conflict', 412: 'conditionNotMet',
  429: 'rateLimitExceeded', 500: 'backendError', 502: 'backendError', 503: 'backendError', 504: 'backendError',
};

/** mulberry32: tiny, fast, good enough to pick faults reproducibly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function injectedError(status: number, error: FaultRule['error'] = {}): ApiError {
  const message = error.message ?? (status === 429 ? 'Quota exceeded (injected by the sandbox).'
    : status >= 500 ? 'Backend error (injected by the sandbox).' : `Error ${status} (injected by the sandbox).`);
  const reason = error.reason ?? REASONS[status] ?? (status >= 500 ? 'backendError' : 'invalid');
  return error.status ? new ApiError(status, message, reason, error.status) : new ApiError(status, message, reason);
}

const decodedPath = (path: string) => {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
};

export class FaultInjector {
  private config: FaultConfig;
  private random: () => number;

  /** operations: every "api operation" the sandbox serves, so a rule naming another is refused, not silently idle. */
  constructor(config: Partial<FaultConfig> = {}, private readonly operations?: { api: ApiName; op: string }[]) {
    this.config = { ...DEFAULT_FAULTS };
    this.random = rng(this.config.seed);
    this.update(config);
  }

  get current(): FaultConfig {
    return {
      ...this.config, faultApis: [...this.config.faultApis], faultStatuses: [...this.config.faultStatuses],
      faultRules: structuredClone(this.config.faultRules),
    };
  }

  /** The latency alone (read on every request: no copy of the rules). */
  get latencyMs(): number {
    return this.config.latencyMs;
  }

  /** Applies a partial change; throws a message naming the bad field. */
  update(change: Partial<FaultConfig>): void {
    const next = { ...this.config, ...change };
    const rate = (v: number, name: string) => {
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`${name} must be a number from 0 to 1`);
    };
    if (typeof next.latencyMs !== 'number' || !(next.latencyMs >= 0 && next.latencyMs <= 60_000)) throw new Error('latencyMs must be from 0 to 60000');
    rate(next.faultRate, 'faultRate');
    rate(next.timeoutRate, 'timeoutRate');
    if (!Array.isArray(next.faultApis) || next.faultApis.some((a) => !API_NAMES.includes(a))) {
      throw new Error(`faultApis must list some of: ${API_NAMES.join(', ')}`);
    }
    if (!Array.isArray(next.faultStatuses) || next.faultStatuses.length === 0 || next.faultStatuses.some((s) => !Number.isInteger(s) || s < 400 || s > 599)) {
      throw new Error('faultStatuses must list HTTP error statuses');
    }
    if (!Array.isArray(next.faultRules)) throw new Error('faultRules must be a list');
    next.faultRules = next.faultRules.map((r, i) => this.checkRule(r, `faultRules[${i}]`));
    if (change.seed !== undefined) this.random = rng(next.seed);
    this.config = next;
  }

  private checkRule(rule: FaultRule, at: string): FaultRule {
    if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw new Error(`${at} must be an object`);
    const known = new Set(['operation', 'api', 'resource', 'phase', 'status', 'error', 'times']);
    const unknown = Object.keys(rule).find((k) => !known.has(k));
    if (unknown) throw new Error(`${at}.${unknown} is not a fault rule field (${[...known].join(', ')})`);
    if (typeof rule.operation !== 'string' || rule.operation === '') throw new Error(`${at}.operation must name an operation, e.g. buckets.insert`);
    if (rule.api !== undefined && !API_NAMES.includes(rule.api)) throw new Error(`${at}.api must be one of: ${API_NAMES.join(', ')}`);
    if (this.operations && !this.operations.some((o) => o.op === rule.operation && (rule.api === undefined || o.api === rule.api))) {
      const ops = [...new Set(this.operations.filter((o) => rule.api === undefined || o.api === rule.api).map((o) => o.op))].sort();
      throw new Error(`${at}.operation "${rule.operation}" is not an operation of ${rule.api ?? 'the sandbox'}; known: ${ops.join(', ')}`);
    }
    if (rule.resource !== undefined && typeof rule.resource !== 'string') throw new Error(`${at}.resource must be a string`);
    if (rule.phase !== 'before' && rule.phase !== 'after') throw new Error(`${at}.phase must be "before" or "after"`);
    if (rule.status !== 'timeout' && rule.status !== 'reset' && !(Number.isInteger(rule.status) && rule.status >= 400 && rule.status <= 599)) {
      throw new Error(`${at}.status must be an HTTP error status (400-599), "timeout" or "reset"`);
    }
    const error = rule.error;
    if (error !== undefined && (typeof error !== 'object' || error === null || Array.isArray(error)
      || Object.entries(error).some(([k, v]) => !['reason', 'status', 'message'].includes(k) || typeof v !== 'string'))) {
      throw new Error(`${at}.error may only hold the strings reason, status and message`);
    }
    const times = rule.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new Error(`${at}.times must be a whole number from 1`);
    return { ...structuredClone(rule), times };
  }

  /** The fault for a request before its handler runs: a `before` rule, else the random faults. */
  before(target: FaultTarget): FaultDecision {
    return this.applyRule('before', target) ?? this.decide(target.api);
  }

  /** The fault for a request its handler answered with success: an `after` rule, or none. */
  after(target: FaultTarget): FaultDecision {
    return this.applyRule('after', target) ?? { kind: 'none' };
  }

  private applyRule(phase: FaultRule['phase'], target: FaultTarget): FaultDecision | undefined {
    const rules = this.config.faultRules;
    let path: string | undefined;
    const index = rules.findIndex((r) => r.phase === phase && r.operation === target.operation && (r.api === undefined || r.api === target.api)
      && (r.resource === undefined || (path ??= decodedPath(target.path)).includes(r.resource)));
    if (index < 0) return undefined;
    const rule = rules[index]!;
    rule.times = (rule.times ?? 1) - 1;
    if (rule.times <= 0) rules.splice(index, 1);
    if (rule.status === 'timeout' || rule.status === 'reset') return { kind: rule.status };
    return { kind: 'error', error: injectedError(rule.status, rule.error) };
  }

  /** The random faults alone. */
  decide(api: ApiName): FaultDecision {
    const { faultRate, timeoutRate, faultApis, faultStatuses } = this.config;
    if (faultRate === 0 && timeoutRate === 0) return { kind: 'none' };
    if (faultApis.length > 0 && !faultApis.includes(api)) return { kind: 'none' };
    const roll = this.random();
    if (roll < timeoutRate) return { kind: 'timeout' };
    if (roll < timeoutRate + faultRate) return { kind: 'error', error: injectedError(faultStatuses[Math.floor(this.random() * faultStatuses.length)]!) };
    return { kind: 'none' };
  }
}

export function parseApiList(list: string): ApiName[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean) as ApiName[];
}
