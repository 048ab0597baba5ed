/** Latency and fault injection, changeable at run time; seeded so a test can replay the same faults. */
import type { ApiName } from './router.js';

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
}

export type FaultDecision = { kind: 'none' } | { kind: 'error'; status: number } | { kind: 'timeout' };

export const DEFAULT_FAULTS: FaultConfig = { latencyMs: 0, faultRate: 0, timeoutRate: 0, faultApis: [], faultStatuses: [429, 503], seed: 1 };

const API_NAMES: ApiName[] = ['storage', 'bigquery', 'secretmanager', 'resourcemanager', 'compute', 'metadata'];

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

export class FaultInjector {
  private config: FaultConfig;
  private random: () => number;

  constructor(config: Partial<FaultConfig> = {}) {
    this.config = { ...DEFAULT_FAULTS };
    this.random = rng(this.config.seed);
    this.update(config);
  }

  get current(): FaultConfig {
    return { ...this.config, faultApis: [...this.config.faultApis], faultStatuses: [...this.config.faultStatuses] };
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
    if (change.seed !== undefined) this.random = rng(next.seed);
    this.config = next;
  }

  decide(api: ApiName): FaultDecision {
    const { faultRate, timeoutRate, faultApis, faultStatuses } = this.config;
    if (faultRate === 0 && timeoutRate === 0) return { kind: 'none' };
    if (faultApis.length > 0 && !faultApis.includes(api)) return { kind: 'none' };
    const roll = this.random();
    if (roll < timeoutRate) return { kind: 'timeout' };
    if (roll < timeoutRate + faultRate) return { kind: 'error', status: faultStatuses[Math.floor(this.random() * faultStatuses.length)]! };
    return { kind: 'none' };
  }
}

export function parseApiList(list: string): ApiName[] {
  return list.split(',').map((s) => s.trim()).filter(Boolean) as ApiName[];
}
