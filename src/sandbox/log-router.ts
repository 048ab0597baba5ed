/**
 * The Log Router, as far as sinks to Pub/Sub go: every audit entry is kept (the last 1,000, for the control
 * plane), matched against the sinks of its project, and published to the topic of each enabled Pub/Sub sink whose
 * filter matches and no exclusion does, on the Pub/Sub emulator when one is configured. Publishing happens after
 * the write is answered and never fails it: failures are counted and logged once per outage. @google-cloud/pubsub is
 * imported only when an emulator is configured, so the sandbox starts as fast as before without one.
 */
import type { PubSub, Topic } from '@google-cloud/pubsub';
import type { AuditLogEntry } from './audit-log.js';
import { sinksOf } from './logging-api.js';
import { matchesFilter, parseFilter, type FilterNode } from './logging-filter.js';
import type { RequestStats } from './request-stats.js';
import { isObject, type Store } from './store.js';

const KEPT_ENTRIES = 1000;
const PUBSUB_DESTINATION = /^pubsub\.googleapis\.com\/(projects\/[^/]+\/topics\/[^/]+)$/;

export interface LogRouterOptions {
  /** HOST:PORT of a Pub/Sub emulator (what PUBSUB_EMULATOR_HOST holds); without it nothing is published. */
  pubsubEmulator?: string;
  /** How long one publish may take before it counts as failed (default 10 s). */
  publishTimeoutMs?: number;
  /** Where the one line about a failing publisher goes (default stderr). */
  log?: (line: string) => void;
}

export class LogRouter {
  private readonly kept: AuditLogEntry[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly filters = new Map<string, FilterNode | undefined>();
  private readonly topics = new Map<string, Topic>();
  private readonly client: Promise<PubSub> | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly store: Store, private readonly stats: RequestStats, private readonly options: LogRouterOptions = {}) {
    if (options.pubsubEmulator) {
      const apiEndpoint = options.pubsubEmulator;
      // Started now, not awaited: the first write does not wait for the import.
      // .default: in the CLI's esbuild bundle these CommonJS packages' exports come as the default export only.
      const load = <T extends object>(m: T): T => (m as { default?: T }).default ?? m;
      this.client = Promise.all([import('@google-cloud/pubsub').then(load), import('google-auth-library').then(load)]).then(([{ PubSub }, { OAuth2Client }]) => {
        // A fixed token the emulator ignores: without an auth client the library probes for a metadata server and warns.
        const authClient = new OAuth2Client();
        authClient.setCredentials({ access_token: 'emulator', expiry_date: Date.now() + 365 * 86400_000 });
        const config: Record<string, unknown> = {
          projectId: 'sandbox',
          apiEndpoint,
          emulatorMode: true,
          authClient,
          // After the emulator comes back, reconnect within a second rather than grpc's default backoff of up to 2 minutes.
          'grpc.initial_reconnect_backoff_ms': 100,
          'grpc.max_reconnect_backoff_ms': 1000,
        };
        return new PubSub(config as ConstructorParameters<typeof PubSub>[0]);
      });
      this.client.catch(() => undefined);
    }
  }

  /** The entries written so far, oldest first (at most the last 1,000). */
  entries(limit = KEPT_ENTRIES): AuditLogEntry[] {
    return this.kept.slice(-limit);
  }

  /** Takes one entry: keeps it and, in the background, publishes it where the sinks route it. */
  record(entry: AuditLogEntry): void {
    this.stats.countAudit('entries');
    this.kept.push(entry);
    if (this.kept.length > KEPT_ENTRIES) this.kept.splice(0, this.kept.length - KEPT_ENTRIES);
    for (const topic of this.destinations(entry)) {
      this.stats.countAudit('matched');
      if (!this.client || this.closed) continue;
      const publishing = this.publish(topic, entry).finally(() => this.inFlight.delete(publishing));
      this.inFlight.add(publishing);
    }
  }

  /** Resolves once every publish started so far has succeeded or failed. */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const bounded = (p: Promise<unknown>) => Promise.race([p, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await bounded(this.flush());
    if (this.client) await bounded(this.client.then((c) => c.close()).catch(() => undefined));
  }

  /** The topics of the entry's project's sinks that take it. */
  private destinations(entry: AuditLogEntry): string[] {
    const projectId = /^projects\/([^/]+)\/logs\//.exec(entry.logName)?.[1];
    const project = projectId ? this.store.data.projects[projectId] : undefined;
    if (!project) return [];
    const topics: string[] = [];
    for (const sink of Object.values(sinksOf(project))) {
      const topic = PUBSUB_DESTINATION.exec(String(sink.destination ?? ''))?.[1];
      if (!topic || sink.disabled === true || !this.matches(sink.filter, entry)) continue;
      const exclusions = Array.isArray(sink.exclusions) ? sink.exclusions : [];
      if (exclusions.some((x) => isObject(x) && x.disabled !== true && this.matches(x.filter, entry))) continue;
      topics.push(topic);
    }
    return topics;
  }

  private matches(filter: unknown, entry: AuditLogEntry): boolean {
    const text = typeof filter === 'string' ? filter : '';
    if (!this.filters.has(text)) {
      let node: FilterNode | undefined;
      try {
        node = parseFilter(text);
      } catch {
        // Refused when the sink was written; a state file edited by hand routes nothing rather than everything.
        node = { not: { field: ['logName'], op: ':', value: { present: true } } };
      }
      this.filters.set(text, node);
    }
    return matchesFilter(this.filters.get(text), entry);
  }

  /** As the Log Router sends it: the LogEntry as JSON, with its timestamp as an attribute. */
  private async publish(topicName: string, entry: AuditLogEntry): Promise<void> {
    try {
      const client = await this.client!;
      let topic = this.topics.get(topicName);
      if (!topic) {
        topic = client.topic(topicName, { batching: { maxMessages: 100, maxMilliseconds: 5 }, gaxOpts: { timeout: this.options.publishTimeoutMs ?? 10_000 } });
        this.topics.set(topicName, topic);
      }
      await topic.publishMessage({ data: Buffer.from(JSON.stringify(entry)), attributes: { 'logging.googleapis.com/timestamp': entry.timestamp } });
      this.stats.countAudit('published');
      this.failing = false;
    } catch (e) {
      this.stats.countAudit('failed');
      if (!this.failing) {
        this.failing = true;
        const reason = ((e as Error)?.message ?? String(e)).split('\n')[0];
        (this.options.log ?? ((line) => process.stderr.write(line)))(
          `sandbox: cannot publish audit-log entries to ${topicName} on the Pub/Sub emulator at ${this.options.pubsubEmulator} (${reason}); `
          + 'the writes themselves succeed; further failures are counted in /__sandbox/stats (auditLog.failed) until one succeeds\n');
      }
    }
  }
}
