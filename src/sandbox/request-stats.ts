/** Request counters by API and operation (a read or a write by what it does, not by HTTP verb), audit-log counters, and a request log. */
import type { ApiName, Route } from './router.js';

export interface StatsSnapshot {
  total: number;
  reads: number;
  writes: number;
  faults: number;
  byApi: Partial<Record<ApiName, Record<string, number>>>;
  /**
   * With a Pub/Sub emulator configured: Admin Activity entries written, publishes due (an entry times the Pub/Sub
   * sinks that route it), published, and failed to publish.
   */
  auditLog?: AuditLogCounts;
}

export interface AuditLogCounts {
  entries: number;
  matched: number;
  published: number;
  failed: number;
}

export interface LoggedRequest {
  time: string;
  method: string;
  path: string;
  /** The query string, "?a=b" or "". */
  query: string;
  api?: ApiName;
  op?: string;
  /**
   * Who made it, as an IAM member: "serviceAccount:EMAIL" for a token minted by generateAccessToken, else the operator
   * (OPERATOR_PRINCIPAL in principals.ts: no Authorization, a JWT, any other token). Absent when a minted-looking
   * token was refused 401 (unknown or expired).
   */
  principal?: string;
  /** The status the client got (for an `after` fault, the fault's). */
  status: number;
  durationMs: number;
  /** An injected fault: its status, "timeout" or "reset". */
  fault?: string;
  faultPhase?: 'before' | 'after';
  /** With an `after` fault: what the handler answered, which the client never saw. */
  handledStatus?: number;
}

const LOG_SIZE = 1000;

export class RequestStats {
  private stats: StatsSnapshot;
  private log: LoggedRequest[] = [];

  /** auditLog: count audit-log publishing too (the sandbox has a Pub/Sub emulator). */
  constructor(private readonly options: { auditLog?: boolean } = {}) {
    this.stats = this.empty();
  }

  private empty(): StatsSnapshot {
    return { total: 0, reads: 0, writes: 0, faults: 0, byApi: {}, ...(this.options.auditLog ? { auditLog: { entries: 0, matched: 0, published: 0, failed: 0 } } : {}) };
  }

  count(route: Route): void {
    this.stats.total += 1;
    if (route.kind === 'read') this.stats.reads += 1;
    else this.stats.writes += 1;
    const api = (this.stats.byApi[route.api] ??= {});
    api[route.op] = (api[route.op] ?? 0) + 1;
  }

  countAudit(what: keyof AuditLogCounts): void {
    if (this.stats.auditLog) this.stats.auditLog[what] += 1;
  }

  countFault(): void {
    this.stats.faults += 1;
  }

  record(entry: LoggedRequest): void {
    this.log.push(entry);
    if (this.log.length > LOG_SIZE) this.log.splice(0, this.log.length - LOG_SIZE);
  }

  snapshot(): StatsSnapshot {
    return structuredClone(this.stats);
  }

  requests(limit = LOG_SIZE): LoggedRequest[] {
    return this.log.slice(-limit);
  }

  reset(): void {
    this.stats = this.empty();
    this.log = [];
  }
}
